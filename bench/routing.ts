// Routing quality (issue 6, part 2): for N = 2..64 servers with equal and with
// seeded random weights, bucketHexDigits 2: how far each server's bucket count
// is from its exact weighted share, and for N → N+1, N → N−1 and a reweighting,
// how many buckets move against the fewest any valid table could move.
import { computeRoutingTable, routingChange, RoutingTable, WeightedServer } from "../pure/plan/routing";
import { fixed, log, seededRandom, Section, table, Target } from "./util";

const DIGITS = 2;
const TOTAL = 16 ** DIGITS;
const N_MIN = 2;
const N_MAX = 64;
const SEED = 20240601;
const MAX_RANDOM_WEIGHT = 100;
const RANGES: readonly [number, number][] = [
  [2, 8],
  [9, 16],
  [17, 32],
  [33, 64],
];

const name = (i: number) => `dtable-server-${i + 1}`;

/** The largest |buckets held − exact weighted share| over the servers of `table`. */
export function largestDeviation(table: RoutingTable, servers: readonly WeightedServer[]): number {
  const weightSum = servers.reduce((s, x) => s + x.weight, 0);
  const counts = new Map<string, number>();
  for (const owner of Object.values(table.buckets)) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return Math.max(...servers.map((s) => Math.abs((counts.get(s.name) ?? 0) - (TOTAL * s.weight) / weightSum)));
}

/**
 * The fewest buckets any table for `servers` that keeps every share within one
 * bucket (floor or ceil of the exact share) can move away from `previous`:
 * everything removed servers held, plus each server's excess over its quota,
 * choosing the ceil for as many servers already above their floor as the
 * spare buckets allow.
 */
export function minimumMoves(previous: RoutingTable, servers: readonly WeightedServer[]): number {
  const weightSum = servers.reduce((s, x) => s + x.weight, 0);
  const held = new Map<string, number>();
  for (const owner of Object.values(previous.buckets)) held.set(owner, (held.get(owner) ?? 0) + 1);
  const kept = servers.reduce((sum, s) => sum + (held.get(s.name) ?? 0), 0);
  let moves = TOTAL - kept;
  let spare = TOTAL;
  let canSave = 0;
  for (const s of servers) {
    const floor = Math.floor((TOTAL * s.weight) / weightSum);
    const h = held.get(s.name) ?? 0;
    spare -= floor;
    moves += Math.max(0, h - floor);
    if ((TOTAL * s.weight) % weightSum > 0 && h > floor) canSave += 1;
  }
  return moves - Math.min(spare, canSave);
}

type Kind = "add" | "remove" | "reweight" | "walk";
type Transition = { readonly mode: string; readonly kind: Kind; readonly n: number; readonly detail: string; readonly moved: number; readonly minimum: number; readonly deviation: number };
type Fresh = { readonly mode: string; readonly n: number; readonly deviation: number };

function step(mode: string, kind: Kind, n: number, detail: string, previous: RoutingTable, servers: WeightedServer[]): { t: Transition; next: RoutingTable } {
  const next = computeRoutingTable({ servers, bucketHexDigits: DIGITS, pins: {} }, previous);
  const moved = routingChange(previous, next).bucketMoves.length;
  return { next, t: { mode, kind, n, detail, moved, minimum: minimumMoves(previous, servers), deviation: largestDeviation(next, servers) } };
}

export function routingBench(): Section {
  const started = Date.now();
  const fresh: Fresh[] = [];
  const transitions: Transition[] = [];
  for (const mode of ["equal", "random"] as const) {
    const rng = seededRandom(SEED + (mode === "random" ? 1 : 0));
    const weight = () => (mode === "equal" ? 1 : 1 + Math.floor(rng() * MAX_RANDOM_WEIGHT));
    // one pool of weights per mode, so that N+1 extends N
    const pool: WeightedServer[] = Array.from({ length: N_MAX + 1 }, (_, i) => ({ name: name(i), weight: weight() }));
    for (let n = N_MIN; n <= N_MAX; n++) {
      const servers = pool.slice(0, n);
      const base = computeRoutingTable({ servers, bucketHexDigits: DIGITS, pins: {} });
      fresh.push({ mode, n, deviation: largestDeviation(base, servers) });
      transitions.push(step(mode, "add", n, `add ${pool[n].name} (weight ${pool[n].weight})`, base, pool.slice(0, n + 1)).t);
      const gone = Math.floor(rng() * n);
      transitions.push(step(mode, "remove", n, `remove ${servers[gone].name}`, base, servers.filter((_, i) => i !== gone)).t);
      const changed = Math.floor(rng() * n);
      const oldWeight = servers[changed].weight;
      let newWeight = mode === "equal" ? 2 : weight();
      if (newWeight === oldWeight) newWeight = oldWeight + 1;
      const reweighted = servers.map((s, i) => (i === changed ? { ...s, weight: newWeight } : s));
      transitions.push(step(mode, "reweight", n, `${servers[changed].name} weight ${oldWeight} → ${newWeight}`, base, reweighted).t);
    }
    // A cluster's history: grow 2 → 64 one server at a time, then shrink back,
    // each table computed from the one before (not from scratch).
    let current = computeRoutingTable({ servers: pool.slice(0, N_MIN), bucketHexDigits: DIGITS, pins: {} });
    for (let n = N_MIN; n < N_MAX; n++) current = recordWalk(transitions, mode, n, current, pool.slice(0, n + 1), `grow ${n} → ${n + 1}`);
    for (let n = N_MAX; n > N_MIN; n--) current = recordWalk(transitions, mode, n, current, pool.slice(0, n - 1), `shrink ${n} → ${n - 1}`);
  }
  log(`routing: ${fresh.length} tables, ${transitions.length} transitions in ${Date.now() - started} ms`);

  const rows: (string | number)[][] = [];
  for (const mode of ["equal", "random"]) {
    for (const [lo, hi] of RANGES) {
      const f = fresh.filter((x) => x.mode === mode && x.n >= lo && x.n <= hi);
      const ts = transitions.filter((x) => x.mode === mode && x.n >= lo && x.n <= hi);
      const of = (k: Kind) => ts.filter((x) => x.kind === k);
      const movedVsMin = (xs: Transition[]) => `${xs.reduce((s, x) => s + x.moved, 0)} / ${xs.reduce((s, x) => s + x.minimum, 0)}`;
      const maxDev = Math.max(...f.map((x) => x.deviation), ...ts.map((x) => x.deviation));
      const excess = ts.filter((x) => x.moved > x.minimum).length;
      rows.push([mode, `${lo}–${hi}`, fixed(maxDev, 3), movedVsMin(of("add")), movedVsMin(of("remove")), movedVsMin(of("reweight")), movedVsMin(of("walk")), `${excess} of ${ts.length}`]);
    }
  }
  const allDev = [...fresh.map((x) => ({ d: x.deviation, what: `${x.mode} weights, N=${x.n}, fresh table` })), ...transitions.map((x) => ({ d: x.deviation, what: `${x.mode} weights, N=${x.n}, after ${x.detail}` }))];
  const worstDev = allDev.reduce((a, b) => (b.d > a.d ? b : a));
  const worstExcess = transitions.reduce((a, b) => (b.moved - b.minimum > a.moved - a.minimum ? b : a));
  const worstMoves = transitions.reduce((a, b) => (b.moved > a.moved ? b : a));
  const excessCount = transitions.filter((x) => x.moved > x.minimum).length;
  const belowMin = transitions.filter((x) => x.moved < x.minimum).length;

  const markdown = [
    `Pure computation (\`computeRoutingTable\`, \`routingChange\`), ${TOTAL} buckets (bucketHexDigits ${DIGITS}), N = ${N_MIN}..${N_MAX}; equal weights (all 1) and random weights 1..${MAX_RANDOM_WEIGHT} from seed ${SEED}. ` +
      `For every N the table is computed from scratch, then from it: N → N+1 (one more server), N → N−1 (a seeded random server removed) and a reweighting (one seeded random server's weight changed). ` +
      `"walk" is a cluster's history: grow ${N_MIN} → ${N_MAX} one server at a time and shrink back, each table computed from the one before. ` +
      `The minimum is the fewest moves of any table whose shares are all within one bucket (floor or ceil of the exact share): all buckets of removed servers plus each server's excess over its quota, the spare ceil quotas going to servers already above their floor.`,
    "",
    `${fresh.length} fresh tables and ${transitions.length} transitions in ${Date.now() - started} ms.`,
    "",
    table(["weights", "N", "largest deviation (buckets)", "add: moved / min", "remove: moved / min", "reweight: moved / min", "walk: moved / min", "transitions above min"], rows),
    "",
    `- Largest deviation from the weighted share anywhere: **${fixed(worstDev.d, 3)} buckets** (${worstDev.what}).`,
    `- Transitions moving more than the minimum: **${excessCount} of ${transitions.length}**` +
      (excessCount > 0 ? `; worst: ${worstExcess.mode} weights, N=${worstExcess.n}, ${worstExcess.detail}: ${worstExcess.moved} moved, minimum ${worstExcess.minimum}.` : "."),
    `- Largest single move: ${worstMoves.moved} buckets (minimum ${worstMoves.minimum}) for ${worstMoves.mode} weights, N=${worstMoves.n}, ${worstMoves.detail}.`,
    ...(belowMin > 0 ? [`- ${belowMin} transition(s) moved fewer buckets than the computed minimum: the minimum formula or the table is wrong.`] : []),
  ].join("\n");

  const targets: Target[] = [
    { name: "routing: largest deviation from weighted share", target: "≤ 1 bucket", measured: `${fixed(worstDev.d, 3)} buckets`, met: worstDev.d <= 1 },
    { name: "routing: buckets moved vs minimum", target: "equal", measured: `${transitions.length - excessCount - belowMin} of ${transitions.length} equal`, met: excessCount === 0 && belowMin === 0 },
  ];
  return { title: "Routing quality", markdown, targets };
}

function recordWalk(into: Transition[], mode: string, n: number, previous: RoutingTable, servers: WeightedServer[], detail: string): RoutingTable {
  const { t, next } = step(mode, "walk", n, detail, previous, servers);
  into.push(t);
  return next;
}
