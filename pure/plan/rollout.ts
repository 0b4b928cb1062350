// The commands of a change to a running cluster (design, "Changing a running
// cluster", fixed order): per stage quarantine → restart or stop → switch →
// verify, inside a lease on dtable-web, after the new images are pulled and an
// optional backup. Containers that Pulumi replaces take their place in this
// graph: a step may wait for `container-<host>`, and a container for steps.
import { createHash } from "node:crypto";
import { PORTS, SshTarget } from "../config/schema";
import { allBuckets, routingJson } from "../config/routing-file";
import { urlHost } from "../config/values";
import { renderProxyConfig, renderProxyHosts, QUARANTINE, SERVER_HEADER, tableServers, UPSTREAM_HEADER } from "./nginx";
import { COMPOSE_DIR, PROXY_CONFIG, PROXY_CONTAINER, PROXY_DIR, PROXY_DIR_IN_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "./containers";
import type { ClusterPlan } from "./index";
import { refineTable, RoutingTable } from "./routing";
import { shellQuote } from "./seatable";
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

// ---- shell --------------------------------------------------------------------------

/**
 * Probes from dtable-web itself with its python3 (a prerequisite there): the
 * status and the proxy's two headers, for any answer (busybox wget in the
 * proxy's image shows headers of 2xx answers only).
 */
const PROBE = [
  "probe() { python3 - \"$1\" <<'PY'",
  "import sys, urllib.request, urllib.error",
  "try:",
  "    r = urllib.request.urlopen(sys.argv[1], timeout=5)",
  "except urllib.error.HTTPError as e:",
  "    r = e",
  "except Exception:",
  "    print('000 - -'); sys.exit(0)",
  `print(r.status, r.headers.get('${SERVER_HEADER}') or '-', r.headers.get('${UPSTREAM_HEADER}') or '-')`,
  "PY",
  "}",
];

/** `progress START WHAT`: a line every 10 s, so that no SSH session is silent long enough for a NAT to drop it. */
export const PROGRESS = [`progress() { n=$(( $(date +%s) - $1 )); if [ $(( n - \${last:-0} )) -ge 10 ]; then last=$n; echo "still waiting for $2 ($n s)"; fi; }`];

function proxyShell(run: Run, port: number, webAddress: string): string[] {
  return [
    "set -eu",
    `D=${PROXY_DIR}`,
    `P=http://${urlHost(webAddress)}:${port}`,
    `LEASE=${shellQuote(leaseLine(run))}`,
    ...PROBE,
    ...PROGRESS,
    // answers URL SERVER UPSTREAM STATUS: the proxy chose SERVER, and UPSTREAM (or "*") answered with STATUS (or "*")
    `done_step() { printf '%s %s %s\\n' "$1" "$(date +%s)" "$LEASE" > ${PROXY_PROGRESS}; }`,
    `answers() { r=$(probe "$1"); st=\${r%% *}; rest=\${r#* }; sv=\${rest%% *}; up=\${rest#* }; [ "$sv" = "$2" ] && { [ "$3" = "*" ] || [ "$up" = "$3" ]; } && { [ "$4" = "*" ] || [ "$st" = "$4" ]; }; }`,
    `wait_answers() { t0=$(date +%s); until answers "$1" "$2" "$3" "$4"; do if [ $(( $(date +%s) - t0 )) -ge "$5" ]; then echo "the proxy did not answer $1 from $2 ($3, status $4) within $5 s; last answer: $(probe "$1")" >&2; exit 1; fi; progress "$t0" "$1"; sleep 0.2; done; }`,
  ];
}

/** How nginx writes the address it connected to for a dtable-server ($upstream_addr). */
const upstreamOf = (address: string) => `${urlHost(address)}:${PORTS.dtableServer}`;

/**
 * The live files must be ones this program installed (the proxy's own record,
 * PROXY_INSTALLED), the ones this stack recorded, or one of this run's own: a
 * hand edit or another tool would otherwise have the next reload open a base
 * on a second server. start.ts refuses the same before planning; this is the
 * check on the host, at the moment of the change.
 */
function liveGuard(allowed: Allowed): string[] {
  const refuse = (file: string, what: string) =>
    `echo "the proxy's ${what} (${file}) is not one this program installed (${PROXY_INSTALLED}), nor the one this stack recorded, nor one this run writes: it was edited by hand or another tool or stack manages this host. Nothing was changed. Undo the edit (routing.json says what the installed config routes), restart every dtable-server the edited file sent a base to that routing.json gives to another server, and run pulumi up again." >&2; exit 1`;
  // a stack recorded by an earlier version of this program has no file hashes: its table decides
  const otherwise = (file: string, what: string) => (allowed.routing ? `routing_recorded || { ${refuse(file, what)}; }` : refuse(file, what));
  const check = (file: string, key: "conf" | "hosts", hashes: readonly string[], what: string) => [
    `if [ -e ${file} ]; then`,
    `  h=$(sha256sum < ${file} | cut -c1-64)`,
    `  case "$h" in`,
    `    ${[...new Set(hashes)].join("|")}) ;;`,
    `    *) installed ${key} "$h" || { ${otherwise(file, what)}; } ;;`,
    "  esac",
    "fi",
  ];
  return [
    `installed() { [ -e ${PROXY_INSTALLED} ] && grep -qx "$1 $2" ${PROXY_INSTALLED}; }`,
    ...(allowed.routing
      ? [`routing_recorded() { [ -e ${PROXY_ROUTING} ] && case "$(sha256sum < ${PROXY_ROUTING} | cut -c1-64)" in ${[...new Set(allowed.routing)].join("|")}) true ;; *) false ;; esac; }`]
      : []),
    ...check(PROXY_CONFIG, "conf", allowed.conf, "config"),
    ...check(PROXY_HOSTS, "hosts", allowed.hosts, "hosts file"),
  ];
}

const holdsLease = (what: string) => [
  `if [ "$(cat ${PROXY_LEASE} 2>/dev/null)" != "$LEASE" ]; then echo "${what}: this run does not hold the lease ${PROXY_LEASE} (it holds: $(cat ${PROXY_LEASE} 2>/dev/null || echo nothing)); another run took over or the lease was removed by hand. Nothing was changed." >&2; exit 1; fi`,
];

/**
 * On a host other than dtable-web: the claim this run wrote there after it
 * took the lease. A run that lost the lease (removed by hand, another run took
 * over and claimed the host) changes nothing more on it.
 */
export function holdsClaim(run: Run, what: string): string[] {
  return [
    `LEASE=${shellQuote(leaseLine(run))}`,
    `if [ "$(cat ${HOST_LEASE} 2>/dev/null)" != "$LEASE" ]; then echo "${what}: this run does not hold the lease on this host (${HOST_LEASE} holds: $(cat ${HOST_LEASE} 2>/dev/null || echo nothing)); another run took over. Nothing was changed." >&2; exit 1; fi`,
  ];
}

/** The lines that stop a step on `host` unless this run holds the lease (dtable-web) or its claim (any other host). */
export function leaseCheck(host: string, web: string, run: Run, what: string): string[] {
  return host === web ? [`LEASE=${shellQuote(leaseLine(run))}`, ...holdsLease(what)] : holdsClaim(run, what);
}

/**
 * From dtable-web, the proxy's own vantage: an evicted server's port 5000 must
 * not answer, or it is not dead and may hold bases.
 */
function evictCheck(evicted: readonly ServerHost[]): string[] {
  if (evicted.length === 0) return [];
  return [
    `connects() { python3 -c 'import socket, sys; a = sys.argv[1]; s = socket.socket(socket.AF_INET6 if ":" in a else socket.AF_INET); s.settimeout(3); sys.exit(0 if s.connect_ex((a, int(sys.argv[2]))) == 0 else 1)' "$1" "$2"; }`,
    ...evicted.map(
      (s) =>
        `if connects ${shellQuote(s.address)} ${PORTS.dtableServer}; then echo "${s.name} (${s.address}) answers on port ${PORTS.dtableServer} from dtable-web: it runs and may hold bases, so it cannot be evicted. Nothing was changed. Remove it from rollout.evict: pulumi up then stops it before its buckets move." >&2; exit 1; fi`,
    ),
    `echo "${evicted.map((s) => s.name).join(", ")} (rollout.evict): no answer on port ${PORTS.dtableServer} from dtable-web"`,
  ];
}

/** The first step of a change: take the lease, after checking the live files and that evicted servers are down. */
function leaseStep(web: string, run: Run, input: RolloutInput, allowed: Allowed, evicted: readonly ServerHost[]): Omit<HostStep, "after"> {
  const { config } = input.plan;
  return {
    id: "lease",
    host: web,
    title:
      `take the lease on dtable-web for this change (stack ${run.stack}); refuse if another run holds it or the proxy's live files are not this program's` +
      (evicted.length > 0 ? `, or if ${evicted.map((s) => s.name).join(", ")} (rollout.evict) answer on port ${PORTS.dtableServer} from dtable-web` : ""),
    command: [
      ...proxyShell(run, config.proxy.port, config.hosts.web.address),
      `[ -d "$D" ] || install -d -m 755 "$D"`,
      // checked before the lease is taken: a refusal leaves the host as it was
      ...liveGuard(allowed),
      ...evictCheck(evicted),
      `if ! ( set -C; printf '%s\\n' "$LEASE" > ${PROXY_LEASE} ) 2>/dev/null && [ "$(cat ${PROXY_LEASE})" != "$LEASE" ]; then`,
      `  echo "another change holds the lease ${PROXY_LEASE} on dtable-web: $(cat ${PROXY_LEASE}). If that pulumi up is still running, wait for it. If it stopped, remove the lease (rm ${PROXY_LEASE} on dtable-web) and run pulumi up again: it starts from what the proxy runs." >&2`,
      "  exit 1",
      "fi",
      // from here until this run's final verification, the hosts may differ from any record
      `rm -f ${PROXY_VERIFIED}`,
      "done_step lease",
      `echo "lease taken: $LEASE"`,
    ].join("\n"),
  };
}

/** On a host other than dtable-web, right after the lease: this run's claim, which every later step there checks. */
function claimStep(host: string, run: Run): Omit<HostStep, "after"> {
  return {
    id: `claim-${host}`,
    host,
    title: `claim ${host} for this change (the lease on dtable-web is this run's): every later step on it checks the claim`,
    command: ["set -eu", `install -d -m 755 ${COMPOSE_DIR}`, `printf '%s\\n' ${shellQuote(leaseLine(run))} > ${HOST_LEASE}.next`, `mv -f ${HOST_LEASE}.next ${HOST_LEASE}`, `echo "claimed ${host}: ${leaseLine(run)}"`].join("\n"),
  };
}

/** Hashes of the files the guard lets a step replace; `routing`: tables that vouch for any file (no hashes recorded). */
type Allowed = { conf: string[]; hosts: string[]; routing?: string[] };

/** What a proxy step writes beside the config: servers.json, and a switch's table or a quarantine's paused set. */
type ProxyRecords = { readonly servers: readonly ServerHost[]; readonly evicted: readonly ServerHost[]; readonly paused?: { readonly buckets: readonly string[]; readonly pins: readonly string[] } };

export const serversJson = (servers: readonly ServerHost[], evicted: readonly ServerHost[]) => `${JSON.stringify({ servers, evicted })}\n`;

/**
 * Writes the proxy's next files into a private folder, checks them against
 * their hashes (a cut-off upload never goes live) and with `nginx -t` in the
 * proxy's image, installs them, and reloads the proxy when they changed. Only a
 * switch (`files.routing`) installs a table, and it does so before its config
 * goes live; a quarantine leaves quarantine.json, which its switch removes.
 * PROXY_INSTALLED names both the old and the new files until the new ones
 * answer. A marker survives a failed reload, so that running the step again
 * reloads.
 */
function proxyStep(
  id: string,
  web: string,
  title: string,
  input: RolloutInput,
  allowed: Allowed,
  files: ProxyFiles,
  records: ProxyRecords,
  expect: readonly { uuid: string; server: string; upstream?: string }[],
): Omit<HostStep, "after"> {
  const { config } = input.plan;
  const image = config.proxy.image;
  const routing = files.routing ? routingJson(files.routing) : undefined;
  const conf = sha256(files.conf);
  const hosts = sha256(files.hosts);
  return {
    id,
    host: web,
    title,
    command: [
      ...proxyShell(input.run, config.proxy.port, config.hosts.web.address),
      ...holdsLease(id),
      ...liveGuard(allowed),
      'T=$(mktemp -d "$D/.incoming.XXXXXX")',
      "trap 'rm -rf \"$T\"' EXIT",
      `cat > "$T/nginx-proxy.conf"`,
      `printf %s ${shellQuote(files.hosts)} > "$T/hosts"`,
      `printf %s ${shellQuote(serversJson(records.servers, records.evicted))} > "$T/servers.json"`,
      ...(routing ? [`printf %s ${shellQuote(routing)} > "$T/routing.json"`] : []),
      ...(records.paused ? [`printf '%s\\n' ${shellQuote(JSON.stringify(records.paused))} > "$T/quarantine.json"`] : []),
      `[ "$(sha256sum < "$T/nginx-proxy.conf" | cut -c1-64)" = ${conf} ] || { echo "the uploaded config is not the one this step rendered (cut off?); nothing changed" >&2; exit 1; }`,
      `[ "$(sha256sum < "$T/hosts" | cut -c1-64)" = ${hosts} ] || { echo "the hosts file is not the one this step rendered; nothing changed" >&2; exit 1; }`,
      // a failed test leaves the running proxy alone and fails with nginx's message
      `docker run --rm --network none -v "$T":${PROXY_DIR_IN_CONTAINER}:ro -v "$T/hosts":/etc/hosts:ro ${shellQuote(image)} nginx -t -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`,
      `if ! cmp -s "$T/nginx-proxy.conf" ${PROXY_CONFIG} || ! cmp -s "$T/hosts" ${PROXY_HOSTS}; then touch "$D/reload-pending"; fi`,
      // the files about to go live, beside those live now: a step cut off in between leaves both known
      `{ for f in ${PROXY_CONFIG}:conf ${PROXY_HOSTS}:hosts; do [ -e "\${f%:*}" ] && echo "\${f#*:} $(sha256sum < "\${f%:*}" | cut -c1-64)"; done; echo "conf ${conf}"; echo "hosts ${hosts}"; } > "$T/installed"`,
      `mv -f "$T/installed" ${PROXY_INSTALLED}`,
      `mv -f "$T/servers.json" ${PROXY_SERVERS}`,
      ...(routing ? [`mv -f "$T/routing.json" ${PROXY_ROUTING}`] : []),
      ...(records.paused ? [`mv -f "$T/quarantine.json" ${PROXY_QUARANTINE}`] : []),
      // in place: the container mounts this one file
      `cat "$T/hosts" > ${PROXY_HOSTS}`,
      `mv -f "$T/nginx-proxy.conf" ${PROXY_CONFIG}`,
      `if [ -e "$D/reload-pending" ] && [ "$(docker inspect -f '{{.State.Running}}' ${PROXY_CONTAINER} 2>/dev/null)" = true ]; then`,
      `  docker exec ${PROXY_CONTAINER} nginx -s reload -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`,
      ...expect.map((e) =>
        e.server === QUARANTINE
          ? `  wait_answers "$P${probePath(e.uuid)}" ${QUARANTINE} - 503 60`
          : `  wait_answers "$P${probePath(e.uuid)}" ${shellQuote(e.server)} ${shellQuote(e.upstream ?? "*")} "*" 60`,
      ),
      "fi",
      'rm -f "$D/reload-pending"',
      ...(records.paused ? [] : [`rm -f ${PROXY_QUARANTINE}`]),
      `printf 'conf %s\\nhosts %s\\n' ${conf} ${hosts} > "$D/.installed.next" && mv -f "$D/.installed.next" ${PROXY_INSTALLED}`,
      `done_step ${id}`,
      `echo "the proxy runs ${id}: config ${conf.slice(0, 12)}, hosts ${hosts.slice(0, 12)}"`,
    ].join("\n"),
    stdin: files.conf,
  };
}

/** Waits until the host's dtable-server answers /ping/ again (after a restart or a start). */
export const waitPing = (server: string) => [
  "t0=$(date +%s)",
  `until docker exec ${SEATABLE_CONTAINER} curl -fsS -m 5 http://127.0.0.1:${PORTS.dtableServer}/ping/ >/dev/null 2>&1; do`,
  `  if [ $(( $(date +%s) - t0 )) -ge 600 ]; then echo "${server} did not answer /ping/ within 600 s of its restart" >&2; exit 1; fi`,
  `  progress "$t0" "${server} to answer /ping/"; sleep 2`,
  "done",
  `echo "${server} answers /ping/ again"`,
];

const exists = `docker inspect -f '{{.State.Running}}' ${SEATABLE_CONTAINER} >/dev/null 2>&1`;

/** `docker restart` (or stop) of a dtable-server, then wait for its /ping/; no claim that a stop saves. */
function downStep(id: string, server: string, stop: boolean, stopTimeout: number, run: Run): Omit<HostStep, "after"> {
  return {
    id,
    host: server,
    title: stop
      ? `stop ${server}: it leaves the cluster (its buckets answer 503 meanwhile)`
      : `restart ${server} so that it drops every base it holds (its buckets answer 503 meanwhile), and wait for /ping/`,
    command: [
      "set -eu",
      ...holdsClaim(run, id),
      ...PROGRESS,
      // SIGTERM, SIGKILL after the timeout. Whether dtable-server saves on SIGTERM is not
      // documented; what it has not saved is replayed from the operation log on the next load.
      ...(stop
        ? [
            // a server added by an up that stopped before its container was made has none
            `if ${exists}; then docker stop -t ${stopTimeout} ${SEATABLE_CONTAINER} >/dev/null; echo "stopped ${server}"; else echo "${server} has no ${SEATABLE_CONTAINER} container: nothing to stop"; fi`,
          ]
        : [`docker restart -t ${stopTimeout} ${SEATABLE_CONTAINER} >/dev/null`, ...waitPing(server)]),
    ].join("\n"),
  };
}

/** Where a staged server's host keeps its container's identity from before its stage went live. */
export const BEFORE_STAGE = `${COMPOSE_DIR}/seatable-cluster.before-stage`;
const identity = `docker inspect -f '{{.Id}} {{.State.StartedAt}}' ${SEATABLE_CONTAINER}`;

/**
 * Once its stage's quarantine is live, before Pulumi touches its container:
 * which container runs on the server, and since when.
 */
function markStep(id: string, server: string, run: Run): Omit<HostStep, "after"> {
  return {
    id,
    host: server,
    title: `note which ${SEATABLE_CONTAINER} runs on ${server} now that its stage's quarantine is live`,
    command: [
      "set -eu",
      ...holdsClaim(run, id),
      // no container yet: whatever runs later started after the quarantine
      `${identity} > ${BEFORE_STAGE}.next 2>/dev/null || : > ${BEFORE_STAGE}.next`,
      `mv -f ${BEFORE_STAGE}.next ${BEFORE_STAGE}`,
      `echo "${server} before its stage: $(cat ${BEFORE_STAGE})"`,
    ].join("\n"),
  };
}

/**
 * After Pulumi's step for the container: the server must have started since
 * the mark, whether Pulumi replaced the container, updated it in place or
 * found nothing to change. If it did not, it is restarted here, inside the
 * quarantine, so that it holds no base it is about to give away.
 */
function restartedStep(id: string, server: string, stopTimeout: number, run: Run): Omit<HostStep, "after"> {
  return {
    id,
    host: server,
    title: `check on ${server} that ${SEATABLE_CONTAINER} started after its stage's quarantine went live; restart it if not`,
    command: [
      "set -eu",
      ...holdsClaim(run, id),
      ...PROGRESS,
      `now=$(${identity})`,
      `if [ -s ${BEFORE_STAGE} ] && [ "$now" = "$(cat ${BEFORE_STAGE})" ]; then`,
      `  echo "${SEATABLE_CONTAINER} on ${server} has run since before its stage's quarantine (Pulumi did not replace it): restarting it inside the quarantine"`,
      `  docker restart -t ${stopTimeout} ${SEATABLE_CONTAINER} >/dev/null`,
      "else",
      `  echo "${SEATABLE_CONTAINER} on ${server} started after its stage's quarantine went live"`,
      "fi",
      ...waitPing(server),
    ].join("\n"),
  };
}

/**
 * An evicted server whose host answers again may still hold bases that live
 * elsewhere now: killed before anything else changes (SIGKILL: a save of its
 * stale copies would overwrite newer ones), and kept from starting again.
 */
function fenceStep(server: string, run: Run): Omit<HostStep, "after"> {
  return {
    id: `fence-${server}`,
    host: server,
    title: `fence ${server}: it was evicted as dead and answers again; kill its ${SEATABLE_CONTAINER} without a save and keep it from starting`,
    command: [
      ...claimStep(server, run).command.split("\n"),
      `if [ "$(docker inspect -f '{{.State.Running}}' ${SEATABLE_CONTAINER} 2>/dev/null)" = true ]; then docker kill ${SEATABLE_CONTAINER} >/dev/null; echo "killed ${SEATABLE_CONTAINER} on ${server}"; fi`,
      `if ${exists}; then docker update --restart=no ${SEATABLE_CONTAINER} >/dev/null; echo "${SEATABLE_CONTAINER} on ${server} stays stopped (restart policy no)"; else echo "${server} has no ${SEATABLE_CONTAINER} container"; fi`,
    ].join("\n"),
  };
}

/**
 * Every server answers; the proxy runs `conf`; and a base of each server's
 * buckets reaches that server: the proxy names it and the answer came from its
 * address, whatever the status. `release`: the change is done, drop the lease.
 */
function verifyStep(id: string, input: RolloutInput, table: RoutingTable, conf: string, addresses: ReadonlyMap<string, string>, release: boolean): Omit<HostStep, "after"> {
  const { config } = input.plan;
  const web = config.hosts.web;
  const checks = [
    `check "the proxy runs this step's config" "$(sha256sum < ${PROXY_CONFIG} | cut -c1-64)" ${sha256(conf)}`,
    ...config.hosts.servers.map((s) => `check "${s.name} answers /ping/ directly" "$(probe http://${upstreamOf(s.address)}/ping/ | cut -d' ' -f1)" 200`),
    `check "dtable-web answers /api2/ping/ on ${PORTS.dtableWeb}" "$(probe http://${urlHost(web.address)}:${PORTS.dtableWeb}/api2/ping/ | cut -d' ' -f1)" 200`,
    `check "the proxy sends requests without a base to ${table.default}" "$(answers "$P/ping/" ${shellQuote(table.default)} ${shellQuote(upstreamOf(addresses.get(table.default) ?? ""))} "*" && echo yes)" yes`,
    ...serverProbes(table).map(
      (p) => `check "a base of ${p.server} (${p.uuid}) reaches ${p.server} through the proxy" "$(answers "$P${probePath(p.uuid)}" ${shellQuote(p.server)} ${shellQuote(upstreamOf(addresses.get(p.server) ?? ""))} "*" && echo yes)" yes`,
    ),
  ];
  return {
    id,
    host: web.name,
    title: `verify: every server answers, the proxy runs the new config and sends each server's buckets to it${release ? "; release the lease" : ""}`,
    command: [
      ...proxyShell(input.run, config.proxy.port, web.address),
      ...holdsLease(id),
      "failed=0",
      `check() { if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1 (got '$2', expected '$3')" >&2; failed=1; fi; }`,
      ...checks,
      '[ "$failed" = 0 ]',
      `done_step ${id}`,
      // only this run's own lease: checked again right before it goes
      ...(release ? [...holdsLease(id), `printf '%s\\n' "$LEASE" > ${PROXY_VERIFIED}`, `rm -f ${PROXY_LEASE}`, 'echo "verified; lease released"'] : []),
    ].join("\n"),
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
  const probesOf = (table: RoutingTable) => serverProbes(table).map((p) => ({ uuid: p.uuid, server: p.server, upstream: upstreamOf(addresses.get(p.server) ?? "") }));

  const steps: HostStep[] = [{ ...leaseStep(web, run, input, allowed, evictedHere), after: [] }];
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
      command: ["set -eu", ...leaseCheck(backupHost, web, run, "backup"), config.rollout.backup.command].join("\n"),
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
      ...proxyStep(`${k}-quarantine`, web, stageTitle(stage), input, allowed, { conf: quarantines[i], hosts: hostsDuring }, { ...during, paused: stage.paused }, quarantineProbe ? [{ uuid: quarantineProbe, server: QUARANTINE }] : []),
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
