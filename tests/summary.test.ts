// What `npm run plan` prints about a change (pure/plan/summary.ts): the shares
// per server, what moves, the stages and pulumi up's order. Exact lines: an
// operator reads them before running `pulumi up`.
import { buildPlan } from "../pure/plan";
import { offlineGraph } from "../pure/plan/graph";
import { changeSummary, graphSummary, routingSummary, stageNotes } from "../pure/plan/summary";
import { configOf, withServers } from "./support/stacks";

const four = buildPlan(configOf(withServers(4)));
const v = withServers(5);
v.rollout = { maxRestarting: 2 };
const five = buildPlan(configOf(v), four.routing);
const RESTART = "restart (it gives up buckets or pinned bases)";

test("the table: buckets, share and target per server, pins and bucket ranges, aligned", () => {
  expect(routingSummary(five.config, five.routing)).toEqual([
    "Routing: 256 buckets (2 hex digits of the base UUID), 1 pinned base(s); requests without a base UUID go to dtable-server",
    "",
    "dtable-server    address        weight  buckets   share  target  pins  bucket ranges",
    "dtable-server    198.51.100.21       2       57  22.27%  22.22%     0  00-38",
    "dtable-server-2  198.51.100.22       2       57  22.27%  22.22%     0  40-78",
    "dtable-server-3  198.51.100.23       3       85  33.20%  33.33%     1  80-d4",
    "dtable-server-4  198.51.100.24       1       29  11.33%  11.11%     0  e0-fc",
    "dtable-server-5  10.0.1.24           1       28  10.94%  11.11%     0  39-3f, 79-7f, d5-df, fd-ff",
  ]);
  const one = withServers(2);
  one.routing = { bucketHexDigits: 1, pins: {} };
  const small = buildPlan(configOf(one));
  expect(routingSummary(small.config, small.routing)[0]).toBe("Routing: 16 buckets (1 hex digit of the base UUID), 0 pinned base(s); requests without a base UUID go to dtable-server");
});

test("what moves, from which server to which, and who restarts", () => {
  expect(changeSummary(five.change, "the applied table")).toEqual([
    "Against the applied table: 28 bucket(s) and 0 pinned base(s) change server.",
    "  dtable-server -> dtable-server-5: 7 bucket(s): 39-3f",
    "  dtable-server-2 -> dtable-server-5: 7 bucket(s): 79-7f",
    "  dtable-server-3 -> dtable-server-5: 11 bucket(s): d5-df",
    "  dtable-server-4 -> dtable-server-5: 3 bucket(s): fd-ff",
    "Give up buckets or bases, so restart inside a quarantine: dtable-server, dtable-server-2, dtable-server-3, dtable-server-4",
  ]);
  const w = withServers(4);
  w.routing.pins = { "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10": "dtable-server-4" };
  expect(changeSummary(buildPlan(configOf(w), four.routing).change, "X")).toEqual([
    "Against X: 0 bucket(s) and 1 pinned base(s) change server.",
    "  dtable-server-3 -> dtable-server-4: pinned base ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10",
    "Give up buckets or bases, so restart inside a quarantine: dtable-server-3",
  ]);
  expect(changeSummary(buildPlan(configOf(withServers(4)), four.routing).change, "X")).toEqual(["Against X: no bucket or pinned base changes server; nothing restarts."]);
});

test("the stages: who goes down and why, what pauses and the largest paused share", () => {
  const { graph } = offlineGraph(five, false, "EDIT");
  expect(stageNotes(graph.stages)).toEqual([
    "2 stage(s); in each: quarantine (503 with Retry-After) → restart, replace or stop → switch → verify.",
    `  stage 1: dtable-server ${RESTART}; dtable-server-2 ${RESTART}`,
    "    paused: 128 bucket(s) (50.0%) and 0 pinned base(s); moving: 14 bucket(s), 0 pinned base(s)",
    `  stage 2: dtable-server-3 ${RESTART}; dtable-server-4 ${RESTART}`,
    "    paused: 128 bucket(s) (50.0%) and 1 pinned base(s); moving: 14 bucket(s), 0 pinned base(s)",
    "Largest share of buckets paused at any moment: 50.0%.",
  ]);
  expect(stageNotes({ stages: [], largestPausedShare: 0 })).toEqual(["No dtable-server goes down in this change."]);
  const evicted = { ...graph.stages.stages[0], servers: [{ name: "dtable-server-9", action: "evict" as const, why: "rollout.evict" }] };
  expect(stageNotes({ ...graph.stages, stages: [evicted] })).toContain("    dtable-server-9 is EVICTED: it is not unloaded, and what it had not saved is lost");
});

test("pulumi up's order: proxy steps and containers that change, numbered; a kept container is not listed", () => {
  const { graph, changes } = offlineGraph(five, false, "EDIT");
  const lines = graphSummary(graph, changes);
  expect(lines.slice(0, 4)).toEqual([
    "  1. [dtable-web] take the lease on dtable-web for this change (stack (this stack)); refuse if another run holds it or the proxy's live files are not this program's",
    "  2. [dtable-db, dtable-server, dtable-server-2, dtable-server-3, dtable-server-4, dtable-server-5] claim each host for this change: every later step on it checks the claim",
    "  3. [dtable-server-5] create the seatable-server container (waits until healthy)",
    `  4. [dtable-web] stage 1: quarantine 128 bucket(s) and 0 pinned base(s) (503 with Retry-After) for dtable-server (restart: it gives up buckets or pinned bases), dtable-server-2 (restart: it gives up buckets or pinned bases)`,
  ]);
  expect(lines).toHaveLength(13);
  expect(lines[12]).toBe("  13. [dtable-web] verify: every server answers, the proxy runs the new config and sends each server's buckets to it; release the lease");
  const replaced = offlineGraph(five, true, "EDIT");
  expect(graphSummary(replaced.graph, replaced.changes)).toContain("  3. [dtable-web] replace the seatable-server container (waits until healthy)");
});

test("a drained server's target is 0 and the others' targets add up to 100 % without it", () => {
  const v = withServers(4);
  v.hosts.servers[3].drain = true;
  const config = configOf(v);
  const lines = routingSummary(config, buildPlan(config).routing);
  // a server's row (the header row starts with "dtable-server" too)
  const row = (name: string) => lines.map((l) => l.split(/\s+/)).find((c) => c[0] === name && /^\d/.test(c[1]))!;
  // columns: name, address, weight, buckets, share, target
  expect(row("dtable-server-4").slice(3, 6)).toEqual(["0", "0.00%", "0.00%"]);
  const targets = ["dtable-server", "dtable-server-2", "dtable-server-3"].map((n) => parseFloat(row(n)[5]));
  expect(targets.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 1);
});
