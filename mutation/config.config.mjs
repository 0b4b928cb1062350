// pure/config: the stack config schema and its validation. Most of it (the zod
// schema) runs when the module loads, so every mutant there is "static" and runs
// every test of the part: only the fast in-process suites are here.
// routing-file.ts (routing.json) goes with the plan part and its routing tests.
import { part } from "./base.mjs";

export default part("config", {
  mutate: ["pure/config/**/*.ts", "!pure/config/routing-file.ts"],
  testFiles: ["tests/config.test.ts", "tests/config-rules.test.ts", "tests/config-inputs.test.ts", "tests/environment.test.ts", "tests/version-change.test.ts"],
});
