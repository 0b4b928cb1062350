// The rollout's host steps (pure/plan/rollout.ts), run one by one for real as
// their hosts run them: `sh -c` in a private mount namespace where the folder
// of a test world is /opt/seatable-compose, with the fake docker of
// tests/support/fake-docker.ts first on PATH (the proxy is Debian's nginx on
// the steps' own files, `nginx -t` is real, the dtable-servers are stand-in
// processes) and the probes run by python3. What is asserted is what an admin
// would see on dtable-web: the files in place, the lease, the reloads, the
// answers through the proxy, and the steps' exit codes and messages. The whole
// up under load is tests/rollout.load.test.ts (minutes); this file takes seconds.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { routingJson } from "../pure/config/routing-file";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { tableServers } from "../pure/plan/nginx";
import { HostStep, probePath, probeUuid, proxyFiles, rolloutSteps, Run, serverProbes, sha256 } from "../pure/plan/rollout";
import { ContainerChange, planStages, StagePlan } from "../pure/plan/stages";
import { compileStandin } from "./support/dtable-standin";
import { FakeDocker, Result } from "./support/fake-docker";
import { addressesOf, clusterConfig } from "./support/loopback-cluster";
import { freePort } from "./support/nginx";

// seconds on an idle machine; much more on one shared with mutation runs
jest.setTimeout(90_000);

const RUN: Run = { stack: "organization/seatable-cluster/host", id: "run-1" };
const LEASE_LINE = `stack=${RUN.stack} run=${RUN.id}`;
const LEASE = "/opt/seatable-compose/dtable-server-proxy/lease";
// a loopback block of its own: the load test's worlds are numbered from 0
const WORLD = 201;
const STEP_TIMEOUT_MS = 10_000;

let temp: string;
let standinScript: string;
beforeAll(() => {
  temp = mkdtempSync(join(tmpdir(), "rollout-host-"));
  standinScript = compileStandin(join(temp, "standin"));
});
afterAll(() => rmSync(temp, { recursive: true, force: true }));

let world: FakeDocker | undefined;
let root: string | undefined;
afterEach(async () => {
  await world?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
  world = undefined;
  root = undefined;
});

type Cluster = { world: FakeDocker; applied: ClusterPlan; config: (servers: number) => ReturnType<typeof clusterConfig>; proxyPort: number };

/**
 * A world whose three dtable-servers run (a new one's container is created
 * before the first step that waits for it), with the proxy on the files of
 * the table applied last, for a cluster of `servers`.
 */
async function deployed(servers: number): Promise<Cluster> {
  root = mkdtempSync(join(tmpdir(), "rollout-host-world-"));
  // nginx's workers run as nobody
  chmodSync(root, 0o755);
  const a = addressesOf(WORLD);
  const proxyPort = await freePort();
  const config = (n: number) => clusterConfig({ servers: n }, a, proxyPort);
  world = new FakeDocker({
    root,
    web: a.web,
    db: a.db,
    proxyPort,
    servers: a.servers.slice(0, 3),
    standinScript,
    saveIntervalMs: 60_000,
    model: "saves-on-sigterm",
    killAfterMs: 1_000,
    confFiles: () => [],
  });
  await world.start();
  for (const h of [a.web, ...a.servers.slice(0, 3)]) await world.createContainer(h.name, "running");
  const applied = buildPlan(config(servers));
  const files = proxyFiles(applied);
  mkdirSync(world.proxyDir, { recursive: true });
  writeFileSync(join(world.proxyDir, "nginx-proxy.conf"), files.conf);
  writeFileSync(join(world.proxyDir, "hosts"), files.hosts);
  writeFileSync(join(world.proxyDir, "routing.json"), routingJson(applied.routing));
  await world.startProxy();
  return { world, applied, config, proxyPort };
}

/** The steps from the table applied last to `servers` dtable-servers, one server down at a time. */
function change(c: Cluster, servers: number, containers: Record<string, ContainerChange> = {}): { steps: HostStep[]; stages: StagePlan; plan: ClusterPlan; byId: (id: string) => HostStep } {
  const plan = buildPlan(c.config(servers), c.applied.routing);
  const hosts = [plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers];
  const before = new Set(c.applied.config.hosts.servers.map((s) => s.name));
  const all = { ...Object.fromEntries(hosts.map((h) => [h.name, before.has(h.name) || h.role !== "dtable-server" ? "same" : "create"])), ...containers } as Record<string, ContainerChange>;
  const previousServers = c.applied.config.hosts.servers;
  const stages = planStages({ plan, previousServers, containers: all, maxRestarting: 1, evict: [] });
  const old = proxyFiles(c.applied);
  const steps = rolloutSteps({ plan, stages, previousServers, recorded: { conf: sha256(old.conf), hosts: sha256(old.hosts) }, run: RUN, nodesChanging: false });
  return { steps, stages, plan, byId: (id) => steps.find((s) => s.id === id)! };
}

const run = (step: Pick<HostStep, "host" | "command" | "stdin">) => world!.runStep(step, STEP_TIMEOUT_MS);
const live = (name: string) => {
  const f = join(world!.proxyDir, name);
  return existsSync(f) ? readFileSync(f, "utf8") : null;
};
/** What an admin sees in the proxy's folder: the live files, the lease and the reload marker. */
const proxyFolder = () => ({ conf: live("nginx-proxy.conf"), hosts: live("hosts"), routing: live("routing.json"), lease: live("lease"), pending: live("reload-pending"), incoming: readdirSync(world!.proxyDir).filter((f) => f.startsWith(".incoming")) });
const reloads = () => world!.calls.filter((c) => c.code === 0 && c.args.join(" ") === "exec dtable-server-proxy nginx -s reload -c /etc/nginx/proxy/nginx-proxy.conf").length;
const callsOf = (what: string) => world!.calls.filter((c) => c.args.join(" ").startsWith(what));

/** A request through the proxy: status and the proxy's two headers. */
function throughProxy(port: number, uuid: string): Promise<{ status: number; server: string; upstream: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: probePath(uuid), agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, server: String(res.headers["x-dtable-server"]), upstream: String(res.headers["x-dtable-upstream"]) }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error("no answer within 5 s")));
    req.on("error", reject);
  });
}

/** Reloads the proxy (its hosts file was edited) and waits until `uuid` goes to `upstream`. */
async function reloaded(port: number, uuid: string, upstream: string): Promise<void> {
  world!.reloadProxy();
  const deadline = Date.now() + 10_000;
  while ((await throughProxy(port, uuid)).upstream !== upstream) {
    if (Date.now() > deadline) throw new Error(`the proxy does not send ${uuid} to ${upstream} within 10 s of its reload`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const fails = (code: number, stderr: string): Result => ({ code, stdout: "", stderr });

test("a scale-out 2 → 3, step by step: what each step leaves on dtable-web, and what it refuses on the way", async () => {
  const c = await deployed(2);
  const { steps, stages, plan, byId } = change(c, 3);
  expect(steps.map((s) => s.id)).toEqual([
    "lease",
    "claim-dtable-server",
    "claim-dtable-server-2",
    ...[1, 2].flatMap((k) => [`stage-${k}-quarantine`, `stage-${k}-restart-${k === 1 ? "dtable-server" : "dtable-server-2"}`, `stage-${k}-switch`, `stage-${k}-verify`]),
  ]);
  const oldTable = routingJson(c.applied.routing);
  const final = proxyFiles(plan);

  const lease = await run(byId("lease"));
  expect([lease.code, lease.stdout, lease.stderr]).toEqual([0, `lease taken: ${LEASE_LINE}\n`, ""]);
  expect(live("lease")).toBe(`${LEASE_LINE}\n`);
  // each dtable-server this change restarts is claimed for this run
  for (const id of ["claim-dtable-server", "claim-dtable-server-2"]) expect((await run(byId(id))).code).toBe(0);
  const leased = proxyFolder();

  // the quarantine, first refused: a cut-off upload (before nginx -t), then a config nginx -t refuses; nothing changes
  const q = byId("stage-1-quarantine");
  const cut = await run({ ...q, stdin: q.stdin!.slice(0, 1000) });
  expect([cut.code, cut.stdout, cut.stderr]).toEqual([1, "", "the uploaded config is not the one this step rendered (cut off?); nothing changed\n"]);
  expect(callsOf("run")).toEqual([]);
  world!.intercept = (_host, args) => (args[0] === "run" ? fails(1, 'nginx: [emerg] host not found in upstream "dtable-server-3:5000"\nnginx: configuration file test failed\n') : undefined);
  const refused = await run(q);
  expect([refused.code, refused.stdout, refused.stderr]).toEqual([1, "", expect.stringContaining('nginx: [emerg] host not found in upstream "dtable-server-3:5000"')]);
  expect(proxyFolder()).toEqual(leased);
  expect(reloads()).toBe(0);

  // then installed, but the reload fails: the marker stays, and the step's next run reloads
  world!.intercept = (_host, args) => (args[0] === "exec" && args.includes("reload") ? fails(1, "Error response from daemon: cannot exec in a stopping container\n") : undefined);
  const unreloaded = await run(q);
  expect([unreloaded.code, unreloaded.stderr]).toEqual([1, expect.stringContaining("Error response from daemon: cannot exec in a stopping container")]);
  expect(proxyFolder()).toMatchObject({ conf: q.stdin, pending: "", incoming: [] });
  world!.intercept = undefined;
  const quarantined = await run(q);
  expect(quarantined.code).toBe(0);
  expect(quarantined.stdout).toBe(`the proxy runs stage-1-quarantine: config ${sha256(q.stdin!).slice(0, 12)}, hosts ${sha256(final.hosts).slice(0, 12)}\n`);
  // this stage's config and the final hosts file in place, the table not yet
  expect(proxyFolder()).toEqual({ conf: q.stdin, hosts: final.hosts, routing: oldTable, lease: `${LEASE_LINE}\n`, pending: null, incoming: [] });
  expect(reloads()).toBe(1);
  const paused = stages.stages[0].paused.buckets;
  const bucket = paused[paused.length - 1];
  expect(await throughProxy(c.proxyPort, probeUuid(stages.stages[0].before, bucket))).toMatchObject({ status: 503, server: "quarantine" });
  // run again with nothing to change: no reload
  expect((await run(q)).code).toBe(0);
  expect(reloads()).toBe(1);

  const restart = await run(byId("stage-1-restart-dtable-server"));
  expect([restart.code, restart.stdout, restart.stderr]).toEqual([0, "dtable-server answers /ping/ again\n", ""]);
  expect(callsOf("restart").map((x) => `${x.host}: ${x.args.join(" ")}`)).toEqual([`dtable-server: restart -t ${plan.config.stopTimeoutSeconds} seatable-server`]);

  // the switch: the table after the stage in place with its config; the quarantined bucket reaches its new server
  const sw = byId("stage-1-switch");
  const switched = await run(sw);
  expect(switched.code).toBe(0);
  expect(proxyFolder()).toEqual({ conf: sw.stdin, hosts: final.hosts, routing: routingJson(stages.stages[0].after), lease: `${LEASE_LINE}\n`, pending: null, incoming: [] });
  expect(reloads()).toBe(2);
  expect(await throughProxy(c.proxyPort, probeUuid(stages.stages[0].after, bucket))).toMatchObject({ status: 200, server: stages.stages[0].after.buckets[bucket] });

  // the verify, while dtable-server-3's name resolves to dtable-server-2's address in the proxy (a
  // hand edit of its hosts file): it fails naming the server
  const hosts = live("hosts")!;
  const [, two, three] = plan.config.hosts.servers;
  const probe = serverProbes(stages.stages[0].after).find((p) => p.server === three.name)!.uuid;
  writeFileSync(join(world!.proxyDir, "hosts"), hosts.replace(`${three.address} ${three.name}`, `${two.address} ${three.name}`));
  await reloaded(c.proxyPort, probe, `${two.address}:5000`);
  const wrong = await run(byId("stage-1-verify"));
  expect([wrong.code, wrong.stderr]).toEqual([1, `FAILED: a base of dtable-server-3 (${probe}) reaches dtable-server-3 through the proxy (got '', expected 'yes')\n`]);
  // put back: verified
  writeFileSync(join(world!.proxyDir, "hosts"), hosts);
  await reloaded(c.proxyPort, probe, `${three.address}:5000`);
  const verified = await run(byId("stage-1-verify"));
  expect([verified.code, verified.stderr]).toEqual([0, ""]);
  expect(verified.stdout.split("\n")).toEqual([
    "ok: the proxy runs this step's config",
    ...plan.config.hosts.servers.map((s) => `ok: ${s.name} answers /ping/ directly`),
    "ok: dtable-web answers /api2/ping/ on 8000",
    `ok: the proxy sends requests without a base to ${stages.stages[0].after.default}`,
    ...tableServers(stages.stages[0].after).map((s) => expect.stringMatching(new RegExp(`^ok: a base of ${s} \\([0-9a-f-]{36}\\) reaches ${s} through the proxy$`))),
    "",
  ]);
  expect(live("lease")).toBe(`${LEASE_LINE}\n`);

  for (const id of ["stage-2-quarantine", "stage-2-restart-dtable-server-2", "stage-2-switch"]) expect([id, (await run(byId(id))).code]).toEqual([id, 0]);

  const last = await run(byId("stage-2-verify"));
  expect([last.code, last.stderr]).toEqual([0, ""]);
  expect(last.stdout).toMatch(/\nverified; lease released\n$/);
  expect(proxyFolder()).toEqual({ conf: final.conf, hosts: final.hosts, routing: routingJson(plan.routing), lease: null, pending: null, incoming: [] });
});

test("without the lease, a proxy step and a verify stop at once naming the step; nothing changes", async () => {
  const c = await deployed(2);
  const { byId } = change(c, 3);
  const before = proxyFolder();
  for (const id of ["stage-1-quarantine", "stage-1-verify"]) {
    const r = await run(byId(id));
    expect([id, r.code, r.stdout, r.stderr]).toEqual([
      id,
      1,
      "",
      `${id}: this run does not hold the lease ${LEASE} (it holds: nothing); another run took over or the lease was removed by hand. Nothing was changed.\n`,
    ]);
  }
  expect(proxyFolder()).toEqual(before);
  expect(world!.calls).toEqual([]);
});

describe("restart and stop of a dtable-server", () => {
  test("a restart asks for /ping/ every 2 s until the server answers; with its container gone, it fails at once with docker's message", async () => {
    const c = await deployed(2);
    const { byId } = change(c, 3);
    const restart = byId("stage-1-restart-dtable-server");
    // without this run's claim on the host, nothing happens there
    const unclaimed = await run(restart);
    expect([unclaimed.code, unclaimed.stdout, world!.running("dtable-server")]).toEqual([1, "", true]);
    expect(unclaimed.stderr).toContain("stage-1-restart-dtable-server: this run does not hold the lease on this host");
    expect((await run(byId("claim-dtable-server"))).code).toBe(0);
    const pings: number[] = [];
    world!.intercept = (_host, args) => {
      if (args[0] !== "exec" || args[2] !== "curl") return undefined;
      pings.push(Date.now());
      return pings.length === 1 ? fails(7, "curl: (7) Failed to connect to 127.0.0.1 port 5000: Connection refused\n") : undefined;
    };
    const r = await run(restart);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "dtable-server answers /ping/ again\n", ""]);
    expect([pings.length, pings[1] - pings[0] >= 1_900]).toEqual([2, true]);
    await world!.deleteContainer("dtable-server", 1);
    const gone = await run(restart);
    expect([gone.code, gone.stdout, gone.stderr]).toEqual([1, "", "Error response from daemon: No such container: seatable-server\n"]);
  });

  test("a server that leaves is stopped, and says so; with its container gone (an up that stopped before making it), there is nothing to stop", async () => {
    const c = await deployed(3);
    const { steps, byId } = change(c, 2);
    const stop = steps.find((s) => /-stop-dtable-server-3$/.test(s.id))!;
    expect((await run(byId("claim-dtable-server-3"))).code).toBe(0);
    const r = await run(stop);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "stopped dtable-server-3\n", ""]);
    expect(world!.running("dtable-server-3")).toBe(false);
    await world!.deleteContainer("dtable-server-3", 1);
    const again = await run(stop);
    expect([again.code, again.stdout, again.stderr]).toEqual([0, "dtable-server-3 has no seatable-server container: nothing to stop\n", ""]);
  });
});

describe("a stage whose server must go down, whatever Pulumi does with its container", () => {
  /** Lease, claim, quarantine and mark of stage 1 for a change that plans dtable-server-2 as replaced. */
  async function markedStage(c: Cluster) {
    const { byId } = change(c, 3, { "dtable-server-2": "replace" });
    for (const id of ["lease", "claim-dtable-server-2", "stage-1-quarantine", "stage-1-mark-dtable-server-2"]) {
      const r = await run(byId(id));
      expect([id, r.code, r.stderr.replace(/^nginx: .*\n/gm, "")]).toEqual([id, 0, ""]);
    }
    return byId;
  }
  const startedAt = async () => (await run({ host: "dtable-server-2", command: "docker inspect -f '{{.Id}} {{.State.StartedAt}}' seatable-server" })).stdout;

  test("Pulumi left the container as it was (updated in place, or nothing to change): the host check restarts it inside the quarantine", async () => {
    const c = await deployed(3);
    const byId = await markedStage(c);
    const before = await startedAt();
    const r = await run(byId("stage-1-restarted-dtable-server-2"));
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(
      "seatable-server on dtable-server-2 has run since before its stage's quarantine (Pulumi did not replace it): restarting it inside the quarantine\ndtable-server-2 answers /ping/ again\n",
    );
    expect(callsOf("restart").map((x) => `${x.host}: ${x.args.join(" ")}`)).toEqual([`dtable-server-2: restart -t ${c.config(3).stopTimeoutSeconds} seatable-server`]);
    const after = await startedAt();
    // the same container, started again
    expect([after.split(" ")[0], after !== before]).toEqual([before.split(" ")[0], true]);
  });

  test("Pulumi replaced the container: no second restart", async () => {
    const c = await deployed(3);
    const byId = await markedStage(c);
    await world!.deleteContainer("dtable-server-2", 1);
    await world!.createContainer("dtable-server-2", "new spec");
    const r = await run(byId("stage-1-restarted-dtable-server-2"));
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "seatable-server on dtable-server-2 started after its stage's quarantine went live\ndtable-server-2 answers /ping/ again\n", ""]);
    expect(callsOf("restart")).toEqual([]);
  });

  test("the container is gone (Pulumi deleted it and failed to create the new one): the check fails, and the switch never runs", async () => {
    const c = await deployed(3);
    const byId = await markedStage(c);
    await world!.deleteContainer("dtable-server-2", 1);
    const r = await run(byId("stage-1-restarted-dtable-server-2"));
    expect([r.code, r.stdout, r.stderr]).toEqual([1, "", "Error: No such object: seatable-server\n"]);
  });
});
