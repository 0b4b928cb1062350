// Issue 5, "prove it": a load test of routing rollouts on this machine.
//
// Writers send acknowledged writes to 256 bases (one per bucket) through a real
// nginx running the program's rendered config, without pause, while a scale-out
// 2 → 3 and a scale-in 3 → 2 roll out. The rollout is the program's own
// HostStep list (buildPlan from the table applied before, then rolloutSteps),
// each step's shell run for real by FakeDocker (tests/support/fake-docker.ts);
// the dtable-servers are stand-in processes (tests/support/dtable-standin.ts)
// that hold bases in memory and save them every SAVE_INTERVAL and on SIGTERM.
//
// Then, after a graceful stop of every stand-in (which saves):
// - the program's order (quarantine → unload → switch → verify): every
//   acknowledged write is in storage, and no base was held by two servers at once;
// - the seed's order (switch the proxy, then restart every server) is run by the
//   same harness and must lose writes and/or hold a base twice: the harness can fail.
//
// Figures go to docs/rollout-load-test.md when asked:
//   ROLLOUT_FIGURES=1 npx jest tests/rollout.load.test.ts
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import type { ClusterConfig } from "../pure/config/schema";
import { buildPlan, ClusterPlan } from "../pure/plan/index";
import { renderProxyConfig, renderProxyHosts } from "../pure/plan/nginx";
import { HostStep, inSequence, rolloutSteps, ServerHost } from "../pure/plan/rollout";
import { bucketOf, RoutingTable } from "../pure/plan/routing";
import { compileStandin, DoubleHold, doubleHolds, readEvents, storageContents } from "./support/dtable-standin";
import { FakeDocker } from "./support/fake-docker";
import { freePort } from "./support/nginx";
import { configOf, ROOT, stackValues } from "./support/stacks";

jest.setTimeout(75_000);

const BASES = 256; // one per bucket (2 hex digits)
const WRITERS = 16; // writes in flight at once
// SAVE_INTERVAL: 300 000 ms in dtable-server, far longer than the seconds between two writes
// to a base in use. Scaled down with the write rate here (a base gets a write every 0.1 to
// 0.3 s, depending on the machine), so that, as there, a server holds unsaved writes most of the time.
const SAVE_INTERVAL_MS = 1_000;
const WARMUP_MS = 1_500; // load before the first rollout (every base loaded, saves under way)
const SETTLE_MS = 1_500; // load between and after the rollouts
const RETRY_MS = 50; // a write answered 503/502 is tried again this much later
const REQUEST_TIMEOUT_MS = 5_000;
const STEP_TIMEOUT_MS = 40_000;
const REPORT = path.join(ROOT, "docs", "rollout-load-test.md");
// The stand-ins save hundreds of small files a second: on tmpfs a save takes ~0.05 ms, on this
// machine's disk ~0.7 ms, enough to slow every stand-in to a crawl.
const TMPFS = existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();

const NAMES = ["dtable-server", "dtable-server-2", "dtable-server-3"] as const;
// Loopback addresses of their own, away from the proxy test's 127.0.0.x, one block per scenario.
const NET = `127.${1 + (process.pid % 250)}`;
const addressesOf = (scenario: number) => ({
  web: `${NET}.${scenario}.9`,
  servers: NAMES.map((name, i) => ({ name, address: `${NET}.${scenario}.${10 + i}` })),
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the cluster config -------------------------------------------------------------

/**
 * The dev stack with `count` dtable-servers on the stand-ins' loopback addresses.
 * Validation refuses loopback addresses ("not-a-host", rightly for a real
 * cluster), so the validated config is taken as the plain data it is and only
 * the addresses and the proxy's ports are replaced. Every name, port and path in
 * the steps is the program's own; only the addresses differ.
 */
function clusterConfig(count: 2 | 3, addresses: ReturnType<typeof addressesOf>, proxyPort: number, statusPort: number): ClusterConfig {
  const v = stackValues("dev");
  if (count === 3) v.hosts.servers.push({ name: NAMES[2], address: "192.0.2.23", ssh: { hostKey: v.hosts.servers[0].ssh.hostKey } });
  const valid = configOf(v);
  return {
    ...valid,
    hosts: {
      ...valid.hosts,
      web: { ...valid.hosts.web, address: addresses.web },
      servers: valid.hosts.servers.map((s) => ({ ...s, address: addresses.servers.find((a) => a.name === s.name)!.address })),
    },
    proxy: { ...valid.proxy, port: proxyPort, statusPort },
  };
}

const serverHosts = (config: ClusterConfig): ServerHost[] => config.hosts.servers.map((s) => ({ name: s.name, address: s.address, ssh: s.ssh }));

type Order = "program" | "seed";

/**
 * The seed's order, from the program's own steps: switch the proxy to the new
 * table (upload, nginx -t, reload; no quarantine), then restart every server
 * (stop the ones that leave), then verify.
 */
function seedSteps(plan: ClusterPlan, previousServers: readonly ServerHost[]): HostStep[] {
  const all = [...new Set([...previousServers.map((s) => s.name), ...plan.config.hosts.servers.map((s) => s.name)])].sort();
  const everyone = rolloutSteps({ ...plan, change: { ...plan.change, losing: all } }, previousServers);
  const pick = (prefix: string) => everyone.filter((s) => s.id.startsWith(prefix));
  return inSequence([...pick("switch-"), ...pick("unload-"), ...pick("verify")]);
}

// ---- the writers ---------------------------------------------------------------------

type Counts = { sent: number; acked: number; quarantined503: number; restarting502: number; other: number };
const zero = (): Counts => ({ sent: 0, acked: 0, quarantined503: 0, restarting502: 0, other: 0 });

type LoadBase = { uuid: string; bucket: string; busy: boolean; retryAt: number; ackTimes: number[]; acked: string[] };

function baseUuids(): string[] {
  const hex = (n: number) => Math.floor(Math.random() * 16 ** n).toString(16).padStart(n, "0");
  return Array.from({ length: BASES }, (_, i) => {
    const h = i.toString(16).padStart(2, "0") + hex(6) + hex(8) + hex(8) + hex(8);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  });
}

class Writers {
  readonly bases: LoadBase[];
  readonly counts = new Map<string, Counts>();
  phase = "warm-up";
  private stopping = false;
  private running: Promise<void>[] = [];
  private cursor = 0;
  private seq = 0;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: WRITERS });

  constructor(
    private readonly port: number,
    private readonly tag: string,
  ) {
    this.bases = baseUuids().map((uuid) => ({ uuid, bucket: bucketOf(uuid, 2), busy: false, retryAt: 0, ackTimes: [], acked: [] }));
  }

  private count(key: keyof Counts) {
    const c = this.counts.get(this.phase) ?? zero();
    c[key] += 1;
    this.counts.set(this.phase, c);
  }

  private pick(): LoadBase | undefined {
    const now = performance.now();
    for (let k = 0; k < this.bases.length; k++) {
      const b = this.bases[(this.cursor + k) % this.bases.length];
      if (!b.busy && b.retryAt <= now) {
        this.cursor = (this.cursor + k + 1) % this.bases.length;
        return b;
      }
    }
    return undefined;
  }

  private post(uuid: string, id: string): Promise<number> {
    const body = JSON.stringify({ id });
    return new Promise((resolve) => {
      const req = http.request(
        {
          host: "127.0.0.1",
          port: this.port,
          method: "POST",
          path: `/api/v1/dtables/${uuid}/rows/`,
          agent: this.agent,
          headers: { authorization: "Token load-test", "content-type": "application/json", "content-length": Buffer.byteLength(body) },
        },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
          res.on("error", () => resolve(-1));
        },
      );
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve(-1));
      req.end(body);
    });
  }

  private async worker(): Promise<void> {
    while (!this.stopping) {
      const b = this.pick();
      if (!b) {
        await sleep(5);
        continue;
      }
      b.busy = true;
      const id = `${this.tag}${++this.seq}`;
      this.count("sent");
      const status = await this.post(b.uuid, id);
      b.busy = false;
      if (status === 200) {
        // acknowledged: it must be in storage at the end
        b.acked.push(id);
        b.ackTimes.push(performance.now());
        this.count("acked");
      } else {
        // not acknowledged: try the base again later
        b.retryAt = performance.now() + RETRY_MS;
        this.count(status === 503 ? "quarantined503" : status === 502 ? "restarting502" : "other");
      }
    }
  }

  start(): void {
    this.running = Array.from({ length: WRITERS }, () => this.worker());
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.running);
    this.agent.destroy();
  }

  total(): Counts {
    const t = zero();
    for (const c of this.counts.values()) for (const k of Object.keys(t) as (keyof Counts)[]) t[k] += c[k];
    return t;
  }

  /** Per bucket, the longest time without an acknowledged write between `from` and `to` (ms). */
  pauses(from: number, to: number): Map<string, number> {
    const out = new Map<string, number>();
    for (const b of this.bases) {
      const before = b.ackTimes.filter((t) => t <= from);
      const after = b.ackTimes.find((t) => t >= to);
      const points = [before.length ? before[before.length - 1] : from, ...b.ackTimes.filter((t) => t > from && t < to), after ?? to];
      let longest = 0;
      for (let i = 1; i < points.length; i++) longest = Math.max(longest, points[i] - points[i - 1]);
      out.set(b.bucket, longest);
    }
    return out;
  }
}

// ---- one run: 2 servers, scale out to 3, scale in to 2, under load -------------------

type StepFigure = { id: string; host: string; ms: number };
type RolloutFigure = {
  label: string;
  ms: number;
  steps: StepFigure[];
  counts: Counts;
  moving: number;
  restarted: string[];
  longestPauseMoving: number;
  longestPauseOther: number;
  medianPause: number;
  worstBucket: string;
  /** bases a second server began to hold during the rollout or the settling after it */
  heldTwice: number;
  window: [bigint, bigint];
};
type RunFigure = {
  order: Order;
  rollouts: RolloutFigure[];
  total: Counts;
  lost: { base: string; id: string }[];
  lostBases: number;
  doubleHeld: DoubleHold[];
  ms: number;
};

const worlds: FakeDocker[] = [];
const webServers: http.Server[] = [];
const temps: string[] = [];
const figures: Partial<Record<Order, RunFigure>> = {};

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : 0;
};

/** dtable-web's /api2/ping/ on port 8000, which the verify step checks: a stand-in answering pong. */
async function startWebPing(address: string): Promise<void> {
  const server = http.createServer((_req, res) => res.end("pong"));
  webServers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(8000, address, resolve);
  });
}

async function run(order: Order, scenario: number): Promise<RunFigure> {
  const started = performance.now();
  const root = mkdtempSync(path.join(TMPFS, `rollout-load-${order}-`));
  chmodSync(root, 0o755);
  temps.push(root);
  const addresses = addressesOf(scenario);
  const proxyPort = await freePort();
  const statusPort = await freePort();
  const world = new FakeDocker({
    root,
    web: "dtable-web",
    proxyPort,
    servers: addresses.servers,
    standinScript: compileStandin(path.join(root, "standin")),
    saveIntervalMs: SAVE_INTERVAL_MS,
  });
  worlds.push(world);
  await world.start();
  await startWebPing(addresses.web);

  const two = clusterConfig(2, addresses, proxyPort, statusPort);
  const three = clusterConfig(3, addresses, proxyPort, statusPort);
  // The cluster as a first deployment left it: two servers, the program's table.
  const first = buildPlan(two);
  for (const s of two.hosts.servers) await world.startServer(s.name);
  await world.startProxy(renderProxyConfig(first.routing, two.hosts.servers.map((s) => s.name), two.proxy), renderProxyHosts(two.hosts.servers));

  const writers = new Writers(proxyPort, order === "program" ? "p" : "s");
  writers.start();
  try {
    await sleep(WARMUP_MS);
    return await rollouts(order, world, writers, first.routing, two, three, started);
  } finally {
    await writers.stop();
  }
}

/** Scale-out 2 → 3 and scale-in 3 → 2 from the first deployment's `table`, under load, in `order`; then the checks. */
async function rollouts(order: Order, world: FakeDocker, writers: Writers, table: RoutingTable, two: ClusterConfig, three: ClusterConfig, started: number): Promise<RunFigure> {
  const figuresOfRollouts: RolloutFigure[] = [];
  const rollout = async (label: string, plan: ClusterPlan, previousServers: ServerHost[]) => {
    const steps = order === "program" ? rolloutSteps(plan, previousServers) : seedSteps(plan, previousServers);
    writers.phase = label;
    const from = performance.now();
    const since = process.hrtime.bigint(); // the stand-ins' event clock
    const figuresOfSteps: StepFigure[] = [];
    // as the program's resources run: each step once the steps it waits for are done
    const done = new Map<string, Promise<void>>();
    for (const step of steps) {
      done.set(
        step.id,
        Promise.all(step.after.map((id) => done.get(id))).then(async () => {
          const r = await world.runStep(step, STEP_TIMEOUT_MS);
          figuresOfSteps.push({ id: step.id, host: step.host, ms: r.ms });
          if (r.code !== 0) {
            throw new Error(`${order} order, ${label}: step ${step.id} on ${step.host} failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}\n--- proxy ---\n${world.proxyOutput()}`);
          }
        }),
      );
    }
    await Promise.all(done.values());
    const to = performance.now();
    writers.phase = "steady";
    await sleep(SETTLE_MS);
    const until = process.hrtime.bigint();
    const pauses = writers.pauses(from - 500, to + 500);
    const moving = new Set(plan.change.bucketMoves.map((m) => m.bucket));
    const longest = (pick: (b: string) => boolean) => Math.max(0, ...[...pauses].filter(([b]) => pick(b)).map(([, ms]) => ms));
    const worst = [...pauses].sort((a, b) => b[1] - a[1])[0];
    figuresOfRollouts.push({
      label,
      ms: to - from,
      steps: figuresOfSteps,
      counts: writers.counts.get(label) ?? zero(),
      moving: moving.size,
      restarted: steps.filter((s) => s.id.startsWith("unload-")).map((s) => s.id.slice("unload-".length)),
      longestPauseMoving: longest((b) => moving.has(b)),
      longestPauseOther: longest((b) => !moving.has(b)),
      medianPause: median([...pauses.values()]),
      worstBucket: worst ? `${worst[0]} (${Math.round(worst[1])} ms)` : "-",
      heldTwice: 0,
      window: [since, until],
    });
  };

  // Scale-out: Pulumi starts the new server's container, then the proxy's rollout runs.
  await world.startServer(NAMES[2]);
  const out = buildPlan(three, table);
  await rollout("scale-out 2 → 3", out, serverHosts(two));
  // Scale-in: the rollout stops dtable-server-3 (or the seed's restarts do); Pulumi then deletes it.
  const back = buildPlan(two, out.routing);
  await rollout("scale-in 3 → 2", back, serverHosts(three));

  await writers.stop();
  // A final graceful stop: every server saves what it holds.
  for (const s of NAMES) await world.stopServer(s);
  await world.stop();

  const stored = storageContents(world.storage);
  const lost: { base: string; id: string }[] = [];
  for (const b of writers.bases) {
    const have = new Set(stored.get(b.uuid) ?? []);
    for (const id of b.acked) if (!have.has(id)) lost.push({ base: b.uuid, id });
  }
  const doubleHeld = doubleHolds(readEvents(world.eventLog));
  for (const r of figuresOfRollouts) r.heldTwice = new Set(doubleHeld.filter((d) => d.since >= r.window[0] && d.since < r.window[1]).map((d) => d.base)).size;
  return {
    order,
    rollouts: figuresOfRollouts,
    total: writers.total(),
    lost,
    lostBases: new Set(lost.map((l) => l.base)).size,
    doubleHeld,
    ms: performance.now() - started,
  };
}

// ---- the report --------------------------------------------------------------------------

const ms = (x: number) => `${Math.round(x)} ms`;

function describeRun(f: RunFigure): string[] {
  const title = f.order === "program" ? "The program's order: quarantine → unload → switch → verify" : "The seed's order: switch the proxy, then restart every server";
  const lines = [
    `## ${title}`,
    "",
    `- writes acknowledged: ${f.total.acked} of ${f.total.sent} sent; answered 503 (quarantine): ${f.total.quarantined503}; 502 (server restarting): ${f.total.restarting502}; other failures (connection closed by a reloading nginx, time-outs): ${f.total.other}`,
    `- acknowledged writes missing from storage after the final graceful stop: **${f.lost.length}** (in ${f.lostBases} bases)`,
    `- bases held by two servers at once: **${new Set(f.doubleHeld.map((d) => d.base)).size}**` +
      (f.doubleHeld.length ? ` (longest overlap ${ms(Math.max(...f.doubleHeld.map((d) => d.overlapMs)))}; e.g. ${f.doubleHeld[0].base}: ${f.doubleHeld[0].first} and ${f.doubleHeld[0].second})` : ""),
    `- whole run (start-up, warm-up, both rollouts, settling, final stop): ${ms(f.ms)}`,
    "",
    "| rollout | took | buckets moving | servers restarted/stopped | acknowledged | 503 | 502 | other | longest pause, a moving bucket | longest pause, another bucket | median of the buckets' longest pauses | worst bucket | bases held twice |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ...f.rollouts.map(
      (r) =>
        `| ${r.label} | ${ms(r.ms)} | ${r.moving} | ${r.restarted.join(", ")} | ${r.counts.acked} | ${r.counts.quarantined503} | ${r.counts.restarting502} | ${r.counts.other} | ${ms(r.longestPauseMoving)} | ${ms(r.longestPauseOther)} | ${ms(r.medianPause)} | ${r.worstBucket} | ${r.heldTwice} |`,
    ),
    "",
    "Time each step took:",
    "",
    "| rollout | step | host | took |",
    "| --- | --- | --- | --- |",
    ...f.rollouts.flatMap((r) => r.steps.map((s) => `| ${r.label} | ${s.id} | ${s.host} | ${ms(s.ms)} |`)),
    "",
  ];
  return lines;
}

function writeReport(): void {
  const runs = (["program", "seed"] as const).map((o) => figures[o]).filter((f): f is RunFigure => f !== undefined);
  if (runs.length === 0) return;
  const text = [
    "# Rollout load test: figures",
    "",
    "Generated by `tests/rollout.load.test.ts`; rerun with",
    "",
    "```",
    "ROLLOUT_FIGURES=1 npx jest tests/rollout.load.test.ts",
    "```",
    "",
    "(as root: it runs nginx and every step in private mount namespaces; Debian's nginx-light).",
    "Each run overwrites this file. The figures vary from run to run; they are from one run on",
    `${os.cpus().length} core(s), ${new Date().toISOString().slice(0, 10)}.`,
    "",
    "## What runs",
    "",
    `- ${BASES} bases, one per bucket (2 hex digits), written without pause by ${WRITERS} concurrent writers`,
    "  (`POST /api/v1/dtables/<uuid>/rows/`) through Debian's nginx running the program's rendered",
    "  `nginx-proxy.conf`. Only a 200 counts as acknowledged; a 503 (quarantine) or 502 (restart)",
    `  is tried again ${RETRY_MS} ms later.`,
    "- dtable-servers are stand-in processes (`tests/support/dtable-standin.ts`): a base is loaded",
    `  from the shared storage folder on first use and held; writes are kept in memory, saved every ${SAVE_INTERVAL_MS} ms`,
    "  and on SIGTERM (save all, then exit); a save writes the server's whole copy. Each appends",
    "  load/release events to a shared log. SAVE_INTERVAL is 300 000 ms in dtable-server, far longer",
    "  than the time between two writes to a base in use; it is scaled down with the write rate here",
    `  (in this run a base got a write every ${Math.round(runs[0].ms / (runs[0].total.acked / BASES))} ms on average), so that, as in production, a server`,
    "  holds unsaved writes most of the time.",
    "- Each rollout is the program's own HostStep list (`buildPlan` from the table applied before,",
    "  `rolloutSteps`), every step's shell script run for real in a private mount namespace with",
    "  /opt/seatable-compose bind-mounted, and a fake `docker` (`tests/support/fake-docker.ts`) that",
    "  maps `nginx -t`, `inspect`, `nginx -s reload`, `wget`, `restart`, `stop` and `curl` onto",
    "  this machine (real nginx, real SIGTERM and new process).",
    `- Sequence: 2 servers, ${WARMUP_MS} ms of load, scale-out 2 → 3, ${SETTLE_MS} ms, scale-in 3 → 2, ${SETTLE_MS} ms,`,
    "  writers stop, every stand-in stops gracefully (saves); then storage is checked against every",
    "  acknowledged write, and the event log for a base held by two servers at once.",
    "- A pause is the longest time a bucket went without an acknowledged write, from 0.5 s before a",
    "  rollout's first step to 0.5 s after its last.",
    "",
    "How to read the pauses: in the program's order a moving bucket answers 503 from the quarantine",
    "reload to the switch reload, which spans the restarts of the servers that lose buckets (side",
    "by side, so the slowest one counts); a bucket that stays on a restarting server answers 502 while that server",
    "restarts; the other buckets never stop. Restarts here take about a second (a stand-in process);",
    "a real dtable-server's take longer, and every pause grows with them.",
    "",
    ...runs.flatMap(describeRun),
  ].join("\n");
  // only when asked: a plain `npm test` leaves the committed report alone
  if (!process.env.ROLLOUT_FIGURES) return;
  mkdirSync(path.dirname(REPORT), { recursive: true });
  writeFileSync(REPORT, text);
}

// ---- the tests ------------------------------------------------------------------------------

afterAll(async () => {
  writeReport();
  await Promise.allSettled(worlds.map((w) => w.stop()));
  await Promise.allSettled(webServers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  for (const t of temps) rmSync(t, { recursive: true, force: true });
});

test("the program's order (quarantine → unload → switch → verify) loses no acknowledged write and never holds a base twice", async () => {
  const f = await run("program", 0);
  figures.program = f;
  expect(f.total.acked).toBeGreaterThan(1000);
  // the quarantine was exercised: moving buckets answered 503 while their server unloaded
  expect(f.total.quarantined503).toBeGreaterThan(0);
  expect(f.lost).toEqual([]);
  expect(f.doubleHeld).toEqual([]);
});

test("the seed's order (switch the proxy, then restart every server) loses writes or holds bases twice", async () => {
  const f = await run("seed", 1);
  figures.seed = f;
  expect(f.total.acked).toBeGreaterThan(1000);
  expect(f.lost.length + f.doubleHeld.length).toBeGreaterThan(0);
});

// ---- recovering from an up that stopped half-way ------------------------------------------

/** The proxy's answer for a base: status and the server header. */
function probe(port: number, uuid: string): Promise<{ status: number; server: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: `/ping/?dtable_uuid=${uuid}`, timeout: 5_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, server: String(res.headers["x-dtable-server"] ?? "") }));
    });
    req.on("timeout", () => req.destroy(new Error("probe timed out")));
    req.on("error", reject);
  });
}

/** A world with the first deployment's two servers and proxy, no load. */
async function quietWorld(scenario: number) {
  const root = mkdtempSync(path.join(TMPFS, `rollout-recovery-`));
  chmodSync(root, 0o755);
  temps.push(root);
  const addresses = addressesOf(scenario);
  const proxyPort = await freePort();
  const statusPort = await freePort();
  const world = new FakeDocker({ root, web: "dtable-web", proxyPort, servers: addresses.servers, standinScript: compileStandin(path.join(root, "standin")), saveIntervalMs: SAVE_INTERVAL_MS });
  worlds.push(world);
  await world.start();
  await startWebPing(addresses.web);
  const two = clusterConfig(2, addresses, proxyPort, statusPort);
  const three = clusterConfig(3, addresses, proxyPort, statusPort);
  for (const s of three.hosts.servers) await world.startServer(s.name);
  const first = buildPlan(two);
  await world.startProxy(renderProxyConfig(first.routing, two.hosts.servers.map((s) => s.name), two.proxy), renderProxyHosts(two.hosts.servers));
  const runSteps = async (steps: readonly HostStep[]) => {
    for (const step of steps) {
      const r = await world.runStep(step, STEP_TIMEOUT_MS);
      if (r.code !== 0) return { failed: step.id, stderr: r.stderr };
    }
    return { failed: undefined, stderr: "" };
  };
  return { world, proxyPort, two, three, first, runSteps };
}

test("an up that stopped in quarantine: the next up, with the config of before, takes the proxy out of quarantine", async () => {
  const { proxyPort, two, three, first, runSteps } = await quietWorld(2);
  const out = buildPlan(three, first.routing);
  const moving = out.change.bucketMoves[0];
  const uuid = `${moving.bucket}000000-0000-4000-8000-000000000000`;
  expect(await runSteps(rolloutSteps(out, serverHosts(two)).filter((s) => s.id.startsWith("quarantine-")))).toEqual({ failed: undefined, stderr: "" });
  expect((await probe(proxyPort, uuid)).status).toBe(503);
  // the user undoes the change: the table applied last is still the first one
  const back = buildPlan(two, first.routing);
  expect(back.change.bucketMoves).toEqual([]);
  expect(await runSteps(rolloutSteps(back, serverHosts(two)))).toEqual({ failed: undefined, stderr: "" });
  expect(await probe(proxyPort, uuid)).toEqual({ status: 200, server: moving.from });
});

test("an up that switched but did not record its table: a further change is refused before anything changes, the same change goes through", async () => {
  const { world, proxyPort, two, three, first, runSteps } = await quietWorld(3);
  const out = buildPlan(three, first.routing);
  // the whole rollout ran, but the stack still records the first table (say, verify failed)
  expect((await runSteps(rolloutSteps(out, serverHosts(two)).filter((s) => s.id !== "verify"))).failed).toBeUndefined();
  const live = () => readFileSync(path.join(world.hostDir("dtable-web"), "dtable-server-proxy", "nginx-proxy.conf"), "utf8");
  const before = live();
  // another change, computed from the recorded (first) table: refused by its first step
  const reweighted: ClusterConfig = { ...two, hosts: { ...two.hosts, servers: two.hosts.servers.map((s, i) => ({ ...s, weight: i === 1 ? 3 : 1 })) } };
  const other = rolloutSteps(buildPlan(reweighted, first.routing), serverHosts(two));
  const refused = await runSteps(other);
  expect(refused.failed).toBe(other[0].id);
  expect(refused.stderr).toMatch(/the proxy runs a routing table .* that this stack did not apply last/);
  expect(live()).toBe(before);
  const moving = out.change.bucketMoves[0];
  expect((await probe(proxyPort, `${moving.bucket}000000-0000-4000-8000-000000000000`)).server).toBe(moving.to);
  // the same change again goes through, and ends on its table
  expect(await runSteps(rolloutSteps(out, serverHosts(two)))).toEqual({ failed: undefined, stderr: "" });
});
