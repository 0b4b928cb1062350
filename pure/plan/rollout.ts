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
import { PROXY_CONFIG, PROXY_CONTAINER, PROXY_DIR, PROXY_DIR_IN_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "./containers";
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

/** The routing table the proxy runs, kept beside its config on dtable-web; only a switch writes it. */
export const PROXY_ROUTING = `${PROXY_DIR}/routing.json`;
/** Held by the run that changes the cluster, from its first step until its verification passed. */
export const PROXY_LEASE = `${PROXY_DIR}/lease`;

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

/** What the proxy on dtable-web runs, read before planning (sha256 of each file; absent when missing). */
export type LiveProxy = { readonly conf?: string; readonly hosts?: string; readonly routing?: string; readonly lease?: string };

/** Who changes the cluster: the stack and this run of the program. */
export type Run = { readonly stack: string; readonly id: string };

const leaseLine = (run: Run) => `stack=${run.stack} run=${run.id}`;

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
    `answers() { r=$(probe "$1"); st=\${r%% *}; rest=\${r#* }; sv=\${rest%% *}; up=\${rest#* }; [ "$sv" = "$2" ] && { [ "$3" = "*" ] || [ "$up" = "$3" ]; } && { [ "$4" = "*" ] || [ "$st" = "$4" ]; }; }`,
    `wait_answers() { t0=$(date +%s); until answers "$1" "$2" "$3" "$4"; do if [ $(( $(date +%s) - t0 )) -ge "$5" ]; then echo "the proxy did not answer $1 from $2 ($3, status $4) within $5 s; last answer: $(probe "$1")" >&2; exit 1; fi; progress "$t0" "$1"; sleep 0.2; done; }`,
  ];
}

/** How nginx writes the address it connected to for a dtable-server ($upstream_addr). */
const upstreamOf = (address: string) => `${urlHost(address)}:${PORTS.dtableServer}`;

/**
 * The live files must be the ones this stack recorded or one of this run's
 * own: a hand edit, another stack or a stopped `up` of another config would
 * otherwise have the next reload open a base on a second server.
 */
function liveGuard(allowed: Allowed): string[] {
  const refuse = (file: string, what: string) =>
    `echo "the proxy's ${what} (${file}) is neither the one this stack recorded nor one this run writes: it was edited by hand, another stack manages this host, or an earlier pulumi up of another config stopped half-way. Nothing was changed. Put back the file this stack wrote (pulumi stack output appliedRouting has its hash), or undo the config change since that up, and run pulumi up again." >&2; exit 1`;
  // a stack recorded by an earlier version of this program has no file hashes: its table decides
  const otherwise = (file: string, what: string) => (allowed.routing ? `routing_recorded || { ${refuse(file, what)}; }` : refuse(file, what));
  const check = (file: string, hashes: readonly string[], what: string) => [
    `if [ -e ${file} ]; then`,
    `  case "$(sha256sum < ${file} | cut -c1-64)" in`,
    `    ${[...new Set(hashes)].join("|")}) ;;`,
    `    *) ${otherwise(file, what)} ;;`,
    "  esac",
    "fi",
  ];
  return [
    ...(allowed.routing
      ? [`routing_recorded() { [ -e ${PROXY_ROUTING} ] && case "$(sha256sum < ${PROXY_ROUTING} | cut -c1-64)" in ${[...new Set(allowed.routing)].join("|")}) true ;; *) false ;; esac; }`]
      : []),
    ...check(PROXY_CONFIG, allowed.conf, "config"),
    ...check(PROXY_HOSTS, allowed.hosts, "hosts file"),
  ];
}

const holdsLease = (what: string) => [
  `if [ "$(cat ${PROXY_LEASE} 2>/dev/null)" != "$LEASE" ]; then echo "${what}: this run does not hold the lease ${PROXY_LEASE} (it holds: $(cat ${PROXY_LEASE} 2>/dev/null || echo nothing)); another run took over or the lease was removed by hand. Nothing was changed." >&2; exit 1; fi`,
];

/** The first step of a change: take the lease, after checking the live files. */
function leaseStep(web: string, run: Run, input: RolloutInput, allowed: Allowed): Omit<HostStep, "after"> {
  const { config } = input.plan;
  return {
    id: "lease",
    host: web,
    title: `take the lease on dtable-web for this change (stack ${run.stack}); refuse if another run holds it or the proxy's live files are not this stack's`,
    command: [
      ...proxyShell(run, config.proxy.port, config.hosts.web.address),
      `[ -d "$D" ] || install -d -m 755 "$D"`,
      // checked before the lease is taken: a refusal leaves the host as it was
      ...liveGuard(allowed),
      `if ! ( set -C; printf '%s\\n' "$LEASE" > ${PROXY_LEASE} ) 2>/dev/null && [ "$(cat ${PROXY_LEASE})" != "$LEASE" ]; then`,
      `  echo "another change holds the lease ${PROXY_LEASE} on dtable-web: $(cat ${PROXY_LEASE}). If that pulumi up is still running, wait for it. If it stopped, its change is unfinished: check the proxy with npm run plan and pulumi preview, then remove the lease (rm ${PROXY_LEASE} on dtable-web) and run pulumi up again." >&2`,
      "  exit 1",
      "fi",
      `echo "lease taken: $LEASE"`,
    ].join("\n"),
  };
}

/** Hashes of the files the guard lets a step replace; `routing`: tables that vouch for any file (no hashes recorded). */
type Allowed = { conf: string[]; hosts: string[]; routing?: string[] };

/**
 * Writes the proxy's next files into a private folder, checks them against
 * their hashes (a cut-off upload never goes live) and with `nginx -t` in the
 * proxy's image, installs them, and reloads the proxy when they changed. Only a
 * switch (`files.routing`) installs a table. A marker survives a failed reload,
 * so that running the step again reloads.
 */
function proxyStep(
  id: string,
  web: string,
  title: string,
  input: RolloutInput,
  allowed: Allowed,
  files: ProxyFiles,
  expect: readonly { uuid: string; server: string; upstream?: string }[],
): Omit<HostStep, "after"> {
  const { config } = input.plan;
  const image = config.proxy.image;
  const routing = files.routing ? routingJson(files.routing) : undefined;
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
      ...(routing ? [`printf %s ${shellQuote(routing)} > "$T/routing.json"`] : []),
      `[ "$(sha256sum < "$T/nginx-proxy.conf" | cut -c1-64)" = ${sha256(files.conf)} ] || { echo "the uploaded config is not the one this step rendered (cut off?); nothing changed" >&2; exit 1; }`,
      `[ "$(sha256sum < "$T/hosts" | cut -c1-64)" = ${sha256(files.hosts)} ] || { echo "the hosts file is not the one this step rendered; nothing changed" >&2; exit 1; }`,
      // a failed test leaves the running proxy alone and fails with nginx's message
      `docker run --rm --network none -v "$T":${PROXY_DIR_IN_CONTAINER}:ro -v "$T/hosts":/etc/hosts:ro ${shellQuote(image)} nginx -t -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`,
      `if ! cmp -s "$T/nginx-proxy.conf" ${PROXY_CONFIG} || ! cmp -s "$T/hosts" ${PROXY_HOSTS}; then touch "$D/reload-pending"; fi`,
      // in place: the container mounts this one file
      `cat "$T/hosts" > ${PROXY_HOSTS}`,
      `mv -f "$T/nginx-proxy.conf" ${PROXY_CONFIG}`,
      ...(routing ? [`mv -f "$T/routing.json" ${PROXY_ROUTING}`] : []),
      `if [ -e "$D/reload-pending" ] && [ "$(docker inspect -f '{{.State.Running}}' ${PROXY_CONTAINER} 2>/dev/null)" = true ]; then`,
      `  docker exec ${PROXY_CONTAINER} nginx -s reload -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`,
      ...expect.map((e) =>
        e.server === QUARANTINE
          ? `  wait_answers "$P${probePath(e.uuid)}" ${QUARANTINE} - 503 60`
          : `  wait_answers "$P${probePath(e.uuid)}" ${shellQuote(e.server)} ${shellQuote(e.upstream ?? "*")} "*" 60`,
      ),
      "fi",
      'rm -f "$D/reload-pending"',
      `echo "the proxy runs ${id}: config ${sha256(files.conf).slice(0, 12)}, hosts ${sha256(files.hosts).slice(0, 12)}"`,
    ].join("\n"),
    stdin: files.conf,
  };
}

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
      `# rollout ${leaseLine(run)}`,
      ...PROGRESS,
      // SIGTERM, SIGKILL after the timeout. Whether dtable-server saves on SIGTERM is not
      // documented; what it has not saved is replayed from the operation log on the next load.
      `docker ${stop ? "stop" : "restart"} -t ${stopTimeout} ${SEATABLE_CONTAINER} >/dev/null`,
      ...(stop
        ? [`echo "stopped ${server}"`]
        : [
            "t0=$(date +%s)",
            `until docker exec ${SEATABLE_CONTAINER} curl -fsS -m 5 http://127.0.0.1:${PORTS.dtableServer}/ping/ >/dev/null 2>&1; do`,
            `  if [ $(( $(date +%s) - t0 )) -ge 600 ]; then echo "${server} did not answer /ping/ within 600 s of its restart" >&2; exit 1; fi`,
            `  progress "$t0" "${server} to answer /ping/"; sleep 2`,
            "done",
            `echo "${server} answers /ping/ again"`,
          ]),
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
      ...(release ? [`rm -f ${PROXY_LEASE}`, 'echo "verified; lease released"'] : []),
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
  const current = config.hosts.servers;
  const leaving = input.previousServers.filter((s) => !current.some((c) => c.name === s.name));
  const addresses = new Map([...leaving, ...current].map((s) => [s.name, s.address]));
  const final = proxyFiles(plan);
  const allNames = [...current.map((s) => s.name), ...leaving.map((s) => s.name)];
  const hostsDuring = renderProxyHosts([...current, ...leaving]);

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

  const steps: HostStep[] = [{ ...leaseStep(web, run, input, allowed), after: [] }];
  let gate = "lease";
  if (config.rollout.backup && (stages.length > 0 || input.nodesChanging)) {
    const b = config.rollout.backup;
    steps.push({
      id: "backup",
      host: b.host,
      title: `back up before the first container stops (rollout.backup on ${b.host}); a failure stops the change`,
      command: ["set -eu", `# rollout ${leaseLine(run)}`, b.command].join("\n"),
      after: ["lease", "pulled"],
    });
    gate = "backup";
  }
  let previousStep = "ready-all";
  stages.forEach((stage, i) => {
    const k = `stage-${stage.index}`;
    const last = i === stages.length - 1;
    const quarantineProbe = stage.paused.buckets[0] !== undefined ? probeUuid(stage.before, stage.paused.buckets[0]) : stage.paused.pins[0];
    steps.push({
      ...proxyStep(`${k}-quarantine`, web, stageTitle(stage), input, allowed, { conf: quarantines[i], hosts: hostsDuring }, quarantineProbe ? [{ uuid: quarantineProbe, server: QUARANTINE }] : []),
      after: [previousStep, gate],
    });
    const downs: string[] = [];
    for (const s of stage.servers) {
      if (s.action === "restart" || s.action === "stop") {
        const id = `${k}-${s.action}-${s.name}`;
        steps.push({ ...downStep(id, s.name, s.action === "stop", config.stopTimeoutSeconds, run), after: [`${k}-quarantine`] });
        downs.push(id);
      } else if (s.action === "replace") {
        downs.push(`ready-${s.name}`);
      }
    }
    const files: ProxyFiles = last ? { ...final, routing: plan.routing } : { conf: switches[i], hosts: hostsDuring, routing: stage.after };
    steps.push({
      ...proxyStep(`${k}-switch`, web, `stage ${stage.index}: reload the proxy with the table after this stage${last ? " (the new table)" : ""}`, input, allowed, files, probesOf(stage.after)),
      after: [`${k}-quarantine`, ...downs],
    });
    steps.push({ ...verifyStep(`${k}-verify`, input, stage.after, files.conf, addresses, last), after: [`${k}-switch`, ...(last ? ["proxy"] : [])] });
    previousStep = `${k}-verify`;
  });
  if (stages.length === 0) {
    steps.push({
      ...proxyStep("switch", web, "put the proxy's config, hosts file and table in place (reload only if they changed)", input, allowed, { ...final, routing: plan.routing }, probesOf(plan.routing)),
      after: ["ready-all", gate],
    });
    steps.push({ ...verifyStep("verify", input, plan.routing, final.conf, addresses, true), after: ["switch", "proxy"] });
  }
  return steps;
}

function stageTitle(stage: Stage): string {
  const who = stage.servers.map((s) => `${s.name} (${s.action}: ${s.why})`).join(", ");
  return `stage ${stage.index}: quarantine ${stage.paused.buckets.length} bucket(s) and ${stage.paused.pins.length} pinned base(s) (503 with Retry-After) for ${who}`;
}
