// The human-readable summary `npm run plan` prints: shares per server and what moves.
import { bucketRanges, RoutingChange, RoutingTable } from "./routing";
import type { ClusterConfig } from "../config/schema";

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c >= 2 && c <= 6 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd());
}

/** Each dtable-server's part of the table: what `plan` prints and `up` exports. */
export function serverShares(config: ClusterConfig, routing: RoutingTable) {
  const total = Object.keys(routing.buckets).length;
  const weightSum = config.hosts.servers.reduce((s, h) => s + h.weight, 0);
  return config.hosts.servers.map((s) => {
    const owned = Object.keys(routing.buckets).filter((b) => routing.buckets[b] === s.name);
    return {
      server: s.name,
      address: s.address,
      weight: s.weight,
      buckets: owned.length,
      share: `${((100 * owned.length) / total).toFixed(2)}%`,
      target: `${((100 * s.weight) / weightSum).toFixed(2)}%`,
      pins: Object.values(routing.pins).filter((p) => p === s.name).length,
      ranges: bucketRanges(owned),
    };
  });
}

export function routingSummary(config: ClusterConfig, routing: RoutingTable): string[] {
  const rows = [
    ["dtable-server", "address", "weight", "buckets", "share", "target", "pins", "bucket ranges"],
    ...serverShares(config, routing).map((s) => [s.server, s.address, String(s.weight), String(s.buckets), s.share, s.target, String(s.pins), s.ranges || "-"]),
  ];
  return [
    `Routing: ${Object.keys(routing.buckets).length} buckets (${routing.bucketHexDigits} hex digit${routing.bucketHexDigits > 1 ? "s" : ""} of the base UUID), ${Object.keys(routing.pins).length} pinned base(s); requests without a base UUID go to ${routing.default}`,
    "",
    ...table(rows),
  ];
}

export function changeSummary(change: RoutingChange, previousLabel: string): string[] {
  const moved = change.bucketMoves.length + change.pinMoves.length;
  if (moved === 0) return [`Against ${previousLabel}: no bucket or pinned base changes server; nothing restarts.`];
  const lines = [`Against ${previousLabel}: ${change.bucketMoves.length} bucket(s) and ${change.pinMoves.length} pinned base(s) change server.`];
  const byPair = new Map<string, string[]>();
  for (const m of change.bucketMoves) {
    const key = `${m.from} -> ${m.to}`;
    byPair.set(key, [...(byPair.get(key) ?? []), m.bucket]);
  }
  for (const [pair, buckets] of [...byPair].sort()) lines.push(`  ${pair}: ${buckets.length} bucket(s): ${bucketRanges(buckets)}`);
  for (const m of change.pinMoves) lines.push(`  ${m.from} -> ${m.to}: pinned base ${m.uuid}`);
  lines.push(`Quarantined during the rollout (answer 503 until the switch): the ${moved} moving bucket(s)/base(s) only.`);
  lines.push(`Restart (unload before the switch): ${change.losing.join(", ")}`);
  lines.push(`Not restarted: every other dtable-server.`);
  return lines;
}
