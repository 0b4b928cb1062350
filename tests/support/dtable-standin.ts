// Stand-in dtable-servers for the rollout load test (tests/rollout.load.test.ts),
// built to behave as ../shared/docs/seatable-facts.md ("Why routing must be
// fixed per base", and the stop) describes dtable-server:
//
// - a base is loaded into memory on first use, from its file in a storage
//   folder all servers share (S3 in a real cluster), and then held;
// - a write is applied in memory and acknowledged (200);
// - bases are saved to the storage folder every SAVE_INTERVAL (scaled down
//   from 300 000 ms); a save writes the server's whole copy of the base, so two
//   servers that hold the same base overwrite each other's writes;
// - `/ping/` answers `pong`; other base URLs want credentials (403 without an
//   Authorization header, and nothing is loaded), as a real dtable-server's do.
//
// Whether a stop saves is not known (issue 11), so there are two models:
// - `saves-on-sigterm` (today's stand-in): SIGTERM saves every base, then exits;
// - `crash-only`: SIGTERM is trapped and not forwarded (as public copies of the
//   image's start scripts do), so `docker stop` ends in SIGKILL: nothing is
//   saved. Every write is first appended to an operation log shared by all
//   servers (before its 200), each entry with the base's next version; a load
//   replays the entries after the version of the last saved snapshot (one per
//   version: a second entry with a version already replayed is a conflict,
//   as when two servers held the base at once, and is dropped).
//
// Each stand-in is its own process (`docker restart` is a real signal and a
// new process): this file is that process's program when run as a script
// (`spawnDtableStandin` below does that), and the test's library otherwise.
//
// Every process appends to one event log shared by all of them: which server
// (name and pid) loaded or released which base, and when (CLOCK_MONOTONIC, the
// same clock in every process on the machine), so the test can tell whether a
// base was ever held by two servers at once.
//
// A network partition (FakeDocker.partition/heal, see fake-docker.ts) reaches
// the process as two signals:
// - SIGUSR1, cut off: it closes its listening socket (a connect to its port is
//   refused), and a request that still comes on a connection opened before is
//   neither applied nor answered (in a partition it never arrives; the
//   connection hangs until the client gives up). Its saves cannot reach the
//   storage (S3, and the operation log's database on dtable-db, are across the
//   partition): it keeps its bases, dirty, and saves nothing; a SIGTERM then
//   saves nothing either. The process lives and holds what it held.
// - SIGUSR2, reconnected: it listens again, answers again, and its next save
//   (of every base still dirty: its copies from before the partition) comes a
//   full save interval later, so that a test can freeze it first.
// Each is acknowledged on stdout ("cut off", "listening"). From its first cut-off
// on, the process also logs every answer it gives (`answer <base or ->`) and
// every save tick that wrote a base (`saved`), so that a test can tell whether
// it answered or saved after it was cut off; before that it logs neither (the
// other load tests' logs stay as they were).
import { ChildProcess, spawn } from "child_process";
import { appendFileSync, closeSync, existsSync, fstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, writeFileSync } from "fs";
import * as http from "http";
import * as net from "net";
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
  readonly model: StandinModel;
  /** the shared operation log (crash-only): `<uuid> <version> <write id>` per line */
  readonly opLog: string;
};

export type StandinModel = "saves-on-sigterm" | "crash-only";

/** A saved snapshot: the writes it holds, and the base's version they reach. */
export type BaseFile = { readonly writes: readonly string[]; readonly version: number };

const UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
/** The write the load test sends: POST /api/v1/dtables/<uuid>/rows/ with `{"id": "<write id>"}`. */
const WRITE_PATH = new RegExp(`^/api/v1/dtables/(${UUID})/rows/$`, "i");
const ANY_BASE = new RegExp(UUID, "i");

export const baseFilePath = (storage: string, uuid: string) => path.join(storage, `${uuid}.json`);

/** A base's last saved snapshot (empty at version 0 when it has never been saved). */
export function snapshot(storage: string, uuid: string): BaseFile {
  const file = baseFilePath(storage, uuid);
  return existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as BaseFile) : { writes: [], version: 0 };
}

type OpEntry = { readonly version: number; readonly id: string };

/** The operation log, read on from where the last read stopped (only whole lines). */
class OpLogReader {
  private offset = 0;
  private rest = "";
  readonly entries = new Map<string, OpEntry[]>();

  constructor(private readonly file: string) {}

  refresh(): void {
    if (!existsSync(this.file)) return;
    const fd = openSync(this.file, "r");
    try {
      const size = fstatSync(fd).size;
      if (size <= this.offset) return;
      const buf = Buffer.alloc(size - this.offset);
      readSync(fd, buf, 0, buf.length, this.offset);
      this.offset = size;
      const lines = (this.rest + buf.toString()).split("\n");
      this.rest = lines.pop() ?? "";
      for (const line of lines) {
        const [uuid, version, id] = line.split(" ");
        this.entries.set(uuid, [...(this.entries.get(uuid) ?? []), { version: Number(version), id }]);
      }
    } finally {
      closeSync(fd);
    }
  }
}

/** What a load gives: the snapshot, then the log's entries after its version, one per version, in log order. */
function recover(base: BaseFile, entries: readonly OpEntry[]): BaseFile {
  const writes = [...base.writes];
  let version = base.version;
  for (const e of entries) {
    if (e.version !== version + 1) continue; // replayed already, or a conflicting entry of a second holder
    writes.push(e.id);
    version = e.version;
  }
  return { writes, version };
}

/** Every base as the next load would find it (snapshot, then the operation log if there is one): uuid → its writes. */
export function durableContents(storage: string, opLog: string): Map<string, readonly string[]> {
  const log = new OpLogReader(opLog);
  log.refresh();
  const uuids = new Set([...readdirSync(storage).filter((f) => f.endsWith(".json")).map((f) => f.slice(0, -5)), ...log.entries.keys()]);
  return new Map([...uuids].map((u) => [u, recover(snapshot(storage, u), log.entries.get(u) ?? []).writes]));
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

/** Runs one stand-in in this process until it is stopped (see StandinModel). */
export function runDtableStandin(o: StandinOptions): void {
  type Base = { writes: string[]; version: number; dirty: boolean };
  const bases = new Map<string, Base>();
  const log = (event: string, base?: string) => logEvent(o.eventLog, o.name, process.pid, event, base);
  const crashOnly = o.model === "crash-only";
  const opLog = new OpLogReader(o.opLog);
  mkdirSync(o.storage, { recursive: true });

  const load = (uuid: string): Base => {
    let base = bases.get(uuid);
    if (!base) {
      let stored = snapshot(o.storage, uuid);
      if (crashOnly) {
        opLog.refresh();
        stored = recover(stored, opLog.entries.get(uuid) ?? []);
      }
      base = { writes: [...stored.writes], version: stored.version, dirty: false };
      bases.set(uuid, base);
      log("load", uuid);
    }
    return base;
  };
  // the whole in-memory copy replaces the stored file (atomically: write, then rename)
  const save = (uuid: string, base: Base) => {
    const file = baseFilePath(o.storage, uuid);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ writes: base.writes, version: base.version } satisfies BaseFile));
    renameSync(tmp, file);
    base.dirty = false;
  };

  const reply = (res: http.ServerResponse, status: number, body: string) => {
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body) });
    res.end(body);
  };

  // a partition (SIGUSR1 until SIGUSR2): nothing arrives, nothing is saved
  let cutOff = false;
  // once cut off, every answer and save is logged
  let watched = false;
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = req.url ?? "/";
    const pathname = url.split("?")[0];
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      // on a connection from before the partition: dropped, neither applied nor answered
      if (cutOff) return;
      if (watched) log("answer", ANY_BASE.exec(url)?.[0].toLowerCase());
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
      if (typeof id !== "string" || !/^[A-Za-z0-9-]+$/.test(id)) return reply(res, 400, "expected {\"id\": \"...\"}\n");
      const uuid = write[1].toLowerCase();
      const base = load(uuid);
      base.version += 1;
      // crash-only: in the operation log (one write(2), O_APPEND) before the 200
      if (crashOnly) appendFileSync(o.opLog, `${uuid} ${base.version} ${id}\n`);
      base.writes.push(id);
      base.dirty = true;
      reply(res, 200, `{"server":"${o.name}"}`);
    });
  };
  const newServer = () => {
    const s = http.createServer(handler);
    // longer than nginx's upstream keepalive_timeout (4 s), as Node's default 5 s is
    s.keepAliveTimeout = 5_000;
    return s;
  };
  let server = newServer();

  const saveDirty = () => {
    // cut off: the storage does not answer; the bases stay dirty
    if (cutOff) return;
    let saved = 0;
    for (const [uuid, base] of bases) {
      if (!base.dirty) continue;
      save(uuid, base);
      saved += 1;
    }
    if (watched && saved > 0) log("saved");
  };
  let timer = setInterval(saveDirty, o.saveIntervalMs);

  process.on("SIGUSR1", () => {
    if (!cutOff) {
      cutOff = true;
      watched = true;
      // no new connection is accepted; those open stay (and hang: see the handler). http's
      // close() would also close the idle ones, which no partition does: only the listener
      net.Server.prototype.close.call(server);
      log("cut-off");
    }
    process.stdout.write("cut off\n");
  });
  process.on("SIGUSR2", () => {
    if (!cutOff) return void process.stdout.write("listening\n");
    server = newServer();
    server.listen(o.port, o.address, () => {
      cutOff = false;
      // the first save after the partition a whole interval from now
      clearInterval(timer);
      timer = setInterval(saveDirty, o.saveIntervalMs);
      log("reconnected");
      process.stdout.write("listening\n");
    });
  });

  if (crashOnly) {
    // trapped, not forwarded: `docker stop` waits for its timeout, then SIGKILL
    process.on("SIGTERM", () => log("sigterm-ignored"));
  } else {
    // Graceful stop: synchronous, so no request is handled after the save; then release and exit.
    process.once("SIGTERM", () => {
      clearInterval(timer);
      server.close();
      // cut off, the save cannot reach the storage: it exits with nothing saved
      if (!cutOff) for (const [uuid, base] of bases) save(uuid, base);
      if (!cutOff) for (const uuid of bases.keys()) log("release", uuid);
      log("exit");
      process.exit(0);
    });
  }

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
  /** As `docker stop -t`: SIGTERM, wait up to `graceMs` for the exit, else SIGKILL. */
  stop(graceMs: number): Promise<void>;
  /** SIGUSR1: cut off by a partition (see the top of this file); resolves once it no longer listens. */
  cutOff(): Promise<void>;
  /** SIGUSR2: the partition healed; resolves once it listens again. */
  reconnect(): Promise<void>;
};

const SIGNAL_TIMEOUT_MS = 5_000;

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

  // kept in `outputFile` while its folder exists (a SIGKILL at the end may come after the test removed it)
  child.stderr?.on("data", (d: Buffer) => existsSync(path.dirname(outputFile)) && appendFileSync(outputFile, `[${o.name} ${pid}] ${d.toString()}`));
  // the lines it printed, and who waits for the next of a kind
  let seen = "";
  const waiting: { line: string; count: number; resolve: () => void }[] = [];
  const count = (line: string) => seen.split("\n").filter((l) => l === line).length;
  child.stdout?.on("data", (d: Buffer) => {
    seen += d.toString();
    for (const w of waiting.splice(0)) {
      if (count(w.line) > w.count) w.resolve();
      else waiting.push(w);
    }
  });
  /** Sends `signal` and waits for one more `line` than it had printed. */
  const answered = (signal: NodeJS.Signals, line: string) => {
    if (!running) return Promise.reject(new Error(`stand-in ${o.name} (pid ${pid}) is not running`));
    const got = new Promise<void>((resolve) => waiting.push({ line, count: count(line), resolve }));
    child.kill(signal);
    // (this file's own imports are Node's only: the child runs it compiled on its own)
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`stand-in ${o.name} (pid ${pid}) did not print "${line}" within ${SIGNAL_TIMEOUT_MS} ms of ${signal} (is it frozen?)`)), SIGNAL_TIMEOUT_MS);
    });
    return Promise.race([got, late]).finally(() => clearTimeout(timer));
  };
  const listening = new Promise<void>((resolve, reject) => {
    waiting.push({ line: "listening", count: 0, resolve });
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
    cutOff: () => answered("SIGUSR1", "cut off"),
    reconnect: () => answered("SIGUSR2", "listening"),
  };
}

if (require.main === module) runDtableStandin(JSON.parse(process.argv[2]) as StandinOptions);
