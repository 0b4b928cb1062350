// The step that puts dtable-web's nginx site live (node-steps.ts, "site-upload"),
// run for real: its shell on this machine with the fake docker, against
// Debian's nginx running the site as seatable-server's container does (the
// one file bind-mounted; see support/site-docker.ts). A new site goes live
// only once nginx inside the container accepts it; otherwise the live file and
// the running nginx stay as they were, and the step fails with nginx's message.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { nodeSteps } from "../pure/plan/node-steps";
import type { HostStep } from "../pure/plan/rollout";
import { SiteWorld } from "./support/site-docker";
import { configOf } from "./support/stacks";

jest.setTimeout(60_000);

const config = configOf();
const WEB = config.hosts.web.name;
const step: HostStep = nodeSteps(config, config.hosts.web, "").before.find((s) => s.id === "site-upload")!;
const NEW_SITE = step.stdin!;

/** The cluster's extra_hosts in seatable-server (what the program's container has). */
const CLUSTER_HOSTS = `127.0.0.1 localhost\n127.0.0.1 ${WEB}\n127.0.0.1 ${config.hosts.db.name}\n`;
/** A container from before the cluster (a single-node install being taken over): no cluster names. */
const SINGLE_NODE_HOSTS = "127.0.0.1 localhost\n";

/** The site a single node runs: the same, with the ping locations on 127.0.0.1. */
const SINGLE_NODE_SITE = NEW_SITE.replace(`http://${WEB}:${config.proxy.port}/ping/`, `http://127.0.0.1:${config.proxy.port}/ping/`).replace(`http://${config.hosts.db.name}:7777/ping/`, "http://127.0.0.1:7777/ping/");

let root = "";
let world: SiteWorld | undefined;

async function startWorld(hosts: string, liveSite: string | undefined, running: boolean): Promise<SiteWorld> {
  root = mkdtempSync(path.join(os.tmpdir(), "seatable-site-upload-"));
  world = new SiteWorld(root, WEB, hosts);
  await world.start();
  if (liveSite !== undefined) {
    mkdirSync(path.dirname(world.siteFile), { recursive: true });
    writeFileSync(world.siteFile, liveSite);
  }
  if (running) await world.startSeatableServer();
  return world;
}

afterEach(async () => {
  await world?.stop();
  world = undefined;
  if (root) rmSync(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const leftovers = (w: SiteWorld) => [".next", ".prev"].filter((s) => existsSync(w.siteFile + s));

test("sanity: the single-node site differs from the new one only in its ping locations", () => {
  expect(SINGLE_NODE_SITE).not.toBe(NEW_SITE);
  expect(SINGLE_NODE_SITE.split("\n").filter((l, i) => l !== NEW_SITE.split("\n")[i])).toEqual(["    proxy_pass http://127.0.0.1:5000/ping/;", "    proxy_pass http://127.0.0.1:7777/ping/;"]);
});

test("a new site that nginx accepts goes live in place, and nginx reloads with it", async () => {
  const w = await startWorld(CLUSTER_HOSTS, SINGLE_NODE_SITE, true);
  const inode = statSync(w.siteFile).ino;
  const before = w.workers();
  const r = await w.runStep(step);
  expect({ code: r.code, problems: r.stderr.match(/.*\[(emerg|alert|crit|error)\].*/g) }).toEqual({ code: 0, problems: null });
  expect(readFileSync(w.siteFile, "utf8")).toBe(NEW_SITE);
  expect(statSync(w.siteFile).ino).toBe(inode); // the container's one-file mount sees it
  // the reload: only new workers serve within 10 s
  const deadline = Date.now() + 10_000;
  while (!(w.workers().length > 0 && w.workers().every((p) => !before.includes(p))) && Date.now() < deadline) await sleep(25);
  expect({ running: w.seatableServerRunning, oldWorkersLeft: w.workers().filter((p) => before.includes(p)) }).toEqual({ running: true, oldWorkersLeft: [] });
  expect(w.calls.map((c) => c.args.join(" "))).toEqual(["inspect -f {{.State.Running}} seatable-server", "exec seatable-server nginx -t", "exec seatable-server nginx -s reload"]);
  expect(leftovers(w)).toEqual([]);
});

test("a new site that nginx refuses leaves the live file and the running nginx alone; the step fails with nginx's message", async () => {
  const w = await startWorld(SINGLE_NODE_HOSTS, SINGLE_NODE_SITE, true);
  const inode = statSync(w.siteFile).ino;
  const before = w.workers();
  const r = await w.runStep(step);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/\[emerg\].* host not found in upstream "dtable-(web|db)(:\d+)?" in \/etc\/nginx\/sites-enabled\/default:\d+/);
  expect(r.stderr).toContain("the live file and the running nginx are unchanged");
  expect(readFileSync(w.siteFile, "utf8")).toBe(SINGLE_NODE_SITE);
  expect(statSync(w.siteFile).ino).toBe(inode);
  await sleep(1_000); // time for a reload, had there been one
  expect({ running: w.seatableServerRunning, workers: w.workers() }).toEqual({ running: true, workers: before });
  expect(w.calls.some((c) => c.args.includes("reload"))).toBe(false);
  expect(leftovers(w)).toEqual([]);
});

test("after a run that stopped half-way (new file in place, untested), a refused site brings back what nginx runs", async () => {
  const w = await startWorld(SINGLE_NODE_HOSTS, SINGLE_NODE_SITE, true);
  // that run had kept the running site beside it and written the new one in place
  writeFileSync(w.siteFile + ".prev", SINGLE_NODE_SITE);
  writeFileSync(w.siteFile, NEW_SITE);
  const r = await w.runStep(step);
  expect(r.code).toBe(1);
  expect(readFileSync(w.siteFile, "utf8")).toBe(SINGLE_NODE_SITE);
  expect(leftovers(w)).toEqual([]);
});

test("with seatable-server not running (first deployment), the file is written and nothing is tested or reloaded", async () => {
  const w = await startWorld(CLUSTER_HOSTS, undefined, false);
  const r = await w.runStep(step);
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
  expect(readFileSync(w.siteFile, "utf8")).toBe(NEW_SITE);
  expect(w.calls.filter((c) => c.args[0] === "exec")).toEqual([]);
  expect(leftovers(w)).toEqual([]);
});
