// The change to a running cluster, in the plan layer: stages, the up's graph,
// the rollout's host steps, container changes, the live read, where a change
// starts and what `plan` prints. Plain functions over plain data, killed by millisecond tests; the
// program under mocks (seconds a run) is the components part's.
import { part } from "./base.mjs";

export default part("rollout", {
  mutate: ["pure/plan/{stages,graph,rollout,changes,live,start,summary,host-containers}.ts"],
  testFiles: [
    "tests/stages.test.ts",
    "tests/graph.test.ts",
    "tests/rollout-steps.test.ts",
    "tests/live.test.ts",
    "tests/start.test.ts",
    "tests/summary.test.ts",
    "tests/rollout-edges.test.ts",
    "tests/lease.host.test.ts",
    "tests/rollout.host.test.ts",
    "tests/host-containers.test.ts",
    "tests/hostscripts.lint.test.ts",
  ],
});
