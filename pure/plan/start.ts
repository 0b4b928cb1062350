// Where a change starts (design: "The plan starts from what the cluster
// runs"): the routing table the proxy on dtable-web runs, and the servers it
// may route to, as read there before planning (live.ts). The stack's record is
// a cross-check: where it differs it is reported, never the source of a move.
// Only a proxy set up by an earlier version of this program, which kept no
// servers.json, is reached through the record.
import type { ClusterConfig } from "../config/schema";
import type { RoutingTable } from "../config/routing-file";
import { quote } from "../config/problems";
import { AppliedContext, AppliedRouting, parseServersAndEvicted } from "./applied";
import { describeLease } from "./live";
import { tableServers } from "./nginx";
import { PROXY_CONFIG, PROXY_HOSTS } from "./containers";
import { LiveProxy, PROXY_INSTALLED, PROXY_LEASE, PROXY_SERVERS, Run, ServerHost } from "./rollout";
import { routingChange } from "./routing";

export type StartingPoint = {
  /** the table the proxy runs; the record's only where the proxy has none yet (a program before this one) */
  readonly previous?: RoutingTable;
  readonly from: "proxy" | "record" | "config";
  /** how to reach every dtable-server the proxy may route to, or this program deployed */
  readonly previousServers: readonly ServerHost[];
  /** dtable-servers evicted as dead: fenced (stopped first) when they answer again */
  readonly evicted: readonly ServerHost[];
  /** the servers this up evicts (rollout.evict, known to the proxy): their SSH must not answer */
  readonly evicting: readonly ServerHost[];
  /**
   * The record's container digests describe the hosts: the proxy's last
   * verified run is the one that wrote the record, and no run started since.
   * Otherwise (an up stopped half-way, state older than the cluster, a proxy
   * set up by an earlier version) every existing container counts as unknown.
   */
  readonly recordCurrent: boolean;
  /** a change holds the lease: `up` refuses with this; `plan` only reports it */
  readonly lease?: string;
  /** what stops an `up` (and `plan --live`) before anything is planned */
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
};

const byName = (lists: readonly (readonly ServerHost[])[]): ServerHost[] => {
  const seen = new Map<string, ServerHost>();
  for (const list of lists) for (const s of list) if (!seen.has(s.name)) seen.set(s.name, s);
  return [...seen.values()];
};

/** The servers.json the proxy's steps write beside routing.json: `{servers, evicted}`, by the config's rules. */
function liveServers(value: unknown, context: AppliedContext): { servers?: ServerHost[]; evicted?: ServerHost[]; problems: string[] } {
  if (value === undefined) return { problems: [] };
  const where = `dtable-web:${PROXY_SERVERS}`;
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { problems: [`${where}: expected an object with "servers" and "evicted"`] };
  const v = value as { servers?: unknown; evicted?: unknown };
  return parseServersAndEvicted(v.servers, v.evicted, where, context);
}

/** The live files must be ones this program installed (the proxy's own record of them) or the stack recorded. */
function foreignFiles(live: LiveProxy, record: AppliedRouting | undefined): string[] {
  const problems: string[] = [];
  const check = (key: "conf" | "hosts", path: string, what: string) => {
    const hash = live[key];
    const known = [...(live.installed?.[key] ?? []), ...(record?.proxy ? [record.proxy[key]] : [])];
    if (hash === undefined || known.length === 0 || known.includes(hash)) return;
    problems.push(
      `dtable-web: the proxy's ${what} (${path}) is not one this program installed (${PROXY_INSTALLED} lists those) nor the one this stack recorded: ` +
        "it was edited by hand, or another tool or stack manages this host. Nothing was changed. While the proxy routes by a file this program did not write, " +
        "it cannot tell which dtable-server holds which base, so no base can move safely. Undo the edit (the proxy's routing.json says what the installed config routes), " +
        "restart every dtable-server the edited file sent a base to that routing.json gives to another server, and run pulumi up again.",
    );
  };
  check("conf", PROXY_CONFIG, "config");
  check("hosts", PROXY_HOSTS, "hosts file");
  return problems;
}

/** How many buckets and pinned bases two tables route to different servers. */
function difference(a: RoutingTable, b: RoutingTable): { buckets: number; pins: number; defaults: boolean } {
  const change = routingChange(a, b);
  return { buckets: change.bucketMoves.length, pins: change.pinMoves.length, defaults: a.default !== b.default };
}

export function startingPoint(config: ClusterConfig, live: LiveProxy, record: AppliedRouting | undefined, run: Run, context: AppliedContext): StartingPoint {
  const errors: string[] = [];
  const warnings: string[] = [];
  let lease: string | undefined;
  if (live.lease !== undefined) {
    const ours = live.lease.includes(`stack=${run.stack} `);
    lease = (
      `dtable-web: ${PROXY_LEASE} is held (${describeLease(live)}): a change is in progress, or an earlier pulumi up stopped before its verification. ` +
        `If no pulumi up of ${ours ? "this stack" : "that stack"} is running, remove the lease on dtable-web (rm ${PROXY_LEASE}) and run pulumi up again: ` +
        "it starts from what the proxy runs, whichever step the stopped one reached."
    );
  }
  const foreign = foreignFiles(live, record);
  errors.push(...foreign);
  if (foreign.length === 0 && record?.proxy && live.conf !== undefined && live.conf !== record.proxy.conf) {
    warnings.push(`dtable-web: the proxy's config (${PROXY_CONFIG}) is not the one this stack recorded, but one this program installed: an earlier pulumi up stopped half-way. This up converges it.`);
  }
  const fromLive = liveServers(live.servers, context);
  errors.push(...fromLive.problems);

  const previous = live.table ?? record?.table;
  const from = live.table ? "proxy" : record ? "record" : "config";
  if (previous && previous.bucketHexDigits > config.routing.bucketHexDigits) {
    errors.push(
      `routing.bucketHexDigits: ${config.routing.bucketHexDigits} is fewer than the ${previous.bucketHexDigits} of the table ${from === "proxy" ? "the proxy on dtable-web runs" : "the stack recorded"}; fewer digits would merge buckets that live on different servers`,
    );
  }
  // a proxy deployed by a program before this one has no servers.json: the record knows the servers
  const previousServers = fromLive.servers ?? record?.servers ?? [];
  const evicted = byName([fromLive.evicted ?? [], record?.evicted ?? []]).filter((e) => !config.hosts.servers.some((s) => s.name === e.name));

  if (record && live.table) {
    const d = difference(record.table, live.table);
    if (d.buckets > 0 || d.pins > 0 || d.defaults) {
      warnings.push(
        `the stack's record of the routing differs from what the proxy runs (${d.buckets} bucket(s), ${d.pins} pinned base(s)${d.defaults ? ", the default server" : ""} on another server): ` +
          "an earlier pulumi up stopped half-way, or the stack's state is older than the cluster (restored from a backup or an older export). " +
          "This up starts from what the proxy runs; the record is only a cross-check.",
      );
    }
  }
  if (live.paused) {
    warnings.push(
      `the proxy runs a quarantine now: ${live.paused.buckets.length} bucket(s) and ${live.paused.pins.length} pinned base(s) answer 503 (an up stopped between a quarantine and its switch). ` +
        "This up starts from the table beside it and ends the quarantine.",
    );
  }

  // every server the proxy may send a base to must be reachable, staying, or evicted
  const current = new Set(config.hosts.servers.map((s) => s.name));
  if (previous) {
    for (const name of tableServers(previous).filter((n) => !current.has(n))) {
      if (previousServers.some((s) => s.name === name)) continue;
      errors.push(
        config.rollout.evict.includes(name)
          ? `rollout.evict: the proxy sends bases to ${quote(name)}, but neither the proxy's ${PROXY_SERVERS} nor the stack says where it runs, so it cannot be shown to be down. Nothing was changed.`
          : `dtable-web: the proxy sends bases to ${quote(name)}, which is not in hosts.servers, and neither the proxy's ${PROXY_SERVERS} nor the stack says how to reach it to stop it before its buckets move: ` +
              "add it back to hosts.servers, or, if its host is dead, add it to rollout.evict.",
      );
    }
  }
  // a server's address is where its container runs: a new one under the same name would leave the old one running
  config.hosts.servers.forEach((s, i) => {
    for (const known of [previousServers, record?.servers ?? []]) {
      const before = known.find((k) => k.name === s.name);
      if (!before || before.address === s.address) continue;
      errors.push(
        `hosts.servers[${i}].address: ${s.name} runs at ${before.address} (as the proxy and the stack know it), not ${s.address}; its container there may still hold bases. ` +
          `Change it in two ups: remove ${s.name} from hosts.servers (pulumi up stops it at ${before.address} and moves its buckets away), then add it with address ${s.address}; ` +
          `or give the server at ${s.address} a new name in one up.`,
      );
      break;
    }
  });
  const recordCurrent = record?.verifiedBy !== undefined && live.verified === record.verifiedBy && live.lease === undefined;
  const evicting = previousServers.filter((s) => config.rollout.evict.includes(s.name) && !current.has(s.name));
  return { ...(previous ? { previous } : {}), from, previousServers, evicted, evicting, recordCurrent, ...(lease ? { lease } : {}), errors, warnings };
}

/** What `up` and `plan` say of a server evicted as dead, until it is fenced. */
export const evictedWarning = (s: ServerHost) =>
  `${s.name} (${s.address}) was evicted as dead and does not answer; when it answers again, the next pulumi up stops its seatable-server before anything else (a fence).`;

/** Why `up` stops when a server it would evict answers SSH from the deploy machine. */
export const evictAnswers = (s: ServerHost) =>
  `rollout.evict: ${s.name} (${s.address}:${s.ssh.port}) answers SSH, so it is not dead and may hold bases. Nothing was changed. Remove it from rollout.evict (and from hosts.servers): pulumi up then stops it before its buckets move.`;
