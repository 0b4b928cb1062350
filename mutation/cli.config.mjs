// cli/plan.ts: its tests call the command in-process (per-test coverage); the
// few that run it as a process reach only the entry point, which is static.
import { part } from "./base.mjs";

export default part("cli", {
  mutate: ["cli/**/*.ts"],
  testFiles: ["tests/plan-command.test.ts"],
});
