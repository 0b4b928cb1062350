// Edges of a change to a running cluster, over plain plans: pinned bases that
// are added, re-pointed or removed, a table restated with more hex digits, and
// a node other than a dtable-server replaced.
import { buildPlan, ClusterPlan } from "../pure/plan";
import { routingJson } from "../pure/config/routing-file";
import { ClusterGraph, clusterGraph, offlineGraph } from "../pure/plan/graph";
import { parseLiveRead } from "../pure/plan/live";
import { proxyFiles, sha256 } from "../pure/plan/rollout";
import { changeSummary, routingSummary } from "../pure/plan/summary";
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
  for (const [node, change] of [["dtable-web", "replace"], ["dtable-db", "replace"], ["dtable-web", "unknown"]] as const) {
    const plan = planOf(v, four);
    const g = clusterGraph({ plan, previousServers: plan.config.hosts.servers, containers: { ...same(plan), [node]: change }, run: RUN, editScript: "EDIT" });
    expect([node, g.stages.stages]).toEqual([node, []]);
    expect([node, g.rolloutNames]).toEqual([node, ["dtable-server-proxy-lease", ...["dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"].map((h) => `dtable-server-proxy-claim-${h}`), "dtable-server-proxy-backup", "dtable-server-proxy-switch", "dtable-server-proxy-verify"]]);
    const container = g.nodes.find((n) => n.id === `container-${node}`)!;
    expect(container.kind === "container" && container.after.includes("dtable-server-proxy-backup")).toBe(true);
  }
  // nothing replaced: no backup
  const plan = planOf(v, four);
  expect(clusterGraph({ plan, previousServers: plan.config.hosts.servers, containers: { ...same(plan), "dtable-server-2": "create" }, run: RUN, editScript: "EDIT" }).rolloutNames).not.toContain("dtable-server-proxy-backup");
});

test("a re-pointed pin moves in the stage of the server it leaves, not before", () => {
  const plan = planOf(withServers(5), planOf(withPins({ [PIN]: "dtable-server-3" })));
  const v = withServers(5);
  v.routing.pins = { [PIN]: "dtable-server-5" };
  const moved = planOf(v, planOf(withPins({ [PIN]: "dtable-server-3" })));
  expect(plan.change.pinMoves).toEqual([]);
  const { stages } = stagesOf(moved);
  expect(stages.map((s) => [s.servers[0].name, s.pinMoves.map((m) => m.uuid)])).toEqual([
    ["dtable-server", []],
    ["dtable-server-2", []],
    ["dtable-server-3", [PIN]],
    ["dtable-server-4", []],
  ]);
  // until dtable-server-3 is down, its base stays on it
  expect(stages[1].after.pins).toEqual({ [PIN]: "dtable-server-3" });
});

test("all servers in one stage: the default server is down during it, and the switch gives it back", () => {
  const plan = planOf(withServers(5), planOf(withServers(4)));
  const { stages } = planStages({ plan, previousServers: plan.config.hosts.servers, containers: same(plan), maxRestarting: 4, evict: [] });
  expect(stages).toHaveLength(1);
  expect(stages[0].before.default).toBe("dtable-server-5");
  expect(stages[0].after.default).toBe(plan.routing.default);
});

/** every node once, each after what it waits for: the order in which the resource layer creates them */
function expectCreatable(g: ClusterGraph) {
  const seen = new Set<string>();
  for (const n of g.nodes) {
    expect([n.id, seen.has(n.id)]).toEqual([n.id, false]);
    if (n.kind !== "pull") for (const a of n.after) expect([n.id, a, seen.has(a)]).toEqual([n.id, a, true]);
    seen.add(n.id);
  }
}

test("every graph lists each node once, after everything it waits for", () => {
  const four = planOf(withServers(4));
  const v = withServers(4);
  v.image = "seatable/seatable-enterprise:6.1.9";
  v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" }, maxRestarting: 2 };
  const newImage = planOf(v, four);
  const graphs = [
    offlineGraph({ ...four, previous: undefined }, false, "EDIT").graph,
    offlineGraph(planOf(withServers(5), four), false, "EDIT").graph,
    offlineGraph(planOf(withServers(3), four), false, "EDIT").graph,
    offlineGraph(newImage, true, "EDIT").graph,
  ];
  for (const g of graphs) expectCreatable(g);
  const g = graphs[3];
  expect(g.nodes.filter((n) => n.kind === "container").map((n) => n.id).sort()).toEqual(["dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4", "dtable-web"].map((h) => `container-${h}`));
});

test("not quiet when the proxy runs the new table but the stack recorded an older one (an up stopped after its last switch)", () => {
  const four = planOf(withServers(4));
  const plan = { ...planOf(withServers(4), four), previous: { ...four.routing, default: "dtable-server-2" } };
  const f = proxyFiles(plan);
  const live = { conf: sha256(f.conf), hosts: sha256(f.hosts), routing: sha256(routingJson(plan.routing)) };
  const g = clusterGraph({ plan, previousServers: plan.config.hosts.servers, containers: same(plan), live, run: RUN, editScript: "EDIT" });
  expect(g.quiet).toBe(false);
  expect(g.rolloutNames).toContain("dtable-server-proxy-verify");
});

test("the live read takes a lease line only as written", () => {
  expect(() => parseLiveRead("xlease stack=a run=b")).toThrow("unexpected line");
});

test("plan's summary: pairs in order of the servers, a bucket and a pin moving count as changes, a server without buckets shows -", () => {
  const change = {
    bucketMoves: [
      { bucket: "00", from: "dtable-server-2", to: "dtable-server-5" },
      { bucket: "10", from: "dtable-server", to: "dtable-server-5" },
    ],
    pinMoves: [
      { uuid: PIN, from: "dtable-server-3", to: "dtable-server-5" },
      { uuid: "00000000-0000-0000-0000-000000000001", from: "dtable-server", to: "dtable-server-5" },
    ],
    losing: ["dtable-server", "dtable-server-2", "dtable-server-3"],
    gaining: ["dtable-server-5"],
  };
  expect(changeSummary(change, "X").slice(0, 3)).toEqual([
    "Against X: 2 bucket(s) and 2 pinned base(s) change server.",
    "  dtable-server -> dtable-server-5: 1 bucket(s): 10",
    "  dtable-server-2 -> dtable-server-5: 1 bucket(s): 00",
  ]);
  const v = withServers(4);
  v.hosts.servers[3].drain = true;
  const drained = planOf(v, planOf(withServers(4)));
  expect(routingSummary(drained.config, drained.routing).find((l) => l.startsWith("dtable-server-4 "))).toMatch(/ 0 +0\.00% +[0-9.]+% +0 +-$/);
});
