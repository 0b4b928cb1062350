// The human-readable summary `npm run plan` prints: shares per server and what moves.
import { bucketRanges, RoutingChange, RoutingTable } from "./routing";
import type { ClusterConfig } from "../config/schema";
import { ClusterGraph, PROXY } from "./graph";
import type { ContainerChange, Stage, StagePlan } from "./stages";

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c >= 2 && c <= 6 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd());
}

/** Each dtable-server's part of the table: what `plan` prints and `up` exports. */
export function serverShares(config: ClusterConfig, routing: RoutingTable) {
  const total = Object.keys(routing.buckets).length;
  // a drained server serves no base: its target is 0 and its weight counts for nobody
  const weightOf = (h: { weight: number; drain: boolean }) => (h.drain ? 0 : h.weight);
  const weightSum = config.hosts.servers.reduce((s, h) => s + weightOf(h), 0);
  return config.hosts.servers.map((s) => {
    const owned = Object.keys(routing.buckets).filter((b) => routing.buckets[b] === s.name);
    return {
      server: s.name,
      address: s.address,
      weight: s.weight,
      buckets: owned.length,
      share: `${((100 * owned.length) / total).toFixed(2)}%`,
      target: `${((100 * weightOf(s)) / weightSum).toFixed(2)}%`,
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
  lines.push(`Give up buckets or bases, so restart inside a quarantine: ${change.losing.join(", ")}`);
  return lines;
}

/** The stages of a change: who goes down, what pauses, and the largest paused share. */
export function stageNotes(plan: StagePlan): string[] {
  if (plan.stages.length === 0) return ["No dtable-server goes down in this change."];
  const total = (st: Stage) => Object.keys(st.before.buckets).length;
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return [
    `${plan.stages.length} stage(s); in each: quarantine (503 with Retry-After) → restart, replace or stop → switch → verify.`,
    ...plan.stages.flatMap((st) => [
      `  stage ${st.index}: ${st.servers.map((s) => `${s.name} ${s.action} (${s.why})`).join("; ")}`,
      `    paused: ${st.paused.buckets.length} bucket(s) (${pct(st.paused.buckets.length / total(st))}) and ${st.paused.pins.length} pinned base(s); moving: ${st.bucketMoves.length} bucket(s), ${st.pinMoves.length} pinned base(s)`,
      ...st.servers.filter((s) => s.action === "evict").map((s) => `    ${s.name} is EVICTED: it is not unloaded, and what it had not saved is lost`),
    ]),
    `Largest share of buckets paused at any moment: ${pct(plan.largestPausedShare)}.`,
  ];
}

/** `pulumi up`'s order, as `plan` prints it: containers and rollout steps, without pulls and a node's own steps. */
export function graphSummary(graph: ClusterGraph, changes: Readonly<Record<string, ContainerChange>>): string[] {
  const lines: string[] = [];
  // one line for the claims, side by side right after the lease
  const claimed = graph.nodes.flatMap((n) => (n.kind === "step" && n.owner === PROXY && n.step.id.startsWith("claim-") ? [n.step.host] : []));
  for (const n of graph.nodes) {
    if (n.kind === "container" && changes[n.host] !== "same") lines.push(`[${n.host}] ${changes[n.host] === "create" ? "create" : "replace"} the seatable-server container (waits until healthy)`);
    if (n.kind !== "step" || n.owner !== PROXY) continue;
    if (!n.step.id.startsWith("claim-")) lines.push(`[${n.step.host}] ${n.step.title}`);
    else if (n.step.host === claimed[0]) lines.push(`[${claimed.join(", ")}] claim each host for this change: every later step on it checks the claim`);
  }
  return lines.map((l, i) => `  ${i + 1}. ${l}`);
}
