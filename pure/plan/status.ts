// `npm run status`: how the cluster is doing now, judged from what the
// program's own readers bring back (io/hosts.ts: the proxy's live read, each
// node's containers) and what dtable-web sees of the dtable-servers and the
// proxy (web-probes.sh, read here). Plain functions over those reads: what
// needs the admin, the exit status, the text and the JSON. Nothing here reads
// a host; nothing here changes one.
import type { ClusterConfig } from "../config/schema";
import { PORTS } from "../config/schema";
import { routingJson, RoutingTable } from "../config/routing-file";
import { urlHost } from "../config/values";
import { buildPlan } from "./index";
import { appliedContext } from "./applied";
import { PROXY_CONFIG, PROXY_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "./containers";
import { describeContainer, HostContainers } from "./host-containers";
import { hostScript } from "./host-scripts";
import { ContainerState, describeLease, duration } from "./live";
import { STATUS_PATH, tableServers } from "./nginx";
import { LiveProxy, PROXY_INSTALLED, PROXY_LEASE, PROXY_ROUTING, ServerHost } from "./rollout";
import { bucketRanges } from "./routing";
import { startingPoint } from "./start";
import { changeSummary } from "./summary";

// ---- what dtable-web sees: the read ------------------------------------------------------

/** Where the proxy serves nginx's stub_status (nginx.ts), for private clients. */
/** Seconds one request from dtable-web may take (a dead host drops packets: it never refuses). */
export const PROBE_TIMEOUT_SECONDS = 5;

/** A dtable-server to ask for /ping/ from dtable-web, and why it is asked. */
export type ProbeTarget = {
  readonly name: string;
  readonly address: string;
  /** stack: in hosts.servers; leaving: the proxy routes to it, the stack no longer has it; evicted: evicted as dead (servers.json) */
  readonly kind: "stack" | "leaving" | "evicted";
};

/** One HTTP request from dtable-web: its status (0: no answer, and why) and how long it took. */
export type HttpRead = { readonly status: number; readonly ms: number; readonly why?: string };

/** nginx's stub_status counters (since the proxy's start). */
export type StubCounters = {
  readonly active: number;
  readonly accepts: number;
  readonly handled: number;
  readonly requests: number;
  readonly reading: number;
  readonly writing: number;
  readonly waiting: number;
};

export type WebProbes = {
  readonly pings: Readonly<Record<string, HttpRead>>;
  readonly statusPage: HttpRead & { readonly counters?: StubCounters };
};

const pingUrl = (address: string) => `http://${urlHost(address)}:${PORTS.dtableServer}/ping/`;
export const statusPageUrl = (config: ClusterConfig) => `http://${urlHost(config.hosts.web.address)}:${config.proxy.port}${STATUS_PATH}`;

/** The command run on dtable-web (hostscripts/web-probes.sh): it changes nothing. */
export function webProbesCommand(config: ClusterConfig, targets: readonly ProbeTarget[]): string {
  return hostScript(["web-probes"], { PINGS: targets.map((t) => `${t.name} ${pingUrl(t.address)}`), STATUS_URL: statusPageUrl(config), TIMEOUT: PROBE_TIMEOUT_SECONDS });
}

/** stub_status's text, or undefined if it is not that. */
export function parseStubStatus(text: string): StubCounters | undefined {
  const m = /^Active connections:\s*(\d+)\s*\nserver accepts handled requests\s*\n\s*(\d+)\s+(\d+)\s+(\d+)\s*\nReading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)\s*$/.exec(text);
  if (!m) return undefined;
  const [active, accepts, handled, requests, reading, writing, waiting] = m.slice(1).map(Number);
  return { active, accepts, handled, requests, reading, writing, waiting };
}

/** Parses webProbesCommand's output; anything else is an error that names dtable-web. */
export function parseWebProbes(output: string): WebProbes {
  const pings: Record<string, HttpRead> = {};
  let statusPage: WebProbes["statusPage"] | undefined;
  const read = (status: string, ms: string, why: string | undefined): HttpRead => ({ status: Number(status), ms: Number(ms), ...(why ? { why } : {}) });
  for (const line of output.split("\n").filter((l) => l.trim() !== "")) {
    let m: RegExpExecArray | null;
    if ((m = /^ping (\S+) (\d{3}) (\d{1,9})(?: (\S.*))?$/.exec(line))) pings[m[1]] = read(m[2], m[3], m[4]);
    else if ((m = /^stub (\d{3}) (\d{1,9}) ([A-Za-z0-9+/=]+|-)(?: (\S.*))?$/.exec(line))) {
      const counters = m[3] === "-" ? undefined : parseStubStatus(Buffer.from(m[3], "base64").toString("utf8"));
      statusPage = { ...read(m[1], m[2], m[4]), ...(counters ? { counters } : {}) };
    } else throw new Error(`reading what dtable-web sees of the dtable-servers and the proxy: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (!statusPage) throw new Error("reading what dtable-web sees of the dtable-servers and the proxy: no line for the proxy's status page");
  return { pings, statusPage };
}

// ---- where the proxy's view and the stack's meet ---------------------------------------------

// startingPoint names the run only in its refusal of a held lease, which status words itself
const STATUS_RUN = { stack: "(this stack)", id: "(status)" };

/**
 * Where `pulumi up` would start (start.ts), without the proxy's file hashes:
 * status judges those itself ("changed by hand"), against the proxy's own
 * record of what this program installed. What remains in its errors is what
 * `up` refuses before it plans (servers.json unreadable, a server's address
 * changed, a server the proxy routes to that nothing says how to reach).
 */
function start(config: ClusterConfig, live: LiveProxy) {
  return startingPoint(config, { ...live, conf: undefined, hosts: undefined }, undefined, STATUS_RUN, appliedContext(config));
}

/** The dtable-servers to ask for /ping/ from dtable-web: the stack's, those the proxy still routes to, and the evicted ones. */
export function probeTargets(config: ClusterConfig, live: LiveProxy): ProbeTarget[] {
  const s = start(config, live);
  const targets: ProbeTarget[] = config.hosts.servers.map((h) => ({ name: h.name, address: h.address, kind: "stack" }));
  const known = (name: string) => targets.some((t) => t.name === name);
  for (const name of live.table ? tableServers(live.table) : []) {
    const host = s.previousServers.find((p) => p.name === name);
    if (host && !known(name)) targets.push({ name, address: host.address, kind: "leaving" });
  }
  for (const e of s.evicted) if (!known(e.name)) targets.push({ name: e.name, address: e.address, kind: "evicted" });
  return targets;
}

/** The evicted servers servers.json lists (not back in the stack): status asks whether their SSH answers. */
export const evictedServers = (config: ClusterConfig, live: LiveProxy): readonly ServerHost[] => start(config, live).evicted;

// ---- the judging -----------------------------------------------------------------------------

/** Everything status read; a part that could not be read says why. */
export type StatusReads = {
  readonly live: LiveProxy;
  /** each node's containers (readNodeContainers); dtable-web's from the live read */
  readonly containers: HostContainers;
  readonly probes: WebProbes | { readonly unreadable: string };
  /** per evicted server: whether its SSH port accepts a connection from here */
  readonly evictedSsh: Readonly<Record<string, boolean>>;
};

/** What makes status end with 1, one kind per cause (README, "Status"). */
export type AttentionKind =
  | "lease"
  | "changed-by-hand"
  | "up-refuses"
  | "quarantine"
  | "pending-change"
  | "not-deployed"
  | "host-unreadable"
  | "container"
  | "ping"
  | "proxy"
  | "probes-unreadable"
  | "evicted-answers";

export type Attention = { readonly kind: AttentionKind; readonly host?: string; readonly message: string };

/** The proxy's config or hosts file against the proxy's own record of what this program installed. */
export type FileState = {
  readonly path: string;
  readonly sha256: string | null;
  readonly installed: readonly string[];
  /** installed: one of those the record lists; changed-by-hand: none of them; unrecorded: no record (a proxy of an earlier version); absent: no file */
  readonly state: "installed" | "changed-by-hand" | "unrecorded" | "absent";
};

export type ServerShare = {
  readonly name: string;
  readonly address: string | null;
  /** in hosts.servers; false: the proxy still routes to it, the stack no longer has it */
  readonly inStack: boolean;
  readonly buckets: number;
  /** per cent of all buckets, two decimals */
  readonly share: number;
  readonly ranges: string;
  readonly pins: number;
  readonly quarantinedBuckets: readonly string[];
  readonly quarantinedPins: readonly string[];
};

export type PingResult = HttpRead & { readonly server: string; readonly address: string; readonly kind: ProbeTarget["kind"]; readonly answers: boolean };

export type NodeStatus = {
  readonly name: string;
  readonly role: "dtable-web" | "dtable-db" | "dtable-server";
  readonly address: string;
  /** its containers as Docker shows them; absent when the host could not be read */
  readonly containers?: Readonly<Record<string, ContainerState>>;
  readonly unreadable?: string;
};

export type PendingChange = {
  /** the stack's table is not the one the proxy runs */
  readonly change: boolean;
  /** the proxy runs no routing.json: pulumi up has not deployed it yet */
  readonly firstDeployment: boolean;
  readonly buckets: number;
  readonly pins: number;
  readonly defaultServer: { readonly from: string; readonly to: string } | null;
  readonly moves: readonly { readonly from: string; readonly to: string; readonly buckets: number; readonly ranges: string }[];
  readonly pinMoves: readonly { readonly base: string; readonly from: string; readonly to: string }[];
  /** dtable-servers that give up buckets or bases: pulumi up restarts them inside a quarantine */
  readonly restart: readonly string[];
  /** changeSummary's lines, as `plan` prints them */
  readonly summary: readonly string[];
};

/** The document `status --json` prints (README, "Status"), and what the text is made from. */
export type StatusReport = {
  readonly code: 0 | 1;
  readonly stack: string;
  readonly web: { readonly name: string; readonly address: string };
  readonly lease: null | { readonly holder: string; readonly ageSeconds: number | null; readonly lastStep: { readonly step: string; readonly agoSeconds: number } | null };
  /** the last step completed on dtable-web, by whichever run */
  readonly progress: null | { readonly step: string; readonly agoSeconds: number; readonly run: string | null };
  /** the lease line of the run whose verification passed last */
  readonly verified: string | null;
  readonly files: { readonly conf: FileState; readonly hosts: FileState };
  readonly routing: null | {
    readonly bucketHexDigits: number;
    readonly buckets: number;
    readonly pins: number;
    readonly default: string;
    readonly servers: readonly ServerShare[];
  };
  readonly quarantine: null | { readonly buckets: readonly string[]; readonly pins: readonly string[] };
  readonly evicted: readonly { readonly name: string; readonly address: string; readonly sshAnswers: boolean }[];
  /** null: not judged (pulumi up would refuse before it plans: see attention) */
  readonly pending: PendingChange | null;
  readonly nodes: readonly NodeStatus[];
  readonly pings: readonly PingResult[] | null;
  readonly proxy: {
    readonly container: ContainerState | null;
    readonly statusPage: { readonly url: string } & (({ readonly answers: boolean } & WebProbes["statusPage"]) | { readonly unreadable: string });
  };
  readonly attention: readonly Attention[];
};

function fileState(live: LiveProxy, key: "conf" | "hosts", path: string): FileState {
  const sha = live[key];
  const installed = live.installed?.[key] ?? [];
  const state = sha === undefined ? "absent" : installed.length === 0 ? "unrecorded" : installed.includes(sha) ? "installed" : "changed-by-hand";
  return { path, sha256: sha ?? null, installed, state };
}

function shares(config: ClusterConfig, table: RoutingTable, paused: LiveProxy["paused"], previousServers: readonly ServerHost[]): ServerShare[] {
  const total = Object.keys(table.buckets).length;
  const names = [...new Set([...config.hosts.servers.map((s) => s.name), ...tableServers(table)])];
  return names.map((name) => {
    const owned = Object.keys(table.buckets).filter((b) => table.buckets[b] === name);
    const pins = Object.keys(table.pins).filter((u) => table.pins[u] === name);
    const inStack = config.hosts.servers.find((s) => s.name === name);
    return {
      name,
      address: inStack?.address ?? previousServers.find((p) => p.name === name)?.address ?? null,
      inStack: inStack !== undefined,
      buckets: owned.length,
      share: Math.round((10000 * owned.length) / total) / 100,
      ranges: bucketRanges(owned),
      pins: pins.length,
      quarantinedBuckets: (paused?.buckets ?? []).filter((b) => table.buckets[b] === name),
      quarantinedPins: (paused?.pins ?? []).filter((u) => table.pins[u] === name),
    };
  });
}

function pending(config: ClusterConfig, table: RoutingTable | undefined): PendingChange {
  if (!table) {
    return { change: true, firstDeployment: true, buckets: 0, pins: 0, defaultServer: null, moves: [], pinMoves: [], restart: [], summary: [] };
  }
  const plan = buildPlan(config, table);
  const { change } = plan;
  const byPair = new Map<string, string[]>();
  for (const m of change.bucketMoves) byPair.set(`${m.from}\0${m.to}`, [...(byPair.get(`${m.from}\0${m.to}`) ?? []), m.bucket]);
  return {
    change: routingJson(plan.routing) !== routingJson(table),
    firstDeployment: false,
    buckets: change.bucketMoves.length,
    pins: change.pinMoves.length,
    defaultServer: plan.routing.default === table.default ? null : { from: table.default, to: plan.routing.default },
    moves: [...byPair].sort().map(([pair, buckets]) => {
      const [from, to] = pair.split("\0");
      return { from, to, buckets: buckets.length, ranges: bucketRanges(buckets) };
    }),
    pinMoves: change.pinMoves.map((m) => ({ base: m.uuid, from: m.from, to: m.to })),
    restart: change.losing,
    summary: changeSummary(change, "the table the proxy runs"),
  };
}

/** Why a container needs the admin, or undefined; `what` names it for a person. */
function containerTrouble(state: ContainerState | undefined, what: string): string | undefined {
  if (state === undefined) return undefined;
  if (state.status === "missing") return `${what} container is missing`;
  if (state.status === "unreadable") return `docker did not answer (${state.reason})`;
  if (state.status !== "running") return `${what} container is ${state.status} (started ${state.startedAt})`;
  return state.health === "unhealthy" ? `${what} container is unhealthy` : undefined;
}

/**
 * Judges the reads: what needs the admin, and the exit status (1 when
 * anything does). `stack` names the stack for the report.
 */
export function statusReport(config: ClusterConfig, stack: string, reads: StatusReads): StatusReport {
  const { live } = reads;
  const { web, db, servers } = config.hosts;
  const attention: Attention[] = [];
  const note = (kind: AttentionKind, message: string, host?: string) => attention.push({ kind, message, ...(host ? { host } : {}) });
  const s = start(config, live);

  // the lease
  const ours = live.progress && live.progress.run === live.lease;
  const lease =
    live.lease === undefined
      ? null
      : { holder: live.lease, ageSeconds: live.leaseAgeSeconds ?? null, lastStep: ours ? { step: live.progress!.step, agoSeconds: live.progress!.agoSeconds } : null };
  if (live.lease !== undefined) {
    note(
      "lease",
      `${web.name}: ${PROXY_LEASE} is held (${describeLease(live)}): a change is in progress, or an earlier pulumi up stopped before its verification, and every other pulumi up refuses to start. ` +
        `If no pulumi up of that stack is running, remove the lease on ${web.name} (rm ${PROXY_LEASE}) and run pulumi up again: it starts from what the proxy runs.`,
      web.name,
    );
  }

  // the proxy's files against its own record
  const files = { conf: fileState(live, "conf", PROXY_CONFIG), hosts: fileState(live, "hosts", PROXY_HOSTS) };
  for (const [what, f] of [["config", files.conf], ["hosts file", files.hosts]] as const) {
    if (f.state !== "changed-by-hand") continue;
    note(
      "changed-by-hand",
      `${web.name}: the proxy's ${what} (${f.path}) was changed by hand: its sha256 ${f.sha256!.slice(0, 12)} is none of those this program installed (${PROXY_INSTALLED} lists ${f.installed.map((h) => h.slice(0, 12)).join(", ")}). ` +
        "pulumi up refuses to change the cluster while the proxy routes by a file it did not write. Undo the edit (routing.json says what the installed config routes), " +
        "restart every dtable-server the edited file sent a base to that routing.json gives to another server, and run pulumi up again.",
      web.name,
    );
  }
  for (const e of s.errors) note("up-refuses", `pulumi up would refuse: ${e}`);

  // the table the proxy runs, and what pulumi up would change in it
  if (live.paused) {
    note(
      "quarantine",
      `${web.name}: the proxy runs a quarantine: ${live.paused.buckets.length} bucket(s) and ${live.paused.pins.length} pinned base(s) answer 503 with Retry-After. ` +
        (live.lease !== undefined
          ? "A change holds the lease (above): its switch ends the quarantine."
          : "No change holds the lease, so an up stopped between a quarantine and its switch: run pulumi up, which starts from the table beside it and ends the quarantine."),
      web.name,
    );
  }
  const judged = s.errors.length === 0 ? pending(config, live.table) : null;
  if (judged?.firstDeployment) {
    note("not-deployed", `${web.name}: the proxy runs no routing.json (${PROXY_ROUTING}): this stack's proxy is not deployed yet. Run npm run plan -- --live, then pulumi up.`, web.name);
  } else if (judged?.change) {
    const moved = judged.buckets + judged.pins;
    note(
      "pending-change",
      moved > 0
        ? `the stack's table differs from the one the proxy runs: pulumi up would move ${judged.buckets} bucket(s) and ${judged.pins} pinned base(s), restarting ${judged.restart.join(", ")} inside a quarantine. Review it with npm run plan -- --live, then run pulumi up, or change the stack back.`
        : "the stack's table differs from the one the proxy runs, though no base changes server (the default server, pins to the server that holds them anyway, or the bucket digits): pulumi up would install it without a restart.",
    );
  }
  const evicted = s.evicted.map((e) => ({ name: e.name, address: e.address, sshAnswers: reads.evictedSsh[e.name] === true }));

  // each node's containers
  const nodes: NodeStatus[] = [web, db, ...servers].map((n) => {
    const read = reads.containers[n.name];
    const base = { name: n.name, role: n.role, address: n.address };
    if (read === undefined) return { ...base, unreadable: "not read" };
    if ("unreadable" in read) return { ...base, unreadable: read.unreadable };
    return { ...base, containers: read.containers };
  });
  for (const n of nodes) {
    if (n.unreadable !== undefined) {
      note("host-unreadable", `${n.name} (${n.address}): its containers could not be read (${n.unreadable}). Check that the host is up and answers SSH.`, n.name);
      continue;
    }
    const trouble = containerTrouble(n.containers?.[SEATABLE_CONTAINER], `its ${SEATABLE_CONTAINER}`);
    if (trouble === undefined) continue;
    const why =
      n.role === "dtable-server"
        ? `its buckets answer 502 until it runs again. Look at \`docker logs ${SEATABLE_CONTAINER}\` there; \`docker start ${SEATABLE_CONTAINER}\` once the cause is fixed, or run pulumi up, which restarts it inside a quarantine.`
        : `Look at \`docker logs ${SEATABLE_CONTAINER}\` there, and \`docker restart ${SEATABLE_CONTAINER}\` once the cause is fixed.`;
    note("container", `${n.name} (${n.role}): ${trouble}; ${why}`, n.name);
  }
  const proxyContainer = live.containers?.[PROXY_CONTAINER] ?? null;
  const proxyTrouble = live.conf !== undefined || (proxyContainer !== null && proxyContainer.status !== "missing") ? containerTrouble(proxyContainer ?? undefined, `the ${PROXY_CONTAINER}`) : undefined;
  if (proxyTrouble !== undefined) {
    note("proxy", `${web.name}: ${proxyTrouble}: no base reaches any dtable-server while it does not run. Look at \`docker logs ${PROXY_CONTAINER}\` there; pulumi up starts a stopped proxy in its switch.`, web.name);
  }

  // what dtable-web sees
  const url = statusPageUrl(config);
  let pings: PingResult[] | null = null;
  let statusPage: StatusReport["proxy"]["statusPage"];
  if ("unreadable" in reads.probes) {
    note("probes-unreadable", `${web.name}: the dtable-servers' /ping/ and the proxy's status page could not be asked from there (${reads.probes.unreadable})`, web.name);
    statusPage = { url, unreadable: reads.probes.unreadable };
  } else {
    const probes = reads.probes;
    pings = probeTargets(config, live).map((t) => {
      const r = probes.pings[t.name] ?? { status: 0, ms: 0, why: "not asked" };
      return { server: t.name, address: t.address, kind: t.kind, ...r, answers: r.status === 200 };
    });
    for (const p of pings) {
      const said = p.status === 0 ? `no answer (${p.why ?? "unknown"}) after ${p.ms} ms` : `${p.status} after ${p.ms} ms`;
      if (p.kind === "evicted") {
        if (p.answers) note("evicted-answers", `${p.server} (${p.address}) was evicted as dead but answers /ping/ from ${web.name}: it may hold stale copies of bases that live elsewhere now. Run pulumi up: it fences ${p.server} (stops its seatable-server) before anything else.`, p.server);
      } else if (!p.answers) {
        note("ping", `${p.server} (${p.address}:${PORTS.dtableServer}) does not answer /ping/ from ${web.name} (${said}): the bases of its buckets fail. Look at its ${SEATABLE_CONTAINER} (\`docker logs ${SEATABLE_CONTAINER}\` there).`, p.server);
      }
    }
    const page = probes.statusPage;
    const answers = page.status === 200 && page.counters !== undefined;
    statusPage = { url, ...page, answers };
    // a proxy container that does not run is said above already
    if (!answers && proxyTrouble === undefined && (live.conf !== undefined || proxyContainer?.status === "running")) {
      const said = page.status === 0 ? `no answer (${page.why ?? "unknown"})` : page.status === 200 ? "an answer that is not nginx's stub_status" : `${page.status}`;
      note("proxy", `${web.name}: the proxy's status page ${url} gives ${said}: the proxy does not answer on its port as this program configures it.`, web.name);
    } else if (answers && page.counters!.accepts > page.counters!.handled) {
      note(
        "proxy",
        `${web.name}: the proxy dropped ${page.counters!.accepts - page.counters!.handled} connection(s) since it started (stub_status handled behind accepts): worker_connections ran out. Raise proxy.workerConnections (now ${config.proxy.workerConnections}) and run pulumi up.`,
        web.name,
      );
    }
  }
  for (const e of evicted) {
    if (e.sshAnswers && !attention.some((a) => a.kind === "evicted-answers" && a.host === e.name)) {
      note("evicted-answers", `${e.name} (${e.address}) was evicted as dead but its SSH answers again: it may run a seatable-server with stale copies of bases. Run pulumi up: it fences ${e.name} (stops its seatable-server) before anything else.`, e.name);
    }
  }

  return {
    code: attention.length > 0 ? 1 : 0,
    stack,
    web: { name: web.name, address: web.address },
    lease,
    progress: live.progress ? { step: live.progress.step, agoSeconds: live.progress.agoSeconds, run: live.progress.run ?? null } : null,
    verified: live.verified ?? null,
    files,
    routing: live.table
      ? {
          bucketHexDigits: live.table.bucketHexDigits,
          buckets: Object.keys(live.table.buckets).length,
          pins: Object.keys(live.table.pins).length,
          default: live.table.default,
          servers: shares(config, live.table, live.paused, s.previousServers),
        }
      : null,
    quarantine: live.paused ? { buckets: live.paused.buckets, pins: live.paused.pins } : null,
    evicted,
    pending: judged,
    nodes,
    pings,
    proxy: { container: proxyContainer, statusPage },
    attention,
  };
}

/** When dtable-web could not be read: nothing else is judged (exit 2). */
export type StatusUnreadable = { readonly code: 2; readonly stack: string; readonly unreadable: string };

export const statusUnreadable = (stack: string, reason: string): StatusUnreadable => ({ code: 2, stack, unreadable: reason });

/** `--json`: one document, on one line. */
export const statusJson = (report: StatusReport | StatusUnreadable): string => `${JSON.stringify(report)}\n`;

// ---- the text ---------------------------------------------------------------------------------

const short = (sha: string | null) => (sha ? sha.slice(0, 12) : "-");

function fileLine(what: string, f: FileState): string {
  const state = {
    installed: "installed by this program",
    "changed-by-hand": `CHANGED BY HAND: none of the ${f.installed.length} this program installed (${PROXY_INSTALLED})`,
    unrecorded: `no record of what this program installed (${PROXY_INSTALLED} is missing)`,
    absent: "absent",
  }[f.state];
  return `  ${what} (${f.path}): ${state}${f.sha256 ? `, sha256 ${short(f.sha256)}` : ""}`;
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => (c >= 2 && c <= 4 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join("  ").trimEnd());
}

/** A server's part of the quarantine, for the table: "2 bucket(s) (00-01), 1 pinned base(s)", or "-". */
function quarantined(s: ServerShare): string {
  const parts = [
    ...(s.quarantinedBuckets.length > 0 ? [`${s.quarantinedBuckets.length} bucket(s) (${bucketRanges(s.quarantinedBuckets)})`] : []),
    ...(s.quarantinedPins.length > 0 ? [`${s.quarantinedPins.length} pinned base(s)`] : []),
  ];
  return parts.length > 0 ? parts.join(", ") : "-";
}

/** What `status` prints. */
export function statusText(r: StatusReport): string {
  const out: string[] = [`Status of ${r.stack}, as read on the hosts (dtable-web ${r.web.address})`, ""];

  if (r.lease) {
    const age = r.lease.ageSeconds !== null ? `, taken ${duration(r.lease.ageSeconds)} ago` : "";
    const step = r.lease.lastStep ? `; last step completed: ${r.lease.lastStep.step}, ${duration(r.lease.lastStep.agoSeconds)} ago` : "; it completed no step on dtable-web";
    out.push(`Lease: HELD by ${r.lease.holder}${age}${step}`);
  } else {
    out.push("Lease: none");
  }
  if (r.progress && !r.lease?.lastStep) out.push(`Last step completed on ${r.web.name}: ${r.progress.step}, ${duration(r.progress.agoSeconds)} ago${r.progress.run ? ` (${r.progress.run})` : ""}`);
  if (r.verified) out.push(`Last verified run: ${r.verified}`);
  out.push("", "Proxy files on dtable-web:", fileLine("config", r.files.conf), fileLine("hosts file", r.files.hosts), "");

  if (r.routing) {
    const rt = r.routing;
    out.push(
      `Routing, as the proxy runs it: ${rt.buckets} buckets (${rt.bucketHexDigits} hex digit${rt.bucketHexDigits > 1 ? "s" : ""}), ${rt.pins} pinned base(s); requests without a base UUID go to ${rt.default}`,
      ...table([
        ["dtable-server", "address", "buckets", "share", "pins", "bucket ranges", "quarantined now"],
        ...rt.servers.map((s) => [
          `${s.name}${s.inStack ? "" : " (not in the stack)"}`,
          s.address ?? "?",
          String(s.buckets),
          `${s.share.toFixed(2)}%`,
          String(s.pins),
          s.ranges || "-",
          quarantined(s),
        ]),
      ]).map((l) => `  ${l}`),
    );
  } else {
    out.push("Routing: the proxy runs no routing.json");
  }
  out.push(r.quarantine ? `Quarantine: IN FORCE: ${r.quarantine.buckets.length} bucket(s) (${bucketRanges(r.quarantine.buckets) || "-"}) and ${r.quarantine.pins.length} pinned base(s) answer 503` : "Quarantine: none");
  out.push(
    r.evicted.length === 0
      ? "Evicted (servers.json): none"
      : `Evicted (servers.json): ${r.evicted.map((e) => `${e.name} (${e.address}, SSH ${e.sshAnswers ? "ANSWERS" : "does not answer"})`).join(", ")}`,
  );
  out.push("");
  if (r.pending === null) out.push("Against the stack's table: not judged (pulumi up would refuse first; see below)");
  else if (r.pending.firstDeployment) out.push("Against the stack's table: nothing deployed yet (pulumi up deploys the proxy)");
  else if (r.pending.change && r.pending.buckets + r.pending.pins === 0) out.push("Against the stack's table: no base changes server, but the table differs (pulumi up installs it without a restart)");
  else out.push(...r.pending.summary.map((l) => l.replace(/^Against the table the proxy runs:/, "The stack's table against the one the proxy runs:")));
  out.push("", "Containers:");
  for (const n of r.nodes) {
    if (n.unreadable !== undefined) {
      out.push(`  ${n.name}: could not be read (${n.unreadable})`);
      continue;
    }
    const c = n.containers?.[SEATABLE_CONTAINER];
    out.push(`  ${n.name}: ${SEATABLE_CONTAINER} ${c ? describeContainer(c) : "not read"}`);
    if (n.role === "dtable-web") out.push(`  ${n.name}: ${PROXY_CONTAINER} ${r.proxy.container ? describeContainer(r.proxy.container) : "not read"}`);
  }
  out.push("", `/ping/ of each dtable-server, from ${r.web.name}:`);
  if (r.pings === null) out.push("  not asked (see below)");
  for (const p of r.pings ?? []) {
    const label = p.kind === "stack" ? "" : p.kind === "leaving" ? " (not in the stack)" : " (evicted)";
    const said = p.status === 0 ? `no answer (${p.why ?? "unknown"}) after ${p.ms} ms` : `${p.status} in ${p.ms} ms`;
    out.push(`  ${p.server}${label} (${p.address}): ${said}`);
  }
  const page = r.proxy.statusPage;
  out.push("");
  if ("unreadable" in page) out.push(`Proxy status page (${page.url}): not asked`);
  else if (page.counters) {
    const c = page.counters;
    out.push(
      `Proxy status page (${page.url}): ${c.active} active connection(s); ${c.accepts} accepted, ${c.handled} handled, ${c.requests} request(s) since the proxy started; reading ${c.reading}, writing ${c.writing}, waiting ${c.waiting}`,
    );
  } else out.push(`Proxy status page (${page.url}): ${page.status === 0 ? `no answer (${page.why ?? "unknown"})` : `${page.status}, not nginx's stub_status`}`);
  out.push("");
  if (r.attention.length === 0) out.push("All well.");
  else out.push(`Needs the admin (${r.attention.length}):`, ...r.attention.map((a) => `  - ${a.message}`));
  return `${out.join("\n")}\n`;
}

/** What `status` prints on stderr when dtable-web could not be read. */
export const unreadableText = (u: StatusUnreadable): string => `${u.stack}: could not read the cluster: ${u.unreadable}\n`;
