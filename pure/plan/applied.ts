// The routing the program applied last, as it keeps it in the stack's own
// outputs: the table and how to reach each dtable-server it names (so that a
// server removed from the config can still be stopped before its buckets move).
import { z } from "zod";
import { parseRoutingTable, RoutingTable } from "../config/routing-file";
import { address, hostName, loginName, port, sshHostKey, type ClusterConfig } from "../config/schema";
import { describe, formatIssues, keyPath, quote } from "../config/problems";
import { addressProblem, canonicalAddress } from "../config/values";
import { LEASE_LINE, type ServerHost } from "./rollout";

export type AppliedRouting = {
  readonly table: RoutingTable;
  readonly servers: readonly ServerHost[];
  /** sha256 of the proxy's config and hosts file the verified `up` installed */
  readonly proxy?: { readonly conf: string; readonly hosts: string };
  /** resource names of that `up`'s rollout steps: an `up` with nothing to change keeps them as they are */
  readonly rolloutSteps?: readonly string[];
  /**
   * dtable-servers evicted as dead (rollout.evict): their host may come back,
   * and must then be stopped before anything else. Absent when there are none.
   */
  readonly evicted?: readonly ServerHost[];
  /**
   * sha256 of each node step as it runs apart from its lease check (graph.ts):
   * an `up` keeps them as they are only while none changed.
   */
  readonly nodeSteps?: Readonly<Record<string, string>>;
  /**
   * The run whose final verification wrote this record (its lease line). The
   * proxy keeps the same in `verified` until the next run takes the lease, so
   * the container digests here describe the hosts only while both name it.
   */
  readonly verifiedBy?: string;
};

/**
 * What the stack config allows of a server read back from state (the record,
 * or a file on a host): the state may not allow more than the config does.
 */
export type AppliedContext = {
  /** the config's allowPublicAddresses */
  readonly allowPublicAddresses: boolean;
  /** names of the hosts whose config sets ssh.insecureSkipHostKeyCheck */
  readonly insecureHosts: ReadonlySet<string>;
  /**
   * Tests on loopback only: an address this returns true for is not refused for
   * what it is (loopback, public, ...); its form and uniqueness are still checked.
   */
  readonly acceptAddress?: (address: string) => boolean;
};

/** The context of a validated config: its allowPublicAddresses and its hosts' opt-outs. */
export function appliedContext(config: ClusterConfig): AppliedContext {
  const hosts = [config.hosts.web, config.hosts.db, ...config.hosts.servers];
  return {
    allowPublicAddresses: config.allowPublicAddresses,
    insecureHosts: new Set(hosts.filter((h) => h.ssh.insecureSkipHostKeyCheck === true).map((h) => h.name)),
  };
}

const sha = z.string().regex(/^[0-9a-f]{64}$/);
const recordExtras = z.object({
  proxy: z.object({ conf: sha, hosts: sha }).optional(),
  rolloutSteps: z.array(z.string().regex(/^[a-z0-9-]{1,200}$/)).optional(),
  nodeSteps: z.record(z.string().regex(/^[a-z0-9-]{1,200}$/), sha).optional(),
  verifiedBy: z.string().regex(LEASE_LINE).optional(),
});

/** Each node's container spec as last verified (sha256 over spec and secret values): kept as a secret output. */
export type AppliedContainers = Readonly<Record<string, string>>;

export function parseAppliedContainers(value: unknown): AppliedContainers | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = z.record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/), sha).safeParse(value);
  if (!parsed.success) throw new Error("appliedContainers (the stack output that records each node's container) is damaged: expected host name → sha256");
  return parsed.data;
}

// The state is read back as input: every value that reaches a host (a name in
// the proxy's files, an address and user in an SSH URL, a known_hosts line)
// passes the stack config's own rules first.
const serverHost = z.strictObject({
  name: hostName,
  address,
  ssh: z.strictObject({ user: loginName, port, hostKey: sshHostKey.optional(), insecureSkipHostKeyCheck: z.literal(true).optional() }),
});

/** One server of a list, as far as its name and address are readable on their own (for the checks across servers). */
type Entry = { readonly at: string; readonly name?: string; readonly address?: string };

type ServerList = { servers?: ServerHost[]; entries: Entry[]; problems: string[] };

/** The rules of one server beyond its form: what its address is, and how its host key is checked. */
function serverProblems(item: unknown, at: string, context: AppliedContext): { entry: Entry; problems: string[] } {
  const problems: string[] = [];
  const raw = (typeof item === "object" && item !== null ? item : {}) as { name?: unknown; address?: unknown; ssh?: unknown };
  const name = hostName.safeParse(raw.name).success ? (raw.name as string) : undefined;
  const addr = address.safeParse(raw.address).success ? (raw.address as string) : undefined;
  if (addr !== undefined && !context.acceptAddress?.(addr)) {
    // the config's own classification (validate.ts), and its words
    const problem = addressProblem(addr);
    if (problem === "not-a-host") {
      problems.push(`${at}.address: ${quote(addr)} is a loopback, unspecified, link-local or multicast address; expected the host's private address`);
    } else if (problem === "public" && !context.allowPublicAddresses) {
      problems.push(`${at}.address: ${quote(addr)} is a public address; expected a private one (10/8, 172.16/12, 192.168/16, fc00::/7), or set allowPublicAddresses: true`);
    }
  }
  if (typeof raw.ssh === "object" && raw.ssh !== null) {
    const ssh = raw.ssh as { hostKey?: unknown; insecureSkipHostKeyCheck?: unknown };
    const skip = `${at}.ssh.insecureSkipHostKeyCheck`;
    if (ssh.insecureSkipHostKeyCheck === true && ssh.hostKey !== undefined) {
      problems.push(`${skip}: true, but ${at}.ssh.hostKey pins a key; a server has one or the other`);
    } else if (ssh.insecureSkipHostKeyCheck === true && name !== undefined && !context.insecureHosts.has(name)) {
      problems.push(`${skip}: true, but the config does not set insecureSkipHostKeyCheck for a host named ${quote(name)}; the state may not turn off a host key check the config keeps on`);
    } else if (ssh.insecureSkipHostKeyCheck === undefined && ssh.hostKey === undefined) {
      problems.push(`${at}.ssh.hostKey: missing, and no insecureSkipHostKeyCheck; the host's key could not be checked`);
    }
  }
  return { entry: { at, ...(name !== undefined ? { name } : {}), ...(addr !== undefined ? { address: addr } : {}) }, problems };
}

/**
 * The servers of `list` whose name or host was seen before (`seen`, which
 * this adds them to), in this list or another. Addresses compare in one
 * spelling ("fd00::1" and "FD00:0::1" are one host), as the config's do.
 */
function duplicateProblems(entries: readonly Entry[], list: string, seen: { names: Map<string, string>; addresses: Map<string, string> }): string[] {
  const problems: string[] = [];
  for (const e of entries) {
    if (e.name !== undefined) {
      const at = seen.names.get(e.name);
      const why = at?.startsWith(`${list}[`) ? "every host needs its own name" : "a server is deployed or evicted, not both";
      if (at !== undefined) problems.push(`${e.at}.name: ${quote(e.name)} is already the name of ${at}; ${why}`);
      else seen.names.set(e.name, e.at);
    }
    if (e.address !== undefined) {
      const key = canonicalAddress(e.address);
      const at = seen.addresses.get(key);
      if (at !== undefined) problems.push(`${e.at}.address: ${quote(e.address)} is already the address of ${at}; every node needs its own host`);
      else seen.addresses.set(key, e.at);
    }
  }
  return problems;
}

const newSeen = () => ({ names: new Map<string, string>(), addresses: new Map<string, string>() });

/** A list of servers, every problem of every server at once; the duplicates among them are left to the caller. */
function readServers(value: unknown, where: string, context: AppliedContext): ServerList {
  if (!Array.isArray(value)) {
    return { entries: [], problems: [`${where}: ${value === undefined ? "missing; expected a list of servers" : `expected a list of servers, found ${describe(value)}`}`] };
  }
  const problems: string[] = [];
  const servers: ServerHost[] = [];
  const entries: Entry[] = [];
  value.forEach((item, i) => {
    const at = keyPath([i], where);
    const parsed = serverHost.safeParse(item, { reportInput: true });
    if (parsed.success) servers.push(parsed.data);
    else problems.push(...formatIssues(parsed.error.issues, at));
    const rules = serverProblems(item, at, context);
    problems.push(...rules.problems);
    entries.push(rules.entry);
  });
  return { servers, entries, problems };
}

/**
 * Reads a list of dtable-servers kept as state (the stack's record, a file on
 * a host) by the config's rules: each server's form, no loopback address, no
 * public one unless the config allows them, no host-key opt-out unless the
 * config sets it for a host of that name, no name or host twice. Problems are
 * lines prefixed with `where` ("appliedRouting.servers[1].address: ...").
 */
export function parseServerList(
  value: unknown,
  where: string,
  context: AppliedContext,
): { servers: ServerHost[]; problems: [] } | { servers?: undefined; problems: string[] } {
  const read = readServers(value, where, context);
  const problems = [...read.problems, ...duplicateProblems(read.entries, where, newSeen())];
  return problems.length === 0 && read.servers ? { servers: read.servers, problems: [] } : { problems };
}

/** The names a table routes to that are not servers of the record, one line per place (buckets: one per server). */
function unknownServerProblems(table: RoutingTable, names: readonly string[], where: string, serversAt: string): string[] {
  const problems: string[] = [];
  const missing = (name: string, verb = "names") => `${verb} the dtable-server ${quote(name)}, which is not in ${serversAt} (${[...new Set(names)].join(", ")})`;
  if (!names.includes(table.default)) problems.push(`${where}.default: ${missing(table.default)}`);
  const byServer = new Map<string, string[]>();
  for (const [bucket, name] of Object.entries(table.buckets).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!names.includes(name)) byServer.set(name, [...(byServer.get(name) ?? []), bucket]);
  }
  for (const [name, buckets] of byServer) {
    const shown = buckets.slice(0, 8).join(", ") + (buckets.length > 8 ? `, … (${buckets.length} in all)` : "");
    problems.push(`${where}.buckets: ${buckets.length === 1 ? `bucket ${shown} ${missing(name)}` : `buckets ${shown} ${missing(name, "name")}`}`);
  }
  for (const [uuid, name] of Object.entries(table.pins)) {
    if (!names.includes(name)) problems.push(`${keyPath(["pins", uuid], where)}: ${missing(name)}`);
  }
  return problems;
}

/** Both lists of a record (servers, optional evicted), with what the table check needs. */
function readRecordServers(servers: unknown, evicted: unknown, where: string, context: AppliedContext) {
  const s = readServers(servers, `${where}.servers`, context);
  const e = evicted === undefined ? { servers: [], entries: [], problems: [] } : readServers(evicted, `${where}.evicted`, context);
  const seen = newSeen();
  const problems = [...s.problems, ...duplicateProblems(s.entries, `${where}.servers`, seen), ...e.problems, ...duplicateProblems(e.entries, `${where}.evicted`, seen)];
  // the names of the servers whose name is readable, so that one damaged server does not make the table's mentions of it problems too
  const names = Array.isArray(servers) ? s.entries.flatMap((x) => (x.name !== undefined ? [x.name] : [])) : undefined;
  return { ...(problems.length === 0 ? { servers: s.servers, evicted: e.servers } : {}), names, problems };
}

/**
 * The servers and the evicted servers kept together (the record; servers.json
 * on dtable-web): each list as parseServerList reads it, and no name or host in
 * both. Problems are prefixed with `where.servers` and `where.evicted`; a
 * missing `evicted` is an empty list.
 */
export function parseServersAndEvicted(
  servers: unknown,
  evicted: unknown,
  where: string,
  context: AppliedContext,
): { servers: ServerHost[]; evicted: ServerHost[]; problems: [] } | { servers?: undefined; evicted?: undefined; problems: string[] } {
  const read = readRecordServers(servers, evicted, where, context);
  return read.servers && read.evicted ? { servers: read.servers, evicted: read.evicted, problems: [] } : { problems: read.problems };
}

/**
 * Reads the stack output back; a value that is not one is an error, never a
 * guess. `context` is what the config allows (appliedContext(config)): the
 * state may not allow more.
 */
export function parseAppliedRouting(value: unknown, context: AppliedContext): AppliedRouting | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value as { table?: unknown; servers?: unknown; evicted?: unknown };
  const table = parseRoutingTable(v.table, "appliedRouting.table");
  const servers = readRecordServers(v.servers, v.evicted, "appliedRouting", context);
  const extras = recordExtras.safeParse(v);
  const problems = [
    ...table.problems,
    ...servers.problems,
    // a server the table names must be one the record says how to reach; an evicted one is not
    ...(table.table && servers.names ? unknownServerProblems(table.table, servers.names, "appliedRouting.table", "appliedRouting.servers") : []),
    ...(extras.success ? [] : formatIssues(extras.error.issues, "appliedRouting")),
  ];
  if (problems.length > 0 || !table.table || !servers.servers || !servers.evicted || !extras.success) {
    throw new Error(`appliedRouting (the stack output this program keeps its routing in) is damaged:\n${problems.join("\n")}`);
  }
  return {
    table: table.table,
    servers: servers.servers,
    ...(extras.data.proxy ? { proxy: extras.data.proxy } : {}),
    ...(extras.data.rolloutSteps ? { rolloutSteps: extras.data.rolloutSteps } : {}),
    ...(servers.evicted.length > 0 ? { evicted: servers.evicted } : {}),
    ...(extras.data.nodeSteps ? { nodeSteps: extras.data.nodeSteps } : {}),
    ...(extras.data.verifiedBy ? { verifiedBy: extras.data.verifiedBy } : {}),
  };
}

const copy = (s: ServerHost): ServerHost => ({ name: s.name, address: s.address, ssh: { ...s.ssh } });

/**
 * The record of a verified `up`. `evicted`: the dtable-servers evicted as dead
 * so far; one the config deploys again (by name, or another server on its
 * address) is no longer evicted and is left out, as the record's reader requires.
 */
export function appliedRouting(
  config: ClusterConfig,
  table: RoutingTable,
  proxy: { conf: string; hosts: string },
  rolloutSteps: readonly string[],
  { evicted = [], nodeSteps, verifiedBy }: { evicted?: readonly ServerHost[]; nodeSteps?: Readonly<Record<string, string>>; verifiedBy?: string } = {},
): AppliedRouting {
  const servers = config.hosts.servers.map(copy);
  const deployed = (e: ServerHost) => servers.some((s) => s.name === e.name || canonicalAddress(s.address) === canonicalAddress(e.address));
  const stillEvicted = evicted.filter((e) => !deployed(e)).map(copy);
  return { table, servers, proxy, rolloutSteps: [...rolloutSteps], ...(stillEvicted.length > 0 ? { evicted: stillEvicted } : {}), ...(nodeSteps ? { nodeSteps: { ...nodeSteps } } : {}), ...(verifiedBy ? { verifiedBy } : {}) };
}
