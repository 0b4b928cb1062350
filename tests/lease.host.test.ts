// The first step of every change, run for real on a stand-in for dtable-web's
// /opt/seatable-compose (a private mount namespace): it takes the lease only
// when no other run holds it and the proxy's live files are the ones this stack
// recorded (or, for a stack recorded before file hashes existed, when the proxy
// runs the table applied last). Otherwise it changes nothing.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { routingJson } from "../pure/config/routing-file";
import { buildPlan } from "../pure/plan";
import { COMPOSE_DIR } from "../pure/plan/containers";
import { planStages } from "../pure/plan/stages";
import { HostStep, leaseCheck, proxyFiles, rolloutSteps, Run, sha256 } from "../pure/plan/rollout";
import { scriptVars } from "./support/host-script";
import { configOf, stackValues } from "./support/stacks";

const RUN: Run = { stack: "org/seatable-cluster/prod", id: "2026-11-25T17:00:00.000Z-abc123" };

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "lease-"));
  mkdirSync(join(root, "dtable-server-proxy"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const file = (name: string) => join(root, "dtable-server-proxy", name);

/** Runs a step's shell with `root` as /opt/seatable-compose; returns its exit status, stdout and stderr. */
function runStep(step: HostStep): { status: number; stdout: string; stderr: string } {
  // /opt is an empty tmpfs in the namespace: the mount point is made there, not on this machine
  const mounts = 'mount -t tmpfs tmpfs /opt && mkdir -p "$2" && mount --bind "$1" "$2" && exec sh -c "$3"';
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", mounts, "step", root, COMPOSE_DIR, step.command], {
    input: step.stdin ?? "",
    encoding: "utf8",
    timeout: 20_000,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** The prod stack scaled out from 4 to 5 servers, from the table applied before. */
function scaleOut(recorded: boolean) {
  const before = configOf(stackValues("prod"));
  const applied = buildPlan(before);
  const v = stackValues("prod");
  v.hosts.servers.push({ name: "dtable-server-5", address: "10.0.1.25", ssh: { hostKey: v.hosts.servers[0].ssh.hostKey } });
  const plan = buildPlan(configOf(v), applied.routing);
  const containers = Object.fromEntries([...["dtable-web", "dtable-db"], ...plan.config.hosts.servers.map((s) => s.name)].map((n) => [n, n === "dtable-server-5" ? "create" : "same"] as const));
  const stages = planStages({ plan, previousServers: before.hosts.servers, containers, maxRestarting: 1, evict: [] });
  const old = proxyFiles(applied);
  const steps = rolloutSteps({
    plan,
    stages,
    previousServers: before.hosts.servers,
    ...(recorded ? { recorded: { conf: sha256(old.conf), hosts: sha256(old.hosts) } } : {}),
    run: RUN,
    nodesChanging: false,
  });
  return { lease: steps.find((s) => s.id === "lease")!, old, appliedTable: applied.routing };
}

/** The proxy's files as the last verified up left them. */
function deployed(old: { conf: string; hosts: string }, table: Parameters<typeof routingJson>[0]) {
  writeFileSync(file("nginx-proxy.conf"), old.conf);
  writeFileSync(file("hosts"), old.hosts);
  writeFileSync(file("routing.json"), routingJson(table));
}

const snapshot = () => ["nginx-proxy.conf", "hosts", "routing.json", "lease"].map((f) => (existsSync(file(f)) ? readFileSync(file(f), "utf8") : null));

test("the files this stack recorded: the lease is taken, naming the stack and the run", () => {
  const { lease, old, appliedTable } = scaleOut(true);
  deployed(old, appliedTable);
  expect(runStep(lease)).toEqual({ status: 0, stdout: `lease taken: stack=${RUN.stack} run=${RUN.id}\n`, stderr: "" });
  expect(readFileSync(file("lease"), "utf8")).toBe(`stack=${RUN.stack} run=${RUN.id}\n`);
  // the same run again (a retried step) holds it already
  expect(runStep(lease).status).toBe(0);
});

test("a first deployment (no proxy folder on dtable-web yet): the folder is made, readable by the proxy, and the lease taken", () => {
  const { lease } = scaleOut(true);
  rmSync(join(root, "dtable-server-proxy"), { recursive: true });
  expect(runStep(lease)).toMatchObject({ status: 0, stderr: "" });
  expect((statSync(join(root, "dtable-server-proxy")).mode & 0o777).toString(8)).toBe("755");
  expect(readFileSync(file("lease"), "utf8")).toBe(`stack=${RUN.stack} run=${RUN.id}\n`);
});

test("a hand edit of the live config: refused, and nothing on the host changes", () => {
  const { lease, old, appliedTable } = scaleOut(true);
  deployed(old, appliedTable);
  writeFileSync(file("nginx-proxy.conf"), old.conf.replace("proxy_next_upstream off;", "proxy_next_upstream error;"));
  const before = snapshot();
  const r = runStep(lease);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/the proxy's config \(\/opt\/seatable-compose\/dtable-server-proxy\/nginx-proxy\.conf\) is not one this program installed \(\/opt\/seatable-compose\/dtable-server-proxy\/installed\), nor the one this stack recorded, nor one this run writes/);
  expect(snapshot()).toEqual(before);
});

test("a hand edit of the hosts file is refused the same way", () => {
  const { lease, old, appliedTable } = scaleOut(true);
  deployed(old, appliedTable);
  writeFileSync(file("hosts"), `${old.hosts}10.9.9.9 dtable-server\n`);
  const r = runStep(lease);
  expect(r.stderr).toMatch(/the proxy's hosts file/);
  expect(existsSync(file("lease"))).toBe(false);
});

test("another run's lease: refused with the way to clear it; nothing changes", () => {
  const { lease, old, appliedTable } = scaleOut(true);
  deployed(old, appliedTable);
  writeFileSync(file("lease"), "stack=org/seatable-cluster/staging run=2026-11-24T09:00:00.000Z-ffffff\n");
  const before = snapshot();
  const r = runStep(lease);
  expect(r.status).not.toBe(0);
  expect(r.stderr).toMatch(/another change holds the lease .* stack=org\/seatable-cluster\/staging run=2026-11-24.*remove the lease \(rm \/opt\/seatable-compose\/dtable-server-proxy\/lease on dtable-web\)/);
  expect(snapshot()).toEqual(before);
});

describe("a stack recorded by an earlier version of the program (no file hashes)", () => {
  test("the proxy runs the table applied last: whatever the old config's text, the lease is taken", () => {
    const { lease, old, appliedTable } = scaleOut(false);
    deployed({ conf: "# rendered by an earlier version\n", hosts: old.hosts }, appliedTable);
    expect(runStep(lease)).toMatchObject({ status: 0, stderr: "" });
  });

  test("the proxy runs another table (another stack, or a stopped up of another config): refused", () => {
    const { lease, old, appliedTable } = scaleOut(false);
    const other = { ...appliedTable, buckets: { ...appliedTable.buckets, "00": "dtable-server-4" } };
    deployed({ conf: "# rendered by an earlier version\n", hosts: old.hosts }, other);
    const r = runStep(lease);
    expect(r.stderr).toMatch(/is not one this program installed .*, nor the one this stack recorded/);
    expect(existsSync(file("lease"))).toBe(false);
  });
});

describe("a live config known only from the proxy's own record of what the program installed (an up stopped half-way)", () => {
  test("is accepted: the lease is taken", () => {
    const { lease, old, appliedTable } = scaleOut(true);
    deployed(old, appliedTable);
    // the config a stopped up's switch installed: neither recorded by the stack nor one of this run's
    const stopped = old.conf.replace("events {", "events {\n  # a stage of an earlier run");
    writeFileSync(file("nginx-proxy.conf"), stopped);
    writeFileSync(file("installed"), `conf ${sha256(stopped)}\nhosts ${sha256(old.hosts)}\n`);
    expect(runStep(lease)).toEqual({ status: 0, stdout: `lease taken: stack=${RUN.stack} run=${RUN.id}\n`, stderr: "" });
  });

  test("is refused with its message when the record does not list it, and nothing on the host changes", () => {
    const { lease, old, appliedTable } = scaleOut(true);
    deployed(old, appliedTable);
    const edited = old.conf.replace("events {", "events {\n  # a hand edit");
    writeFileSync(file("nginx-proxy.conf"), edited);
    writeFileSync(file("installed"), `conf ${sha256(old.conf)}\nhosts ${sha256(old.hosts)}\n`);
    const before = snapshot();
    const r = runStep(lease);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^the proxy's config \(\/opt\/seatable-compose\/dtable-server-proxy\/nginx-proxy\.conf\) is not one this program installed .*Undo the edit/);
    expect(snapshot()).toEqual(before);
  });
});

test("the lease check before a node step or the backup: on dtable-web this run's lease, elsewhere its claim; anything else stops it with the holder", () => {
  const check = (host: string) => ({ id: "check", host, title: "", command: leaseCheck(host, "dtable-web", RUN, "backup"), after: [] }) as HostStep;
  const lease = scriptVars(check("dtable-web").command).LEASE;
  const hostLease = scriptVars(check("dtable-db").command).HOST_LEASE_FILE;
  expect(runStep(check("dtable-web"))).toMatchObject({ status: 1, stdout: "" });
  writeFileSync(file("lease"), lease);
  expect(runStep(check("dtable-web"))).toEqual({ status: 0, stdout: "", stderr: "" });
  writeFileSync(file("lease"), "stack=org/seatable-cluster/prod run=another");
  const taken = runStep(check("dtable-web"));
  expect([taken.status, taken.stderr]).toEqual([1, expect.stringContaining("backup: this run does not hold the lease")]);
  expect(taken.stderr).toContain("it holds: stack=org/seatable-cluster/prod run=another");
  // elsewhere: the claim, in the host's /opt/seatable-compose (the stand-in folder here)
  expect(hostLease).toBe(`${COMPOSE_DIR}/seatable-cluster.lease`);
  expect(runStep(check("dtable-db"))).toMatchObject({ status: 1, stderr: expect.stringContaining("backup: this run does not hold the lease on this host") });
  writeFileSync(join(root, "seatable-cluster.lease"), lease);
  expect(runStep(check("dtable-db"))).toEqual({ status: 0, stdout: "", stderr: "" });
});
