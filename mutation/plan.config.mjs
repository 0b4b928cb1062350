// pure/plan: routing table, SeaTable's settings, rendered files, containers,
// node steps. The tests call the plan functions in their bodies over plain data
// (per-test coverage); the program under mocks is the components part's.
// nginx.ts is its own part (real nginx), the rollout modules too (rollout.config.mjs).
import { part } from "./base.mjs";

export default part("plan", {
  mutate: ["pure/config/routing-file.ts", "pure/plan/**/*.ts", "!pure/plan/nginx.ts", "!pure/plan/{stages,graph,rollout,changes,live,summary}.ts"],
  testFiles: [
    "tests/routing.test.ts",
    "tests/seatable-settings.test.ts",
    "tests/config.test.ts",
    "tests/role-environment.test.ts",
    "tests/config-inputs.test.ts",
  ],
});
