// Stand-in dtable-servers for the rollout load test (tests/rollout.load.test.ts),
// built to behave as ../shared/docs/seatable-facts.md ("Why routing must be
// fixed per base") describes dtable-server:
//
// - a base is loaded into memory on first use, from its file in a storage
//   folder all servers share (S3 in a real cluster), and then held;
// - a write is kept in memory and acknowledged (200) at once;
// - bases are saved to the storage folder every SAVE_INTERVAL (scaled down
//   from 300 000 ms to a few hundred) and on SIGTERM: save everything, then
//   exit; a save writes the server's whole copy of the base, so two servers
//   that hold the same base overwrite each other's writes;
// - `/ping/` answers `pong`; other base URLs want credentials (403 without an
//   Authorization header, and nothing is loaded), as a real dtable-server's do.
//
// Each stand-in is its own process (`docker restart` is a real SIGTERM and a
// new process): this file is that process's program when run as a script
// (`spawnDtableStandin` below does that), and the test's library otherwise.
//
// Every process appends to one event log shared by all of them: which server
// (name and pid) loaded or released which base, and when (CLOCK_MONOTONIC, the
// same clock in every process on the machine), so the test can tell whether a
// base was ever held by two servers at once.
import { ChildProcess, spawn } from "child_process";
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import * as http from "http";
import * as path from "path";

export type StandinOptions = {
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** the shared storage folder: one `<uuid>.json` per base, `{"writes": [...]}` */
  readonly storage: string;
  /** the shared event log */
  readonly eventLog: string;
  readonly saveIntervalMs: number;
};

export type BaseFile = { readonly writes: readonly string[] };

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** The write the load test sends: POST /api/v1/dtables/<uuid>/rows/ with `{"id": "<write id>"}`. */
const WRITE_PATH = new RegExp(`^/api/v1/dtables/(${UUID})/rows/$`, "i");
const ANY_BASE = new RegExp(UUID, "i");

export const baseFilePath = (storage: string, uuid: string) => path.join(storage, `${uuid}.json`);

/** The writes a base's stored file holds (none when it has never been saved). */
export function storedWrites(storage: string, uuid: string): string[] {
  const file = baseFilePath(storage, uuid);
  if (!existsSync(file)) return [];
  return [...(JSON.parse(readFileSync(file, "utf8")) as BaseFile).writes];
}

/** Every base file in the storage folder: uuid → its writes. */
export function storageContents(storage: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of readdirSync(storage)) {
    if (f.endsWith(".json")) out.set(f.slice(0, -5), storedWrites(storage, f.slice(0, -5)));
  }
  return out;
}

/** A line of the event log: `<monotonic ns> <server> <pid> <event> <base or ->`. */
export type StandinEvent = { readonly t: bigint; readonly server: string; readonly pid: number; readonly event: string; readonly base: string };

export function logEvent(eventLog: string, server: string, pid: number, event: string, base = "-"): void {
  // one short line per write(2) with O_APPEND: lines of different processes never interleave
  appendFileSync(eventLog, `${process.hrtime.bigint()} ${server} ${pid} ${event} ${base}\n`);
}

export function readEvents(eventLog: string): StandinEvent[] {
  if (!existsSync(eventLog)) return [];
  return readFileSync(eventLog, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [t, server, pid, event, base] = l.split(" ");
      return { t: BigInt(t), server, pid: Number(pid), event, base };
    });
}

/** A base held by two server processes at the same time. */
export type DoubleHold = {
  readonly base: string;
  readonly first: string;
  readonly second: string;
  /** when the second started to hold it (process.hrtime.bigint(), ns) */
  readonly since: bigint;
  /** how long both held it, ms */
  readonly overlapMs: number;
};

/**
 * From the event log: every base that two processes held at once. A process
 * holds a base from its `load` until its `release` (written after the base's
 * final save), or until its `killed`/`exit` event, or until the end of the log.
 */
export function doubleHolds(events: readonly StandinEvent[]): DoubleHold[] {
  const end = events.reduce((m, e) => (e.t > m ? e.t : m), 0n) + 1n;
  type Hold = { base: string; who: string; pid: number; from: bigint; to: bigint };
  const open = new Map<string, Hold>();
  const holds: Hold[] = [];
  const close = (key: string, t: bigint) => {
    const h = open.get(key);
    if (h) {
      h.to = t;
      holds.push(h);
      open.delete(key);
    }
  };
  for (const e of [...events].sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0))) {
    if (e.event === "load") open.set(`${e.pid} ${e.base}`, { base: e.base, who: `${e.server} (pid ${e.pid})`, pid: e.pid, from: e.t, to: end });
    else if (e.event === "release") close(`${e.pid} ${e.base}`, e.t);
    else if (e.event === "killed" || e.event === "exit") {
      for (const key of [...open.keys()]) if (key.startsWith(`${e.pid} `)) close(key, e.t);
    }
  }
  holds.push(...open.values());
  const byBase = new Map<string, Hold[]>();
  for (const h of holds) byBase.set(h.base, [...(byBase.get(h.base) ?? []), h]);
  const found: DoubleHold[] = [];
  for (const [base, list] of byBase) {
    list.sort((a, b) => (a.from < b.from ? -1 : 1));
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j].from < list[i].to; j++) {
        if (list[j].pid === list[i].pid) continue;
        const to = list[i].to < list[j].to ? list[i].to : list[j].to;
        found.push({ base, first: list[i].who, second: list[j].who, since: list[j].from, overlapMs: Number(to - list[j].from) / 1e6 });
      }
    }
  }
  return found;
}

// ---- the stand-in process ----------------------------------------------------

/** Runs one stand-in in this process until SIGTERM (save all, then exit 0). */
export function runDtableStandin(o: StandinOptions): void {
  type Base = { writes: string[]; dirty: boolean };
  const bases = new Map<string, Base>();
  const log = (event: string, base?: string) => logEvent(o.eventLog, o.name, process.pid, event, base);
  mkdirSync(o.storage, { recursive: true });

  const load = (uuid: string): Base => {
    let base = bases.get(uuid);
    if (!base) {
      base = { writes: storedWrites(o.storage, uuid), dirty: false };
      bases.set(uuid, base);
      log("load", uuid);
    }
    return base;
  };
  // the whole in-memory copy replaces the stored file (atomically: write, then rename)
  const save = (uuid: string, base: Base) => {
    const file = baseFilePath(o.storage, uuid);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ writes: base.writes } satisfies BaseFile));
    renameSync(tmp, file);
    base.dirty = false;
  };

  const reply = (res: http.ServerResponse, status: number, body: string) => {
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    const pathname = url.split("?")[0];
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (pathname === "/ping/") return reply(res, 200, "pong\n");
      const write = WRITE_PATH.exec(pathname);
      if (!ANY_BASE.test(url)) return reply(res, 404, "not found\n");
      if (!req.headers.authorization) return reply(res, 403, "no permission\n");
      if (!write || req.method !== "POST") return reply(res, 404, "not found\n");
      let id: unknown;
      try {
        id = (JSON.parse(Buffer.concat(chunks).toString()) as { id?: unknown }).id;
      } catch {
        id = undefined;
      }
      if (typeof id !== "string" || id === "") return reply(res, 400, "expected {\"id\": \"...\"}\n");
      // in memory only: the save comes later (timer or SIGTERM)
      const base = load(write[1].toLowerCase());
      base.writes.push(id);
      base.dirty = true;
      reply(res, 200, `{"server":"${o.name}"}`);
    });
  });
  // longer than nginx's upstream keepalive_timeout (4 s), as Node's default 5 s is
  server.keepAliveTimeout = 5_000;

  const timer = setInterval(() => {
    for (const [uuid, base] of bases) if (base.dirty) save(uuid, base);
  }, o.saveIntervalMs);

  // Graceful stop: synchronous, so no request is handled after the save; then release and exit.
  process.once("SIGTERM", () => {
    clearInterval(timer);
    server.close();
    for (const [uuid, base] of bases) save(uuid, base);
    for (const uuid of bases.keys()) log("release", uuid);
    log("exit");
    process.exit(0);
  });

  server.listen(o.port, o.address, () => {
    log("start");
    process.stdout.write("listening\n");
  });
}

// ---- starting one as a child process -------------------------------------------

export type StandinProcess = {
  readonly name: string;
  readonly address: string;
  readonly pid: number;
  readonly exited: Promise<void>;
  readonly running: boolean;
  /** SIGTERM, wait up to `graceMs` for the exit (the stand-in saves first), else SIGKILL. */
  stop(graceMs: number): Promise<void>;
};

const START_TIMEOUT_MS = 10_000;

/**
 * The child runs this file compiled to plain JavaScript once per test run
 * (its imports are Node's own modules): a process starts in about a tenth of
 * a second instead of the half second ts-node needs, which keeps restarts short.
 */
export function compileStandin(dir: string): string {
  // typescript is a dev dependency (ts-jest uses it); only the test process needs it
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ts = require("typescript") as typeof import("typescript");
  const source = readFileSync(__filename.replace(/\.js$/, ".ts"), "utf8");
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 } }).outputText;
  mkdirSync(dir, { recursive: true });
  const out = path.join(dir, "dtable-standin.js");
  writeFileSync(out, js);
  return out;
}

/** Starts a stand-in process from `script` (see compileStandin); resolves once it listens. */
export async function spawnDtableStandin(script: string, o: StandinOptions, outputFile: string): Promise<StandinProcess> {
  const child: ChildProcess = spawn(process.execPath, [script, JSON.stringify(o)], { stdio: ["ignore", "pipe", "pipe"] });
  let running = true;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      running = false;
      resolve();
    });
    child.once("error", () => {
      running = false;
      resolve();
    });
  });
  const pid = child.pid ?? -1;
  // last resort if the test process ends without stopping it
  const onExit = () => child.kill("SIGKILL");
  process.once("exit", onExit);
  void exited.then(() => process.off("exit", onExit));

  child.stderr?.on("data", (d: Buffer) => appendFileSync(outputFile, `[${o.name} ${pid}] ${d.toString()}`));
  const listening = new Promise<void>((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (d: Buffer) => {
      seen += d.toString();
      if (seen.includes("listening\n")) resolve();
    });
    void exited.then(() => reject(new Error(`stand-in ${o.name} exited during start-up (see ${outputFile})`)));
    setTimeout(() => reject(new Error(`stand-in ${o.name} not listening within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS).unref();
  });

  const stop = async (graceMs: number) => {
    if (!running) return;
    child.kill("SIGTERM");
    const graceful = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), graceMs).unref())]);
    if (!graceful) {
      child.kill("SIGKILL");
      logEvent(o.eventLog, o.name, pid, "killed");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000).unref())]);
    }
  };

  try {
    await listening;
  } catch (e) {
    await stop(1_000);
    throw e;
  }
  return {
    name: o.name,
    address: o.address,
    pid,
    exited,
    get running() {
      return running;
    },
    stop,
  };
}

if (require.main === module) runDtableStandin(JSON.parse(process.argv[2]) as StandinOptions);
