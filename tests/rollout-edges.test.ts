// Edges of a change to a running cluster, over plain plans: pinned bases that
// are added, re-pointed or removed, a table restated with more hex digits, and
// a node other than a dtable-server replaced.
import { buildPlan, ClusterPlan } from "../pure/plan";
import { clusterGraph } from "../pure/plan/graph";
import { ContainerChange, planStages } from "../pure/plan/stages";
import { configOf, withServers } from "./support/stacks";

const PIN = "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10";
const RUN = { stack: "organization/seatable-cluster/prod", id: "run-1" };
const planOf = (values: Record<string, any>, applied?: ClusterPlan) => buildPlan(configOf(values), applied?.routing);
const same = (plan: ClusterPlan): Record<string, ContainerChange> => Object.fromEntries([plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers].map((h) => [h.name, "same"]));
const stagesOf = (plan: ClusterPlan) => planStages({ plan, previousServers: plan.config.hosts.servers, containers: same(plan), maxRestarting: 1, evict: [] });
const withPins = (pins: Record<string, string>) => {
  const v = withServers(4);
  v.routing.pins = pins;
  return v;
};

describe("a pinned base", () => {
  test("re-pointed: it pauses with the server it leaves and ends on its new server", () => {
    const plan = planOf(withPins({ [PIN]: "dtable-server-4" }), planOf(withPins({ [PIN]: "dtable-server-3" })));
    const { stages } = stagesOf(plan);
    expect(stages.map((s) => s.servers.map((x) => `${x.name} ${x.action}`))).toEqual([["dtable-server-3 restart"]]);
    expect(stages[0].paused).toEqual({ buckets: stages[0].paused.buckets, pins: [PIN] });
    expect(stages[0].pinMoves).toEqual([{ uuid: PIN, from: "dtable-server-3", to: "dtable-server-4" }]);
    expect(stages[0].after.pins).toEqual({ [PIN]: "dtable-server-4" });
  });

  test("removed: it goes back to its bucket's server and is no pin in the table after", () => {
    const plan = planOf(withPins({}), planOf(withPins({ [PIN]: "dtable-server-3" })));
    const { stages } = stagesOf(plan);
    const owner = plan.routing.buckets[PIN.slice(0, 2)];
    expect(stages).toHaveLength(1);
    expect(stages[0].pinMoves).toEqual([{ uuid: PIN, from: "dtable-server-3", to: owner }]);
    expect(stages[0].paused.pins).toEqual([PIN]);
    expect(stages[0].after.pins).toEqual({});
  });

  test("added: the server that held it through its bucket pauses it, though it was no pin before", () => {
    const before = planOf(withPins({}));
    const owner = before.routing.buckets[PIN.slice(0, 2)];
    const to = owner === "dtable-server-4" ? "dtable-server" : "dtable-server-4";
    const plan = planOf(withPins({ [PIN]: to }), before);
    const { stages } = stagesOf(plan);
    expect(stages.map((s) => s.servers.map((x) => x.name))).toEqual([[owner]]);
    expect(stages[0].paused.pins).toEqual([PIN]);
    expect(stages[0].after.pins).toEqual({ [PIN]: to });
  });
});

test("a table restated with more hex digits moves nothing: no stage", () => {
  const one = withServers(4);
  one.routing.bucketHexDigits = 1;
  const two = withServers(4);
  const plan = planOf(two, planOf(one));
  expect(plan.previous!.bucketHexDigits).toBe(1);
  // each bucket's 16 sub-buckets keep its owner, which is already the new table
  expect(plan.change.bucketMoves).toEqual([]);
  expect(stagesOf(plan).stages).toEqual([]);
});

test("only dtable-web's container is replaced: the backup still runs first, and no dtable-server goes down", () => {
  const v = withServers(4);
  v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };
  const four = planOf(withServers(4));
  for (const node of ["dtable-web", "dtable-db"]) {
    const plan = planOf(v, four);
    const g = clusterGraph({ plan, previousServers: plan.config.hosts.servers, containers: { ...same(plan), [node]: "replace" }, run: RUN, editScript: "EDIT" });
    expect([node, g.stages.stages]).toEqual([node, []]);
    expect([node, g.rolloutNames]).toEqual([node, ["dtable-server-proxy-lease", "dtable-server-proxy-backup", "dtable-server-proxy-switch", "dtable-server-proxy-verify"]]);
    const container = g.nodes.find((n) => n.id === `container-${node}`)!;
    expect(container.kind === "container" && container.after.includes("dtable-server-proxy-backup")).toBe(true);
  }
  // nothing replaced: no backup
  const plan = planOf(v, four);
  expect(clusterGraph({ plan, previousServers: plan.config.hosts.servers, containers: { ...same(plan), "dtable-server-2": "create" }, run: RUN, editScript: "EDIT" }).rolloutNames).not.toContain("dtable-server-proxy-backup");
});
