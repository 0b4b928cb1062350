// routing.json: the fixed format of a routing table (design, "The plan command").
// Read as the starting table of a hand-built cluster and by `plan --previous`.
import { z } from "zod";
import { isUuid, normaliseUuid } from "./values";
import { formatIssues, keyPath, quote } from "./problems";
import { hostName } from "./schema";

export type RoutingTable = {
  readonly bucketHexDigits: 1 | 2 | 3;
  /** the dtable-server that gets requests without a base UUID */
  readonly default: string;
  /** bucket (lower-case hex prefix of the base UUID) → dtable-server name */
  readonly buckets: Readonly<Record<string, string>>;
  /** lower-case dashed base UUID → dtable-server name; wins over its bucket */
  readonly pins: Readonly<Record<string, string>>;
};

// server names end up in nginx-proxy.conf and the proxy's hosts file: the config's rules
const schema = z.strictObject({
  bucketHexDigits: z.union([z.literal(1), z.literal(2), z.literal(3)], { error: () => "expected 1, 2 or 3" }),
  default: hostName,
  buckets: z.record(z.string(), hostName),
  pins: z.record(z.string(), hostName).default({}),
});

/** Every bucket name of a table with `digits` hex digits, in order ("00" … "ff"). */
export function allBuckets(digits: number): string[] {
  const count = 16 ** digits;
  return Array.from({ length: count }, (_, i) => i.toString(16).padStart(digits, "0"));
}

/**
 * Parses and checks a routing.json value. `servers`, where given, are the only
 * names the table may use (a starting table); a table applied before may name
 * servers since removed. Problems are prefixed with `where`.
 */
export function parseRoutingTable(
  value: unknown,
  where: string,
  servers?: readonly string[],
): { table: RoutingTable; problems: [] } | { table?: undefined; problems: string[] } {
  const parsed = schema.safeParse(value, { reportInput: true });
  if (!parsed.success) return { problems: formatIssues(parsed.error.issues, where) };
  const t = parsed.data;
  const problems: string[] = [];
  const isKnown = (name: string) => servers === undefined || servers.includes(name);
  const unknownServer = (name: string) => `names the dtable-server ${quote(name)}, which is not in hosts.servers (${(servers ?? []).join(", ")})`;
  if (!isKnown(t.default)) problems.push(`${where}.default: ${unknownServer(t.default)}`);
  const expected = allBuckets(t.bucketHexDigits);
  const buckets: Record<string, string> = {};
  for (const [key, owner] of Object.entries(t.buckets)) {
    const bucket = key.toLowerCase();
    if (!new RegExp(`^[0-9a-f]{${t.bucketHexDigits}}$`).test(bucket)) {
      problems.push(`${keyPath(["buckets", key], where)}: not a bucket of ${t.bucketHexDigits} hex digit(s)`);
    } else if (!isKnown(owner)) {
      problems.push(`${keyPath(["buckets", key], where)}: ${unknownServer(owner)}`);
    }
    buckets[bucket] = owner;
  }
  const missing = expected.filter((b) => !(b in buckets));
  if (missing.length > 0) {
    const shown = missing.slice(0, 8).join(", ") + (missing.length > 8 ? `, … (${missing.length} in all)` : "");
    problems.push(`${where}.buckets: does not cover every bucket; missing ${shown}`);
  }
  const pins: Record<string, string> = {};
  for (const [uuid, owner] of Object.entries(t.pins)) {
    if (!isUuid(uuid)) problems.push(`${keyPath(["pins", uuid], where)}: not a base UUID`);
    else if (!isKnown(owner)) problems.push(`${keyPath(["pins", uuid], where)}: ${unknownServer(owner)}`);
    else pins[normaliseUuid(uuid)] = owner;
  }
  if (problems.length > 0) return { problems };
  return { table: { bucketHexDigits: t.bucketHexDigits, default: t.default, buckets, pins }, problems: [] };
}

/**
 * routing.json text. Written by hand because JSON.stringify puts keys such as
 * "10" before "0a" (JavaScript orders integer-like keys first); buckets are
 * listed in bucket order so that diffs of the file read naturally.
 */
export function routingJson(table: RoutingTable): string {
  const entries = (keys: string[], record: Readonly<Record<string, string>>) =>
    keys.length === 0 ? "{}" : `{\n${keys.map((k) => `    ${JSON.stringify(k)}: ${JSON.stringify(record[k])}`).join(",\n")}\n  }`;
  return [
    "{",
    `  "bucketHexDigits": ${table.bucketHexDigits},`,
    `  "default": ${JSON.stringify(table.default)},`,
    `  "buckets": ${entries(allBuckets(table.bucketHexDigits), table.buckets)},`,
    `  "pins": ${entries(Object.keys(table.pins).sort(), table.pins)}`,
    "}",
    "",
  ].join("\n");
}
