// The fake docker world of tests/support/fake-docker.ts, checked through what a
// step sees: `sh -c` with the fake `docker` first on PATH (world.runStep), as the
// program's host steps run. These are the parts other tests lean on without
// looking at them: docker inspect's Id and StartedAt, docker kill (SIGKILL, no
// save), docker update --restart, a frozen (SIGSTOPped) server, an
// unreachable host and a network partition.
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileStandin, durableContents, readEvents } from "./support/dtable-standin";
import { FakeDocker } from "./support/fake-docker";
import { addressesOf } from "./support/loopback-cluster";
import { freePort } from "./support/nginx";

jest.setTimeout(30_000);

// a loopback block of its own (rollout.host: 201, node-steps.host: 202; the load test's worlds from 0)
const WORLD = 203;
const KILL_AFTER_MS = 500;
const a = addressesOf(WORLD);
const [S0, S1, S2] = a.servers;
const INSPECT = "docker inspect -f '{{.Id}} {{.State.StartedAt}}' seatable-server";
const STARTED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/;

let root: string;
let world: FakeDocker;
beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "fake-docker-"));
  chmodSync(root, 0o755);
  world = new FakeDocker({
    root,
    web: a.web,
    db: a.db,
    proxyPort: await freePort(),
    servers: [S0, S1, S2],
    standinScript: compileStandin(join(root, "standin")),
    // never by the timer within these tests: only a SIGTERM saves
    saveIntervalMs: 60_000,
    model: "saves-on-sigterm",
    killAfterMs: KILL_AFTER_MS,
    confFiles: () => [],
  });
  await world.start();
  for (const h of [a.web, S0, S1, S2]) await world.createContainer(h.name, "v1");
});
afterAll(async () => {
  await world?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

// a failed test leaves nothing frozen or cut off for the next
afterEach(async () => {
  for (const h of [a.web, a.db, S0, S1, S2]) {
    await world.thaw(h.name);
    if (h !== a.web && h !== a.db) await world.heal(h.name);
    world.setReachable(h.name, true);
  }
});

const run = (host: string, command: string) => world.runStep({ host, command }, 15_000);

async function inspect(host: string): Promise<{ id: string; startedAt: string }> {
  const r = await run(host, INSPECT);
  expect(r).toMatchObject({ code: 0, stderr: "" });
  expect(r.stdout).toMatch(/^[0-9a-f]{64} \S+\n$/);
  const [id, startedAt] = r.stdout.trim().split(" ");
  expect(startedAt).toMatch(STARTED_AT);
  return { id, startedAt };
}

const running = async (host: string) => (await run(host, "docker inspect -f '{{.State.Running}}' seatable-server")).stdout;

/** A write to `host`'s stand-in, as the load test sends it: acknowledged once in the server's memory. */
function write(host: { address: string }, uuid: string, id: string, timeoutMs = 5_000, agent: http.Agent | false = false): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify({ id });
    const req = http.request(
      { host: host.address, port: 5000, method: "POST", path: `/api/v1/dtables/${uuid}/rows/`, headers: { authorization: "Token t", "content-type": "application/json", "content-length": Buffer.byteLength(body) }, agent },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(body);
  });
}

/** What the next load of `uuid` finds (nothing when it was never saved). */
const durable = (uuid: string) => durableContents(world.storage, world.opLog).get(uuid) ?? [];

/** The pid of `name`'s stand-in started last, and its events. */
function lastStandin(name: string): { pid: number; events: string[] } {
  const all = readEvents(world.eventLog);
  const pid = all.filter((e) => e.server === name && e.event === "start").at(-1)!.pid;
  return { pid, events: all.filter((e) => e.pid === pid).map((e) => e.event) };
}

/** The process's state letter in /proc (T: stopped), or undefined once it is gone. */
function procState(pid: number): string | undefined {
  const f = `/proc/${pid}/stat`;
  if (!existsSync(f)) return undefined;
  const stat = readFileSync(f, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2)[0];
}

/** How long the world took for the last docker call (the step around it may wait for a busy machine). */
const lastCallMs = () => world.calls.at(-1)!.ms;

const ping = (host: string, timeoutS = 0.5) => run(host, `docker exec seatable-server curl -fsS -m ${timeoutS} http://127.0.0.1:5000/ping/`);

test("docker inspect prints Id and StartedAt as Docker does: a restart keeps the Id and changes StartedAt, a stop keeps both, a start runs it again, a new container has a new Id", async () => {
  const first = await inspect(S0.name);
  // a start of this run, in UTC
  expect(Math.abs(Date.parse(first.startedAt) - Date.now())).toBeLessThan(20_000);

  expect(await run(S0.name, "docker restart -t 1 seatable-server")).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  const restarted = await inspect(S0.name);
  expect(restarted.id).toBe(first.id);
  expect(restarted.startedAt).not.toBe(first.startedAt);
  expect(Date.parse(restarted.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.startedAt));

  expect(await run(S0.name, "docker stop -t 1 seatable-server")).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  expect(await inspect(S0.name)).toEqual(restarted);
  expect(await running(S0.name)).toBe("false\n");

  // docker start: the same container runs again from a new start time; started once more, it is left as it is
  expect(await run(S0.name, "docker start seatable-server")).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  const started = await inspect(S0.name);
  expect([started.id, started.startedAt !== restarted.startedAt, await running(S0.name)]).toEqual([first.id, true, "true\n"]);
  expect(await run(S0.name, "docker start seatable-server")).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  expect(await inspect(S0.name)).toEqual(started);

  // Pulumi's replace: delete, then create
  await world.deleteContainer(S0.name, 1);
  // as Docker: the template's (empty) line on stdout, the error on stderr
  expect(await run(S0.name, INSPECT)).toMatchObject({ code: 1, stdout: "\n", stderr: "Error: No such object: seatable-server\n" });
  expect(await run(S0.name, "docker start seatable-server")).toMatchObject({ code: 1, stderr: "Error response from daemon: No such container: seatable-server\nError: failed to start containers: seatable-server\n" });
  await world.createContainer(S0.name, "v2");
  const created = await inspect(S0.name);
  expect(created.id).not.toBe(first.id);
  expect(await running(S0.name)).toBe("true\n");

  // any other field is not modelled (nor the image of a container created without one): it fails as an unknown command does
  expect((await run(S0.name, "docker inspect -f '{{.State.Pid}}' seatable-server")).code).toBe(125);
  expect((await run(S0.name, "docker inspect -f '' seatable-server")).code).toBe(125);
  expect((await run(S0.name, "docker inspect -f '{{.Config.Image}}' seatable-server")).code).toBe(125);
  // this world never started the proxy
  expect(await run(a.web.name, "docker inspect -f '{{.Id}}' dtable-server-proxy")).toMatchObject({ code: 1, stdout: "\n", stderr: "Error: No such object: dtable-server-proxy\n" });
});

test("docker kill SIGKILLs at once: a saves-on-SIGTERM server does not save, the container stays, stopped; a second kill fails as Docker's does", async () => {
  const uuid = "0a000000-0000-4000-8000-000000000001";
  const before = await inspect(S1.name);
  expect(await write(S1, uuid, "lost")).toBe(200);

  const killed = await run(S1.name, "docker kill seatable-server");
  expect(killed).toMatchObject({ code: 0, stdout: "seatable-server\n", stderr: "" });
  // no SIGTERM, no wait for a stop timeout
  expect(lastCallMs()).toBeLessThan(KILL_AFTER_MS);
  expect(lastStandin(S1.name).events).toEqual(["start", "load", "killed"]);
  expect(durable(uuid)).toEqual([]);
  expect(world.running(S1.name)).toBe(false);
  expect(await running(S1.name)).toBe("false\n");
  expect(await inspect(S1.name)).toEqual(before);

  expect(await run(S1.name, "docker kill seatable-server")).toMatchObject({ code: 1, stdout: "", stderr: `Error response from daemon: cannot kill container: seatable-server: container ${before.id} is not running\n` });
  expect(await run(a.db.name, "docker kill seatable-server")).toMatchObject({ code: 1, stderr: "Error response from daemon: cannot kill container: seatable-server: No such container: seatable-server\n" });

  // the same container starts again; a stop (SIGTERM) saves what the kill lost since
  expect((await run(S1.name, "docker restart -t 1 seatable-server")).code).toBe(0);
  expect((await inspect(S1.name)).id).toBe(before.id);
  expect(await write(S1, uuid, "kept")).toBe(200);
  expect((await run(S1.name, "docker stop -t 1 seatable-server")).code).toBe(0);
  expect(lastStandin(S1.name).events).toEqual(["start", "load", "release", "exit"]);
  expect(durable(uuid)).toEqual(["kept"]);
  expect((await run(S1.name, "docker restart -t 1 seatable-server")).code).toBe(0);
});

test("docker update --restart records the restart policy; a missing container fails as Docker's does", async () => {
  expect(world.restartPolicy(S2.name)).toBe("unless-stopped");
  expect(await run(S2.name, "docker update --restart=no seatable-server")).toMatchObject({ code: 0, stdout: "seatable-server\n", stderr: "" });
  expect(world.restartPolicy(S2.name)).toBe("no");
  expect(await run(S2.name, "docker update --restart unless-stopped seatable-server")).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  expect(world.restartPolicy(S2.name)).toBe("unless-stopped");
  expect(await run(a.db.name, "docker update --restart=no seatable-server")).toMatchObject({ code: 1, stdout: "", stderr: "Error response from daemon: No such container: seatable-server\n" });
  expect(world.restartPolicy(a.db.name)).toBeUndefined();
  expect((await run(S2.name, "docker update --restart=sometimes seatable-server")).code).toBe(125);
  // it changes nothing that runs
  expect(world.running(S2.name)).toBe(true);
});

test("a frozen server neither answers nor saves: /ping/ times out, docker stop ends in SIGKILL; thawed, it answers again", async () => {
  const uuid = "0a000000-0000-4000-8000-000000000002";
  const { pid } = lastStandin(S2.name);
  await world.freeze(S2.name);
  expect(world.frozen(S2.name)).toBe(true);
  expect(procState(pid)).toBe("T");
  // Docker does not see a SIGSTOP: the container runs
  expect(await running(S2.name)).toBe("true\n");
  const hung = await ping(S2.name);
  expect(hung.code).toBe(28);
  expect(hung.stderr).toMatch(/^curl: \(28\) Operation timed out after \d+ milliseconds with 0 bytes received\n$/);

  await world.thaw(S2.name);
  expect(world.frozen(S2.name)).toBe(false);
  expect(await ping(S2.name)).toMatchObject({ code: 0, stdout: "pong\n" });

  // a write acknowledged before the freeze is lost: the SIGTERM waits, the SIGKILL does not
  expect(await write(S2, uuid, "unsaved")).toBe(200);
  await world.freeze(S2.name);
  const stopped = await run(S2.name, "docker stop -t 1 seatable-server");
  expect(stopped).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  expect(lastCallMs()).toBeGreaterThanOrEqual(KILL_AFTER_MS);
  expect(lastStandin(S2.name).events).toEqual(["start", "load", "killed"]);
  expect(durable(uuid)).toEqual([]);
  expect(world.frozen(S2.name)).toBe(false);
  expect(procState(pid)).toBeUndefined();

  // a restart runs a new process, not frozen
  expect((await run(S2.name, "docker restart -t 1 seatable-server")).code).toBe(0);
  expect(lastStandin(S2.name).pid).not.toBe(pid);
  expect(await ping(S2.name)).toMatchObject({ code: 0, stdout: "pong\n" });
});

test("docker kill kills a frozen server at once, and it saves nothing after", async () => {
  const uuid = "0a000000-0000-4000-8000-000000000003";
  expect(await write(S2, uuid, "unsaved")).toBe(200);
  const { pid } = lastStandin(S2.name);
  await world.freeze(S2.name);
  const killed = await run(S2.name, "docker kill seatable-server");
  expect(killed).toMatchObject({ code: 0, stdout: "seatable-server\n" });
  expect(lastCallMs()).toBeLessThan(KILL_AFTER_MS);
  expect(procState(pid)).toBeUndefined();
  expect(world.frozen(S2.name)).toBe(false);
  // nothing left to thaw
  await world.thaw(S2.name);
  expect(lastStandin(S2.name).events).toEqual(["start", "load", "killed"]);
  expect(durable(uuid)).toEqual([]);
  expect(await running(S2.name)).toBe("false\n");
  await expect(world.freeze(S2.name)).rejects.toThrow(/no running seatable-server/);
  expect((await run(S2.name, "docker restart -t 1 seatable-server")).code).toBe(0);
});

test("a frozen dtable-web holds its requests until thawed", async () => {
  const pingWeb = (timeoutMs: number) =>
    new Promise<number | string>((resolve) => {
      const req = http.get({ host: a.web.address, port: 8000, path: "/api2/ping/", agent: false }, (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve(e.message));
    });
  await world.freeze(a.web.name);
  expect(await pingWeb(300)).toBe("timeout");
  const held = pingWeb(5_000);
  await new Promise((r) => setTimeout(r, 100));
  await world.thaw(a.web.name);
  expect(await held).toBe(200);
});

test("an unreachable host fails every step as ssh does, and runs them again once reachable", async () => {
  expect([a.web, a.db, S0, S1, S2].map((h) => world.reachable(h.name))).toEqual([true, true, true, true, true]);
  world.setReachable(S0.name, false);
  expect(world.reachable(S0.name)).toBe(false);
  const calls = world.calls.length;
  for (const command of ["true", "docker kill seatable-server"]) {
    expect(await run(S0.name, command)).toMatchObject({ code: 255, stdout: "", stderr: `ssh: connect to host ${S0.address} port 22: Connection timed out\n` });
  }
  // nothing reached the host's docker
  expect(world.calls.length).toBe(calls);
  expect(world.running(S0.name)).toBe(true);
  // the other hosts still answer
  expect(await run(S1.name, "echo ok")).toMatchObject({ code: 0, stdout: "ok\n" });

  world.setReachable(S0.name, true);
  expect(await run(S0.name, "echo ok")).toMatchObject({ code: 0, stdout: "ok\n" });
});

test("a partitioned server lives on unreached: SSH and port 5000 do not answer, a request on an open connection is dropped, nothing is saved; healed, it answers again", async () => {
  const uuid = "0a000000-0000-4000-8000-000000000004";
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    // a connection opened before the partition (as the proxy's upstream keepalive keeps one)
    expect(await write(S0, uuid, "before", 5_000, agent)).toBe(200);
    const { pid } = lastStandin(S0.name);
    await world.partition(S0.name);
    expect([world.isPartitioned(S0.name), world.reachable(S0.name)]).toEqual([true, false]);
    expect(await run(S0.name, "true")).toMatchObject({ code: 255, stderr: `ssh: connect to host ${S0.address} port 22: Connection timed out\n` });
    // the process lives, and Docker on the host calls it running
    expect(world.running(S0.name)).toBe(true);
    expect(procState(pid)).not.toBe("T");
    await expect(write(S0, uuid, "refused")).rejects.toThrow(/ECONNREFUSED/);
    // what comes on the open connection never arrives: no answer, not applied
    await expect(write(S0, uuid, "dropped", 500, agent)).rejects.toThrow(/no answer within 500 ms/);
    // the other hosts still answer
    expect(await run(S1.name, "echo ok")).toMatchObject({ code: 0, stdout: "ok\n" });

    await world.heal(S0.name);
    expect([world.isPartitioned(S0.name), world.reachable(S0.name)]).toEqual([false, true]);
    expect(await write(S0, uuid, "after")).toBe(200);
    expect(await ping(S0.name)).toMatchObject({ code: 0, stdout: "pong\n" });
    // the same process all along; since its cut-off it logs each answer (not the dropped write)
    expect(lastStandin(S0.name)).toEqual({ pid, events: ["start", "load", "cut-off", "reconnected", "answer", "answer"] });
    expect(durable(uuid)).toEqual([]);
    // a stop saves what it held: its write from before the partition and the one after, not the dropped one
    expect((await run(S0.name, "docker stop -t 1 seatable-server")).code).toBe(0);
    expect(durable(uuid)).toEqual(["before", "after"]);

    // cut off, a SIGTERM saves nothing; a container started while cut off starts cut off;
    // Pulumi's delete is remembered as Docker showed it
    expect((await run(S0.name, "docker restart -t 1 seatable-server")).code).toBe(0);
    expect(await write(S0, uuid, "unsaved")).toBe(200);
    await world.partition(S0.name);
    await world.deleteContainer(S0.name, 1);
    expect(lastStandin(S0.name).events).toEqual(["start", "load", "cut-off", "exit"]);
    expect(durable(uuid)).toEqual(["before", "after"]);
    expect(world.deletedContainer(S0.name)).toMatchObject({ restartPolicy: "unless-stopped", running: true });
    await world.createContainer(S0.name, "v1");
    expect(lastStandin(S0.name).events).toEqual(["start", "cut-off"]);
    await expect(write(S0, uuid, "refused")).rejects.toThrow(/ECONNREFUSED/);
    // a frozen server cannot take the heal's signal
    await world.freeze(S0.name);
    await expect(world.heal(S0.name)).rejects.toThrow(/frozen/);
    await world.thaw(S0.name);
    await world.heal(S0.name);
    expect(await write(S0, uuid, "again")).toBe(200);
  } finally {
    agent.destroy();
  }
});
