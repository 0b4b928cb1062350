// components/ and index.ts: the resource layer, run under Pulumi's mocks. The
// program runs once per test while Stryker measures coverage (runForTests in
// tests/support/program.ts), so each mutant is credited to the tests that see it.
import { part } from "./base.mjs";

export default part("components", {
  mutate: ["components/**/*.ts", "index.ts"],
  testFiles: [
    "tests/rollout.mocks.test.ts",
    "tests/program.mocks.test.ts",
    "tests/urns.mocks.test.ts",
    "tests/exposure.test.ts",
    "tests/config-inputs.test.ts",
    "tests/role-environment.test.ts",
  ],
  timeoutMS: 60000,
  // module constants (the kept step's ignoreChanges names) are loaded with a
  // test file's imports: credit them to its tests
  fileCoverage: true,
});
