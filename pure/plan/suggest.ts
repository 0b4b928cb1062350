// Rebalancing from measured load (`plan --suggest`, issue 23): from what the
// proxy's access log says each bucket and busy base cost (access-log.ts),
// candidate changes of the stack config (weights, pins of hot bases) that bring
// the busiest dtable-server's load close to the mean, each with its cost: the
// buckets and bases that move and the servers that must restart, in the stages
// the program itself would run. Plain data in and out, no I/O.
//
// Load is the upstream time a server spent answering. Each dtable-server is one
// Node.js process, so its busy time is compared with the others' as it is: the
// mean is over the servers that serve bases, whatever their weights.
//
// Rules: a candidate never leaves any server busier than the busiest is now
// (for a base whose figure is approximate, with the most it may weigh); drained
// servers, servers of weight 0 and the admin's own pins are left as they are;
// the same sample and config always give the same candidates.
import { Document, isScalar, parse } from "yaml";
import type { ClusterConfig } from "../config/schema";
import { allBuckets } from "../config/routing-file";
import { buildPlan, ClusterPlan } from "./index";
import { bucketOf, bucketQuotas, bucketRanges, ownerOf, refineTable, RoutingTable } from "./routing";
import { offlineGraph } from "./graph";
import type { StagePlan } from "./stages";
import { bucketsAt, Figures, LOG_BUCKET_DIGITS, LoadSample } from "./access-log";

/** The busiest server within this much of the mean (10%) is balanced: no change is proposed. */
export const TOLERANCE = 0.1;
/** Fewer requests than this in the log are too few to move anything for. */
export const MIN_REQUESTS = 1000;
/** A candidate must take at least this share of all load (1 point) off the busiest server: every change restarts a server. */
export const MIN_GAIN = 0.01;
/** A base is pinned away only when it carries at least this share of all load (1%): pins are the admin's to keep. */
export const MIN_PIN_SHARE = 0.01;
/** At most this many new pins in one candidate. */
export const MAX_NEW_PINS = 4;
/** Weights the schema allows. */
const MAX_WEIGHT = 1000;
/** Bounds of the search, so that 4,096 buckets and 64 servers still answer in seconds. */
const MAX_STEPS = 256;
const MAX_RECEIVERS = 8;
const MAX_PIN_BASES = 16;

export type ServerLoad = {
  readonly server: string;
  readonly buckets: number;
  readonly pins: number;
  /** requests the table would send it (heavy-hitter bases: at least) */
  readonly requests: number;
  /** its load, bases of approximate figure at their lowest */
  readonly load: number;
  /** the most its load can be (equal to `load` when every figure involved is exact) */
  readonly upper: number;
};

export type LoadPicture = {
  readonly loads: readonly ServerLoad[];
  readonly busiest: ServerLoad;
  /** the busiest server's load, at most, as a share of all load */
  readonly busiestShare: number;
};

export type CandidateKind = "pins" | "one-donor" | "weights" | "pins-and-weights";

export type Candidate = {
  /** "A", "B", …, in the order they were found */
  readonly id: string;
  readonly kind: CandidateKind;
  readonly title: string;
  /** new weights of the serving servers whose weight changes: name → [from, to] */
  readonly weights: Readonly<Record<string, readonly [number, number]>>;
  /** new pins: base → server, with the load that moves and where it was */
  readonly pins: Readonly<Record<string, { readonly server: string; readonly from: string; readonly load: number; readonly exact: boolean }>>;
  /** the stack config after the change, and its plan against the table the cluster runs */
  readonly config: ClusterConfig;
  readonly plan: ClusterPlan;
  readonly after: LoadPicture;
  readonly stages: StagePlan;
  /** servers that go down (restart, stop), in stage order */
  readonly restarts: readonly string[];
  /** buckets that move and had no request in the window */
  readonly coldBuckets: number;
};

export type Verdict =
  | { readonly kind: "no-requests" }
  | { readonly kind: "few-requests"; readonly requests: number }
  | { readonly kind: "no-load" }
  | { readonly kind: "balanced" }
  | { readonly kind: "stuck" }
  | { readonly kind: "proposed"; readonly chosen: Candidate; readonly why: string };

export type Suggestion = {
  /** the stack's own table and plan against the table the cluster runs */
  readonly plan: ClusterPlan;
  readonly before: LoadPicture;
  /** mean load of the serving servers */
  readonly mean: number;
  readonly serving: readonly string[];
  readonly totalLoad: number;
  readonly candidates: readonly Candidate[];
  readonly verdict: Verdict;
  /** where the log disagrees with the table the load is modelled on */
  readonly warnings: readonly string[];
};

export type SuggestInput = {
  readonly config: ClusterConfig;
  /** the table the cluster runs: every move is planned from it */
  readonly applied: RoutingTable;
  /** what the report calls it */
  readonly appliedLabel: string;
  readonly sample: LoadSample;
};

type BaseLoad = { readonly lo: number; readonly hi: number; readonly requests: number };

/** The sample at the table's bucket size, and each base's load as far as it is known. */
type Model = {
  readonly digits: 1 | 2 | 3;
  readonly buckets: ReadonlyMap<string, Figures>;
  readonly noBase: Figures;
  readonly total: number;
  readonly base: (uuid: string) => BaseLoad;
  /** bases that may be pinned: heavy hitters, not pinned by the admin, busiest first */
  readonly hot: readonly { readonly uuid: string; readonly load: BaseLoad }[];
};

function modelOf(sample: LoadSample, config: ClusterConfig): Model {
  const digits = config.routing.bucketHexDigits;
  const heavy = new Map(sample.heavy.bases.map((b) => [b.uuid, b]));
  const base = (uuid: string): BaseLoad => {
    const exact = sample.tracked[uuid];
    if (exact) return { lo: exact.load, hi: exact.load, requests: exact.requests };
    const h = heavy.get(uuid);
    if (h) return { lo: Math.max(0, h.load - h.error), hi: h.load, requests: h.requests };
    return { lo: 0, hi: sample.heavy.unlistedAtMost, requests: 0 };
  };
  const adminPins = new Set(Object.keys(config.routing.pins));
  const hot = sample.heavy.bases
    .filter((b) => !adminPins.has(b.uuid) && !(b.uuid in sample.tracked))
    .map((b) => ({ uuid: b.uuid, load: base(b.uuid) }))
    .filter((b) => b.load.lo > 0)
    .sort((a, b) => b.load.lo - a.load.lo || (a.uuid < b.uuid ? -1 : 1));
  return { digits, buckets: bucketsAt(sample, digits), noBase: sample.noBase, total: sample.totalLoad, base, hot };
}

/** Each server's load under `table`: its buckets (less their pinned bases), its pins, and the default server's requests without a base. */
function loadsUnder(model: Model, table: RoutingTable, servers: readonly string[]): ServerLoad[] {
  const acc = new Map<string, { buckets: number; pins: number; requests: number; load: number; extra: number }>();
  const at = (s: string) => {
    let a = acc.get(s);
    if (!a) acc.set(s, (a = { buckets: 0, pins: 0, requests: 0, load: 0, extra: 0 }));
    return a;
  };
  for (const s of servers) at(s);
  for (const [bucket, figures] of model.buckets) {
    const a = at(table.buckets[bucket]);
    a.buckets += 1;
    a.requests += figures.requests;
    a.load += figures.load;
  }
  for (const [uuid, server] of Object.entries(table.pins)) {
    const a = at(server);
    a.pins += 1;
    const owner = table.buckets[bucketOf(uuid, table.bucketHexDigits)];
    if (owner === server) continue;
    const f = model.base(uuid);
    // the bucket's owner keeps at most what the base did not take; the pin's server gets at most its highest figure
    at(owner).load -= f.lo;
    at(owner).requests -= f.requests;
    a.load += f.lo;
    a.requests += f.requests;
    a.extra += f.hi - f.lo;
  }
  const d = at(table.default);
  d.requests += model.noBase.requests;
  d.load += model.noBase.load;
  return [...acc].map(([server, a]) => ({ server, buckets: a.buckets, pins: a.pins, requests: Math.max(0, a.requests), load: Math.max(0, a.load), upper: Math.max(0, a.load) + a.extra }));
}

function picture(model: Model, table: RoutingTable, servers: readonly string[]): LoadPicture {
  const loads = loadsUnder(model, table, servers);
  // the first of the busiest in config order
  const busiest = loads.reduce((a, b) => (b.upper > a.upper ? b : a));
  return { loads, busiest, busiestShare: model.total > 0 ? busiest.upper / model.total : 0 };
}

// ---- the search ---------------------------------------------------------------
//
// It tries thousands of tables, so it works on arrays: buckets by their index
// (bucket order), servers by their place among the serving ones. How quotas
// give a table mirrors computeRoutingTable (routing.ts) with weights equal to
// the quotas; a test holds the two equal. The search only guides: every
// candidate is then planned by buildPlan and judged on that table.

type Search = {
  readonly model: Model;
  readonly serving: readonly string[];
  readonly eps: number;
  readonly bucketLoad: Float64Array;
  /** per serving server, the buckets it holds in the table the cluster runs, in order */
  readonly heldBy: readonly (readonly number[])[];
  /** the admin's pins: bucket, server, base figures */
  readonly adminPins: readonly SearchPin[];
  readonly applied: RoutingTable;
};

type SearchPin = { readonly bucket: number; readonly server: number; readonly lo: number; readonly hi: number };

type State = {
  readonly quotas: readonly number[];
  /** new pins: base → server */
  readonly pins: Readonly<Record<string, string>>;
  readonly owner: Int32Array;
  readonly upper: Float64Array;
  /** `upper`, highest first: the search makes this smaller, first place first */
  readonly objective: readonly number[];
};

const bucketIndex = (uuid: string, digits: number) => parseInt(bucketOf(uuid, digits), 16);

/** Each bucket's server (its place among `heldBy`) for `quotas`: computeRoutingTable's keep-then-fill, on arrays. */
function ownersFor(heldBy: readonly (readonly number[])[], quotas: readonly number[], buckets: number): Int32Array {
  const owner = new Int32Array(buckets).fill(-1);
  // each server keeps its lowest held buckets up to its quota
  quotas.forEach((q, i) => {
    const held = heldBy[i];
    for (let j = 0; j < Math.min(q, held.length); j++) owner[held[j]] = i;
  });
  // the rest go, lowest first, to the servers below their quota, in config order
  let next = 0;
  quotas.forEach((q, i) => {
    for (let k = Math.min(heldBy[i].length, q); k < q; k++) {
      while (owner[next] !== -1) next++;
      owner[next] = i;
    }
  });
  return owner;
}

/** The table the search predicts for `quotas` (as weights) from `applied`: exported for the test that holds it equal to computeRoutingTable. */
export function searchTable(serving: readonly string[], quotas: readonly number[], applied: RoutingTable, digits: 1 | 2 | 3): RoutingTable {
  const before = refineTable(applied, digits);
  const names = allBuckets(digits);
  const heldBy = serving.map((s) => names.flatMap((b, i) => (before.buckets[b] === s ? [i] : [])));
  const owner = ownersFor(heldBy, quotas, names.length);
  return { bucketHexDigits: digits, default: serving[0], buckets: Object.fromEntries(names.map((b, i) => [b, serving[owner[i]]])), pins: {} };
}

function evaluate(search: Search, quotas: readonly number[], pins: Readonly<Record<string, string>>): State {
  const owner = ownersFor(search.heldBy, quotas, search.bucketLoad.length);
  const n = search.serving.length;
  const load = new Float64Array(n);
  const extra = new Float64Array(n);
  for (let b = 0; b < owner.length; b++) load[owner[b]] += search.bucketLoad[b];
  const pinned = (p: SearchPin) => {
    const o = owner[p.bucket];
    if (p.server < 0 || o === p.server) return;
    load[o] -= p.lo;
    load[p.server] += p.lo;
    extra[p.server] += p.hi - p.lo;
  };
  search.adminPins.forEach(pinned);
  for (const [uuid, server] of Object.entries(pins)) {
    const f = search.model.base(uuid);
    pinned({ bucket: bucketIndex(uuid, search.model.digits), server: search.serving.indexOf(server), lo: f.lo, hi: f.hi });
  }
  // requests without a base go to the default server: the first serving one
  if (n > 0) load[0] += search.model.noBase.load;
  const upper = load.map((l, i) => Math.max(0, l) + extra[i]);
  return { quotas, pins, owner, upper, objective: Array.from(upper).sort((a, b) => b - a) };
}

function lessThan(a: readonly number[], b: readonly number[], eps: number): boolean {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x < y - eps) return true;
    if (x > y + eps) return false;
  }
  return false;
}

/**
 * Quota steps to try for moving buckets from `donor` to `receiver`: the ladder
 * 1, 2, 3, 4, 6, 9, …, and around the estimate of how many of the donor's
 * highest buckets (those it gives up first) carry half the gap between the
 * two, cold ones at the top included.
 */
function stepSizes(search: Search, s: State, donor: number, receiver: number, max: number): number[] {
  const out = new Set<number>();
  for (let k = 1; k <= max; k = Math.max(k + 1, Math.floor(k * 1.5))) out.add(k);
  const half = (s.upper[donor] - s.upper[receiver]) / 2;
  let sum = 0;
  let k = 0;
  for (let b = s.owner.length - 1; b >= 0 && sum < half; b--) {
    if (s.owner[b] !== donor) continue;
    sum += search.bucketLoad[b];
    k += 1;
  }
  for (const x of [k - 1, k, k + 1]) out.add(x);
  return [...out].filter((x) => x >= 1 && x <= max).sort((a, b) => a - b);
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));

/**
 * Moves bucket quota away from the busiest server, a step at a time, while
 * that makes the loads (highest first) smaller. No server's quota goes below
 * its `floors` entry (1 at least: a serving server keeps a bucket); a floor at
 * what a server holds now keeps it from giving buckets up, and so from a restart.
 */
function descend(search: Search, start: State, floors: readonly number[] = search.serving.map(() => 1)): State {
  let current = start;
  const n = search.serving.length;
  for (let step = 0; step < MAX_STEPS; step++) {
    const top = current.objective[0] ?? 0;
    let best: State | undefined;
    for (let d = 0; d < n; d++) {
      if (current.upper[d] < top - search.eps || current.quotas[d] <= floors[d]) continue;
      const receivers = [...Array(n).keys()]
        .filter((r) => r !== d)
        .sort((a, b) => current.upper[a] - current.upper[b] || a - b)
        .slice(0, MAX_RECEIVERS);
      for (const r of receivers) {
        for (const k of stepSizes(search, current, d, r, current.quotas[d] - Math.max(1, floors[d]))) {
          const next = evaluate(
            search,
            current.quotas.map((q, i) => (i === d ? q - k : i === r ? q + k : q)),
            current.pins,
          );
          if (lessThan(next.objective, (best ?? current).objective, search.eps)) best = next;
        }
      }
    }
    if (!best) break;
    current = best;
  }
  return current;
}

/** Pins the busiest server's hottest bases to other servers, one at a time, while that makes the loads smaller. */
function pinHot(search: Search, start: State): State {
  let current = start;
  const minimum = MIN_PIN_SHARE * search.model.total;
  const n = search.serving.length;
  for (let count = 0; count < MAX_NEW_PINS; count++) {
    const top = current.objective[0] ?? 0;
    let best: State | undefined;
    for (let d = 0; d < n; d++) {
      if (current.upper[d] < top - search.eps) continue;
      const where = (uuid: string) => (uuid in current.pins ? -2 : current.owner[bucketIndex(uuid, search.model.digits)]);
      const bases = search.model.hot.filter((b) => b.load.lo >= minimum && where(b.uuid) === d).slice(0, MAX_PIN_BASES);
      for (const b of bases) {
        // not back to the server that holds its bucket in the table the cluster runs: planStages cannot
        // yet stage a new pin that keeps a base where it is while its bucket moves away (it throws)
        const stays = b.uuid in search.applied.pins ? undefined : ownerOf(search.applied, b.uuid);
        for (let r = 0; r < n; r++) {
          if (r === d || search.serving[r] === stays) continue;
          const next = evaluate(search, current.quotas, { ...current.pins, [b.uuid]: search.serving[r] });
          if (lessThan(next.objective, (best ?? current).objective, search.eps)) best = next;
        }
      }
    }
    if (!best) break;
    current = best;
  }
  return current;
}

/** The config with other weights (serving servers) and more pins: what the printed change makes of the stack. */
export function withChanges(config: ClusterConfig, weights: Readonly<Record<string, number>>, pins: Readonly<Record<string, string>>): ClusterConfig {
  return {
    ...config,
    hosts: { ...config.hosts, servers: config.hosts.servers.map((s) => (s.name in weights ? { ...s, weight: weights[s.name] } : s)) },
    routing: { ...config.routing, pins: Object.fromEntries(Object.entries({ ...config.routing.pins, ...pins }).sort(([a], [b]) => (a < b ? -1 : 1))) },
  };
}

/**
 * Small weights (1..1000) whose bucket quotas, given what each server holds in
 * `applied`, are exactly `quotas`: the table they give is the one searched.
 * Without such weights, the closest found; the candidate is then judged by
 * the table those weights really give.
 */
function weightsFor(quotas: readonly number[], serving: readonly string[], held: ReadonlyMap<string, number>, total: number): number[] {
  const largest = Math.max(...quotas);
  const same = (w: number[]) => bucketQuotas(serving.map((name, i) => ({ name, weight: w[i] })), total, held).every((q, i) => q === quotas[i]);
  for (let m = 1; m <= MAX_WEIGHT; m++) {
    const w = quotas.map((q) => Math.max(1, Math.round((q * m) / largest)));
    if (same(w)) return w;
  }
  const g = quotas.reduce(gcd);
  if (largest / g <= MAX_WEIGHT) return quotas.map((q) => q / g);
  return quotas.map((q) => Math.max(1, Math.round((q * MAX_WEIGHT) / largest)));
}

const restartsOf = (stages: StagePlan) => [...new Set(stages.stages.flatMap((st) => st.servers.filter((s) => s.action !== "evict").map((s) => s.name)))];

/**
 * The candidates for `input` and the one chosen, or why none is proposed.
 * Deterministic: the same sample and config give the same answer.
 */
export function suggest(input: SuggestInput): Suggestion {
  const { config, applied, sample } = input;
  const model = modelOf(sample, config);
  const plan = buildPlan(config, applied);
  const serving = config.hosts.servers.filter((s) => !s.drain && s.weight > 0).map((s) => s.name);
  const servers = config.hosts.servers.map((s) => s.name);
  const before = picture(model, plan.routing, servers);
  const mean = serving.length > 0 ? model.total / serving.length : 0;
  const warnings = tableWarnings(sample, applied, input.appliedLabel);
  const base = { plan, before, mean, serving, totalLoad: model.total, warnings };

  if (sample.requests === 0) return { ...base, candidates: [], verdict: { kind: "no-requests" } };
  if (sample.requests < MIN_REQUESTS) return { ...base, candidates: [], verdict: { kind: "few-requests", requests: sample.requests } };
  if (model.total <= 0) return { ...base, candidates: [], verdict: { kind: "no-load" } };
  if (before.busiest.upper <= mean * (1 + TOLERANCE)) return { ...base, candidates: [], verdict: { kind: "balanced" } };

  const digits = config.routing.bucketHexDigits;
  const names = allBuckets(digits);
  const total = names.length;
  const refined = refineTable(applied, digits);
  const search: Search = {
    model,
    serving,
    eps: 1e-9 * model.total,
    bucketLoad: Float64Array.from(names, (b) => model.buckets.get(b)?.load ?? 0),
    heldBy: serving.map((s) => names.flatMap((b, i) => (refined.buckets[b] === s ? [i] : []))),
    adminPins: Object.entries(config.routing.pins).map(([uuid, server]) => {
      const f = model.base(uuid);
      return { bucket: bucketIndex(uuid, digits), server: serving.indexOf(server), lo: f.lo, hi: f.hi };
    }),
    applied,
  };
  const startQuotas = serving.map((s) => Object.values(plan.routing.buckets).filter((o) => o === s).length);
  const start = evaluate(search, startQuotas, {});

  const drafts: { kind: CandidateKind; title: string; state: State }[] = [];
  const pinned = pinHot(search, start);
  if (Object.keys(pinned.pins).length > 0) drafts.push({ kind: "pins", title: `pin ${Object.keys(pinned.pins).length} hot base(s) away from the busiest server`, state: pinned });
  // only the busiest server gives buckets up: the others keep at least what they hold, so only it restarts
  const held = new Map(serving.map((name, i) => [name, search.heldBy[i].length]));
  const busiest = before.busiest.server;
  const floors = serving.map((name, i) => (name === busiest ? 1 : Math.min(startQuotas[i], held.get(name) ?? 0)));
  drafts.push({ kind: "one-donor", title: `weights: only ${busiest} gives buckets up`, state: descend(search, start, floors) });
  drafts.push({ kind: "weights", title: "weights: the most even load", state: descend(search, start) });
  if (Object.keys(pinned.pins).length > 0) drafts.push({ kind: "pins-and-weights", title: "hot bases pinned, then weights", state: descend(search, pinned) });

  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  for (const draft of drafts) {
    const quotasChanged = draft.state.quotas.some((q, i) => q !== startQuotas[i]);
    if (!quotasChanged && Object.keys(draft.state.pins).length === 0) continue;
    const w = quotasChanged ? weightsFor(draft.state.quotas, serving, held, total) : serving.map((s) => config.hosts.servers.find((h) => h.name === s)!.weight);
    const weights: Record<string, readonly [number, number]> = {};
    serving.forEach((name, i) => {
      const was = config.hosts.servers.find((h) => h.name === name)!.weight;
      if (w[i] !== was) weights[name] = [was, w[i]];
    });
    const changed = withChanges(config, Object.fromEntries(Object.entries(weights).map(([n, [, to]]) => [n, to])), draft.state.pins);
    const key = JSON.stringify([Object.entries(weights), Object.entries(changed.routing.pins)]);
    if (seen.has(key)) continue;
    seen.add(key);
    const candidatePlan = buildPlan(changed, applied);
    const after = picture(model, candidatePlan.routing, servers);
    // never worse, and worth a restart
    if (after.busiest.upper > before.busiest.upper - MIN_GAIN * model.total) continue;
    let stages: StagePlan;
    try {
      stages = offlineGraph(candidatePlan, false, "").graph.stages;
    } catch (e) {
      // a change the program could not roll out is no proposal
      warnings.push(`a candidate (${draft.title}) was left out: the stage planning refused it (${(e as Error).message})`);
      continue;
    }
    const pins = Object.fromEntries(
      Object.entries(draft.state.pins).map(([uuid, server]) => {
        const f = model.base(uuid);
        return [uuid, { server, from: ownerOf(plan.routing, uuid), load: f.lo, exact: f.lo === f.hi }];
      }),
    );
    candidates.push({
      id: String.fromCharCode(65 + candidates.length),
      kind: draft.kind,
      title: draft.title,
      weights,
      pins,
      config: changed,
      plan: candidatePlan,
      after,
      stages,
      restarts: restartsOf(stages),
      coldBuckets: candidatePlan.change.bucketMoves.filter((m) => (model.buckets.get(m.bucket)?.requests ?? 0) === 0).length,
    });
  }
  if (candidates.length === 0) return { ...base, candidates, verdict: { kind: "stuck" } };
  return { ...base, candidates, verdict: choose(candidates, mean) };
}

const movesOf = (c: Candidate) => c.plan.change.bucketMoves.length + c.plan.change.pinMoves.length;

/** Within the tolerance: the fewest restarts, then the fewest moves; else the least busy busiest server. */
function choose(candidates: readonly Candidate[], mean: number): Verdict {
  const within = candidates.filter((c) => c.after.busiest.upper <= mean * (1 + TOLERANCE));
  if (within.length > 0) {
    const chosen = [...within].sort((a, b) => a.restarts.length - b.restarts.length || movesOf(a) - movesOf(b) || a.after.busiest.upper - b.after.busiest.upper)[0];
    return { kind: "proposed", chosen, why: `of the candidates that bring the busiest server within ${pct(TOLERANCE, 0)} of the mean, the one with the fewest restarts, then the fewest moves` };
  }
  const chosen = [...candidates].sort((a, b) => a.after.busiest.upper - b.after.busiest.upper || a.restarts.length - b.restarts.length || movesOf(a) - movesOf(b))[0];
  return { kind: "proposed", chosen, why: `no candidate brings the busiest server within ${pct(TOLERANCE, 0)} of the mean; this one comes closest` };
}

/** Where the log's own `server` of bucket-routed requests differs from the table the load is modelled on. */
function tableWarnings(sample: LoadSample, applied: RoutingTable, label: string): string[] {
  const differ: string[] = [];
  let changed = 0;
  for (let i = 0; i < sample.bucketServers.server.length; i++) {
    const logged = sample.bucketServers.server[i];
    if (logged === "") continue;
    if (sample.bucketServers.changed[i]) changed += 1;
    const bucket = i.toString(16).padStart(LOG_BUCKET_DIGITS, "0");
    const owner = applied.buckets[bucket.slice(0, applied.bucketHexDigits)];
    if (owner !== logged) differ.push(`${bucket.slice(0, applied.bucketHexDigits)}: the log ${logged}, the table ${owner}`);
  }
  const out: string[] = [];
  if (differ.length > 0) {
    const unique = [...new Set(differ)];
    out.push(
      `the log sends ${unique.length} bucket(s) to another dtable-server than ${label} (${unique.slice(0, 3).join("; ")}${unique.length > 3 ? "; …" : ""}): the load is modelled on ${label}; if the cluster ran another table in the window, compare with that one (--live or --previous)`,
    );
  }
  if (changed > 0) out.push(`${changed} bucket(s) changed dtable-server within the log's window: the figures span a change of the table`);
  return out;
}

// ---- the report -------------------------------------------------------------

const pct = (x: number, digits = 1) => `${(100 * x).toFixed(digits)}%`;
const n0 = (x: number) => Math.round(x).toLocaleString("en-US");
const secs = (x: number) => x.toLocaleString("en-US", { minimumFractionDigits: 1, maximumFractionDigits: 1 });

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds.toFixed(0)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

function columns(rows: string[][], rightFrom: number): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c >= rightFrom ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd());
}

/** What the log held: the window, the requests, what was skipped and how exact the base figures are. */
export function sampleLines(sample: LoadSample, source: string): string[] {
  const w = sample.window;
  const lines = [
    `Load measured (${source}): ${n0(sample.requests)} request(s)${w ? ` from ${w.first} to ${w.last} (${duration(w.seconds)})` : ""}; load is the summed upstream time, ${secs(sample.totalLoad)} s in all.`,
  ];
  if (sample.skipped.count > 0) lines.push(`  ${n0(sample.skipped.count)} line(s) that are not access-log lines skipped, e.g. ${sample.skipped.samples.join("; ")}`);
  if (sample.websockets > 0) lines.push(`  ${n0(sample.websockets)} WebSocket session(s) (status 101): counted as requests; their upstream time is how long they stayed open, not load.`);
  if (sample.noUpstream > 0) lines.push(`  ${n0(sample.noUpstream)} request(s) no dtable-server answered (quarantine, or no connection): no load.`);
  lines.push(
    sample.heavy.exact
      ? `  Base figures: exact (${n0(sample.heavy.bases.length)} busy base(s), within the ${n0(sample.heavy.capacity)} kept).`
      : `  Base figures: the ${n0(sample.heavy.capacity)} busiest bases kept (Space-Saving); each figure overstates by at most ${secs(sample.heavy.unlistedAtMost)} s, and no other base carried more. Pinned bases: exact.`,
  );
  return lines;
}

function loadTable(p: LoadPicture, config: ClusterConfig, total: number, sample?: LoadSample): string[] {
  const host = (name: string) => config.hosts.servers.find((s) => s.name === name);
  const rows = [
    ["dtable-server", "weight", "buckets", "pins", "requests", "load (s)", "share", ...(sample ? ["logged"] : [])],
    ...p.loads.map((l) => {
      const h = host(l.server);
      const approx = l.upper > l.load ? "≤ " : "";
      return [
        l.server,
        h ? (h.drain ? `${h.weight} drain` : String(h.weight)) : "leaves",
        String(l.buckets),
        String(l.pins),
        n0(l.requests),
        `${approx}${secs(l.upper)}`,
        total > 0 ? `${approx}${pct(l.upper / total)}` : "-",
        ...(sample ? [total > 0 ? pct((sample.servers[l.server]?.load ?? 0) / total) : "-"] : []),
      ];
    }),
  ];
  return columns(rows, 1).map((l) => `  ${l}`);
}

/** What the report calls the stack's own table, when that is the table the cluster is taken to run. */
export const STACK_TABLE = "the stack's table";

/** The report `plan --suggest` prints. */
export function suggestionLines(s: Suggestion, input: SuggestInput, source: string): string[] {
  const { config, sample } = input;
  const model = modelOf(sample, config);
  const same = s.plan.change.bucketMoves.length === 0 && s.plan.change.pinMoves.length === 0;
  const out = [
    ...sampleLines(sample, source),
    "",
    same
      ? `Load per dtable-server under the stack's table${input.appliedLabel === STACK_TABLE ? "" : `, which is ${input.appliedLabel}`} ("logged": what the log's server field says each got):`
      : `Load per dtable-server under the stack's table, after \`pulumi up\` of the stack as it is (it moves ${s.plan.change.bucketMoves.length} bucket(s) and ${s.plan.change.pinMoves.length} pinned base(s) against ${input.appliedLabel}; "logged": what the log's server field says each got):`,
    ...loadTable(s.before, config, s.totalLoad, sample),
    s.totalLoad > 0
      ? `Busiest: ${s.before.busiest.server}, ${pct(s.before.busiestShare)} of the load; the mean of the ${s.serving.length} serving dtable-server(s) is ${pct(s.mean / s.totalLoad)} (balanced: up to ${pct((s.mean * (1 + TOLERANCE)) / s.totalLoad)}).`
      : "No load measured.",
  ];
  const hot = model.hot.slice(0, 5);
  if (hot.length > 0 && s.totalLoad > 0) {
    out.push("Busiest bases (not pinned):");
    for (const b of hot) {
      const bucket = bucketOf(b.uuid, config.routing.bucketHexDigits);
      const approx = b.load.lo < b.load.hi ? "≈ " : "";
      out.push(`  ${b.uuid}  ${ownerOf(s.plan.routing, b.uuid)} (bucket ${bucket})  ${approx}${pct(b.load.lo / s.totalLoad)} of the load, ${approx}${n0(b.load.requests)} request(s)`);
    }
  }
  out.push("");
  switch (s.verdict.kind) {
    case "no-requests":
      out.push("No change proposed: the log holds no request.");
      return out;
    case "few-requests":
      out.push(`No change proposed: ${n0(s.verdict.requests)} request(s) are too few to judge the load by (at least ${n0(MIN_REQUESTS)}); read a longer window (--since) or another log.`);
      return out;
    case "no-load":
      out.push("No change proposed: no dtable-server spent any time on the requests in the log.");
      return out;
    case "balanced":
      out.push(`No change proposed: the busiest dtable-server is within ${pct(TOLERANCE, 0)} of the mean.`);
      return out;
    case "stuck":
      out.push(
        `No change proposed: no change of weights or pins takes ${pct(MIN_GAIN, 0)} of the load or more off ${s.before.busiest.server} without making another server busier; the load sits in buckets that cannot be split (a bucket moves whole; bases under ${pct(MIN_PIN_SHARE, 0)} of the load are not pinned).`,
      );
      return out;
    case "proposed":
      break;
  }
  out.push(`Candidates (each planned against ${input.appliedLabel}):`);
  for (const c of s.candidates) out.push(...candidateLines(c, s));
  const chosen = s.verdict.chosen;
  out.push(`Chosen: ${chosen.id}, ${s.verdict.why}.`, "");
  return out;
}

function candidateLines(c: Candidate, s: Suggestion): string[] {
  const change = c.plan.change;
  const approx = c.after.busiest.upper > c.after.busiest.load ? "at most " : "";
  const lines = [
    `  ${c.id}. ${c.title}`,
    `     busiest: ${s.before.busiest.server} ${pct(s.before.busiestShare)} → ${c.after.busiest.server} ${approx}${pct(c.after.busiestShare)} of the load (mean ${pct(s.mean / s.totalLoad)})`,
  ];
  for (const [name, [from, to]] of Object.entries(c.weights)) lines.push(`     weight of ${name}: ${from} → ${to}`);
  for (const [uuid, p] of Object.entries(c.pins)) lines.push(`     pin ${uuid} (${p.exact ? "" : "≈ "}${pct(p.load / s.totalLoad)} of the load): ${p.from} → ${p.server}`);
  const byPair = new Map<string, string[]>();
  for (const m of change.bucketMoves) byPair.set(`${m.from} -> ${m.to}`, [...(byPair.get(`${m.from} -> ${m.to}`) ?? []), m.bucket]);
  lines.push(`     moves: ${change.bucketMoves.length} bucket(s) (${c.coldBuckets} cold: no request in the window) and ${change.pinMoves.length} pinned base(s)`);
  for (const [pair, buckets] of [...byPair].sort()) lines.push(`       ${pair}: ${bucketRanges(buckets)}`);
  lines.push(
    c.restarts.length === 0 ? "     restarts: none" : `     restarts: ${c.restarts.join(", ")} (${c.stages.stages.length} stage(s); largest share of buckets paused at once ${pct(c.stages.largestPausedShare)})`,
  );
  for (const st of c.stages.stages) {
    lines.push(`       stage ${st.index}: ${st.servers.map((x) => `${x.name} ${x.action}`).join(", ")}; paused ${st.paused.buckets.length} bucket(s) and ${st.paused.pins.length} pinned base(s); moving ${st.bucketMoves.length} bucket(s) and ${st.pinMoves.length} pinned base(s)`);
  }
  lines.push("     after:", ...loadTable(c.after, c.config, s.totalLoad).map((l) => `     ${l}`));
  return lines;
}

// ---- the stack config change ---------------------------------------------------

/** The stack file's spelling of the keys a change touches, and their values as written there. */
export type StackKeys = {
  readonly hosts: { readonly key: string; readonly value: unknown };
  readonly routing: { readonly key: string; readonly value?: unknown };
};

const PROJECT_PREFIX = "seatable-cluster:";

/** The `hosts` and `routing` keys of a stack file's text, as written there (with or without the project's namespace). */
export function stackKeys(text: string): StackKeys {
  const doc = parse(text) as { config?: Record<string, unknown> } | null;
  const config = doc?.config ?? {};
  const find = (name: string) => Object.keys(config).find((k) => k === `${PROJECT_PREFIX}${name}` || k === name);
  const hosts = find("hosts");
  const routing = find("routing");
  if (hosts === undefined) throw new Error("internal: a valid stack file has hosts");
  return { hosts: { key: hosts, value: config[hosts] }, routing: routing === undefined ? { key: `${PROJECT_PREFIX}routing` } : { key: routing, value: config[routing] } };
}

const isMap = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * The YAML to put under `config:` for a candidate: each top-level key it
 * changes, whole, as the stack file has it with the change made; the changed
 * lines carry a comment.
 */
export function configChangeYaml(c: Candidate, keys: StackKeys, totalLoad: number): string[] {
  const top: Record<string, unknown> = {};
  const comments: { path: unknown[]; text: string }[] = [];
  if (Object.keys(c.weights).length > 0) {
    const hosts = structuredClone(keys.hosts.value) as Record<string, unknown>;
    const servers = isMap(hosts) && Array.isArray(hosts.servers) ? (hosts.servers as unknown[]) : undefined;
    if (!servers) throw new Error(`internal: ${keys.hosts.key} has no servers list`);
    servers.forEach((s, i) => {
      if (!isMap(s) || typeof s.name !== "string" || !(s.name in c.weights)) return;
      const [from, to] = c.weights[s.name];
      comments.push({ path: [keys.hosts.key, "servers", i, "weight"], text: ` was ${from}${"weight" in s ? "" : " (the default)"}` });
      s.weight = to;
    });
    top[keys.hosts.key] = hosts;
  }
  if (Object.keys(c.pins).length > 0) {
    const routing = isMap(keys.routing.value) ? (structuredClone(keys.routing.value) as Record<string, unknown>) : {};
    const pins = isMap(routing.pins) ? routing.pins : {};
    for (const [uuid, p] of Object.entries(c.pins)) {
      pins[uuid] = p.server;
      comments.push({ path: [keys.routing.key, "pins", uuid], text: ` new: ${p.exact ? "" : "about "}${pct(p.load / totalLoad)} of the load, was on ${p.from}` });
    }
    routing.pins = pins;
    top[keys.routing.key] = routing;
  }
  const doc = new Document(top);
  for (const { path, text } of comments) {
    const node = doc.getIn(path, true);
    if (isScalar(node)) node.comment = text;
  }
  return doc
    .toString({ indent: 2, lineWidth: 0 })
    .trimEnd()
    .split("\n")
    .map((l) => `  ${l}`);
}
