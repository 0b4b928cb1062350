import fc from "fast-check";
import { buildPlan } from "../pure/plan";
import { parseBaseUuid } from "../pure/plan/where";
import { configOf, stackValues } from "./support/stacks";
import { allBuckets, parseRoutingTable, routingJson } from "../pure/config/routing-file";
import {
  bucketOf,
  bucketRanges,
  computeRoutingTable,
  ownerOf,
  refineTable,
  routingChange,
  RoutingTable,
  seedTable,
  WeightedServer,
} from "../pure/plan/routing";

const digitsArb = fc.constantFrom<1 | 2 | 3>(1, 2, 2, 3);
const serversArb = (min = 1, max = 12) =>
  fc
    .uniqueArray(fc.integer({ min: 1, max: 999 }), { minLength: min, maxLength: max })
    .chain((ids) => fc.tuple(...ids.map((id) => fc.integer({ min: 1, max: 9 }).map((weight) => ({ name: `dtable-server-${id}`, weight })))));

const counts = (t: RoutingTable) => {
  const c = new Map<string, number>();
  for (const owner of Object.values(t.buckets)) c.set(owner, (c.get(owner) ?? 0) + 1);
  return c;
};

/** The fewest buckets any valid table (every server within one bucket of its share) must move. */
function minimumMoves(previous: RoutingTable, servers: readonly WeightedServer[], digits: number): number {
  const total = 16 ** digits;
  const held = counts(previous);
  const weightSum = servers.reduce((s, x) => s + x.weight, 0);
  const names = new Set(servers.map((s) => s.name));
  let moves = [...held].filter(([n]) => !names.has(n)).reduce((s, [, c]) => s + c, 0);
  let spare = total;
  let savable = 0;
  for (const s of servers) {
    const exact = (total * s.weight) / weightSum;
    const floor = Math.floor(exact);
    spare -= floor;
    const c = held.get(s.name) ?? 0;
    moves += Math.max(0, c - floor);
    if (!Number.isInteger(exact) && c > floor) savable += 1; // may keep one more as its ceil
  }
  return moves - Math.min(spare, savable);
}

describe("routing table", () => {
  test("every server holds its weighted share of buckets, within one bucket", () => {
    fc.assert(
      fc.property(serversArb(), digitsArb, (servers, digits) => {
        const t = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} });
        const total = 16 ** digits;
        const weightSum = servers.reduce((s, x) => s + x.weight, 0);
        expect(Object.keys(t.buckets).sort()).toEqual(allBuckets(digits));
        const c = counts(t);
        for (const s of servers) expect(Math.abs((c.get(s.name) ?? 0) - (total * s.weight) / weightSum)).toBeLessThan(1);
        expect(t.default).toBe(servers[0].name);
      }),
    );
  });

  test("the table does not depend on the order the previous table's keys come back in (state, routing.json)", () => {
    const reversed = (r: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(r).reverse());
    fc.assert(
      fc.property(serversArb(), serversArb(), digitsArb, fc.uniqueArray(fc.uuid(), { maxLength: 4 }), (before, after, digits, uuids) => {
        const pins = Object.fromEntries(uuids.map((u, i) => [u, after[i % after.length].name]));
        const previous = computeRoutingTable({ servers: before, bucketHexDigits: digits, pins: {} });
        const a = computeRoutingTable({ servers: after, bucketHexDigits: digits, pins }, previous);
        // JSON puts integer-like keys ("10") before the others ("0a"); a reader may give any order
        const reread: RoutingTable = { ...previous, buckets: reversed(JSON.parse(JSON.stringify(previous.buckets))) };
        const b = computeRoutingTable({ servers: after, bucketHexDigits: digits, pins: reversed(pins) }, reread);
        expect(b).toEqual(a);
      }),
    );
  });

  const changeArb = serversArb(1, 10).chain((servers) =>
    fc.record({
      servers: fc.constant(servers),
      digits: digitsArb,
      next: fc.oneof(
        // scale-out by one or more servers
        fc.integer({ min: 1, max: 3 }).map((k) => [...servers, ...Array.from({ length: k }, (_, i) => ({ name: `new-${i}`, weight: 1 + (i % 3) }))]),
        // scale-in: drop a random server (keep at least one)
        fc.nat().map((i) => (servers.length > 1 ? servers.filter((_, j) => j !== i % servers.length) : servers)),
        // reweight
        fc.array(fc.integer({ min: 1, max: 9 }), { minLength: servers.length, maxLength: servers.length }).map((w) => servers.map((s, i) => ({ ...s, weight: w[i] }))),
        // any other set, sharing some names
        serversArb(1, 10),
      ),
    }),
  );

  test("a change of servers or weights moves the fewest buckets possible", () => {
    fc.assert(
      fc.property(changeArb, ({ servers, digits, next }) => {
        const previous = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} });
        const table = computeRoutingTable({ servers: next, bucketHexDigits: digits, pins: {} }, previous);
        const moved = routingChange(previous, table).bucketMoves.length;
        expect(moved).toBe(minimumMoves(previous, next, digits));
      }),
      { numRuns: 300 },
    );
  });

  test("buckets move only from removed or over-share servers, only to under-share ones", () => {
    fc.assert(
      fc.property(changeArb, ({ servers, digits, next }) => {
        const previous = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} });
        const table = computeRoutingTable({ servers: next, bucketHexDigits: digits, pins: {} }, previous);
        const before = counts(previous);
        const after = counts(table);
        const kept = new Set(next.map((s) => s.name));
        // the giver is gone or ends with fewer buckets; the taker ends with more
        const wrong = routingChange(previous, table).bucketMoves.filter(
          (m) => !(!kept.has(m.from) || (after.get(m.from) ?? 0) < (before.get(m.from) ?? 0)) || !((after.get(m.to) ?? 0) > (before.get(m.to) ?? 0)),
        );
        expect(wrong).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });

  test("nothing moves when servers and weights stay the same", () => {
    fc.assert(
      fc.property(serversArb(), digitsArb, (servers, digits) => {
        const previous = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} });
        const again = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} }, previous);
        expect(routingChange(previous, again)).toEqual({ bucketMoves: [], pinMoves: [], losing: [], gaining: [] });
      }),
    );
  });

  test("a pin wins over its bucket, and adding or removing a pin moves only that base", () => {
    fc.assert(
      fc.property(serversArb(2), digitsArb, fc.uuid(), fc.nat(), (servers, digits, uuid, pick) => {
        const plain = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} });
        const bucketOwner = plain.buckets[bucketOf(uuid, digits)];
        const others = servers.filter((s) => s.name !== bucketOwner);
        const target = others[pick % others.length].name;
        const pinned = computeRoutingTable({ servers, bucketHexDigits: digits, pins: { [uuid]: target } }, plain);
        expect(ownerOf(pinned, uuid)).toBe(target);
        expect(pinned.buckets).toEqual(plain.buckets);
        expect(routingChange(plain, pinned)).toEqual({ bucketMoves: [], pinMoves: [{ uuid, from: bucketOwner, to: target }], losing: [bucketOwner], gaining: [target] });
        expect(routingChange(pinned, plain).pinMoves).toEqual([{ uuid, from: target, to: bucketOwner }]);
      }),
    );
  });

  test("a fresh table gives each server one run of consecutive buckets, in config order", () => {
    const t = computeRoutingTable({ servers: [{ name: "dtable-server", weight: 1 }, { name: "dtable-server-2", weight: 1 }, { name: "dtable-server-3", weight: 2 }], bucketHexDigits: 2, pins: {} });
    const of = (n: string) => bucketRanges(Object.keys(t.buckets).filter((b) => t.buckets[b] === n));
    expect([of("dtable-server"), of("dtable-server-2"), of("dtable-server-3")]).toEqual(["00-3f", "40-7f", "80-ff"]);
  });

  test("the seed's scheme: 0-9 on the second server, a-f on the first", () => {
    const seed = seedTable([{ name: "dtable-server", weight: 1 }, { name: "dtable-server-2", weight: 1 }], 2);
    expect(seed.buckets["00"]).toBe("dtable-server-2");
    expect(seed.buckets["9f"]).toBe("dtable-server-2");
    expect(seed.buckets["a0"]).toBe("dtable-server");
    expect(seed.buckets["ff"]).toBe("dtable-server");
    expect(seed.default).toBe("dtable-server");
  });

  test("from the seed (160:96), balancing two servers moves 32 buckets, and adding a third moves 85", () => {
    const two = [{ name: "dtable-server", weight: 1 }, { name: "dtable-server-2", weight: 1 }];
    const seed = seedTable(two, 2);
    const balanced = computeRoutingTable({ servers: two, bucketHexDigits: 2, pins: {} }, seed);
    expect(routingChange(seed, balanced).bucketMoves).toHaveLength(32);
    const three = computeRoutingTable({ servers: [...two, { name: "dtable-server-3", weight: 1 }], bucketHexDigits: 2, pins: {} }, balanced);
    expect(routingChange(balanced, three).bucketMoves).toHaveLength(85);
  });

  test("a table of fewer hex digits is restated with more without moving anything", () => {
    const one = computeRoutingTable({ servers: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }], bucketHexDigits: 1, pins: {} });
    const two = refineTable(one, 2);
    for (const b of allBuckets(2)) expect(two.buckets[b]).toBe(one.buckets[b[0]]);
    expect(routingChange(one, computeRoutingTable({ servers: [{ name: "a", weight: 1 }, { name: "b", weight: 3 }], bucketHexDigits: 2, pins: {} }, one)).bucketMoves).toEqual([]);
  });

  test("bucket ranges", () => {
    expect(bucketRanges(["02", "00", "01", "7f", "81"])).toBe("00-02, 7f, 81");
    expect(bucketRanges([])).toBe("");
  });

  test("the bucket left over after the exact shares goes to the largest remainder, then to the first server in the config", () => {
    const weights = (...w: number[]) => w.map((weight, i) => ({ name: `dtable-server-${i + 1}`, weight }));
    const quotas = (servers: WeightedServer[], previous?: RoutingTable) => [...counts(computeRoutingTable({ servers, bucketHexDigits: 1, pins: {} }, previous)).entries()].sort();
    // 16 × 1/3 = 5.33 each: the first in the config gets the 16th
    expect(quotas(weights(1, 1, 1))).toEqual([["dtable-server-1", 6], ["dtable-server-2", 5], ["dtable-server-3", 5]]);
    // 16 / 7 = 2.29 each: the first two get a third
    expect(quotas(weights(1, 1, 1, 1, 1, 1, 1)).map(([, n]) => n)).toEqual([3, 3, 2, 2, 2, 2, 2]);
    // 16 × 1/3 = 5.33 and 16 × 2/3 = 10.67: the larger remainder gets it, wherever it is in the config
    expect(quotas(weights(1, 2))).toEqual([["dtable-server-1", 5], ["dtable-server-2", 11]]);
    expect(quotas(weights(2, 1))).toEqual([["dtable-server-1", 11], ["dtable-server-2", 5]]);
    // a server that holds its ceil already keeps it (no move), before any remainder
    const held = computeRoutingTable({ servers: weights(1, 1, 1), bucketHexDigits: 1, pins: {} });
    expect(quotas([{ name: "dtable-server-3", weight: 1 }, { name: "dtable-server-2", weight: 1 }, { name: "dtable-server-1", weight: 1 }], held)).toEqual([["dtable-server-1", 6], ["dtable-server-2", 5], ["dtable-server-3", 5]]);
  });

  test("a table is never restated with fewer digits", () => {
    const two = computeRoutingTable({ servers: [{ name: "a", weight: 1 }], bucketHexDigits: 2, pins: {} });
    expect(() => refineTable(two, 1)).toThrow("cannot restate a table of 2 hex digits with 1");
  });

  test("what changes hands: nothing without a previous table; servers and pinned bases in sorted order", () => {
    const table = (pins: Record<string, string>) => computeRoutingTable({ servers: [{ name: "b", weight: 1 }, { name: "a", weight: 1 }], bucketHexDigits: 1, pins });
    expect(routingChange(undefined, table({}))).toEqual({ bucketMoves: [], pinMoves: [], losing: [], gaining: [] });
    // buckets 0-7 are b's, 8-f a's
    const [u0, u8, uf] = ["00000000-0000-4000-8000-000000000001", "88888888-0000-4000-8000-000000000002", "ffffffff-0000-4000-8000-000000000003"];
    const before = table({ [uf]: "b" });
    const after = table({ [u8]: "b", [u0]: "a" });
    expect(routingChange(before, after)).toEqual({
      bucketMoves: [],
      pinMoves: [
        { uuid: u0, from: "b", to: "a" },
        { uuid: u8, from: "a", to: "b" },
        { uuid: uf, from: "b", to: "a" },
      ],
      losing: ["a", "b"],
      gaining: ["a", "b"],
    });
    expect(Object.keys(after.pins)).toEqual([u0, u8]);
  });
});

describe("routing.json read back (a starting table, the table applied last)", () => {
  const servers = ["dtable-server", "dtable-server-2"];
  const all = (digits: 1 | 2, owner = "dtable-server") => Object.fromEntries(allBuckets(digits).map((b) => [b, owner]));
  const uuid = "3f2a9c0d-5b8e-4e1a-9d7c-2b6f0e8a1c4d";
  const problems = (value: unknown) => parseRoutingTable(value, "routing.start.file(t.json)", servers).problems;

  test("a valid table comes back as it was, its bucket names in lower case and its pins' UUIDs dashed", () => {
    const buckets = { ...all(1), A: "dtable-server-2" };
    delete (buckets as Record<string, string>).a;
    const read = parseRoutingTable({ bucketHexDigits: 1, default: "dtable-server", buckets, pins: { [uuid.replace(/-/g, "").toUpperCase()]: "dtable-server-2" } }, "t", servers);
    expect(read).toEqual({ table: { bucketHexDigits: 1, default: "dtable-server", buckets: { ...all(1), a: "dtable-server-2" }, pins: { [uuid]: "dtable-server-2" } }, problems: [] });
  });

  test.each<[string, unknown, string[]]>([
    ["digits out of range", { bucketHexDigits: 4, default: "dtable-server", buckets: {} }, ["routing.start.file(t.json).bucketHexDigits: expected 1, 2 or 3"]],
    ["a default that is no server", { bucketHexDigits: 1, default: "dtable-server-9", buckets: all(1) }, ['routing.start.file(t.json).default: names the dtable-server "dtable-server-9", which is not in hosts.servers (dtable-server, dtable-server-2)']],
    ["a bucket of the wrong size", { bucketHexDigits: 1, default: "dtable-server", buckets: { ...all(1), "0g": "dtable-server" } }, ["routing.start.file(t.json).buckets.0g: not a bucket of 1 hex digit(s)"]],
    ["a bucket of a server that is not in the config", { bucketHexDigits: 1, default: "dtable-server", buckets: { ...all(1), f: "dtable-server-9" } }, ['routing.start.file(t.json).buckets.f: names the dtable-server "dtable-server-9", which is not in hosts.servers (dtable-server, dtable-server-2)']],
    ["8 buckets missing", { bucketHexDigits: 1, default: "dtable-server", buckets: Object.fromEntries(Object.entries(all(1)).slice(8)) }, ["routing.start.file(t.json).buckets: does not cover every bucket; missing 0, 1, 2, 3, 4, 5, 6, 7"]],
    ["9 buckets missing", { bucketHexDigits: 1, default: "dtable-server", buckets: Object.fromEntries(Object.entries(all(1)).slice(9)) }, ["routing.start.file(t.json).buckets: does not cover every bucket; missing 0, 1, 2, 3, 4, 5, 6, 7, … (9 in all)"]],
    ["a pin that is no base UUID", { bucketHexDigits: 1, default: "dtable-server", buckets: all(1), pins: { "not-a-uuid": "dtable-server" } }, ["routing.start.file(t.json).pins.not-a-uuid: not a base UUID"]],
    ["a pin to a server that is not in the config", { bucketHexDigits: 1, default: "dtable-server", buckets: all(1), pins: { [uuid]: "dtable-server-9" } }, [`routing.start.file(t.json).pins.${uuid}: names the dtable-server "dtable-server-9", which is not in hosts.servers (dtable-server, dtable-server-2)`]],
  ])("%s: refused, naming the key", (_what, value, expected) => {
    expect(problems(value)).toEqual(expected);
  });

  test("a table applied before may name servers since removed", () => {
    expect(parseRoutingTable({ bucketHexDigits: 1, default: "dtable-server-9", buckets: all(1, "dtable-server-9") }, "appliedRouting.table").problems).toEqual([]);
  });

  test("routing.json text: buckets in bucket order, pins sorted, one key a line, a newline at the end", () => {
    const table = { bucketHexDigits: 1 as const, default: "dtable-server", buckets: all(1), pins: { "b0000000-0000-4000-8000-000000000000": "dtable-server-2", [uuid]: "dtable-server" } };
    const lines = routingJson(table).split("\n");
    expect(lines.slice(0, 5)).toEqual(["{", '  "bucketHexDigits": 1,', '  "default": "dtable-server",', '  "buckets": {', '    "0": "dtable-server",']);
    expect(lines.slice(-6)).toEqual(['  "pins": {', `    "${uuid}": "dtable-server",`, '    "b0000000-0000-4000-8000-000000000000": "dtable-server-2"', "  }", "}", ""]);
    expect(routingJson({ ...table, pins: {} })).toContain('\n  "pins": {}\n}\n');
    expect(JSON.parse(routingJson(table))).toEqual(table);
  });
});

test("a drained dtable-server serves no bucket; its buckets go to the others", () => {
  const values = stackValues("prod");
  values.hosts.servers[1].drain = true;
  const drained = values.hosts.servers[1].name as string;
  const plan = buildPlan(configOf(values));
  expect(Object.values(plan.routing.buckets)).not.toContain(drained);
  expect(new Set(Object.values(plan.routing.buckets))).toEqual(new Set(values.hosts.servers.filter((s: { drain?: boolean }) => !s.drain).map((s: { name: string }) => s.name)));
});

test("a base UUID typed for --where may have spaces around it and any case", () => {
  expect(parseBaseUuid("  3F2A9C0D5B8E4E1A9D7C2B6F0E8A1C4D \n")).toEqual({ uuid: "3f2a9c0d-5b8e-4e1a-9d7c-2b6f0e8a1c4d" });
});
