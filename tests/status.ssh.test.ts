// `npm run status` end to end: the command as a process, a real stack file,
// the system ssh with the options and pinned host keys the stack gives it, a
// real sshd per host at the stack's addresses, the proxy's real nginx with the
// config the plan renders, stand-in dtable-servers, and the fake docker held
// to the real dockerd (tests/support/status-cluster.ts: all of it in a network
// namespace of its own, where the stack's addresses are on loopback).
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { routingJson } from "../pure/config/routing-file";
import { buildPlan } from "../pure/plan";
import { COMPOSE_DIR, PROXY_CONFIG, PROXY_HOSTS } from "../pure/plan/containers";
import { PROXY_INSTALLED, PROXY_LEASE, PROXY_PROGRESS, PROXY_ROUTING, PROXY_SERVERS, PROXY_VERIFIED, proxyFiles, serversJson, sha256 } from "../pure/plan/rollout";
import type { StatusReport, StatusUnreadable } from "../pure/plan/status";
import { compileStandin } from "./support/dtable-standin";
import { ClusterHosts, startStatusCluster, StatusCluster } from "./support/status-cluster";
import { configOf, stackValues, writeStackFile } from "./support/stacks";

// seconds on an idle machine; much more on one shared with other test runs
jest.setTimeout(120_000);

// private addresses (the proxy's status page answers private clients only), in this test's own network
const HOSTS: ClusterHosts = {
  web: { name: "dtable-web", address: "10.0.0.10" },
  db: { name: "dtable-db", address: "10.0.0.11" },
  servers: [
    { name: "dtable-server", address: "10.0.0.21" },
    { name: "dtable-server-2", address: "10.0.0.22" },
  ],
};
const PROXY_PORT = 5080;
const VERIFIED = "stack=organization/seatable-cluster/test run=run-1";

let temp: string;
let cluster: StatusCluster | undefined;
let stackFile: string;

/** A path on dtable-web (under /opt/seatable-compose), in the world's folder. */
const onWeb = (path: string) => join(cluster!.hostDir(HOSTS.web.name), path.slice(COMPOSE_DIR.length));

beforeAll(async () => {
  temp = mkdtempSync(join(tmpdir(), "status-ssh-"));
  const standinScript = compileStandin(join(temp, "standin"));
  cluster = await startStatusCluster(join(temp, "world"), HOSTS, PROXY_PORT, standinScript);
  // the dev stack at this network's addresses, each host key pinned, our key as ssh.privateKeyPath
  const v = stackValues("dev");
  v.ssh.privateKeyPath = cluster.identityFile;
  for (const [h, at] of [[v.hosts.web, HOSTS.web], [v.hosts.db, HOSTS.db], ...v.hosts.servers.map((s: Record<string, any>, i: number) => [s, HOSTS.servers[i]])]) {
    h.address = at.address;
    h.ssh.hostKey = cluster.hostKeys[at.name];
  }
  // the proxy listens on every address of dtable-web, here the stand-ins' too: a port of its own
  v.proxy = { ...v.proxy, port: PROXY_PORT };
  stackFile = writeStackFile(temp, v);
  const config = configOf(v);
  // the proxy as a verified pulumi up leaves it
  const plan = buildPlan(config);
  const files = proxyFiles(plan);
  mkdirSync(join(onWeb(PROXY_CONFIG), ".."), { recursive: true });
  writeFileSync(onWeb(PROXY_CONFIG), files.conf);
  writeFileSync(onWeb(PROXY_HOSTS), files.hosts);
  writeFileSync(onWeb(PROXY_ROUTING), routingJson(plan.routing));
  writeFileSync(onWeb(PROXY_SERVERS), serversJson(config.hosts.servers.map((s) => ({ name: s.name, address: s.address, ssh: { user: s.ssh.user, port: s.ssh.port, hostKey: s.ssh.hostKey! } })), []));
  writeFileSync(onWeb(PROXY_INSTALLED), `conf ${sha256(files.conf)}\nhosts ${sha256(files.hosts)}\n`);
  writeFileSync(onWeb(PROXY_VERIFIED), `${VERIFIED}\n`);
  await cluster.act({ op: "start", image: config.image, proxyImage: config.proxy.image });
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  // nothing of the world outlives it: no process still names this test's folder
  let left = "";
  try {
    left = execFileSync("pgrep", ["-a", "-f", temp], { encoding: "utf8" });
  } catch {
    // pgrep exits 1 when it finds none
  }
  rmSync(temp, { recursive: true, force: true });
  expect(left).toBe("");
}, 60_000);

const json = <T = StatusReport>(stdout: string) => JSON.parse(stdout) as T;

/** OPERATIONS_SAMPLES=DIR keeps what status printed, for docs/operations.md's samples. */
const sample = (name: string, stdout: string) => {
  if (process.env.OPERATIONS_SAMPLES) writeFileSync(join(process.env.OPERATIONS_SAMPLES, `${name}.txt`), stdout);
};
const kinds = (r: StatusReport) => r.attention.map((a) => [a.kind, a.host ?? "-"]);

test("all well: exit 0; the text and the JSON say what runs where, read on the hosts", async () => {
  const text = await cluster!.status("--stack-file", stackFile);
  expect([text.code, text.stderr]).toEqual([0, ""]);
  expect(text.stdout).toMatch(/^Status of stack file .*Pulumi\.test\.yaml, as read on the hosts \(dtable-web 10\.0\.0\.10\)\n\nLease: none\nLast verified run: stack=organization\/seatable-cluster\/test run=run-1\n/);
  expect(text.stdout).toContain("  config (/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf): installed by this program, sha256 ");
  expect(text.stdout).toContain("  dtable-server    10.0.0.21      128  50.00%     0  00-7f          -\n");
  expect(text.stdout).toContain("The stack's table against the one the proxy runs: no bucket or pinned base changes server; nothing restarts.\n");
  expect(text.stdout).toMatch(/\n {2}dtable-server-2: seatable-server running, healthy, image seatable\/seatable-enterprise:6\.1\.8, started 20\d\d-\d\d-\d\dT[\d:.]+Z\n/);
  expect(text.stdout).toMatch(/\n {2}dtable-web: dtable-server-proxy running, image nginx:1\.27\.5-alpine, started /);
  expect(text.stdout).toMatch(/\n {2}dtable-server \(10\.0\.0\.21\): 200 in \d+ ms\n {2}dtable-server-2 \(10\.0\.0\.22\): 200 in \d+ ms\n/);
  expect(text.stdout).toMatch(/\nProxy status page \(http:\/\/10\.0\.0\.10:5080\/nginx_status\): \d+ active connection\(s\); (\d+) accepted, \1 handled, \d+ request\(s\) since the proxy started; /);
  expect(text.stdout.endsWith("\nAll well.\n")).toBe(true);
  sample("status-all-well", text.stdout);

  const doc = await cluster!.status("--stack-file", stackFile, "--json");
  expect([doc.code, doc.stderr, doc.stdout.split("\n").length]).toEqual([0, "", 2]);
  const r = json(doc.stdout);
  expect([r.code, r.attention, r.lease, r.quarantine, r.evicted, r.verified]).toEqual([0, [], null, null, [], VERIFIED]);
  expect(r.nodes.map((n) => [n.name, n.containers?.["seatable-server"]?.status, n.containers?.["seatable-server"]])).toEqual(
    ["dtable-web", "dtable-db", "dtable-server", "dtable-server-2"].map((name) => [name, "running", expect.objectContaining({ health: "healthy", image: "seatable/seatable-enterprise:6.1.8" })]),
  );
  expect(r.pings!.map((p) => [p.server, p.status, p.answers])).toEqual([
    ["dtable-server", 200, true],
    ["dtable-server-2", 200, true],
  ]);
  expect(r.proxy.statusPage).toMatchObject({ url: "http://10.0.0.10:5080/nginx_status", status: 200, answers: true, counters: { active: expect.any(Number) } });
});

test("a held lease: exit 1, whose it is, how old, its last step", async () => {
  const lease = "stack=organization/seatable-cluster/test run=2026-12-07T10:00:00.000Z-abc123";
  writeFileSync(onWeb(PROXY_LEASE), `${lease}\n`);
  const taken = new Date(Date.now() - 630_000);
  utimesSync(onWeb(PROXY_LEASE), taken, taken);
  writeFileSync(onWeb(PROXY_PROGRESS), `stage-1-switch ${Math.floor(Date.now() / 1000) - 150} ${lease}\n`);
  try {
    const r = await cluster!.status("--stack-file", stackFile);
    expect([r.code, r.stderr]).toEqual([1, ""]);
    expect(r.stdout).toContain(`\nLease: HELD by ${lease}, taken 10 min ago; last step completed: stage-1-switch, 2 min ago\n`);
    expect(r.stdout).toMatch(/\nNeeds the admin \(1\):\n {2}- dtable-web: \/opt\/seatable-compose\/dtable-server-proxy\/lease is held \(.*\): a change is in progress, or an earlier pulumi up stopped before its verification, .* remove the lease on dtable-web \(rm \/opt\/seatable-compose\/dtable-server-proxy\/lease\) and run pulumi up again: it starts from what the proxy runs\.\n$/);
  } finally {
    rmSync(onWeb(PROXY_LEASE));
    rmSync(onWeb(PROXY_PROGRESS));
  }
});

test("a live file changed by hand: exit 1, the file named, its hash against those installed", async () => {
  const before = readFileSync(onWeb(PROXY_CONFIG), "utf8");
  appendFileSync(onWeb(PROXY_CONFIG), "# edited by hand\n");
  try {
    const doc = await cluster!.status("--stack-file", stackFile, "--json");
    expect([doc.code, doc.stderr]).toEqual([1, ""]);
    const r = json(doc.stdout);
    expect(kinds(r)).toEqual([["changed-by-hand", "dtable-web"]]);
    expect(r.files.conf).toEqual({ path: PROXY_CONFIG, sha256: sha256(`${before}# edited by hand\n`), installed: [sha256(before)], state: "changed-by-hand" });
    expect(r.files.hosts.state).toBe("installed");
    expect(r.attention[0].message).toMatch(/^dtable-web: the proxy's config \(\/opt\/seatable-compose\/dtable-server-proxy\/nginx-proxy\.conf\) was changed by hand: /);
  } finally {
    writeFileSync(onWeb(PROXY_CONFIG), before);
  }
});

test("a server down: exit 1, its container exited and its /ping/ unanswered from dtable-web; the rest as it was", async () => {
  const server = HOSTS.servers[1].name;
  expect(await cluster!.act({ op: "docker", host: server, args: ["stop", "-t", "1", "seatable-server"] })).toMatchObject({ code: 0 });
  try {
    const doc = await cluster!.status("--stack-file", stackFile, "--json");
    expect([doc.code, doc.stderr]).toEqual([1, ""]);
    const r = json(doc.stdout);
    expect(kinds(r)).toEqual([
      ["container", server],
      ["ping", server],
    ]);
    expect(r.nodes.find((n) => n.name === server)!.containers!["seatable-server"]).toMatchObject({ status: "exited" });
    expect(r.pings!.map((p) => [p.server, p.status, p.answers])).toEqual([
      ["dtable-server", 200, true],
      [server, 0, false],
    ]);
    expect(r.pings![1].why).toMatch(/Connection refused/);
    expect(r.attention[1].message).toMatch(/^dtable-server-2 \(10\.0\.0\.22:5000\) does not answer \/ping\/ from dtable-web \(no answer \(.*Connection refused\) after \d+ ms\)/);
    const text = await cluster!.status("--stack-file", stackFile);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/\nNeeds the admin \(2\):\n/);
    sample("status-server-down", text.stdout);
  } finally {
    await cluster!.act({ op: "docker", host: server, args: ["start", "seatable-server"] });
    await cluster!.act({ op: "healthy", host: server });
  }
});

test("a node whose SSH does not answer is reported, never fatal: exit 1", async () => {
  await cluster!.act({ op: "stop-sshd", host: HOSTS.db.name });
  const doc = await cluster!.status("--stack-file", stackFile, "--json");
  expect([doc.code, doc.stderr]).toEqual([1, ""]);
  const r = json(doc.stdout);
  expect(kinds(r)).toEqual([["host-unreadable", "dtable-db"]]);
  expect(r.attention[0].message).toMatch(/^dtable-db \(10\.0\.0\.11\): its containers could not be read \(reading the containers on dtable-db \(10\.0\.0\.11\) over SSH failed: ssh: connect to host 10\.0\.0\.11 port 22: Connection refused\)/);
  // everything else was read
  expect(r.pings!.every((p) => p.answers)).toBe(true);
});

test("dtable-web unreachable: exit 2 with the reason, in the text and in the JSON", async () => {
  await cluster!.act({ op: "stop-sshd", host: HOSTS.web.name });
  const reason = "reading the proxy's live files on dtable-web (10.0.0.10) over SSH failed: ssh: connect to host 10.0.0.10 port 22: Connection refused";
  const text = await cluster!.status("--stack-file", stackFile);
  expect(text).toMatchObject({ code: 2, stdout: "", stderr: `stack file ${stackFile}: could not read the cluster: ${reason}\n` });
  const doc = await cluster!.status("--stack-file", stackFile, "--json");
  expect([doc.code, json<StatusUnreadable>(doc.stdout), doc.stderr]).toEqual([2, { code: 2, stack: `stack file ${stackFile}`, unreadable: reason }, `${reason}\n`]);
});
