// Which dtable-servers go down in this `up`, why, and in which stages (design,
// "Changing a running cluster"). Every restart or stop of a dtable-server, for
// whatever cause, happens inside a quarantine of everything that server holds;
// at most `rollout.maxRestarting` servers are down at once.
import { allBuckets } from "../config/routing-file";
import type { ClusterPlan } from "./index";
import { BucketMove, bucketOf, PinMove, refineTable, RoutingTable, routingChange } from "./routing";

/**
 * What Pulumi will do with a node's container in this `up`, from the spec
 * recorded by the last verified `up`: `unknown` when nothing was recorded for
 * an existing node (treated as a change: it may be replaced).
 */
export type ContainerChange = "create" | "replace" | "same" | "unknown";

/**
 * How a dtable-server goes down in its stage:
 * - `replace`: Pulumi replaces its container (image or environment changed);
 * - `restart`: it loses buckets or pins, so it must drop every base it holds;
 * - `stop`: it left the config; stopped before its buckets move;
 * - `evict`: it left the config and its host is dead (rollout.evict): nothing
 *   runs on it, its buckets move anyway and its unsaved work is lost.
 */
export type ServerAction = "replace" | "restart" | "stop" | "evict";

export type StageServer = { readonly name: string; readonly action: ServerAction; readonly why: string };

export type Stage = {
  /** 1-based */
  readonly index: number;
  readonly servers: readonly StageServer[];
  readonly bucketMoves: readonly BucketMove[];
  readonly pinMoves: readonly PinMove[];
  /** what answers 503 during the stage: everything its servers hold, and what moves */
  readonly paused: { readonly buckets: readonly string[]; readonly pins: readonly string[] };
  /** the table the proxy runs before the stage (the quarantine is rendered from it) and after its switch */
  readonly before: RoutingTable;
  readonly after: RoutingTable;
};

export type StagePlan = {
  readonly stages: readonly Stage[];
  /** largest share of buckets answering 503 at any moment (0..1) */
  readonly largestPausedShare: number;
};

export type StageInput = {
  readonly plan: ClusterPlan;
  /** dtable-servers as last deployed (to stop one that left the config) */
  readonly previousServers: readonly { readonly name: string }[];
  readonly containers: Readonly<Record<string, ContainerChange>>;
  readonly maxRestarting: number;
  /** dtable-servers that left the config and are not to be touched (dead host) */
  readonly evict: readonly string[];
  /**
   * dtable-servers whose buckets the live config pauses now (an earlier up
   * stopped inside their stage): they may be down, so their stage is resumed
   * first, and each restarts before its buckets answer again.
   */
  readonly resume?: readonly string[];
  /** dtable-servers whose container is stopped or unhealthy on their host (host-containers.ts), and why */
  readonly unwell?: Readonly<Record<string, string>>;
};

const apply = (table: RoutingTable, bucketMoves: readonly BucketMove[], pinMoves: readonly PinMove[], target: RoutingTable): RoutingTable => {
  const buckets = { ...table.buckets };
  for (const m of bucketMoves) buckets[m.bucket] = m.to;
  const pins = { ...table.pins };
  for (const m of pinMoves) {
    // a pin that ends on its bucket's server is no pin in the target
    if (m.uuid in target.pins) pins[m.uuid] = m.to;
    else delete pins[m.uuid];
  }
  // a new pin that keeps its base on the server it is on is no pin move; it is
  // needed once the base's bucket moves away, so it comes with that move
  const moved = new Set(bucketMoves.map((m) => m.bucket));
  for (const [uuid, server] of Object.entries(target.pins)) {
    if (!(uuid in pins) && moved.has(bucketOf(uuid, table.bucketHexDigits))) pins[uuid] = server;
  }
  return { bucketHexDigits: table.bucketHexDigits, default: table.default, buckets, pins: Object.fromEntries(Object.keys(pins).sort().map((u) => [u, pins[u]])) };
};

/** The default server (requests without a base UUID) while `down` are down: the target's, else one that is up. */
const defaultWhile = (target: RoutingTable, up: readonly string[], down: ReadonlySet<string>) =>
  !down.has(target.default) ? target.default : up.find((s) => !down.has(s)) ?? target.default;

/**
 * The stages of this `up`. A server is in a stage when it loses buckets or
 * pins (restart), leaves the config (stop or evict), its container changes
 * (replace), or its container is stopped or unhealthy on its host (restart).
 * Stages follow the config's order of servers, leaving ones last; a stage an
 * earlier up stopped in comes first, then the stopped or unhealthy servers;
 * each holds at most `maxRestarting` servers that really go down (an evicted
 * server is already down and takes no place). A stage's moves are those away
 * from its servers, so that after its switch every bucket is on a server that
 * is up and has dropped what it gave away.
 */
export function planStages(input: StageInput): StagePlan {
  const { plan, containers } = input;
  const current = plan.config.hosts.servers.map((s) => s.name);
  if (!plan.previous) return { stages: [], largestPausedShare: 0 };

  const target = plan.routing;
  const start = { ...refineTable(plan.previous, target.bucketHexDigits), default: target.default };
  const leaving = input.previousServers.map((s) => s.name).filter((s) => !current.includes(s));
  const losing = new Set(plan.change.losing);
  const evicted = new Set(input.evict);

  const down: StageServer[] = [];
  for (const name of [...current, ...leaving.filter((s) => !evicted.has(s))]) {
    const change = containers[name];
    const isLeaving = leaving.includes(name);
    if (isLeaving) down.push({ name, action: "stop", why: "it leaves the cluster" });
    else if (change === "replace" || change === "unknown")
      down.push({ name, action: "replace", why: change === "replace" ? "its container changes (image or environment)" : "no container spec was recorded for it: it may be replaced" });
    else if (losing.has(name)) down.push({ name, action: "restart", why: "it gives up buckets or pinned bases" });
    else if (input.unwell?.[name] !== undefined) down.push({ name, action: "restart", why: `${input.unwell[name]}: restarted inside its quarantine` });
  }
  // a stopped or unhealthy server comes before any stage moves a bucket: a later stage may give it buckets,
  // which must reach a server that runs (a stable sort keeps the config's order otherwise)
  if (input.unwell) down.sort((a, b) => Number(input.unwell?.[b.name] !== undefined) - Number(input.unwell?.[a.name] !== undefined));
  // a stage an earlier up stopped in comes first: its servers may be down, their buckets paused
  const resumed = (input.resume ?? []).filter((name) => !evicted.has(name) && (current.includes(name) || leaving.includes(name)));
  for (const name of [...resumed].reverse()) {
    const at = down.findIndex((d) => d.name === name);
    const planned = at >= 0 ? down.splice(at, 1)[0] : { name, action: "restart" as const, why: "an earlier up stopped inside its stage: its buckets stay paused until it has restarted" };
    down.unshift(planned);
  }
  // an evicted server is down already: its buckets move in stage 1, taking no restart slot
  const evictedHere: StageServer[] = leaving.filter((s) => evicted.has(s)).map((name) => ({ name, action: "evict", why: "rollout.evict: its host is dead; its unsaved work is lost" }));
  const max = Math.max(1, input.maxRestarting);
  const groups: StageServer[][] = [];
  for (let i = 0; i < down.length; i += max) groups.push(down.slice(i, i + max));
  if (evictedHere.length > 0) {
    if (groups.length === 0) groups.push([]);
    groups[0] = [...evictedHere, ...groups[0]];
  }

  // 16, 256 or 4,096: never 0
  const total = Object.keys(target.buckets).length;
  const stages: Stage[] = [];
  let table: RoutingTable = start;
  let largest = 0;
  groups.forEach((servers, i) => {
    const names = new Set(servers.map((s) => s.name));
    const bucketMoves = plan.change.bucketMoves.filter((m) => names.has(m.from));
    const pinMoves = plan.change.pinMoves.filter((m) => names.has(m.from));
    const before = { ...table, default: defaultWhile(target, current, names) };
    const pausedBuckets = allBuckets(target.bucketHexDigits).filter((b) => names.has(before.buckets[b]));
    const pausedPins = [...new Set([...Object.keys(before.pins).filter((u) => names.has(before.pins[u])), ...pinMoves.map((m) => m.uuid)])].sort();
    const after = { ...apply(before, bucketMoves, pinMoves, target), default: i === groups.length - 1 ? target.default : before.default };
    stages.push({ index: i + 1, servers, bucketMoves, pinMoves, paused: { buckets: pausedBuckets, pins: pausedPins }, before, after });
    largest = Math.max(largest, pausedBuckets.length / total);
    table = after;
  });
  // every move belongs to the stage of the server it leaves: the last table is the target
  if (stages.length > 0 && !routesAlike(stages[stages.length - 1].after, target)) throw new Error("internal: the stages do not end on the target table");
  return { stages, largestPausedShare: largest };
}

/** Whether two tables send every request to the same dtable-server: each bucket, each pinned base of either, and the default. */
export function routesAlike(a: RoutingTable, b: RoutingTable): boolean {
  const change = routingChange(a, b);
  return a.default === b.default && change.bucketMoves.length === 0 && change.pinMoves.length === 0;
}
