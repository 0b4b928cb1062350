// The routing table: which dtable-server owns which bucket of base UUIDs.
// Rules (design, "Routing", fixed): weighted shares within one bucket of exact,
// deterministic, fewest moves from the table applied before, pins win, the
// first server is the default.
import { allBuckets, RoutingTable } from "../config/routing-file";

export type { RoutingTable };

export type WeightedServer = { readonly name: string; readonly weight: number };

export type RoutingInput = {
  readonly servers: readonly WeightedServer[];
  readonly bucketHexDigits: 1 | 2 | 3;
  readonly pins: Readonly<Record<string, string>>;
};

/** The bucket of a base UUID (any case, dashed or not). */
export function bucketOf(uuid: string, digits: number): string {
  return uuid.replace(/-/g, "").slice(0, digits).toLowerCase();
}

/** Who serves a base under a table: its pin, else its bucket's owner. */
export function ownerOf(table: RoutingTable, uuid: string): string {
  return table.pins[uuid] ?? table.buckets[bucketOf(uuid, table.bucketHexDigits)];
}

/**
 * The manual's hand-built scheme, as a starting table: bases whose UUID starts
 * with 0-9 on the second dtable-server, a-f on the first.
 */
export function seedTable(servers: readonly WeightedServer[], digits: 1 | 2 | 3): RoutingTable {
  const [first, second] = servers;
  const buckets = Object.fromEntries(allBuckets(digits).map((b) => [b, /^[0-9]/.test(b) ? second.name : first.name]));
  return { bucketHexDigits: digits, default: first.name, buckets, pins: {} };
}

/** A table with fewer hex digits, restated with more: each bucket's sub-buckets keep its owner. */
export function refineTable(table: RoutingTable, digits: 1 | 2 | 3): RoutingTable {
  if (table.bucketHexDigits > digits) throw new Error(`cannot restate a table of ${table.bucketHexDigits} hex digits with ${digits}`);
  const buckets = Object.fromEntries(allBuckets(digits).map((b) => [b, table.buckets[b.slice(0, table.bucketHexDigits)]]));
  return { ...table, bucketHexDigits: digits, buckets };
}

/**
 * How many buckets each server gets: floor or ceil of its exact weighted share,
 * summing to the total. The ceil goes first to servers already holding at
 * least that many (each such choice saves a move), then by largest remainder,
 * then in config order, so the result is deterministic.
 */
export function bucketQuotas(servers: readonly WeightedServer[], total: number, held: ReadonlyMap<string, number>): number[] {
  const weightSum = servers.reduce((sum, s) => sum + s.weight, 0);
  const floors = servers.map((s) => Math.floor((total * s.weight) / weightSum));
  const remainders = servers.map((s) => (total * s.weight) % weightSum);
  let spare = total - floors.reduce((a, b) => a + b, 0);
  const order = servers
    .map((s, i) => ({ i, keeps: (held.get(s.name) ?? 0) > floors[i] ? 0 : 1, rem: remainders[i] }))
    .filter((c) => c.rem > 0)
    .sort((a, b) => a.keeps - b.keeps || b.rem - a.rem || a.i - b.i);
  const quotas = [...floors];
  for (const c of order) {
    if (spare === 0) break;
    quotas[c.i] += 1;
    spare -= 1;
  }
  return quotas;
}

/**
 * The routing table for `input`, moving as few buckets as possible away from
 * `previous` (the table applied last, if any): only removed servers and
 * servers above their new quota give buckets up (their highest ones), and only
 * servers below their quota receive them (lowest first, in config order).
 */
export function computeRoutingTable(input: RoutingInput, previous?: RoutingTable): RoutingTable {
  const digits = input.bucketHexDigits;
  const buckets = allBuckets(digits);
  const names = input.servers.map((s) => s.name);
  const before = previous ? refineTable(previous, digits) : undefined;

  const heldBy = new Map<string, string[]>(names.map((n) => [n, []]));
  for (const b of buckets) heldBy.get(before?.buckets[b] ?? "")?.push(b);
  const held = new Map([...heldBy].map(([n, bs]) => [n, bs.length]));
  const quotas = bucketQuotas(input.servers, buckets.length, held);

  const owner = new Map<string, string>();
  names.forEach((name, i) => {
    for (const b of heldBy.get(name)!.slice(0, quotas[i])) owner.set(b, name);
  });
  const free = buckets.filter((b) => !owner.has(b));
  let next = 0;
  names.forEach((name, i) => {
    const kept = Math.min(heldBy.get(name)!.length, quotas[i]);
    for (let k = kept; k < quotas[i]; k++) owner.set(free[next++], name);
  });

  const pins = Object.fromEntries(Object.keys(input.pins).sort().map((u) => [u, input.pins[u]]));
  return { bucketHexDigits: digits, default: names[0], buckets: Object.fromEntries(buckets.map((b) => [b, owner.get(b)!])), pins };
}

export type BucketMove = { readonly bucket: string; readonly from: string; readonly to: string };
export type PinMove = { readonly uuid: string; readonly from: string; readonly to: string };

export type RoutingChange = {
  readonly bucketMoves: readonly BucketMove[];
  /** pinned bases whose server changes (pin added, removed or re-pointed) */
  readonly pinMoves: readonly PinMove[];
  /** servers that give up buckets or bases: they must unload before the switch */
  readonly losing: readonly string[];
  readonly gaining: readonly string[];
};

/** What changes hands between two tables, in the next table's bucket size. */
export function routingChange(previous: RoutingTable | undefined, next: RoutingTable): RoutingChange {
  if (!previous) return { bucketMoves: [], pinMoves: [], losing: [], gaining: [] };
  const before = refineTable(previous, next.bucketHexDigits);
  const bucketMoves = allBuckets(next.bucketHexDigits)
    .filter((b) => before.buckets[b] !== next.buckets[b])
    .map((b) => ({ bucket: b, from: before.buckets[b], to: next.buckets[b] }));
  const pinned = [...new Set([...Object.keys(before.pins), ...Object.keys(next.pins)])].sort();
  const pinMoves = pinned
    .map((uuid) => ({ uuid, from: ownerOf(before, uuid), to: ownerOf(next, uuid) }))
    .filter((m) => m.from !== m.to);
  const moves = [...bucketMoves, ...pinMoves];
  const uniq = (xs: string[]) => [...new Set(xs)].sort();
  return { bucketMoves, pinMoves, losing: uniq(moves.map((m) => m.from)), gaining: uniq(moves.map((m) => m.to)) };
}

/** Consecutive buckets as ranges: ["00","01","02","7f"] → "00-02, 7f". */
export function bucketRanges(buckets: readonly string[]): string {
  const sorted = [...buckets].sort();
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && parseInt(sorted[j + 1], 16) === parseInt(sorted[j], 16) + 1) j++;
    parts.push(i === j ? sorted[i] : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(", ");
}
