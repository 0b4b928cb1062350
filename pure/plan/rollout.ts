// The ordered commands that put a routing table live (design, "Rolling out a
// routing change", fixed order): quarantine → unload → switch → verify. Each
// step is one remote command; the resource layer chains them in this order.
import { createHash } from "node:crypto";
import { PORTS, SshTarget } from "../config/schema";
import { allBuckets, routingJson } from "../config/routing-file";
import { urlHost } from "../config/values";
import { renderProxyConfig, renderProxyHosts, QUARANTINE, SERVER_HEADER, tableServers } from "./nginx";
import { containerRunning, PROXY_CONFIG, PROXY_CONTAINER, PROXY_DIR, PROXY_DIR_IN_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "./containers";
import type { ClusterPlan } from "./index";
import { refineTable, RoutingTable } from "./routing";
import { shellQuote } from "./seatable";

/** A dtable-server as the program last deployed it: enough to reach it after it left the config. */
export type ServerHost = { readonly name: string; readonly address: string; readonly ssh: SshTarget };

export type HostStep = {
  /** unique, stable resource name part: "quarantine-upload", "unload-dtable-server-2" */
  readonly id: string;
  /** the host it runs on (a host name of the config, or of a removed dtable-server) */
  readonly host: string;
  readonly title: string;
  readonly command: string;
  /** file contents for the command (never a secret) */
  readonly stdin?: string;
  /** ids of the steps that must be done first; steps with the same `after` run side by side */
  readonly after: readonly string[];
  /** runs on every `up`, changed or not (it converges or checks; it does nothing when all is in place) */
  readonly everyRun?: boolean;
  /** the proxy container must exist first (verification) */
  readonly needsProxy?: boolean;
};

/** Steps that each wait for the one before: a plain sequence. */
export function inSequence(steps: readonly Omit<HostStep, "after">[], first: readonly string[] = []): HostStep[] {
  return steps.map((step, i) => ({ ...step, after: i === 0 ? first : [steps[i - 1].id] }));
}

/** The routing table the proxy runs, kept beside its config on dtable-web. */
export const PROXY_ROUTING = `${PROXY_DIR}/routing.json`;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

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
 * string, answered by any dtable-server's /ping/ with 200 (no credentials, and
 * no base loaded), so that busybox wget shows the proxy's headers.
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

// Shell helpers every proxy step uses. Probes run inside the proxy container
// (busybox wget in nginx:alpine), where the dtable-server names resolve.
function proxyShell(port: number): string {
  return [
    "set -eu",
    `D=${PROXY_DIR}`,
    `proxy_running() { ${containerRunning(PROXY_CONTAINER)}; }`,
    // busybox wget -S prints the status line, but the headers only for a 2xx answer
    `# header NAME URL: the value of a response header (2xx answers only)`,
    `header() { docker exec ${PROXY_CONTAINER} wget -q -S -O /dev/null -T 5 "$2" 2>&1 | sed -n "s/^ *$1: *//p" | tr -d '\\r' | head -n 1; }`,
    `# code URL: the HTTP status of the answer (any status)`,
    `code() { docker exec ${PROXY_CONTAINER} wget -q -S -O /dev/null -T 10 "$1" 2>&1 | sed -n 's/^ *HTTP\\/[0-9.]* \\([0-9]*\\).*/\\1/p' | tail -n 1; }`,
    `# wait_for URL NAME VALUE SECONDS: until the proxy answers URL with header NAME = VALUE`,
    `wait_for() { end=$(($(date +%s) + $4)); while [ "$(header "$2" "$1")" != "$3" ]; do if [ "$(date +%s)" -ge "$end" ]; then echo "the proxy did not answer $1 with $2: $3 within $4 s" >&2; exit 1; fi; sleep 0.2; done; }`,
    `# wait_code URL CODE SECONDS: until the proxy answers URL with status CODE`,
    `wait_code() { end=$(($(date +%s) + $3)); while [ "$(code "$1")" != "$2" ]; do if [ "$(date +%s)" -ge "$end" ]; then echo "the proxy did not answer $1 with $2 within $3 s" >&2; exit 1; fi; sleep 0.2; done; }`,
    `P=http://127.0.0.1:${port}`,
  ].join("\n");
}

/**
 * Refuses to go on when the proxy runs a table other than `allowed` (the one
 * applied last, or this rollout's target): an earlier `up` stopped after its
 * switch, or another stack manages this host. Quarantining against the wrong
 * table would let a base open on two servers.
 */
function routingGuard(allowed: readonly RoutingTable[]): string[] {
  const hashes = [...new Set(allowed.map((t) => sha256(routingJson(t))))];
  return [
    `if [ -e ${PROXY_ROUTING} ]; then`,
    `  case "$(sha256sum < ${PROXY_ROUTING} | cut -c1-64)" in`,
    `    ${hashes.join("|")}) ;;`,
    `    *) echo "the proxy runs a routing table (${PROXY_ROUTING}) that this stack did not apply last: an earlier pulumi up stopped after its switch, or another stack manages this host. Undo the config change since that up and run pulumi up again, so that no base is opened on two servers." >&2; exit 1 ;;`,
    "  esac",
    "fi",
  ];
}

/** Writes the proxy's next files beside the live ones; nothing live changes until the reload step. */
function uploadStep(id: string, web: string, title: string, files: { conf: string; hosts: string; routing?: RoutingTable }, guard: readonly RoutingTable[]): Omit<HostStep, "after"> {
  return {
    id,
    host: web,
    title,
    command: [
      "set -eu",
      `install -d -m 755 ${PROXY_DIR}`,
      ...routingGuard(guard),
      `printf %s ${shellQuote(files.hosts)} > ${PROXY_HOSTS}.next`,
      ...(files.routing ? [`printf %s ${shellQuote(routingJson(files.routing))} > ${PROXY_ROUTING}.next`] : []),
      `cat > ${PROXY_CONFIG}.next`,
    ].join("\n"),
    stdin: files.conf,
  };
}

function testStep(id: string, web: string, image: string): Omit<HostStep, "after"> {
  return {
    id,
    host: web,
    title: "nginx -t on the new config with its hosts file, in the proxy's image; a failure leaves the running proxy alone",
    command: [
      "set -eu",
      `docker run --rm --network none -v ${PROXY_DIR}:${PROXY_DIR_IN_CONTAINER}:ro -v ${PROXY_HOSTS}.next:/etc/hosts:ro ${shellQuote(image)} nginx -t -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf.next`,
    ].join("\n"),
  };
}

/**
 * Puts the tested files in place and reloads the proxy when they differ from
 * the live ones. A marker survives a failed reload, so that running the step
 * again reloads even though the files are in place by then.
 */
function reloadStep(id: string, web: string, title: string, port: number, expect: { uuid: string; value: string }[]): Omit<HostStep, "after"> {
  return {
    id,
    host: web,
    title,
    command: [
      proxyShell(port),
      'if [ -e "$D/nginx-proxy.conf.next" ]; then',
      '  if ! cmp -s "$D/nginx-proxy.conf.next" "$D/nginx-proxy.conf" || ! cmp -s "$D/hosts.next" "$D/hosts"; then touch "$D/reload-pending"; fi',
      // in place: the container mounts this one file
      '  cat "$D/hosts.next" > "$D/hosts" && rm -f "$D/hosts.next"',
      '  mv -f "$D/nginx-proxy.conf.next" "$D/nginx-proxy.conf"',
      'fi',
      'if [ -e "$D/routing.json.next" ]; then mv -f "$D/routing.json.next" "$D/routing.json"; fi',
      'if [ -e "$D/reload-pending" ] && proxy_running; then',
      `  docker exec ${PROXY_CONTAINER} nginx -s reload -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`,
      // a quarantined probe answers 503, whose headers busybox wget does not show
      ...expect.map((e) =>
        e.value === QUARANTINE ? `  wait_code "$P${probePath(e.uuid)}" 503 30` : `  wait_for "$P${probePath(e.uuid)}" ${SERVER_HEADER} ${shellQuote(e.value)} 30`,
      ),
      'fi',
      'rm -f "$D/reload-pending"',
    ].join("\n"),
  };
}

function unloadStep(server: string, removed: boolean, stopTimeout: number): Omit<HostStep, "after"> {
  const stop = `docker ${removed ? "stop" : "restart"} -t ${stopTimeout} ${SEATABLE_CONTAINER}`;
  return {
    id: `unload-${server}`,
    host: server,
    title: removed
      ? `stop ${server} gracefully (it saves its bases on SIGTERM); it leaves the cluster`
      : `restart ${server} gracefully so it saves and drops the bases that move, and wait for /ping/`,
    command: [
      "set -eu",
      `# SIGTERM: dtable-server saves every open base; SIGKILL only after ${stopTimeout} s`,
      stop,
      ...(removed
        ? []
        : [
            "end=$(($(date +%s) + 300))",
            `until docker exec ${SEATABLE_CONTAINER} curl -fsS -m 5 http://127.0.0.1:${PORTS.dtableServer}/ping/ >/dev/null 2>&1; do`,
            `  if [ "$(date +%s)" -ge "$end" ]; then echo "${server} did not answer /ping/ within 300 s of its restart" >&2; exit 1; fi; sleep 2`,
            "done",
          ]),
    ].join("\n"),
  };
}

function verifyStep(plan: ClusterPlan): Omit<HostStep, "after"> {
  const { config, routing } = plan;
  const web = config.hosts.web;
  const checks = [
    ...config.hosts.servers.map((s) => `check "${s.name} answers /ping/ directly" "$(code http://${s.name}:${PORTS.dtableServer}/ping/)" 200`),
    `check "the proxy answers /ping/" "$(code $P/ping/)" 200`,
    `check "dtable-web answers /api2/ping/ on ${PORTS.dtableWeb}" "$(code http://${urlHost(web.address)}:${PORTS.dtableWeb}/api2/ping/)" 200`,
    ...serverProbes(routing).map((p) => `check "a base of ${p.server} (${p.uuid}) is routed to ${p.server} by the proxy" "$(header ${SERVER_HEADER} "$P${probePath(p.uuid)}")" ${shellQuote(p.server)}`),
  ];
  return {
    id: "verify",
    host: web.name,
    title: "verify: every server answers, and the proxy sends each server's buckets to it",
    command: [
      proxyShell(config.proxy.port),
      "failed=0",
      `check() { if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAILED: $1 (got '$2', expected '$3')" >&2; failed=1; fi; }`,
      ...checks,
      '[ "$failed" = 0 ]',
    ].join("\n"),
  };
}

/**
 * The steps of this `up`, in an order that satisfies every step's `after`.
 * `previousServers` are the dtable-servers as last deployed (to reach one
 * that left the config). The switch steps and the verification run on every
 * `up`: the proxy converges on the table (also after an `up` that stopped in
 * quarantine) and reloads only when its files change.
 */
export function rolloutSteps(plan: ClusterPlan, previousServers: readonly ServerHost[] = []): HostStep[] {
  const { config, routing, previous, change } = plan;
  const web = config.hosts.web.name;
  const current = config.hosts.servers;
  const steps: HostStep[] = [];
  const moves = change.bucketMoves.length + change.pinMoves.length;
  const guard = previous ? [refineTable(previous, routing.bucketHexDigits), previous, routing] : [routing];

  let unloaded: string[] = [];
  if (previous && moves > 0) {
    const leaving = previousServers.filter((s) => !current.some((c) => c.name === s.name));
    const quarantine = { buckets: change.bucketMoves.map((m) => m.bucket), pins: change.pinMoves.map((m) => m.uuid) };
    const servers = [...current.map((s) => s.name), ...leaving.map((s) => s.name)];
    // the table applied before, in the new bucket size, with the moving buckets and bases answering 503
    const conf = renderProxyConfig(refineTable(previous, routing.bucketHexDigits), servers, config.proxy, quarantine);
    const probe = change.bucketMoves[0] ? probeUuid(routing, change.bucketMoves[0].bucket) : change.pinMoves[0].uuid;
    steps.push(
      ...inSequence([
        uploadStep("quarantine-upload", web, `upload the quarantine config: ${moves} moving bucket(s)/base(s) answer 503`, { conf, hosts: renderProxyHosts([...current, ...leaving]) }, guard),
        testStep("quarantine-test", web, config.proxy.image),
        reloadStep("quarantine-reload", web, "reload the proxy into quarantine", config.proxy.port, [{ uuid: probe, value: QUARANTINE }]),
      ]),
    );
    // every losing server at once: the quarantine lasts as long as the slowest restart, not their sum
    const unloads = change.losing.map((server) => ({ ...unloadStep(server, !current.some((c) => c.name === server), config.stopTimeoutSeconds), after: ["quarantine-reload"] }));
    steps.push(...unloads);
    unloaded = unloads.map((u) => u.id);
  }
  const files = proxyFiles(plan);
  steps.push(
    ...inSequence(
      [
        uploadStep("switch-upload", web, "upload the new routing config", { conf: files.conf, hosts: files.hosts, routing }, guard),
        testStep("switch-test", web, config.proxy.image),
        reloadStep("switch-reload", web, "reload the proxy with the new table", config.proxy.port, serverProbes(routing).map((p) => ({ uuid: p.uuid, value: p.server }))),
        { ...verifyStep(plan), needsProxy: true },
      ],
      unloaded,
    ).map((step) => ({ ...step, everyRun: true })),
  );
  return steps;
}

/** The proxy's files for the plan's table: what `up` uploads and `plan --out` writes. */
export function proxyFiles(plan: ClusterPlan): { conf: string; hosts: string } {
  const servers = plan.config.hosts.servers;
  return { conf: renderProxyConfig(plan.routing, servers.map((s) => s.name), plan.config.proxy), hosts: renderProxyHosts(servers) };
}
