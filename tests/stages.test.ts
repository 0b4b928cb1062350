// Which dtable-servers go down in an `up`, why, and in which stages: planStages
// over plain plans (no Pulumi). What a user sees of it: who restarts, what
// answers 503 meanwhile, and the table the proxy runs after each stage.
import { allBuckets } from "../pure/config/routing-file";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { ownerOf } from "../pure/plan/routing";
import { ContainerChange, planStages, routesAlike, StageInput } from "../pure/plan/stages";
import { configOf, withServers } from "./support/stacks";

const planOf = (values: Record<string, any>, applied?: ClusterPlan) => buildPlan(configOf(values), applied?.routing);
const same = (plan: ClusterPlan): Record<string, ContainerChange> => Object.fromEntries([plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers].map((h) => [h.name, "same"]));
const stagesOf = (plan: ClusterPlan, over: Partial<StageInput> = {}) =>
  planStages({ plan, previousServers: plan.config.hosts.servers, containers: same(plan), maxRestarting: 1, evict: [], ...over });
const names = (servers: readonly { name: string }[]) => servers.map((s) => s.name);
const heldBy = (table: { buckets: Record<string, string> }, server: string) => Object.keys(table.buckets).filter((b) => table.buckets[b] === server).sort();

const four = planOf(withServers(4));
const scaleOut = planOf(withServers(5), four);

test("a first deployment has no stages", () => {
  const plan = planOf(withServers(3));
  const containers = Object.fromEntries(Object.keys(same(plan)).map((n) => [n, "create" as const]));
  // the seed table stands in for a previous one: no stage either, nothing is down
  expect(stagesOf(plan, { containers })).toEqual({ stages: [], largestPausedShare: 0 });
  const noTable = { ...plan, previous: undefined };
  expect(stagesOf(noTable, { containers })).toEqual({ stages: [], largestPausedShare: 0 });
});

test("the same table and the same containers: nobody goes down", () => {
  const again = planOf(withServers(4), four);
  expect(stagesOf(again).stages).toEqual([]);
});

describe("scale-out 4 → 5, one server at a time", () => {
  // computed in each test, so that a test runs the code it checks (mutation testing sees per-test coverage)
  const scaled = () => stagesOf(scaleOut, { containers: { ...same(scaleOut), "dtable-server-5": "create" } });

  test("one stage per server that gives up buckets, in the config's order, each restarted", () => {
    const plan = scaled();
    // the new server holds nothing yet: it is in no stage
    expect(plan.stages.flatMap((s) => s.servers.map((x) => x.name))).not.toContain("dtable-server-5");
    expect(plan.stages.map((s) => s.index)).toEqual([1, 2, 3, 4]);
    expect(plan.stages.map((s) => s.servers)).toEqual(
      ["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"].map((name) => [{ name, action: "restart", why: "it gives up buckets or pinned bases" }]),
    );
  });

  test("a stage pauses exactly what its server holds and moves exactly what leaves it", () => {
    const plan = scaled();
    for (const st of plan.stages) {
      const server = st.servers[0].name;
      expect(st.paused.buckets).toEqual(heldBy(st.before, server));
      expect(st.bucketMoves.length).toBeGreaterThan(0);
      expect(st.bucketMoves.every((m) => m.from === server && m.to === "dtable-server-5")).toBe(true);
      expect(st.bucketMoves).toEqual(scaleOut.change.bucketMoves.filter((m) => m.from === server));
      // after its switch the server holds what it kept, the new one what it got
      expect(heldBy(st.after, server)).toEqual(heldBy(scaleOut.routing, server));
      for (const m of st.bucketMoves) expect(st.after.buckets[m.bucket]).toBe("dtable-server-5");
    }
  });

  test("each stage starts from the table the one before ended on, and the last ends on the new table", () => {
    const plan = scaled();
    expect(plan.stages[0].before.buckets).toEqual(four.routing.buckets);
    // (the default server is the one thing a stage sets for itself: see below)
    for (let i = 1; i < plan.stages.length; i++) expect({ ...plan.stages[i].before, default: "" }).toEqual({ ...plan.stages[i - 1].after, default: "" });
    expect(plan.stages[plan.stages.length - 1].after).toEqual(scaleOut.routing);
  });

  test("the pinned base is paused with the server that holds it", () => {
    const plan = scaled();
    const pin = "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10";
    const holder = plan.stages.find((s) => s.servers[0].name === "dtable-server-3")!;
    expect(holder.paused.pins).toEqual([pin]);
    for (const st of plan.stages.filter((s) => s !== holder)) expect(st.paused.pins).toEqual([]);
  });

  test("the largest paused share is that of the largest server's stage", () => {
    const plan = scaled();
    const total = allBuckets(2).length;
    expect(plan.largestPausedShare).toBe(Math.max(...plan.stages.map((s) => s.paused.buckets.length)) / total);
    expect(plan.largestPausedShare).toBeGreaterThan(0.3);
    expect(plan.largestPausedShare).toBeLessThan(0.4);
  });
});

test("maxRestarting 2: two servers per stage, both paused together", () => {
  const plan = stagesOf(scaleOut, { maxRestarting: 2 });
  expect(plan.stages.map((s) => names(s.servers))).toEqual([
    ["dtable-server", "dtable-server-2"],
    ["dtable-server-3", "dtable-server-4"],
  ]);
  const first = plan.stages[0];
  expect(first.paused.buckets).toEqual([...heldBy(first.before, "dtable-server"), ...heldBy(first.before, "dtable-server-2")].sort());
  expect(plan.stages[1].after).toEqual(scaleOut.routing);
  // a maxRestarting below 1 still makes progress, one at a time
  expect(stagesOf(scaleOut, { maxRestarting: 0 }).stages).toHaveLength(4);
  expect(stagesOf(scaleOut, { maxRestarting: 4 }).stages).toHaveLength(1);
});

test("a replaced container goes down in a stage even when it keeps its buckets; an unknown one too, saying why", () => {
  const again = planOf(withServers(4), four);
  const plan = stagesOf(again, { containers: { ...same(again), "dtable-server-2": "replace", "dtable-server-4": "unknown" } });
  expect(plan.stages.map((s) => s.servers)).toEqual([
    [{ name: "dtable-server-2", action: "replace", why: "its container changes (image or environment)" }],
    [{ name: "dtable-server-4", action: "replace", why: "no container spec was recorded for it: it may be replaced" }],
  ]);
  // nothing moves, but everything the server holds answers 503 while it is replaced
  expect(plan.stages[0].bucketMoves).toEqual([]);
  expect(plan.stages[0].paused.buckets).toEqual(heldBy(four.routing, "dtable-server-2"));
  expect(plan.stages[1].after).toEqual(again.routing);
  // a server that loses buckets and is replaced is replaced (that is its restart), once
  const both = stagesOf(scaleOut, { containers: { ...same(scaleOut), "dtable-server": "replace" } });
  expect(both.stages[0].servers).toEqual([{ name: "dtable-server", action: "replace", why: "its container changes (image or environment)" }]);
  expect(both.stages).toHaveLength(4);
});

describe("a server that leaves", () => {
  const five = planOf(withServers(5));
  const shrink = planOf(withServers(4), five);

  test("is stopped in a stage after the others, its buckets moving away in that stage", () => {
    const plan = stagesOf(shrink, { previousServers: five.config.hosts.servers });
    const last = plan.stages[plan.stages.length - 1];
    expect(last.servers).toEqual([{ name: "dtable-server-5", action: "stop", why: "it leaves the cluster" }]);
    expect(plan.stages.slice(0, -1).flatMap((s) => names(s.servers))).not.toContain("dtable-server-5");
    expect(last.paused.buckets).toEqual(heldBy(five.routing, "dtable-server-5"));
    expect(last.bucketMoves.map((m) => m.bucket).sort()).toEqual(heldBy(five.routing, "dtable-server-5"));
    expect(heldBy(last.after, "dtable-server-5")).toEqual([]);
  });

  test("evicted (dead host): it moves in stage 1 without taking a place, and nobody stops it", () => {
    // the others only gain: a stage of its own
    const alone = stagesOf(shrink, { previousServers: five.config.hosts.servers, evict: ["dtable-server-5"] });
    expect(alone.stages.map((s) => s.servers)).toEqual([[{ name: "dtable-server-5", action: "evict", why: "rollout.evict: its host is dead; its unsaved work is lost" }]]);
    expect(alone.stages[0].after).toEqual(shrink.routing);
    // with a server that goes down anyway: in its stage, which still holds one server that really goes down
    const plan = stagesOf(shrink, { previousServers: five.config.hosts.servers, evict: ["dtable-server-5"], containers: { ...same(shrink), "dtable-server-3": "replace", "dtable-server-4": "replace" } });
    expect(plan.stages.map((s) => names(s.servers))).toEqual([["dtable-server-5", "dtable-server-3"], ["dtable-server-4"]]);
    expect(heldBy(plan.stages[0].after, "dtable-server-5")).toEqual([]);
    expect(plan.stages[1].after).toEqual(shrink.routing);
  });
});

test("the default server: while it is down requests without a base go to one that is up, and the last switch sets it", () => {
  const plan = stagesOf(scaleOut);
  const def = scaleOut.routing.default;
  const own = plan.stages.find((s) => s.servers.some((x) => x.name === def))!;
  expect(own.before.default).not.toBe(def);
  expect(own.servers.map((s) => s.name)).not.toContain(own.before.default);
  for (const st of plan.stages.filter((s) => s !== own)) expect(st.before.default).toBe(def);
  expect(plan.stages[plan.stages.length - 1].after.default).toBe(def);
  // until then a switch keeps the stage's default (stage 1 is the default server's own here)
  expect(plan.stages[0]).toBe(own);
  expect(own.after.default).toBe(own.before.default);
  // while the default is down every base still has an owner that is up, or is paused
  for (const b of allBuckets(2)) expect(own.paused.buckets.includes(b) || !own.servers.some((s) => s.name === ownerOf(own.before, b))).toBe(true);
});

describe("routesAlike: the check that the stages end on the target table", () => {
  const table = four.routing;
  const [bucket] = allBuckets(table.bucketHexDigits);
  const other = (server: string) => names(four.config.hosts.servers).find((n) => n !== server)!;
  const pinned = "0a000000-0000-4000-8000-000000000001"; // in bucket 0a

  test.each([
    ["one bucket elsewhere", { ...table, buckets: { ...table.buckets, [bucket]: other(table.buckets[bucket]) } }],
    ["a base pinned away from its bucket", { ...table, pins: { ...table.pins, [pinned]: other(ownerOf(table, pinned)) } }],
    ["another default", { ...table, default: other(table.default) }],
  ])("%s: not alike, either way round", (_, changed) => {
    expect(routesAlike(table, changed)).toBe(false);
    expect(routesAlike(changed, table)).toBe(false);
  });

  test("alike: the same table, and a pin to the server its bucket is on anyway", () => {
    expect(routesAlike(table, { ...table })).toBe(true);
    const redundant = { ...table, pins: { ...table.pins, [pinned]: ownerOf(table, pinned) } };
    expect(routesAlike(table, redundant)).toBe(true);
    expect(routesAlike(redundant, table)).toBe(true);
  });
});

describe("a stage an earlier up stopped in (the live config pauses its servers' buckets)", () => {
  test("comes first: its server leads the stages, whatever its place in the config", () => {
    const plain = stagesOf(scaleOut);
    const last = plain.stages[plain.stages.length - 1].servers[0].name;
    const resumed = stagesOf(scaleOut, { resume: [last] });
    expect(resumed.stages.map((st) => names(st.servers))).toEqual([[last], ...plain.stages.filter((st) => st.servers[0].name !== last).map((st) => names(st.servers))]);
    // and the table still ends on the target
    expect(routesAlike(resumed.stages[resumed.stages.length - 1].after, scaleOut.routing)).toBe(true);
  });

  test("a server the new plan would leave alone (the change abandoned) is restarted first all the same: it may be down, and its buckets answer only once it is up", () => {
    const same4 = planOf(withServers(4), four);
    expect(stagesOf(same4).stages).toEqual([]);
    const resumed = stagesOf(same4, { resume: ["dtable-server-3"] });
    expect(resumed.stages.map((st) => st.servers)).toEqual([
      [{ name: "dtable-server-3", action: "restart", why: "an earlier up stopped inside its stage: its buckets stay paused until it has restarted" }],
    ]);
    expect(resumed.stages[0].paused.buckets).toEqual(heldBy(four.routing, "dtable-server-3"));
  });

  test("an evicted server or one nobody knows is not resumed", () => {
    const same4 = planOf(withServers(4), four);
    expect(stagesOf(same4, { resume: ["dtable-server-9"] }).stages).toEqual([]);
  });
});

describe("a new pin that keeps a base where it is while its bucket moves away", () => {
  // dtable-server holds 00-bf (weights 3:1); then equal weights move 80-bf to dtable-server-2,
  // and the admin pins a base of bucket b0 to dtable-server, where it is now
  const uneven = () => {
    const v = withServers(2);
    v.hosts.servers[0].weight = 3;
    v.hosts.servers[1].weight = 1;
    v.routing.pins = {};
    return v;
  };
  const BASE = "b0a1b2c3-0000-4000-8000-000000000001";

  test("the stage that moves the bucket adds the pin: the base never changes server, and the stages end on the new table", () => {
    const before = planOf(uneven());
    expect(ownerOf(before.routing, BASE)).toBe("dtable-server");
    const v = withServers(2);
    v.routing.pins = { [BASE]: "dtable-server" };
    const plan = planOf(v, before);
    expect(plan.routing.buckets.b0).toBe("dtable-server-2");
    const { stages } = stagesOf(plan);
    expect(names(stages.flatMap((s) => s.servers))).toEqual(["dtable-server"]);
    expect(stages[0].after.pins).toEqual({ [BASE]: "dtable-server" });
    expect(routesAlike(stages[0].after, plan.routing)).toBe(true);
    // paused with its bucket while dtable-server restarts, on dtable-server before and after
    expect(stages[0].paused.buckets).toContain("b0");
    expect([ownerOf(stages[0].before, BASE), ownerOf(stages[0].after, BASE)]).toEqual(["dtable-server", "dtable-server"]);
  });
});
