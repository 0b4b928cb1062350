// pure/plan: routing table, rendered files, containers, host steps. The tests
// call the plan functions in their bodies (per-test coverage); the program under
// mocks runs the plan in beforeAll hooks, which would make every plan mutant
// "static" (run against every test), so it is not part of this run.
// nginx.ts is its own part (real nginx); rollout.ts is left out while it is rewritten.
import { part } from "./base.mjs";

export default part("plan", {
  mutate: ["pure/config/routing-file.ts", "pure/plan/**/*.ts", "!pure/plan/nginx.ts", "!pure/plan/rollout.ts"],
  testFiles: ["tests/routing.test.ts", "tests/seatable-settings.test.ts", "tests/config.test.ts", "tests/role-environment.test.ts"],
});
