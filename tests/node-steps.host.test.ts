// A node's conf-edits step (pure/plan/node-steps.ts), run for real as its host
// runs it: `sh -c` in the fake docker world of tests/support/fake-docker.ts
// (the node's /opt/seatable-server is a folder of the world, the edit script is
// hostscripts/edit-conf.py run by Debian's python3, `docker restart` restarts
// the world's seatable-server). What is asserted is what an admin would see:
// SeaTable restarted exactly when a conf file changed, and a restart that was
// lost done by the next run.
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nodeSteps } from "../pure/plan/node-steps";
import type { HostStep } from "../pure/plan/rollout";
import { compileStandin } from "./support/dtable-standin";
import { FakeDocker } from "./support/fake-docker";
import { EDIT_SCRIPT, firstStartConfFiles } from "./support/graph-runner";
import { addressesOf, clusterConfig } from "./support/loopback-cluster";
import { freePort } from "./support/nginx";

jest.setTimeout(90_000);

// a loopback block of its own (rollout.host: 201; the load test's worlds from 0)
const WORLD = 202;
const STEP_TIMEOUT_MS = 30_000;

let root: string | undefined;
let world: FakeDocker | undefined;
afterEach(async () => {
  await world?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
  world = undefined;
  root = undefined;
});

/** A world of dtable-web, dtable-db and one dtable-server, started; the test's `world`. */
async function startWorld(image?: string) {
  root = mkdtempSync(join(tmpdir(), "node-steps-host-"));
  chmodSync(root, 0o755);
  const a = addressesOf(WORLD);
  const config = clusterConfig({ servers: 1, ...(image ? { image } : {}) }, a, await freePort());
  const w = new FakeDocker({
    root,
    web: a.web,
    db: a.db,
    proxyPort: config.proxy.port,
    servers: a.servers.slice(0, 1),
    standinScript: compileStandin(join(root, "standin")),
    saveIntervalMs: 60_000,
    model: "saves-on-sigterm",
    killAfterMs: 1_000,
    confFiles: (host) => firstStartConfFiles(config, host),
  });
  world = w;
  await w.start();
  return { a, config, w };
}

test("dtable-web's conf edits restart seatable-server once when a file changed, not when none did; a lost restart is done by the next run", async () => {
  const { a, config, w } = await startWorld();
  await w.createContainer(a.web.name, "running");
  const step = nodeSteps(config, config.hosts.web, EDIT_SCRIPT).after.find((s) => s.id === "conf-edits") as HostStep;
  const settings = join(w.seatableDir(a.web.name), "seatable", "conf", "dtable_web_settings.py");
  const marker = join(w.seatableDir(a.web.name), ".conf-edits-restart-pending");
  const restarts = () => w.calls.filter((c) => c.host === a.web.name && c.args[0] === "restart");
  const run = async () => {
    const r = await w.runStep(step, STEP_TIMEOUT_MS);
    return { code: r.code, restarted: r.stdout.includes("restarted seatable-server"), stdout: r.stdout, stderr: r.stderr };
  };

  // SeaTable's first start wrote the file: the edit changes it, seatable-server restarts once, as Docker would with the stop timeout
  const first = await run();
  expect(first).toMatchObject({ code: 0, restarted: true });
  // the admin sees what the edit changed
  expect(first.stdout).toMatch(/^changed .*dtable_web_settings\.py/m);
  expect(readFileSync(settings, "utf8")).toContain("INNER_DTABLE_SERVER_URL");
  expect(restarts().map((c) => [c.args, c.code])).toEqual([[["restart", "-t", String(config.stopTimeoutSeconds), "seatable-server"], 0]]);
  expect(w.running(a.web.name)).toBe(true);
  expect(existsSync(marker)).toBe(false);

  // nothing to change: no restart
  expect(await run()).toMatchObject({ code: 0, restarted: false });
  expect(restarts()).toHaveLength(1);

  // the file changed back (as by hand), and docker's restart fails: the step fails and remembers the restart
  writeFileSync(settings, "# written by seatable-server on its first start\n");
  const past = new Date(Date.now() - 60_000);
  utimesSync(settings, past, past);
  w.intercept = (_host, args) => (args[0] === "restart" ? { code: 1, stdout: "", stderr: "Error response from daemon: Cannot restart container seatable-server\n" } : undefined);
  const lost = await run();
  expect(lost.code).not.toBe(0);
  expect(lost.restarted).toBe(false);
  expect(existsSync(marker)).toBe(true);

  // the next run has nothing to change, and restarts because of the marker
  w.intercept = undefined;
  expect(await run()).toMatchObject({ code: 0, restarted: true });
  expect(existsSync(marker)).toBe(false);
  expect(restarts().map((c) => c.code)).toEqual([0, 1, 0]);
});

test("a dtable-server's container that Pulumi left stopped is started and waited for; a running one is left alone", async () => {
  const { config, w } = await startWorld();
  const server = config.hosts.servers[0];
  await w.createContainer(server.name, "running");
  const step = nodeSteps(config, server, EDIT_SCRIPT).after.find((s) => s.id === "running") as HostStep;
  const starts = () => w.calls.filter((c) => c.host === server.name && c.args[0] === "start");
  expect(await w.runStep(step, STEP_TIMEOUT_MS)).toMatchObject({ code: 0, stdout: `${server.name} answers /ping/ again\n`, stderr: "" });
  expect(starts()).toEqual([]);
  // stopped (an up that stopped after its stop step), its spec unchanged
  expect((await w.runStep({ host: server.name, command: "docker stop -t 1 seatable-server" })).code).toBe(0);
  expect(w.running(server.name)).toBe(false);
  expect(await w.runStep(step, STEP_TIMEOUT_MS)).toMatchObject({ code: 0, stdout: `started seatable-server on ${server.name}: it was not running\n${server.name} answers /ping/ again\n`, stderr: "" });
  expect([starts().length, w.running(server.name)]).toEqual([1, true]);
  // hung (Docker calls it running, it answers nothing) and restarted by its stage: started if stopped, never waited for here
  const staged = nodeSteps(config, server, EDIT_SCRIPT, { restartedInStage: true }).after.find((s) => s.id === "running") as HostStep;
  await w.freeze(server.name);
  const hung = await w.runStep(staged, STEP_TIMEOUT_MS);
  expect(hung).toMatchObject({ code: 0, stdout: `seatable-server on ${server.name}: its stage restarts it and waits for /ping/\n`, stderr: "" });
  expect(hung.ms).toBeLessThan(5_000);
  await w.thaw(server.name);
  expect((await w.runStep({ host: server.name, command: "docker stop -t 1 seatable-server" })).code).toBe(0);
  expect(await w.runStep(staged, STEP_TIMEOUT_MS)).toMatchObject({ code: 0, stdout: `started seatable-server on ${server.name}: it was not running\nseatable-server on ${server.name}: its stage restarts it and waits for /ping/\n` });
  expect([starts().length, w.running(server.name)]).toEqual([2, true]);
});

test("6.2: a change of dtable_web_settings.py alone reloads dtable-web (gunicorn HUP) instead of restarting; gunicorn.py's bind restarts; a lost reload is done by the next run", async () => {
  const { a, config, w } = await startWorld("seatable/seatable-enterprise:6.2.13");
  await w.createContainer(a.web.name, "running");
  const step = nodeSteps(config, config.hosts.web, EDIT_SCRIPT).after.find((s) => s.id === "conf-edits") as HostStep;
  const conf = join(w.seatableDir(a.web.name), "seatable", "conf");
  const marker = join(w.seatableDir(a.web.name), ".conf-edits-restart-pending");
  const restarts = () => w.calls.filter((c) => c.host === a.web.name && c.args[0] === "restart");
  const past = () => new Date(Date.now() - 60_000);
  const write = (file: string, text: string) => {
    writeFileSync(join(conf, file), text);
    utimesSync(join(conf, file), past(), past());
  };
  // as SeaTable 6.2's first start writes it: gunicorn already binds 0.0.0.0:8000
  write("gunicorn.py", "bind = '0.0.0.0:8000'\n");

  const first = await w.runStep(step, STEP_TIMEOUT_MS);
  expect(first).toMatchObject({ code: 0, stderr: "" });
  expect(first.stdout).toMatch(/^changed dtable_web_settings\.py$/m);
  expect(first.stdout).toMatch(/^reloaded dtable-web in seatable-server \(gunicorn HUP\): only dtable_web_settings\.py changed$/m);
  expect([w.webReloads, restarts().length, existsSync(marker)]).toEqual([1, 0, false]);

  // the bind changed by hand: a reload does not take it, seatable-server restarts
  write("gunicorn.py", "bind = '127.0.0.1:8000'\n");
  const bind = await w.runStep(step, STEP_TIMEOUT_MS);
  expect(bind.stdout).toMatch(/^restarted seatable-server$/m);
  expect([w.webReloads, restarts().length]).toEqual([1, 1]);

  // the reload fails (docker does not answer): the step fails, the marker keeps the file, the next run reloads
  write("dtable_web_settings.py", "# changed back by hand\n");
  w.intercept = (_host, args) => (args[0] === "exec" ? { code: 1, stdout: "", stderr: "Error response from daemon: container is restarting\n" } : undefined);
  expect((await w.runStep(step, STEP_TIMEOUT_MS)).code).not.toBe(0);
  expect(readFileSync(marker, "utf8")).toBe("dtable_web_settings.py\n");
  w.intercept = undefined;
  const again = await w.runStep(step, STEP_TIMEOUT_MS);
  expect(again.stdout).toMatch(/^reloaded dtable-web in seatable-server \(gunicorn HUP\): only dtable_web_settings\.py changed$/m);
  expect([w.webReloads, restarts().length, existsSync(marker)]).toEqual([2, 1, false]);

  // a marker an older version left (empty): a restart, as before
  writeFileSync(marker, "");
  expect((await w.runStep(step, STEP_TIMEOUT_MS)).stdout).toMatch(/^restarted seatable-server$/m);
  expect(restarts()).toHaveLength(2);
});
