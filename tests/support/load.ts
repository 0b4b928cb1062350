// The load tests' shared harness (tests/rollout.load.test.ts and
// tests/rollout.recovery.load.test.ts): a fake docker world (fake-docker.ts)
// with stand-in dtable-servers (dtable-standin.ts) deployed by the program's own
// up (graph-runner.ts); writers that send acknowledged writes to one base per
// bucket through the proxy without pause; the outcome once every container has
// stopped (acknowledged writes a load does not find, bases held by two servers
// at once); and the report, docs/rollout-load-test.md, in which each test file
// rewrites only its own section.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import type { ClusterConfig } from "../../pure/config/schema";
import { bucketOf } from "../../pure/plan/routing";
import { compileStandin, DoubleHold, doubleHolds, durableContents, readEvents, StandinModel } from "./dtable-standin";
import { FakeDocker } from "./fake-docker";
import { firstStartConfFiles, GraphRun, StackState, up } from "./graph-runner";
import { freePort } from "./nginx";
import { addressesOf, clusterConfig, Shape } from "./loopback-cluster";
import { ROOT } from "./stacks";

export const BASES = 256; // one per bucket (2 hex digits)
/** Writes in flight at once, unless a test asks for fewer. */
export const WRITERS = 8;
// Each writer waits this long after a write: about 500 writes a second in all, a write to each
// base every half second, and CPU left on 2 cores for the steps' own processes.
export const PACE_MS = 15;
// SAVE_INTERVAL: 300 000 ms in dtable-server, far longer than the seconds between two writes
// to a base in use. Scaled down with the write rate here (a base gets a write about every 0.5 s),
// so that, as there, a server holds unsaved writes most of the time.
export const SAVE_INTERVAL_MS = 2_000;
// `docker stop -t 300` (stopTimeoutSeconds) waits up to 300 s before SIGKILL; here 1 s.
export const KILL_AFTER_MS = 1_000;
export const RETRY_MS = 50; // a write answered 503/502 is tried again this much later
export const REQUEST_TIMEOUT_MS = 5_000;
export const STEP_TIMEOUT_MS = 60_000;
export const OPTIONS = { stepTimeoutMs: STEP_TIMEOUT_MS };
export const REPORT = path.join(ROOT, "docs", "rollout-load-test.md");
// The stand-ins save hundreds of small files a second: tmpfs keeps that cheap.
const TMPFS = existsSync("/dev/shm") ? "/dev/shm" : os.tmpdir();
export const NEW_IMAGE = "seatable/seatable-enterprise:6.1.9";
/** The prefix of the rollout's node ids in the graph. */
export const P = "dtable-server-proxy-";

export const MODELS: readonly StandinModel[] = ["saves-on-sigterm", "crash-only"];
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- the world -------------------------------------------------------------------------

const worlds: FakeDocker[] = [];
const temps: string[] = [];

export type World = { world: FakeDocker; state: StackState; config: (shape: Shape) => ClusterConfig; proxyPort: number };

export type WorldOptions = {
  /** `docker stop/restart -t N` sends SIGKILL after min(N s, this) (KILL_AFTER_MS unless given) */
  readonly killAfterMs?: number;
};

/**
 * World `n` (its own loopback addresses) of `model`, with a first deployment
 * done by the program's own up: `servers` dtable-servers, or the given shape.
 */
export async function deployed(n: number, model: StandinModel, servers: number | Shape, o: WorldOptions = {}): Promise<World> {
  const root = mkdtempSync(path.join(TMPFS, `rollout-load-`));
  chmodSync(root, 0o755);
  temps.push(root);
  const a = addressesOf(n);
  const proxyPort = await freePort();
  const config = (shape: Shape) => clusterConfig(shape, a, proxyPort);
  const confOf = config({ servers: 5 });
  const world = new FakeDocker({
    root,
    web: a.web,
    db: a.db,
    proxyPort,
    servers: a.servers,
    standinScript: compileStandin(path.join(root, "standin")),
    saveIntervalMs: SAVE_INTERVAL_MS,
    model,
    killAfterMs: o.killAfterMs ?? KILL_AFTER_MS,
    confFiles: (host) => firstStartConfFiles(confOf, host),
  });
  worlds.push(world);
  await world.start();
  const state: StackState = {};
  const first = await up(world, state, config(typeof servers === "number" ? { servers } : servers), OPTIONS);
  expectDone(first);
  return { world, state, config, proxyPort };
}

/** Why an up did not finish (refused, failed or interrupted), or undefined when it did. */
export function unfinished(r: GraphRun & { prepared?: { refused?: string } }): string | undefined {
  if (r.prepared?.refused) return `refused: ${r.prepared.refused}`;
  if (r.failed) return `${r.failed.id} failed (exit ${r.failed.code}):\n${r.failed.stderr}\n${r.failed.stdout}`;
  if (r.interrupted) return "interrupted";
  return undefined;
}

export function expectDone(r: GraphRun & { prepared?: { refused?: string } }): void {
  const why = unfinished(r);
  if (why !== undefined) throw new Error(`the up did not finish: ${why}`);
}

/** Stops every world these tests started and removes their folders: for afterAll. */
export async function stopWorlds(): Promise<void> {
  await Promise.allSettled(worlds.map((w) => w.stop()));
  for (const t of temps.splice(0)) rmSync(t, { recursive: true, force: true });
}

// ---- the writers ---------------------------------------------------------------------

export type Counts = { sent: number; acked: number; quarantined503: number; restarting502: number; other: number };
export const zero = (): Counts => ({ sent: 0, acked: 0, quarantined503: 0, restarting502: 0, other: 0 });

/** A base under load: its acknowledged writes (with the phase each was acknowledged in) and every answer seen. */
export type LoadBase = { uuid: string; bucket: string; busy: boolean; retryAt: number; acked: { id: string; phase: string }[]; seen: { t: number; status: number }[] };

function baseUuids(): string[] {
  const hex = (n: number) => Math.floor(Math.random() * 16 ** n).toString(16).padStart(n, "0");
  return Array.from({ length: BASES }, (_, i) => {
    const h = i.toString(16).padStart(2, "0") + hex(6) + hex(8) + hex(8) + hex(8);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
  });
}

export type WritersOptions = {
  /** writes in flight at once (WRITERS unless given) */
  readonly writers?: number;
  /** each writer's pause after a write, ms (PACE_MS unless given) */
  readonly paceMs?: number;
};

/** Concurrent writers, one base per bucket, through the proxy; counted per `phase`. */
export class Writers {
  readonly bases: LoadBase[];
  readonly counts = new Map<string, Counts>();
  phase = "warm-up";
  private stopping = false;
  private running: Promise<void>[] = [];
  private cursor = 0;
  private seq = 0;
  private readonly agent: http.Agent;
  private readonly writers: number;
  private readonly paceMs: number;

  constructor(
    private readonly port: number,
    private readonly tag: string,
    o: WritersOptions = {},
  ) {
    this.writers = o.writers ?? WRITERS;
    this.paceMs = o.paceMs ?? PACE_MS;
    this.agent = new http.Agent({ keepAlive: true, maxSockets: this.writers });
    this.bases = baseUuids().map((uuid) => ({ uuid, bucket: bucketOf(uuid, 2), busy: false, retryAt: 0, acked: [], seen: [] }));
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
      await sleep(this.paceMs);
      b.seen.push({ t: performance.now(), status });
      if (status === 200) {
        // acknowledged: a load must find it at the end
        b.acked.push({ id, phase: this.phase });
        this.count("acked");
      } else {
        b.retryAt = performance.now() + RETRY_MS;
        this.count(status === 503 ? "quarantined503" : status === 502 ? "restarting502" : "other");
      }
    }
  }

  start(): void {
    this.running = Array.from({ length: this.writers }, () => this.worker());
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

  /**
   * The largest share of buckets answering 503 at one moment between `from` and
   * `to`, as the writers saw it: a bucket is paused from the first to the last
   * 503 of a run of 503s (no 200 between them).
   */
  largestPausedShare(from: number, to: number): number {
    const edges: { t: number; d: number }[] = [];
    for (const b of this.bases) {
      let first: number | undefined;
      let last = 0;
      const seen = b.seen.filter((s) => s.t >= from && s.t <= to);
      for (const s of [...seen, { t: Infinity, status: 200 }]) {
        if (s.status === 503) {
          first ??= s.t;
          last = s.t;
        } else if (s.status === 200 && first !== undefined) {
          edges.push({ t: first, d: 1 }, { t: last, d: -1 });
          first = undefined;
        }
      }
    }
    // at equal times an opening counts before a closing: a single 503 is a moment paused
    edges.sort((x, y) => x.t - y.t || y.d - x.d);
    let now = 0;
    let most = 0;
    for (const e of edges) most = Math.max(most, (now += e.d));
    return most / BASES;
  }
}

// ---- the outcome ------------------------------------------------------------------------

/** An acknowledged write a load does not find, with the phase it was acknowledged in. */
export type LostWrite = { readonly base: string; readonly id: string; readonly phase: string };

/** After the writers stopped: stop every container (as its model stops), then compare what a load finds with every acknowledged write. */
export async function outcome(world: FakeDocker, writers: Writers): Promise<{ lost: LostWrite[]; doubleHeld: DoubleHold[] }> {
  await world.stop();
  const stored = durableContents(world.storage, world.opLog);
  const lost: LostWrite[] = [];
  for (const b of writers.bases) {
    const have = new Set(stored.get(b.uuid) ?? []);
    for (const a of b.acked) if (!have.has(a.id)) lost.push({ base: b.uuid, id: a.id, phase: a.phase });
  }
  return { lost, doubleHeld: doubleHolds(readEvents(world.eventLog)) };
}

// ---- the report ----------------------------------------------------------------------------

export const LOAD_SECTION = "tests/rollout.load.test.ts";
export const RECOVERY_SECTION = "tests/rollout.recovery.load.test.ts";
const SECTIONS = [LOAD_SECTION, RECOVERY_SECTION];
const TITLE = "# Rollout load test: figures";
const SECTION = /<!-- BEGIN (\S+) -->\n([\s\S]*?)\n<!-- END \1 -->/g;

/**
 * Replaces the section `key` of docs/rollout-load-test.md with `lines`, and
 * leaves every other section as it is (a file from before the sections is the
 * load test's own section).
 */
export function writeReportSection(key: string, lines: readonly string[]): void {
  const text = existsSync(REPORT) ? readFileSync(REPORT, "utf8") : "";
  const sections = new Map<string, string>();
  for (const m of text.matchAll(SECTION)) sections.set(m[1], m[2]);
  if (sections.size === 0 && text.trim() !== "") sections.set(LOAD_SECTION, text.replace(/^# [^\n]*\n+/, "").trimEnd());
  sections.set(key, lines.join("\n").trimEnd());
  const order = [...SECTIONS.filter((k) => sections.has(k)), ...[...sections.keys()].filter((k) => !SECTIONS.includes(k))];
  const out = [
    TITLE,
    "",
    "Each section is generated by the test file it names, which rewrites only that section when run with `ROLLOUT_FIGURES=1`.",
    "",
    ...order.flatMap((k) => [`<!-- BEGIN ${k} -->`, sections.get(k)!, `<!-- END ${k} -->`, ""]),
  ].join("\n");
  mkdirSync(path.dirname(REPORT), { recursive: true });
  writeFileSync(REPORT, out);
}
