// components/ and index.ts: the resource layer, run under Pulumi's mocks. The
// tests of rollout.mocks that run the program in their bodies kill mutants here;
// what is asserted only on a program run made in a beforeAll (most of
// program.mocks and urns.mocks) is "static" for per-test coverage, and ignored
// (docs/mutation.md: why coverage "all" is not used, and what that leaves).
import { part } from "./base.mjs";

export default part("components", {
  mutate: ["components/**/*.ts", "index.ts"],
  testFiles: ["tests/rollout.mocks.test.ts", "tests/program.mocks.test.ts"],
  timeoutMS: 60000,
});
