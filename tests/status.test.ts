// `npm run status`'s judging (pure/plan/status.ts): plain reads in, what needs
// the admin, the exit status, the text and the JSON out. The command against
// real hosts is tests/status.ssh.test.ts.
import { join } from "node:path";
import { statusSetUp } from "../cli/status";
import { buildPlan } from "../pure/plan";
import { PROXY_CONTAINER, SEATABLE_CONTAINER } from "../pure/plan/containers";
import type { ContainerState } from "../pure/plan/live";
import { LiveProxy, serversJson, sha256 } from "../pure/plan/rollout";
import { seedTable } from "../pure/plan/routing";
import {
  parseStubStatus,
  parseWebProbes,
  probeTargets,
  StatusReads,
  statusJson,
  statusReport,
  statusText,
  statusUnreadable,
  webProbesCommand,
  WebProbes,
} from "../pure/plan/status";
import { configOf, ROOT, stackValues } from "./support/stacks";

const config = configOf(stackValues("dev"));
const [s1, s2] = config.hosts.servers;
const table = buildPlan(config).routing;
const CONF = sha256("events {}\n");
const HOSTS = sha256("hosts\n");
const reach = (h: { name: string; address: string }) => ({ name: h.name, address: h.address, ssh: { user: "root", port: 22, hostKey: s1.ssh.hostKey! } });
const running = (health?: "healthy" | "unhealthy" | "starting"): ContainerState => ({ status: "running", startedAt: "2026-12-07T10:00:00.5Z", image: config.image, ...(health ? { health } : {}) });
const STUB = "Active connections: 3 \nserver accepts handled requests\n 120 120 480 \nReading: 0 Writing: 1 Waiting: 2 \n";
const counters = { active: 3, accepts: 120, handled: 120, requests: 480, reading: 0, writing: 1, waiting: 2 };

/** A cluster as a verified up leaves it. */
function wellLive(): LiveProxy {
  return {
    conf: CONF,
    hosts: HOSTS,
    routing: sha256("x"),
    table,
    servers: JSON.parse(serversJson(config.hosts.servers.map(reach), [])),
    installed: { conf: [CONF], hosts: [HOSTS] },
    verified: "stack=organization/seatable-cluster/dev run=run-1",
    containers: { [SEATABLE_CONTAINER]: running("healthy"), [PROXY_CONTAINER]: running() },
  };
}

function wellReads(live: LiveProxy = wellLive()): StatusReads {
  return {
    live,
    containers: {
      "dtable-web": { containers: live.containers! },
      "dtable-db": { containers: { [SEATABLE_CONTAINER]: running("healthy") } },
      [s1.name]: { containers: { [SEATABLE_CONTAINER]: running("healthy") } },
      [s2.name]: { containers: { [SEATABLE_CONTAINER]: running("healthy") } },
    },
    probes: { pings: { [s1.name]: { status: 200, ms: 3 }, [s2.name]: { status: 200, ms: 4 } }, statusPage: { status: 200, ms: 2, counters } },
    evictedSsh: {},
  };
}

const report = (reads: StatusReads, c = config) => statusReport(c, "stack dev", reads);

test("all well: exit 0, every part in the report, and the text ends with it", () => {
  const r = report(wellReads());
  expect([r.code, r.attention]).toEqual([0, []]);
  expect(r.lease).toBeNull();
  expect(r.files.conf).toEqual({ path: "/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf", sha256: CONF, installed: [CONF], state: "installed" });
  expect(r.routing).toEqual({
    bucketHexDigits: 2,
    buckets: 256,
    pins: 0,
    default: "dtable-server",
    servers: [
      { name: s1.name, address: s1.address, inStack: true, buckets: 128, share: 50, ranges: expect.any(String), pins: 0, quarantinedBuckets: [], quarantinedPins: [] },
      { name: s2.name, address: s2.address, inStack: true, buckets: 128, share: 50, ranges: expect.any(String), pins: 0, quarantinedBuckets: [], quarantinedPins: [] },
    ],
  });
  expect(r.pending).toMatchObject({ change: false, firstDeployment: false, buckets: 0, pins: 0, restart: [] });
  expect(r.pings).toEqual([
    { server: s1.name, address: s1.address, kind: "stack", status: 200, ms: 3, answers: true },
    { server: s2.name, address: s2.address, kind: "stack", status: 200, ms: 4, answers: true },
  ]);
  expect(r.proxy.statusPage).toEqual({ url: "http://192.0.2.10:5000/nginx_status", status: 200, ms: 2, counters, answers: true });
  const text = statusText(r);
  expect(text).toContain("Lease: none\n");
  expect(text).toContain("  config (/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf): installed by this program, sha256 " + CONF.slice(0, 12) + "\n");
  expect(text).toContain("\nThe stack's table against the one the proxy runs: no bucket or pinned base changes server; nothing restarts.\n");
  expect(text).toContain("  dtable-server (192.0.2.21): 200 in 3 ms\n");
  expect(text).toContain("  dtable-web: dtable-server-proxy running, image seatable/seatable-enterprise:6.1.8, started 2026-12-07T10:00:00.5Z\n");
  expect(text).toContain("Proxy status page (http://192.0.2.10:5000/nginx_status): 3 active connection(s); 120 accepted, 120 handled, 480 request(s) since the proxy started; reading 0, writing 1, waiting 2\n");
  expect(text.endsWith("\nAll well.\n")).toBe(true);
  // one JSON document, on one line, that is the report
  const json = statusJson(r);
  expect(json.split("\n")).toHaveLength(2);
  expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(r)));
});

test("a held lease: its holder, age and last step; exit 1 with what to do", () => {
  const line = "stack=organization/seatable-cluster/dev run=run-2";
  const r = report(wellReads({ ...wellLive(), lease: line, leaseAgeSeconds: 630, progress: { step: "stage-1-switch", agoSeconds: 150, run: line } }));
  expect(r.code).toBe(1);
  expect(r.lease).toEqual({ holder: line, ageSeconds: 630, lastStep: { step: "stage-1-switch", agoSeconds: 150 } });
  expect(r.attention).toEqual([
    {
      kind: "lease",
      host: "dtable-web",
      message:
        `dtable-web: /opt/seatable-compose/dtable-server-proxy/lease is held (${line}, taken 10 min ago; the last step it completed on dtable-web: stage-1-switch, 2 min ago): ` +
        "a change is in progress, or an earlier pulumi up stopped before its verification, and every other pulumi up refuses to start. " +
        "If no pulumi up of that stack is running, remove the lease on dtable-web (rm /opt/seatable-compose/dtable-server-proxy/lease) and run pulumi up again: it starts from what the proxy runs.",
    },
  ]);
  expect(statusText(r)).toContain(`Lease: HELD by ${line}, taken 10 min ago; last step completed: stage-1-switch, 2 min ago\n`);
  // the progress of an earlier run says nothing of this lease
  const other = report(wellReads({ ...wellLive(), lease: line, progress: { step: "verify", agoSeconds: 9000, run: "stack=x run=old" } }));
  expect([other.lease, statusText(other)]).toEqual([{ holder: line, ageSeconds: null, lastStep: null }, expect.stringContaining("Last step completed on dtable-web: verify, 2 h 30 min ago (stack=x run=old)\n")]);
});

test("a live file changed by hand: named with its hash against those installed; a proxy of an earlier version without the record is not judged", () => {
  const edited = sha256("events {} # by hand\n");
  const r = report(wellReads({ ...wellLive(), conf: edited }));
  expect([r.code, r.files.conf.state, r.files.hosts.state]).toEqual([1, "changed-by-hand", "installed"]);
  expect(r.attention).toEqual([
    {
      kind: "changed-by-hand",
      host: "dtable-web",
      message: expect.stringMatching(
        new RegExp(`^dtable-web: the proxy's config \\(/opt/seatable-compose/dtable-server-proxy/nginx-proxy\\.conf\\) was changed by hand: its sha256 ${edited.slice(0, 12)} is none of those this program installed \\(/opt/seatable-compose/dtable-server-proxy/installed lists ${CONF.slice(0, 12)}\\)\\. .*Undo the edit`),
      ),
    },
  ]);
  expect(statusText(r)).toContain("config (/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf): CHANGED BY HAND: none of the 1 this program installed");
  const { installed: _, ...unrecorded } = wellLive();
  void _;
  const u = report(wellReads(unrecorded));
  expect([u.code, u.files.conf.state]).toEqual([0, "unrecorded"]);
});

test("a quarantine in force: which buckets and pins, by server; exit 1, and what ends it", () => {
  const pinned = "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10";
  const c = configOf({ ...stackValues("dev"), routing: { bucketHexDigits: 2, pins: { [pinned]: s2.name } } });
  const t = buildPlan(c).routing;
  const owner = t.buckets["00"];
  const r = report(wellReads({ ...wellLive(), table: t, paused: { buckets: ["00", "01"], pins: [pinned] } }), c);
  expect(r.quarantine).toEqual({ buckets: ["00", "01"], pins: [pinned] });
  const byServer = Object.fromEntries(r.routing!.servers.map((s) => [s.name, [s.quarantinedBuckets, s.quarantinedPins]]));
  expect(byServer[owner][0]).toEqual(["00", "01"].filter((b) => t.buckets[b] === owner));
  expect(byServer[s2.name][1]).toEqual([pinned]);
  expect(r.attention.map((a) => a.kind)).toEqual(["quarantine"]);
  expect(r.attention[0].message).toMatch(/^dtable-web: the proxy runs a quarantine: 2 bucket\(s\) and 1 pinned base\(s\) answer 503 with Retry-After\. No change holds the lease, so an up stopped between a quarantine and its switch: run pulumi up/);
  expect(statusText(r)).toContain("Quarantine: IN FORCE: 2 bucket(s) (00-01) and 1 pinned base(s) answer 503\n");
});

test("a pending change: the stack's table against the proxy's, by plan's own summary; exit 1", () => {
  // the proxy runs the manual's seed; the stack has no routing.start, so up would move buckets
  const seed = seedTable(config.hosts.servers, 2);
  const r = report(wellReads({ ...wellLive(), table: seed }));
  const plan = buildPlan(config, seed);
  expect(r.pending).toMatchObject({ change: true, buckets: plan.change.bucketMoves.length, pins: 0, restart: plan.change.losing });
  expect(r.pending!.buckets).toBeGreaterThan(0);
  expect(r.pending!.moves.reduce((n, m) => n + m.buckets, 0)).toBe(r.pending!.buckets);
  expect(r.attention.map((a) => a.kind)).toEqual(["pending-change"]);
  expect(r.attention[0].message).toBe(
    `the stack's table differs from the one the proxy runs: pulumi up would move ${r.pending!.buckets} bucket(s) and 0 pinned base(s), restarting ${plan.change.losing.join(", ")} inside a quarantine. Review it with npm run plan -- --live, then run pulumi up, or change the stack back.`,
  );
  expect(statusText(r)).toContain(`The stack's table against the one the proxy runs: ${r.pending!.buckets} bucket(s) and 0 pinned base(s) change server.\n`);
  // a table that differs only where no base moves (the default server) is pending too
  const d = report(wellReads({ ...wellLive(), table: { ...table, default: s2.name } }));
  expect([d.pending!.change, d.pending!.defaultServer, d.attention.map((a) => a.kind)]).toEqual([true, { from: s2.name, to: s1.name }, ["pending-change"]]);
});

test("a server down: its container and its /ping/ from dtable-web; exit 1", () => {
  const reads = wellReads();
  const down: StatusReads = {
    ...reads,
    containers: { ...reads.containers, [s2.name]: { containers: { [SEATABLE_CONTAINER]: { status: "exited", startedAt: "2026-12-07T10:00:00Z", image: config.image, health: "unhealthy" } } } },
    probes: { ...(reads.probes as WebProbes), pings: { [s1.name]: { status: 200, ms: 3 }, [s2.name]: { status: 0, ms: 1, why: "[Errno 111] Connection refused" } } },
  };
  const r = report(down);
  expect(r.attention.map((a) => [a.kind, a.host])).toEqual([
    ["container", s2.name],
    ["ping", s2.name],
  ]);
  expect(r.attention[0].message).toMatch(/^dtable-server-2 \(dtable-server\): its seatable-server container is exited \(started 2026-12-07T10:00:00Z\); its buckets answer 502/);
  expect(r.attention[1].message).toMatch(/^dtable-server-2 \(192\.0\.2\.22:5000\) does not answer \/ping\/ from dtable-web \(no answer \(\[Errno 111\] Connection refused\) after 1 ms\)/);
  expect(statusText(r)).toContain("  dtable-server-2 (192.0.2.22): no answer ([Errno 111] Connection refused) after 1 ms\n");
  // unhealthy but running, and a 503 to /ping/: each counts
  const sick = report({ ...reads, containers: { ...reads.containers, [s1.name]: { containers: { [SEATABLE_CONTAINER]: running("unhealthy") } } }, probes: { ...(reads.probes as WebProbes), pings: { [s1.name]: { status: 503, ms: 9 }, [s2.name]: { status: 200, ms: 1 } } } });
  expect(sick.attention.map((a) => [a.kind, a.host])).toEqual([
    ["container", s1.name],
    ["ping", s1.name],
  ]);
  // a health check still starting is not a fault
  expect(report({ ...reads, containers: { ...reads.containers, [s1.name]: { containers: { [SEATABLE_CONTAINER]: running("starting") } } } }).code).toBe(0);
});

test("a host that does not answer, a docker that does not, dtable-db's container missing: reported, each once", () => {
  const reads = wellReads();
  const r = report({
    ...reads,
    containers: {
      ...reads.containers,
      "dtable-db": { containers: { [SEATABLE_CONTAINER]: { status: "missing" } } },
      [s1.name]: { unreadable: "reading the containers on dtable-server (192.0.2.21) over SSH failed: ssh: connect to host 192.0.2.21 port 22: Connection refused" },
      [s2.name]: { containers: { [SEATABLE_CONTAINER]: { status: "unreadable", reason: "Cannot connect to the Docker daemon" } } },
    },
  });
  // in the order of the nodes: dtable-web, dtable-db, the dtable-servers
  expect(r.attention.map((a) => [a.kind, a.host])).toEqual([
    ["container", "dtable-db"],
    ["host-unreadable", s1.name],
    ["container", s2.name],
  ]);
  expect(r.nodes.find((n) => n.name === s1.name)).toEqual({ name: s1.name, role: "dtable-server", address: s1.address, unreadable: expect.stringContaining("Connection refused") });
  expect(statusText(r)).toContain("  dtable-server: could not be read (reading the containers on dtable-server");
});

test("the proxy: stopped, its status page refused, connections dropped (handled behind accepts)", () => {
  const reads = wellReads();
  const stopped = report(wellReads({ ...wellLive(), containers: { [SEATABLE_CONTAINER]: running("healthy"), [PROXY_CONTAINER]: { status: "exited", startedAt: "2026-12-07T10:00:00Z", image: "nginx:1.27.5-alpine" } } }));
  expect(stopped.attention.map((a) => a.kind)).toEqual(["proxy"]);
  expect(stopped.attention[0].message).toMatch(/^dtable-web: the dtable-server-proxy container is exited \(started 2026-12-07T10:00:00Z\): no base reaches any dtable-server/);
  const refused = report({ ...reads, probes: { ...(reads.probes as WebProbes), statusPage: { status: 403, ms: 1 } } });
  expect(refused.attention.map((a) => a.message)).toEqual(["dtable-web: the proxy's status page http://192.0.2.10:5000/nginx_status gives 403: the proxy does not answer on its port as this program configures it."]);
  const dropped = report({ ...reads, probes: { ...(reads.probes as WebProbes), statusPage: { status: 200, ms: 1, counters: { ...counters, handled: 117 } } } });
  expect(dropped.attention.map((a) => a.message)).toEqual([
    "dtable-web: the proxy dropped 3 connection(s) since it started (stub_status handled behind accepts): worker_connections ran out. Raise proxy.workerConnections (now 4096) and run pulumi up.",
  ]);
  // what dtable-web sees could not be asked at all (no python3 there)
  const none = report({ ...reads, probes: { unreadable: "sh: 1: python3: not found" } });
  expect([none.pings, none.attention.map((a) => a.kind), none.proxy.statusPage]).toEqual([null, ["probes-unreadable"], { url: "http://192.0.2.10:5000/nginx_status", unreadable: "sh: 1: python3: not found" }]);
});

test("evicted servers (servers.json): listed and pinged; they count only once they answer again (SSH or /ping/)", () => {
  const gone = { name: "dtable-server-3", address: "192.0.2.23" };
  const live: LiveProxy = { ...wellLive(), servers: JSON.parse(serversJson(config.hosts.servers.map(reach), [reach(gone)])) };
  expect(probeTargets(config, live)).toEqual([
    { name: s1.name, address: s1.address, kind: "stack" },
    { name: s2.name, address: s2.address, kind: "stack" },
    { name: gone.name, address: gone.address, kind: "evicted" },
  ]);
  const reads = wellReads(live);
  const pings = (status: number) => ({ ...(reads.probes as WebProbes), pings: { ...(reads.probes as WebProbes).pings, [gone.name]: { status, ms: 5000, ...(status ? {} : { why: "timed out" }) } } });
  const dead = report({ ...reads, probes: pings(0), evictedSsh: { [gone.name]: false } });
  expect([dead.code, dead.evicted]).toEqual([0, [{ name: gone.name, address: gone.address, sshAnswers: false }]]);
  expect(statusText(dead)).toContain("Evicted (servers.json): dtable-server-3 (192.0.2.23, SSH does not answer)\n");
  const back = report({ ...reads, probes: pings(200), evictedSsh: { [gone.name]: true } });
  expect(back.attention.map((a) => [a.kind, a.host])).toEqual([["evicted-answers", gone.name]]);
  expect(back.attention[0].message).toMatch(/^dtable-server-3 \(192\.0\.2\.23\) was evicted as dead but answers \/ping\/ from dtable-web: .* Run pulumi up: it fences dtable-server-3/);
  const sshOnly = report({ ...reads, probes: pings(0), evictedSsh: { [gone.name]: true } });
  expect(sshOnly.attention.map((a) => a.message)).toEqual([expect.stringMatching(/^dtable-server-3 \(192\.0\.2\.23\) was evicted as dead but its SSH answers again/)]);
});

test("a server the proxy still routes to that the stack removed: pinged from dtable-web, shown as not in the stack, and a pending change", () => {
  const three = configOf({ ...stackValues("dev"), hosts: { ...stackValues("dev").hosts, servers: [...stackValues("dev").hosts.servers, { name: "dtable-server-3", address: "192.0.2.23", ssh: { hostKey: s1.ssh.hostKey } }] } });
  const t3 = buildPlan(three).routing;
  const live: LiveProxy = { ...wellLive(), table: t3, servers: JSON.parse(serversJson(three.hosts.servers.map(reach), [])) };
  expect(probeTargets(config, live).map((t) => [t.name, t.kind])).toEqual([
    [s1.name, "stack"],
    [s2.name, "stack"],
    ["dtable-server-3", "leaving"],
  ]);
  const reads = wellReads(live);
  const r = report({ ...reads, probes: { ...(reads.probes as WebProbes), pings: { ...(reads.probes as WebProbes).pings, "dtable-server-3": { status: 200, ms: 2 } } } });
  expect(r.routing!.servers.map((s) => [s.name, s.address, s.inStack])).toEqual([
    [s1.name, s1.address, true],
    [s2.name, s2.address, true],
    ["dtable-server-3", "192.0.2.23", false],
  ]);
  expect(r.attention.map((a) => a.kind)).toEqual(["pending-change"]);
  expect(r.pending!.restart).toEqual(["dtable-server-3"]);
});

test("what pulumi up would refuse before it plans is reported as such, and the change is not judged", () => {
  // the proxy routes to a server neither the stack nor servers.json knows how to reach
  const t = { ...table, buckets: { ...table.buckets, "00": "dtable-server-9" } };
  const r = report(wellReads({ ...wellLive(), table: t }));
  expect([r.pending, r.attention.map((a) => a.kind)]).toEqual([null, ["up-refuses"]]);
  expect(r.attention[0].message).toMatch(/^pulumi up would refuse: dtable-web: the proxy sends bases to "dtable-server-9", which is not in hosts\.servers/);
  expect(statusText(r)).toContain("Against the stack's table: not judged (pulumi up would refuse first; see below)\n");
});

test("a dtable-web without the proxy's files: not deployed yet; the missing proxy is not a fault of its own", () => {
  const reads = wellReads({ containers: { [SEATABLE_CONTAINER]: running("healthy"), [PROXY_CONTAINER]: { status: "missing" } } });
  const r = report({ ...reads, probes: { ...(reads.probes as WebProbes), statusPage: { status: 0, ms: 1, why: "[Errno 111] Connection refused" } } });
  expect([r.routing, r.pending?.firstDeployment, r.files.conf.state]).toEqual([null, true, "absent"]);
  expect(r.attention.map((a) => a.kind)).toEqual(["not-deployed"]);
  expect(statusText(r)).toContain("Routing: the proxy runs no routing.json\n");
});

test("could not read dtable-web: exit 2, and a JSON document that says why", () => {
  const u = statusUnreadable("stack dev", "reading the proxy's live files on dtable-web (192.0.2.10) over SSH failed: ssh: connect to host 192.0.2.10 port 22: Connection refused");
  expect(JSON.parse(statusJson(u))).toEqual({ code: 2, stack: "stack dev", unreadable: u.unreadable });
});

describe("the read on dtable-web", () => {
  test("the command asks each target's /ping/ and the proxy's status page, IPv6 in brackets", () => {
    const cmd = webProbesCommand(config, [...probeTargets(config, {}), { name: "dtable-server-9", address: "fd00::9", kind: "evicted" }]);
    expect(cmd).toContain("PINGS='dtable-server http://192.0.2.21:5000/ping/\ndtable-server-2 http://192.0.2.22:5000/ping/\ndtable-server-9 http://[fd00::9]:5000/ping/'");
    expect(cmd).toContain("STATUS_URL='http://192.0.2.10:5000/nginx_status'");
    expect(cmd).toContain("TIMEOUT='5'");
  });

  test("its output: each ping, the status page's counters; anything else is an error", () => {
    const out = `ping dtable-server 200 3\nping dtable-server-2 000 5001 timed out\nstub 200 2 ${Buffer.from(STUB).toString("base64")}\n`;
    expect(parseWebProbes(out)).toEqual({
      pings: { "dtable-server": { status: 200, ms: 3 }, "dtable-server-2": { status: 0, ms: 5001, why: "timed out" } },
      statusPage: { status: 200, ms: 2, counters },
    });
    expect(parseWebProbes("stub 403 1 -\n")).toEqual({ pings: {}, statusPage: { status: 403, ms: 1 } });
    expect(parseWebProbes(`stub 200 1 ${Buffer.from("<html>").toString("base64")}\n`).statusPage).toEqual({ status: 200, ms: 1 });
    expect(() => parseWebProbes("ping x 200 3\n")).toThrow("reading what dtable-web sees of the dtable-servers and the proxy: no line for the proxy's status page");
    expect(() => parseWebProbes("stub 200 1 -\nWarning: something\n")).toThrow('reading what dtable-web sees of the dtable-servers and the proxy: unexpected line "Warning: something"');
  });

  test("stub_status's text as nginx writes it", () => {
    expect(parseStubStatus(STUB)).toEqual(counters);
    expect(parseStubStatus("Active connections: 1\n")).toBeUndefined();
  });
});

describe("the arguments", () => {
  test("--stack NAME is Pulumi.NAME.yaml beside the program; --stack-file a path; --json", () => {
    const byName = statusSetUp(["--stack", "dev"]);
    expect(byName).toMatchObject({ stack: "stack dev", json: false });
    expect("config" in byName && byName.config.hosts.web.address).toBe("192.0.2.10");
    const path = join(ROOT, "Pulumi.nope.yaml");
    expect(statusSetUp(["--stack-file", path, "--json"])).toMatchObject({ stack: `stack file ${path}`, json: true, problems: [expect.stringContaining(path)] });
  });

  test("usage: exactly one of --stack and --stack-file; unknown options refused", () => {
    expect(statusSetUp([])).toEqual({ problems: ["give exactly one of --stack and --stack-file", "usage: npm run status -- (--stack NAME | --stack-file PATH) [--json]"], json: false, stack: "status" });
    expect(statusSetUp(["--stack", "dev", "--stack-file", "x", "--json"])).toMatchObject({ json: true, problems: ["give exactly one of --stack and --stack-file", expect.any(String)] });
    expect(statusSetUp(["--stack", "dev", "--live"])).toMatchObject({ problems: [expect.stringContaining("--live"), expect.any(String)] });
    expect(statusSetUp(["--help"])).toEqual({ help: true });
  });
});
