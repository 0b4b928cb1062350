// Rebalancing from measured load (pure/plan/suggest.ts): generated logs of
// known shape, and properties over random clusters and traffic: never worse,
// the printed config change gives exactly the predicted table through the
// program's own config → routing path, the same log gives the same answer.
import fc from "fast-check";
import { parse, stringify } from "yaml";
import { buildPlan } from "../pure/plan";
import { LoadAggregator } from "../pure/plan/access-log";
import { computeRoutingTable, ownerOf, RoutingTable } from "../pure/plan/routing";
import { configChangeYaml, MIN_REQUESTS, searchTable, stackKeys, suggest, SuggestInput, suggestionLines, Suggestion, TOLERANCE } from "../pure/plan/suggest";
import type { ClusterConfig } from "../pure/config/schema";
import { configOf, stackValues, withServers } from "./support/stacks";
import { Traffic, trafficLines } from "./support/access-log";

const HOT = "12345678-1111-4111-8111-111111111111";
const HOT_2 = "2345678a-2222-4222-8222-222222222222";
const ADMIN_PIN = "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10";

type Case = { values: Record<string, any>; applied?: RoutingTable; traffic: Omit<Traffic, "table" | "seed" | "requests"> & { requests?: number; seed?: number }; heavyHitters?: number };

/** The stack's table unless `applied`; the log as the proxy running `applied` writes it. */
function run(c: Case): { input: SuggestInput; result: Suggestion; lines: string[]; config: ClusterConfig } {
  const config = configOf(c.values);
  const applied = c.applied ?? buildPlan(config).routing;
  const lines = [...trafficLines({ requests: 20000, seed: 1, ...c.traffic, table: applied })];
  const aggregator = new LoadAggregator({ tracked: [...Object.keys(applied.pins), ...Object.keys(config.routing.pins)], ...(c.heavyHitters ? { heavyHitters: c.heavyHitters } : {}) });
  for (const l of lines) aggregator.add(l);
  const input = { config, applied, appliedLabel: "the stack's table", sample: aggregator.sample() };
  return { input, result: suggest(input), lines, config };
}

/** What each server really carried under `table`, from every line of the log. */
function trueLoads(lines: readonly string[], table: RoutingTable): Map<string, number> {
  const loads = new Map<string, number>();
  for (const l of lines) {
    const { base, upstream_time } = JSON.parse(l) as { base: string; upstream_time: string };
    const server = base === "" ? table.default : ownerOf(table, base);
    loads.set(server, (loads.get(server) ?? 0) + Number(upstream_time));
  }
  return loads;
}
const busiestOf = (loads: Map<string, number>) => Math.max(...loads.values());

/** The printed YAML for `candidate`, put into the stack's values as an admin would, validated and planned. */
function applyPrinted(values: Record<string, any>, result: Suggestion, index: number, applied: RoutingTable): RoutingTable {
  const text = stringify({ config: Object.fromEntries(Object.entries(values).map(([k, v]) => [`seatable-cluster:${k}`, v])) });
  const printed = configChangeYaml(result.candidates[index], stackKeys(text), result.totalLoad);
  const change = (parse(`config:\n${printed.join("\n")}\n`) as { config: Record<string, unknown> }).config;
  const next = { ...values };
  for (const [key, value] of Object.entries(change)) next[key.replace(/^seatable-cluster:/, "")] = value;
  return buildPlan(configOf(next), applied).routing;
}

describe("generated logs", () => {
  test("uniform load: no change proposed", () => {
    const { result, input } = run({ values: stackValues("dev"), traffic: { noBase: 0.05 } });
    expect(result.verdict).toEqual({ kind: "balanced" });
    expect(result.candidates).toEqual([]);
    expect(result.before.busiestShare).toBeLessThan(0.5 * (1 + TOLERANCE) + 0.03);
    expect(suggestionLines(result, input, "--log x")).toContain("No change proposed: the busiest dtable-server is within 10% of the mean.");
  });

  test("two hot bases on one server: one is pinned away; nothing else moves, only that server restarts", () => {
    const { result } = run({ values: stackValues("dev"), traffic: { hot: { [HOT]: 0.15, [HOT_2]: 0.15 } } });
    expect(result.verdict.kind).toBe("proposed");
    if (result.verdict.kind !== "proposed") return;
    const chosen = result.verdict.chosen;
    expect(chosen.kind).toBe("pins");
    expect(Object.keys(chosen.pins)).toHaveLength(1);
    expect(Object.values(chosen.pins)[0]).toMatchObject({ server: "dtable-server-2", from: "dtable-server", exact: true });
    expect(chosen.weights).toEqual({});
    expect(chosen.plan.change.bucketMoves).toEqual([]);
    expect(chosen.restarts).toEqual(["dtable-server"]);
    expect(chosen.after.busiestShare).toBeLessThan(0.5 * (1 + TOLERANCE));
    expect(result.before.busiestShare).toBeCloseTo(0.65, 1);
  });

  test("a skewed bucket range: new weights; only the busy server gives buckets up", () => {
    const { result } = run({ values: stackValues("dev"), traffic: { bucketWeight: (b) => (b < "40" ? 4 : 1) } });
    expect(result.verdict.kind).toBe("proposed");
    if (result.verdict.kind !== "proposed") return;
    const chosen = result.verdict.chosen;
    expect(chosen.kind).toBe("one-donor");
    expect(chosen.pins).toEqual({});
    expect(chosen.weights["dtable-server"][1]).toBeLessThan(chosen.weights["dtable-server-2"][1]);
    expect(chosen.restarts).toEqual(["dtable-server"]);
    expect(new Set(chosen.plan.change.bucketMoves.map((m) => `${m.from}>${m.to}`))).toEqual(new Set(["dtable-server>dtable-server-2"]));
    expect(chosen.after.busiestShare).toBeLessThanOrEqual(0.5 * (1 + TOLERANCE));
    expect(chosen.stages.stages).toHaveLength(1);
  });

  test("buckets that move without a request in the window are counted as cold", () => {
    // dtable-server holds 00-7f; its top buckets (70-7f), which weights move first, see no request
    const { result } = run({ values: stackValues("dev"), traffic: { bucketWeight: (b) => (b < "40" ? 4 : b >= "70" && b < "80" ? 0 : 1) } });
    if (result.verdict.kind !== "proposed") throw new Error(result.verdict.kind);
    expect(result.verdict.chosen.coldBuckets).toBe(16);
    expect(result.verdict.chosen.plan.change.bucketMoves.length).toBeGreaterThan(16);
  });

  test("a drained server gets nothing and keeps its weight; its buckets still moving (a drain not yet applied) are part of the plan", () => {
    const values = withServers(3);
    values.routing.pins = {};
    values.hosts.servers.forEach((s: any) => (s.weight = 1));
    const before = buildPlan(configOf(values)).routing;
    values.hosts.servers[1].drain = true;
    for (const applied of [undefined, before]) {
      const { result } = run({ values, applied, traffic: { bucketWeight: (b) => (b < "30" ? 6 : 1), hot: { [HOT]: 0.05 } } });
      expect(result.verdict.kind).toBe("proposed");
      expect(result.candidates.length).toBeGreaterThan(0);
      for (const c of result.candidates) {
        expect(Object.values(c.plan.routing.buckets)).not.toContain("dtable-server-2");
        expect(Object.values(c.plan.routing.pins)).not.toContain("dtable-server-2");
        expect(c.weights["dtable-server-2"]).toBeUndefined();
        expect(c.config.hosts.servers[1]).toMatchObject({ name: "dtable-server-2", drain: true, weight: 1 });
        expect(c.after.loads.find((l) => l.server === "dtable-server-2")?.load).toBe(0);
      }
    }
  });

  test("the admin's pins never move, even when the pinned base is the hot one", () => {
    const values = withServers(4);
    const { result } = run({ values, traffic: { hot: { [ADMIN_PIN]: 0.3, [HOT]: 0.05 } } });
    expect(result.verdict.kind).toBe("proposed");
    for (const c of result.candidates) {
      expect(c.config.routing.pins[ADMIN_PIN]).toBe("dtable-server-3");
      expect(c.plan.routing.pins[ADMIN_PIN]).toBe("dtable-server-3");
      expect(Object.keys(c.pins)).not.toContain(ADMIN_PIN);
    }
  });

  test("one base that outweighs the rest: no change helps, and none is proposed", () => {
    // dtable-server's other buckets are cold: moving them takes nothing off it; pinning the base moves all of it
    const { result, input } = run({ values: stackValues("dev"), traffic: { hot: { [HOT]: 0.9 }, bucketWeight: (b) => (b === "ff" ? 1 : 0) } });
    expect(result.verdict).toEqual({ kind: "stuck" });
    expect(suggestionLines(result, input, "--log x").join("\n")).toMatch(/No change proposed: no change of weights or pins takes 1% of the load or more off dtable-server/);
  });

  test("too few requests to judge by", () => {
    const { result } = run({ values: stackValues("dev"), traffic: { requests: MIN_REQUESTS - 1, bucketWeight: (b) => (b < "40" ? 9 : 1) } });
    expect(result.verdict).toEqual({ kind: "few-requests", requests: MIN_REQUESTS - 1 });
  });

  test("a log that routes differently from the table is reported", () => {
    const config = configOf(stackValues("dev"));
    const other = buildPlan(configOf({ ...stackValues("dev"), routing: { bucketHexDigits: 2, start: "seed" } })).previous!;
    const lines = [...trafficLines({ requests: 2000, seed: 3, table: other })];
    const aggregator = new LoadAggregator();
    for (const l of lines) aggregator.add(l);
    const result = suggest({ config, applied: buildPlan(config).routing, appliedLabel: "the stack's table", sample: aggregator.sample() });
    // the seed's table: 00-9f on dtable-server-2, a0-ff on dtable-server; the stack's: 00-7f and 80-ff
    expect(result.warnings[0]).toMatch(/^the log sends 2\d\d bucket\(s\) to another dtable-server than the stack's table \(00: the log dtable-server-2, the table dtable-server; /);
  });

  test("the printed change: whole keys as the stack file spells them, changed lines marked", () => {
    const values = stackValues("dev");
    const { result } = run({ values, traffic: { hot: { [HOT]: 0.15, [HOT_2]: 0.15 } } });
    const text = stringify({ config: Object.fromEntries(Object.entries(values).map(([k, v]) => [`seatable-cluster:${k}`, v])) });
    expect(configChangeYaml(result.candidates[0], stackKeys(text), result.totalLoad)).toEqual([
      "  seatable-cluster:routing:",
      "    bucketHexDigits: 2",
      "    pins:",
      expect.stringMatching(/^ {6}(12345678-1111-4111-8111-111111111111|2345678a-2222-4222-8222-222222222222): dtable-server-2 # new: 1[45]\.\d% of the load, was on dtable-server$/),
    ]);
    const skew = run({ values, traffic: { bucketWeight: (b) => (b < "40" ? 4 : 1) } }).result;
    const lines = configChangeYaml(skew.candidates[0], stackKeys(text.replace(/seatable-cluster:hosts/, "hosts")), skew.totalLoad);
    expect(lines[0]).toBe("  hosts:");
    expect(lines.filter((l) => l.includes("weight:"))).toEqual([expect.stringMatching(/^ {8}weight: \d+ # was 1 \(the default\)$/), expect.stringMatching(/^ {8}weight: \d+ # was 1 \(the default\)$/)]);
  });
});

describe("properties", () => {
  test("the search's tables are computeRoutingTable's, with the quotas as weights", () => {
    fc.assert(
      fc.property(
        fc.constantFrom<1 | 2 | 3>(1, 2, 2, 3),
        fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 8, maxLength: 8 }),
        fc.array(fc.nat(), { minLength: 8, maxLength: 8 }),
        (digits, before, after, weights, cuts) => {
          const name = (i: number) => `dtable-server-${i}`;
          const applied = computeRoutingTable({ servers: before.map((i, k) => ({ name: name(i), weight: weights[k] })), bucketHexDigits: digits === 3 ? 2 : digits, pins: {} });
          // quotas of at least 1 each, summing to the number of buckets
          const total = 16 ** digits;
          const serving = after.map(name);
          if (serving.length > total) return;
          const points = [...new Set(cuts.slice(0, serving.length - 1).map((c) => 1 + (c % (total - 1))))].sort((a, b) => a - b);
          const quotas = [...points, total].map((p, i, xs) => p - (i === 0 ? 0 : xs[i - 1]));
          while (quotas.length < serving.length) quotas.push(0);
          if (quotas.some((q) => q < 1)) return;
          const expected = computeRoutingTable({ servers: serving.map((s, i) => ({ name: s, weight: quotas[i] })), bucketHexDigits: digits, pins: {} }, applied);
          expect(searchTable(serving, quotas, applied, digits)).toEqual(expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  // a cluster of 2..5 servers with weights 1..4, maybe one drained, maybe a change not yet applied;
  // traffic with a few busy bucket ranges and hot bases; sometimes so few heavy-hitter slots that base figures are approximate
  const caseArb = fc
    .record({
      n: fc.integer({ min: 2, max: 5 }),
      weights: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 5, maxLength: 5 }),
      drain: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
      pending: fc.option(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 5, maxLength: 5 }), { nil: undefined }),
      digits: fc.constantFrom(1, 2, 2, 2),
      ranges: fc.array(fc.record({ from: fc.integer({ min: 0, max: 255 }), length: fc.integer({ min: 1, max: 64 }), weight: fc.integer({ min: 0, max: 8 }) }), { maxLength: 3 }),
      hot: fc.array(fc.double({ min: 0.005, max: 0.3, noNaN: true }), { maxLength: 3 }),
      heavyHitters: fc.constantFrom(1024, 6),
      seed: fc.integer({ min: 1, max: 2 ** 30 }),
    })
    .map((p) => {
      const values = withServers(p.n);
      values.routing = { bucketHexDigits: p.digits, pins: {} };
      values.hosts.servers.forEach((s: any, i: number) => (s.weight = p.weights[i]));
      const drained = p.drain !== undefined && p.drain < p.n ? p.drain : undefined;
      const pendingValues = structuredClone(values);
      if (p.pending) pendingValues.hosts.servers.forEach((s: any, i: number) => (s.weight = p.pending![i]));
      if (drained !== undefined) values.hosts.servers[drained].drain = true;
      const applied = p.pending || drained !== undefined ? buildPlan(configOf(pendingValues)).routing : undefined;
      const hot = Object.fromEntries(p.hot.map((share, i) => [`${(0x10000000 + i * 0x2345678 + p.seed).toString(16).slice(-8)}-0000-4000-8000-00000000000${i}`, share]));
      const bucketWeight = (b: string) => {
        const x = parseInt(b.padEnd(2, "0"), 16);
        return p.ranges.reduce((w, r) => (x >= r.from && x < r.from + r.length ? r.weight : w), 1);
      };
      return { values, applied, traffic: { requests: 2500, seed: p.seed, hot, bucketWeight, basesPerBucket: 3 }, heavyHitters: p.heavyHitters } satisfies Case;
    });

  test("never worse: under every candidate no server carries more than the busiest did, counted from every line of the log", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { input, result, lines } = run(c);
        const before = busiestOf(trueLoads(lines, result.plan.routing));
        expect(result.before.busiest.upper).toBeCloseTo(before, 6);
        for (const candidate of result.candidates) {
          const after = busiestOf(trueLoads(lines, candidate.plan.routing));
          expect(after).toBeLessThan(before + 1e-9);
          expect(after).toBeLessThanOrEqual(candidate.after.busiest.upper + 1e-9);
          // drained servers and weights of serving servers within the schema
          for (const s of candidate.config.hosts.servers) {
            expect(s.weight).toBeGreaterThanOrEqual(1);
            expect(s.weight).toBeLessThanOrEqual(1000);
            if (s.drain) expect(Object.values(candidate.plan.routing.buckets)).not.toContain(s.name);
          }
        }
        if (result.verdict.kind === "proposed") expect(result.candidates).toContain(result.verdict.chosen);
        if (result.before.busiest.upper <= result.mean * (1 + TOLERANCE)) expect(result.candidates).toEqual([]);
        void input;
      }),
      { numRuns: 30 },
    );
  });

  test("the printed config change, validated and planned as the program does, gives exactly the predicted table", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { input, result } = run(c);
        result.candidates.forEach((candidate, i) => {
          expect(applyPrinted(c.values, result, i, input.applied)).toEqual(candidate.plan.routing);
        });
      }),
      { numRuns: 30 },
    );
  });

  test("deterministic: the same log gives the same report", () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const first = run(c);
        const second = run(c);
        expect(suggestionLines(second.result, second.input, "x")).toEqual(suggestionLines(first.result, first.input, "x"));
        expect(second.result.candidates.map((x) => x.plan.routing)).toEqual(first.result.candidates.map((x) => x.plan.routing));
      }),
      { numRuns: 10 },
    );
  });
});
