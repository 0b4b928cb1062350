// The commands of a change to a running cluster (design, "Changing a running
// cluster", fixed order): per stage quarantine → restart or stop → switch →
// verify, inside a lease on dtable-web, after the new images are pulled and an
// optional backup. Containers that Pulumi replaces take their place in this
// graph: a step may wait for `container-<host>`, and a container for steps.
import { createHash } from "node:crypto";
import { PORTS, SecretRef, SshTarget } from "../config/schema";
import { ENVIRONMENT_SECRETS } from "../config/environment";
import { allBuckets, routingJson } from "../config/routing-file";
import { urlHost } from "../config/values";
import { renderProxyConfig, renderProxyHosts, QUARANTINE, SERVER_HEADER, tableServers, UPSTREAM_HEADER } from "./nginx";
import { COMPOSE_DIR, PROXY_CONFIG, PROXY_CONTAINER, PROXY_DIR, PROXY_DIR_IN_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "./containers";
import type { ClusterPlan } from "./index";
import { refineTable, RoutingTable } from "./routing";
import { hostScript } from "./host-scripts";
import type { ContainerState } from "./live";
import type { Stage, StagePlan } from "./stages";

/** A dtable-server as the program last deployed it: enough to reach it after it left the config. */
export type ServerHost = { readonly name: string; readonly address: string; readonly ssh: SshTarget };

export type HostStep = {
  /** unique, stable resource name part: "stage-1-quarantine", "restart-dtable-server-2" */
  readonly id: string;
  /** the host it runs on (a host name of the config, or of a removed dtable-server) */
  readonly host: string;
  readonly title: string;
  readonly command: string;
  /** file contents for the command (never a secret) */
  readonly stdin?: string;
  /** a secret for the command's stdin instead (the backup command from environmentSecrets); only its name is here */
  readonly secretStdin?: SecretRef;
  /** ids of what must be done first: steps, or `container-<host>`; steps with the same `after` run side by side */
  readonly after: readonly string[];
};

/** The id under which a host's seatable-server container stands in the graph. */
export const containerId = (host: string) => `container-${host}`;

/** Steps that each wait for the one before: a plain sequence. */
export function inSequence(steps: readonly Omit<HostStep, "after">[], first: readonly string[] = []): HostStep[] {
  return steps.map((step, i) => ({ ...step, after: i === 0 ? first : [steps[i - 1].id] }));
}

/**
 * The routing table the proxy runs, kept beside its config on dtable-web; only
 * a switch writes it, before its config goes live: a server that gave a bucket
 * away has restarted by then, so the table is never behind what servers hold.
 */
export const PROXY_ROUTING = `${PROXY_DIR}/routing.json`;
/** How to reach every dtable-server the proxy may route to, and those evicted as dead: `{servers, evicted}`. */
export const PROXY_SERVERS = `${PROXY_DIR}/servers.json`;
/** Present while the live config is a quarantine: the buckets and pinned bases that answer 503. */
export const PROXY_QUARANTINE = `${PROXY_DIR}/quarantine.json`;
/** `conf <sha256>` and `hosts <sha256>` of the files a step of this program installed (both while one replaces the other). */
export const PROXY_INSTALLED = `${PROXY_DIR}/installed`;
/** Held by the run that changes the cluster, from its first step until its verification passed. */
export const PROXY_LEASE = `${PROXY_DIR}/lease`;
/**
 * The lease line of the run whose final verification passed; the next run's
 * lease step removes it. While it names the run the stack's record names, the
 * record's container digests describe the hosts (start.ts).
 */
export const PROXY_VERIFIED = `${PROXY_DIR}/verified`;
/** `<step> <epoch seconds> <lease line>`: the last step that completed on dtable-web, and whose run it was. */
export const PROXY_PROGRESS = `${PROXY_DIR}/progress`;
/** On every other host a change touches: the lease line of the run that claimed the host after taking the lease. */
export const HOST_LEASE = `${COMPOSE_DIR}/seatable-cluster.lease`;

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** A base UUID that falls in `bucket` and is not pinned: for probing the proxy. */
export function probeUuid(table: RoutingTable, bucket: string): string {
  for (let n = 0; ; n++) {
    const hex = (bucket + n.toString(16).padStart(32 - bucket.length, "0")).slice(0, 32);
    const uuid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    if (!(uuid in table.pins)) return uuid;
  }
}

/**
 * The probe request for a base: routed by the proxy on the UUID in its query
 * string. Whatever a dtable-server answers (SeaTable does not document what
 * /ping/ does with a query string), the proxy's headers show which server it
 * chose and which address answered.
 */
export const probePath = (uuid: string) => `/ping/?dtable_uuid=${uuid}`;

/** One probe per server that owns a bucket or a pin: a base UUID the proxy must send to it. */
export function serverProbes(table: RoutingTable): { server: string; uuid: string }[] {
  return tableServers(table).flatMap((server) => {
    const bucket = allBuckets(table.bucketHexDigits).find((b) => table.buckets[b] === server);
    const pinned = Object.keys(table.pins).find((u) => table.pins[u] === server);
    const uuid = bucket !== undefined ? probeUuid(table, bucket) : pinned;
    // the default server may own nothing: requests without a UUID are all it gets
    return uuid === undefined ? [] : [{ server, uuid }];
  });
}

/** The proxy's files for a table: config, hosts file, and (for a switch) the table itself. */
export type ProxyFiles = { readonly conf: string; readonly hosts: string; readonly routing?: RoutingTable };

/** The proxy's files for the plan's table: what `up` converges on and `plan --out` writes. */
export function proxyFiles(plan: ClusterPlan): { conf: string; hosts: string } {
  const servers = plan.config.hosts.servers;
  return { conf: renderProxyConfig(plan.routing, servers.map((s) => s.name), plan.config.proxy), hosts: renderProxyHosts(servers) };
}

/** What the proxy on dtable-web runs, read before planning (live.ts); absent where a file is missing. */
export type LiveProxy = {
  /** sha256 of the config, hosts file and routing.json */
  readonly conf?: string;
  readonly hosts?: string;
  readonly routing?: string;
  /** routing.json itself, checked by the config's rules */
  readonly table?: RoutingTable;
  /** servers.json as read (checked against the config's rules in start.ts) */
  readonly servers?: unknown;
  /** what answers 503 now: the live config is a quarantine */
  readonly paused?: { readonly buckets: readonly string[]; readonly pins: readonly string[] };
  /** hashes of the files this program's steps installed */
  readonly installed?: { readonly conf: readonly string[]; readonly hosts: readonly string[] };
  readonly lease?: string;
  readonly leaseAgeSeconds?: number;
  /** the lease line of the run whose final verification passed, until the next run takes the lease */
  readonly verified?: string;
  readonly progress?: { readonly step: string; readonly agoSeconds: number; readonly run?: string };
  /** dtable-web's seatable-server and proxy containers as Docker shows them */
  readonly containers?: Readonly<Record<string, ContainerState>>;
};

/** Who changes the cluster: the stack and this run of the program. */
export type Run = { readonly stack: string; readonly id: string };

export const leaseLine = (run: Run) => `stack=${run.stack} run=${run.id}`;
/** What a lease line looks like, for reading one back. */
export const LEASE_LINE = /^stack=\S{1,200} run=\S{1,100}$/;

export type RolloutInput = {
  readonly plan: ClusterPlan;
  readonly stages: StagePlan;
  /** dtable-servers as last deployed */
  readonly previousServers: readonly ServerHost[];
  /** hashes of the proxy's config and hosts file recorded with the applied table */
  readonly recorded?: { readonly conf: string; readonly hosts: string };
  readonly run: Run;
  /** a container of dtable-web, dtable-db or a dtable-server is replaced in this `up` (the backup runs first) */
  readonly nodesChanging: boolean;
  /** dtable-servers evicted as dead, kept in servers.json until they are fenced */
  readonly evicted?: readonly ServerHost[];
  /** evicted servers that answer again: stopped before anything else changes */
  readonly fences?: readonly ServerHost[];
  /** hosts to claim besides those the rollout's own steps change (the nodes' own steps) */
  readonly claims?: readonly string[];
};

// ---- host scripts (hostscripts/*.sh) and their headers --------------------------------

const unique = (values: readonly string[]) => [...new Set(values)];

/** This run's lease line and where it is kept: lib/lease.sh. */
const leaseVars = (run: Run) => ({ LEASE: leaseLine(run), LEASE_FILE: PROXY_LEASE, HOST_LEASE_FILE: HOST_LEASE });

/** A step on dtable-web, and where it notes the last step done (lib/lease.sh, lib/done-step.sh). */
const webVars = (run: Run) => ({ ...leaseVars(run), PROGRESS_FILE: PROXY_PROGRESS });

/** And the probes through the proxy: lib/probe.sh. */
const proxyVars = (run: Run, port: number, webAddress: string) => ({ ...webVars(run), P: `http://${urlHost(webAddress)}:${port}`, SERVER_HEADER, UPSTREAM_HEADER });

/** Hashes of the files the guard lets a step replace; `routing`: tables that vouch for any file (no hashes recorded). */
type Allowed = { conf: string[]; hosts: string[]; routing?: string[] };

/**
 * lib/live-guard.sh: the live files must be ones this program installed, the
 * ones this stack recorded, or one of this run's own. start.ts refuses the same
 * before planning; this is the check on the host, at the moment of the change.
 */
const guardVars = (allowed: Allowed) => ({
  CONF_FILE: PROXY_CONFIG,
  HOSTS_FILE: PROXY_HOSTS,
  ROUTING_FILE: PROXY_ROUTING,
  INSTALLED_FILE: PROXY_INSTALLED,
  ALLOWED_CONF: unique(allowed.conf),
  ALLOWED_HOSTS: unique(allowed.hosts),
  // a stack recorded by an earlier version of this program has no file hashes: its table decides
  ALLOWED_ROUTING: unique(allowed.routing ?? []),
});

const PROXY_LIBS = ["progress", "probe", "lease", "done-step"] as const;

/**
 * The command that stops a step on `host` unless this run holds the lease
 * (dtable-web) or its claim (any other host, written right after the lease):
 * a run that lost the lease changes nothing more.
 */
export function leaseCheck(host: string, web: string, run: Run, what: string): string {
  return hostScript(["check-lease"], { ...leaseVars(run), ON_WEB: host === web ? "yes" : "no", WHAT: what }, ["lease"]);
}

/** The first step of a change: take the lease, after checking the live files and that evicted servers are down. */
function leaseStep(web: string, run: Run, allowed: Allowed, evicted: readonly ServerHost[]): Omit<HostStep, "after"> {
  return {
    id: "lease",
    host: web,
    title:
      `take the lease on dtable-web for this change (stack ${run.stack}); refuse if another run holds it or the proxy's live files are not this program's` +
      (evicted.length > 0 ? `, or if ${evicted.map((s) => s.name).join(", ")} (rollout.evict) answer on port ${PORTS.dtableServer} from dtable-web` : ""),
    command: hostScript(
      ["lease"],
      {
        ...webVars(run),
        D: PROXY_DIR,
        ...guardVars(allowed),
        VERIFIED_FILE: PROXY_VERIFIED,
        EVICTED: evicted.map((s) => `${s.name} ${s.address}`),
        DTABLE_SERVER_PORT: PORTS.dtableServer,
      },
      ["lease", "done-step", "live-guard"],
    ),
  };
}

const claimVars = (host: string, run: Run) => ({ HOST: host, COMPOSE_DIR, LEASE: leaseLine(run), HOST_LEASE_FILE: HOST_LEASE });

/** On a host other than dtable-web, right after the lease: this run's claim, which every later step there checks. */
function claimStep(host: string, run: Run): Omit<HostStep, "after"> {
  return {
    id: `claim-${host}`,
    host,
    title: `claim ${host} for this change (the lease on dtable-web is this run's): every later step on it checks the claim`,
    command: hostScript(["claim"], claimVars(host, run)),
  };
}

/** What a proxy step writes beside the config: servers.json, and a switch's table or a quarantine's paused set. */
type ProxyRecords = { readonly servers: readonly ServerHost[]; readonly evicted: readonly ServerHost[]; readonly paused?: { readonly buckets: readonly string[]; readonly pins: readonly string[] } };

export const serversJson = (servers: readonly ServerHost[], evicted: readonly ServerHost[]) => `${JSON.stringify({ servers, evicted })}\n`;

/** What the proxy must answer after a reload: for a base, the server it names, the address that answered ("*": any), the status ("*": any). */
type Expectation = { readonly uuid: string; readonly server: string; readonly upstream: string; readonly status: string };

/**
 * hostscripts/proxy-files.sh: the proxy's next files, checked against their
 * hashes and with `nginx -t` in the proxy's image, installed, and reloaded
 * when they changed. Only a switch (`files.routing`) installs a table.
 */
function proxyStep(
  id: string,
  web: string,
  title: string,
  input: RolloutInput,
  allowed: Allowed,
  files: ProxyFiles,
  records: ProxyRecords,
  expect: readonly Expectation[],
): Omit<HostStep, "after"> {
  const { config } = input.plan;
  return {
    id,
    host: web,
    title,
    command: hostScript(
      ["proxy-files"],
      {
        ...proxyVars(input.run, config.proxy.port, config.hosts.web.address),
        D: PROXY_DIR,
        ...guardVars(allowed),
        STEP: id,
        SERVERS_FILE: PROXY_SERVERS,
        QUARANTINE_FILE: PROXY_QUARANTINE,
        IMAGE: config.proxy.image,
        PROXY_CONTAINER,
        DIR_IN_CONTAINER: PROXY_DIR_IN_CONTAINER,
        HOSTS_TEXT: files.hosts,
        SERVERS_JSON: serversJson(records.servers, records.evicted),
        ROUTING_JSON: files.routing ? routingJson(files.routing) : "",
        PAUSED_JSON: records.paused ? JSON.stringify(records.paused) : "",
        CONF_SHA: sha256(files.conf),
        HOSTS_SHA: sha256(files.hosts),
        EXPECT: expect.map((e) => `${probePath(e.uuid)} ${e.server} ${e.upstream} ${e.status}`),
      },
      [...PROXY_LIBS, "live-guard"],
    ),
    stdin: files.conf,
  };
}

/** The seatable-server container of a dtable-server and how long a stop waits: lib/wait-ping.sh and the steps that stop it. */
const serverVars = (id: string, server: string, run: Run) => ({ ...leaseVars(run), STEP: id, SERVER: server, CONTAINER: SEATABLE_CONTAINER });

/** `docker restart` (or stop) of a dtable-server, then wait for its /ping/; no claim that a stop saves. */
function downStep(id: string, server: string, stop: boolean, stopTimeout: number, run: Run): Omit<HostStep, "after"> {
  return {
    id,
    host: server,
    title: stop
      ? `stop ${server}: it leaves the cluster (its buckets answer 503 meanwhile)`
      : `restart ${server} so that it drops every base it holds (its buckets answer 503 meanwhile), and wait for /ping/`,
    command: stop
      ? hostScript(["stop"], { ...serverVars(id, server, run), STOP_TIMEOUT: stopTimeout }, ["lease"])
      : hostScript(["restart"], { ...serverVars(id, server, run), STOP_TIMEOUT: stopTimeout, DTABLE_SERVER_PORT: PORTS.dtableServer }, ["progress", "lease", "wait-ping"]),
  };
}

/** Where a staged server's host keeps its container's identity from before its stage went live. */
export const BEFORE_STAGE = `${COMPOSE_DIR}/seatable-cluster.before-stage`;

/**
 * hostscripts/mark.sh: once its stage's quarantine is live, before Pulumi
 * touches its container, which container runs on the server, and since when.
 */
function markStep(id: string, server: string, run: Run): Omit<HostStep, "after"> {
  return {
    id,
    host: server,
    title: `note which ${SEATABLE_CONTAINER} runs on ${server} now that its stage's quarantine is live`,
    command: hostScript(["mark"], { ...serverVars(id, server, run), BEFORE_STAGE_FILE: BEFORE_STAGE }, ["lease"]),
  };
}

/** hostscripts/restarted.sh: the server started since the mark, or it is restarted inside the quarantine. */
function restartedStep(id: string, server: string, stopTimeout: number, run: Run): Omit<HostStep, "after"> {
  return {
    id,
    host: server,
    title: `check on ${server} that ${SEATABLE_CONTAINER} started after its stage's quarantine went live; restart it if not`,
    command: hostScript(
      ["restarted"],
      { ...serverVars(id, server, run), STOP_TIMEOUT: stopTimeout, DTABLE_SERVER_PORT: PORTS.dtableServer, BEFORE_STAGE_FILE: BEFORE_STAGE },
      ["progress", "lease", "wait-ping"],
    ),
  };
}

/** hostscripts/fence.sh, after the claim: an evicted server that answers again is killed without a save and kept stopped. */
function fenceStep(server: string, run: Run): Omit<HostStep, "after"> {
  return {
    id: `fence-${server}`,
    host: server,
    title: `fence ${server}: it was evicted as dead and answers again; kill its ${SEATABLE_CONTAINER} without a save and keep it from starting`,
    command: hostScript(["claim", "fence"], { ...claimVars(server, run), CONTAINER: SEATABLE_CONTAINER }),
  };
}

/** How nginx writes the address it connected to for a dtable-server ($upstream_addr). */
const upstreamOf = (address: string) => `${urlHost(address)}:${PORTS.dtableServer}`;

/**
 * hostscripts/verify.sh: every server answers, the proxy runs `conf`, and a
 * base of each server's buckets reaches that server. `release`: the change is
 * done, drop the lease.
 */
function verifyStep(id: string, input: RolloutInput, table: RoutingTable, conf: string, addresses: ReadonlyMap<string, string>, release: boolean): Omit<HostStep, "after"> {
  const { config } = input.plan;
  const web = config.hosts.web;
  return {
    id,
    host: web.name,
    title: `verify: every server answers, the proxy runs the new config and sends each server's buckets to it${release ? "; release the lease" : ""}`,
    command: hostScript(
      ["verify"],
      {
        ...proxyVars(input.run, config.proxy.port, web.address),
        STEP: id,
        CONF_FILE: PROXY_CONFIG,
        CONF_SHA: sha256(conf),
        WEB_PING: `http://${urlHost(web.address)}:${PORTS.dtableWeb}/api2/ping/`,
        WEB_PORT: PORTS.dtableWeb,
        SERVERS: config.hosts.servers.map((s) => `${s.name} ${upstreamOf(s.address)}`),
        DEFAULT_SERVER: table.default,
        DEFAULT_UPSTREAM: upstreamOf(addresses.get(table.default) ?? ""),
        PROBES: serverProbes(table).map((p) => `${p.server} ${p.uuid} ${probePath(p.uuid)} ${upstreamOf(addresses.get(p.server) ?? "")}`),
        RELEASE: release ? "yes" : "no",
        VERIFIED_FILE: PROXY_VERIFIED,
      },
      PROXY_LIBS,
    ),
  };
}

/**
 * The rollout steps of a change: lease, backup, then per stage quarantine →
 * restart/stop → switch → verify, or one switch and verify without stages.
 * `after` may name `pulled` (every image pulled), `container-<host>` and
 * `ready-<host>` (a node's container with its conf edits): the graph in
 * pure/plan/graph.ts places the containers.
 */
export function rolloutSteps(input: RolloutInput): HostStep[] {
  const { plan, stages: { stages }, run } = input;
  const { config } = plan;
  const web = config.hosts.web.name;
  const reach = (s: ServerHost): ServerHost => ({ name: s.name, address: s.address, ssh: { ...s.ssh } });
  const current = config.hosts.servers.map(reach);
  const leaving = input.previousServers.filter((s) => !current.some((c) => c.name === s.name)).map(reach);
  const addresses = new Map([...leaving, ...current].map((s) => [s.name, s.address]));
  const final = proxyFiles(plan);
  const allNames = [...current.map((s) => s.name), ...leaving.map((s) => s.name)];
  const hostsDuring = renderProxyHosts([...current, ...leaving]);
  const evictedHere = stages.flatMap((st) => st.servers.filter((s) => s.action === "evict")).map((s) => leaving.find((l) => l.name === s.name)!);
  const fenced = new Set((input.fences ?? []).map((f) => f.name));
  // kept in servers.json until fenced: a host that comes back is stopped first
  const evicted = evictedAfter(input);
  const during = { servers: [...current, ...leaving.filter((l) => !evictedHere.includes(l))], evicted };

  // every config and hosts file this run installs, for the guard
  const quarantines = stages.map((stage) => renderProxyConfig(stage.before, allNames, config.proxy, stage.paused));
  const switches = stages.map((stage, i) => (i === stages.length - 1 ? final.conf : renderProxyConfig(stage.after, allNames, config.proxy)));
  const allowed: Allowed = {
    conf: [...(input.recorded ? [input.recorded.conf] : []), ...[...quarantines, ...switches, final.conf].map(sha256)],
    hosts: [...(input.recorded ? [input.recorded.hosts] : []), ...[hostsDuring, final.hosts].map(sha256)],
    // recorded by an earlier version of this program: the proxy must run the table applied last (or this run's)
    ...(!input.recorded && plan.previous
      ? { routing: [plan.previous, refineTable(plan.previous, plan.routing.bucketHexDigits), ...stages.map((st) => st.after), plan.routing].map((t) => sha256(routingJson(t))) }
      : {}),
  };
  const probesOf = (table: RoutingTable): Expectation[] => serverProbes(table).map((p) => ({ uuid: p.uuid, server: p.server, upstream: upstreamOf(addresses.get(p.server) ?? ""), status: "*" }));

  const steps: HostStep[] = [{ ...leaseStep(web, run, allowed, evictedHere), after: [] }];
  // an evicted server that answers again is stopped before anything else changes
  const fences = (input.fences ?? []).map((f) => ({ ...fenceStep(f.name, run), after: ["lease"] }));
  steps.push(...fences);
  const first = ["lease", ...fences.map((f) => f.id)];
  // every other host a rollout step changes is claimed first, so that a run that lost the lease stops there too
  const backupHost = config.rollout.backup && (stages.length > 0 || input.nodesChanging) ? config.rollout.backup.host : undefined;
  const touched = [...new Set([...(input.claims ?? []), ...(backupHost ? [backupHost] : []), ...stages.flatMap((st) => st.servers.filter((s) => s.action !== "evict").map((s) => s.name))])].filter(
    (h) => h !== web && !fenced.has(h),
  );
  for (const h of touched) steps.push({ ...claimStep(h, run), after: [...first] });
  const claimOf = (host: string) => (host === web || fenced.has(host) ? first : [`claim-${host}`]);
  let gate = first;
  if (backupHost && config.rollout.backup) {
    steps.push({
      id: "backup",
      host: backupHost,
      title: `back up before the first container stops (rollout.backup on ${backupHost}); a failure stops the change`,
      // a secret command arrives on stdin, never in the command text (nor in the state's plain inputs)
      command: [leaseCheck(backupHost, web, run, "backup"), config.rollout.backup.command ?? "sh -s"].join("\n"),
      ...(config.rollout.backup.commandSecret !== undefined ? { secretStdin: `${ENVIRONMENT_SECRETS}.${config.rollout.backup.commandSecret}` as const } : {}),
      after: [...new Set([...first, ...claimOf(backupHost), "pulled"])],
    });
    gate = ["backup"];
  } else if (touched.length > 0) gate = [...first, ...touched.map((h) => `claim-${h}`)];
  let previousStep = "ready-all";
  stages.forEach((stage, i) => {
    const k = `stage-${stage.index}`;
    const last = i === stages.length - 1;
    const quarantineProbe = stage.paused.buckets[0] !== undefined ? probeUuid(stage.before, stage.paused.buckets[0]) : stage.paused.pins[0];
    steps.push({
      ...proxyStep(`${k}-quarantine`, web, stageTitle(stage), input, allowed, { conf: quarantines[i], hosts: hostsDuring }, { ...during, paused: stage.paused }, quarantineProbe ? [{ uuid: quarantineProbe, server: QUARANTINE, upstream: "-", status: "503" }] : []),
      after: [previousStep, ...gate],
    });
    const downs: string[] = [];
    for (const s of stage.servers) {
      if (s.action === "restart" || s.action === "stop") {
        const id = `${k}-${s.action}-${s.name}`;
        // a server that stays restarts after its own node's steps (they may restart or start it too), never beside them
        const node = current.some((c) => c.name === s.name) ? [`ready-${s.name}`] : [];
        steps.push({ ...downStep(id, s.name, s.action === "stop", config.stopTimeoutSeconds, run), after: [`${k}-quarantine`, ...claimOf(s.name), ...node] });
        downs.push(id);
      } else if (s.action === "replace") {
        // whatever Pulumi decides for the container, the server is shown to have started inside the quarantine
        steps.push({ ...markStep(`${k}-mark-${s.name}`, s.name, run), after: [`${k}-quarantine`, ...claimOf(s.name)] });
        steps.push({ ...restartedStep(`${k}-restarted-${s.name}`, s.name, config.stopTimeoutSeconds, run), after: [`ready-${s.name}`] });
        downs.push(`${k}-restarted-${s.name}`);
      }
    }
    const files: ProxyFiles = last ? { ...final, routing: plan.routing } : { conf: switches[i], hosts: hostsDuring, routing: stage.after };
    const records = last ? { servers: current, evicted } : during;
    steps.push({
      ...proxyStep(`${k}-switch`, web, `stage ${stage.index}: reload the proxy with the table after this stage${last ? " (the new table)" : ""}`, input, allowed, files, records, probesOf(stage.after)),
      after: [`${k}-quarantine`, ...downs],
    });
    steps.push({ ...verifyStep(`${k}-verify`, input, stage.after, files.conf, addresses, last), after: [`${k}-switch`, ...(last ? ["proxy"] : [])] });
    previousStep = `${k}-verify`;
  });
  if (stages.length === 0) {
    steps.push({
      ...proxyStep("switch", web, "put the proxy's config, hosts file and table in place (reload only if they changed)", input, allowed, { ...final, routing: plan.routing }, { servers: current, evicted }, probesOf(plan.routing)),
      after: ["ready-all", ...gate],
    });
    steps.push({ ...verifyStep("verify", input, plan.routing, final.conf, addresses, true), after: ["switch", "proxy"] });
  }
  return steps;
}

/** The dtable-servers a verified `up` leaves evicted (recorded until fenced): for the stack's record. */
export function evictedAfter(input: Pick<RolloutInput, "stages" | "previousServers" | "evicted" | "fences">): ServerHost[] {
  const fenced = new Set((input.fences ?? []).map((f) => f.name));
  const here = input.stages.stages.flatMap((st) => st.servers.filter((s) => s.action === "evict")).flatMap((s) => input.previousServers.filter((p) => p.name === s.name));
  return [...(input.evicted ?? []).filter((e) => !fenced.has(e.name) && !here.some((h) => h.name === e.name)), ...here].map((s) => ({ name: s.name, address: s.address, ssh: { ...s.ssh } }));
}

function stageTitle(stage: Stage): string {
  const who = stage.servers.map((s) => `${s.name} (${s.action}: ${s.why})`).join(", ");
  return `stage ${stage.index}: quarantine ${stage.paused.buckets.length} bucket(s) and ${stage.paused.pins.length} pinned base(s) (503 with Retry-After) for ${who}`;
}
