// cli/plan.ts: run as a process by its tests, so coverage is "off" (every mutant
// runs the whole CLI suite; the child process picks the mutant from the environment).
import { part } from "./base.mjs";

export default part("cli", {
  mutate: ["cli/**/*.ts"],
  testFiles: ["tests/plan-command.test.ts"],
  coverageAnalysis: "off",
  timeoutMS: 60000,
});
