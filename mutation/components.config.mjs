// components/ and index.ts: the resource layer, run under Pulumi's mocks.
// program.mocks and urns.mocks run the program once per stack in a beforeAll
// and assert on it in many tests; per-test coverage sees none of those tests
// (a mutant reached only there is "static"), so every mutant runs every test
// of the part, static ones included. Slow from scratch; incremental after.
import { part } from "./base.mjs";

export default {
  ...part("components", {
    mutate: ["components/**/*.ts", "index.ts"],
    testFiles: ["tests/rollout.mocks.test.ts", "tests/program.mocks.test.ts", "tests/urns.mocks.test.ts"],
    coverageAnalysis: "all",
    timeoutMS: 60000,
  }),
  ignoreStatic: false,
};
