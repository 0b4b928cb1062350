// pure/plan: routing table, rendered files, containers, host steps, stages, the
// up's graph, the live read and what `plan` prints. The tests call the plan
// functions in their bodies over plain data (per-test coverage, milliseconds a
// test); the program under mocks is the components part's.
// nginx.ts is its own part (real nginx).
import { part } from "./base.mjs";

export default part("plan", {
  mutate: ["pure/config/routing-file.ts", "pure/plan/**/*.ts", "!pure/plan/nginx.ts"],
  testFiles: [
    "tests/routing.test.ts",
    "tests/seatable-settings.test.ts",
    "tests/config.test.ts",
    "tests/role-environment.test.ts",
    "tests/stages.test.ts",
    "tests/graph.test.ts",
    "tests/rollout-steps.test.ts",
    "tests/live.test.ts",
    "tests/summary.test.ts",
  ],
});
