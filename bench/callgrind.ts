// Counting what nginx does per request in CPU instructions (issue 23, part 3):
// valgrind's callgrind on ONE nginx process (`master_process off`, `daemon off`)
// that serves a fixed list of requests, sent one at a time on a keep-alive
// connection by a small client in this process. Instruction counts do not
// depend on how busy the machine is, so they can be compared run to run.
//
// What counts is the difference between two runs of the same config: one that
// serves `warmup` requests and one that serves the same `warmup` requests and
// then the `measured` ones. Start-up (reading the config, building the maps,
// compiling the regexes), the first connections and shutdown are the same in
// both, so they cancel; what is left is the cost of the measured requests,
// event loop and all, as nginx spends it in production. (callgrind's
// --toggle-collect on one function would miss the event loop around it, and
// callgrind_control has to interrupt a process blocked in epoll_wait.)
import { spawn, spawnSync } from "child_process";
import { chmodSync, closeSync, copyFileSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { canConnect, NGINX } from "../tests/support/nginx";

export const VALGRIND = "valgrind";

/** One request: its path; `check` says what is wrong with the answer (undefined: fine). */
export type Request = { readonly path: string; readonly check?: (status: number, headers: ReadonlyMap<string, string>) => string | undefined };

export type Response = { readonly status: number; readonly headers: ReadonlyMap<string, string> };

/**
 * `conf` must listen on 127.0.0.1:`port` and may not set `daemon`,
 * `master_process` or `pid` (they are given on the command line); nginx's
 * stdout (where a config logs to /dev/stdout) goes to `stdout.log` in the run's directory.
 */
export type NginxRun = { readonly conf: string; readonly hosts: string; readonly port: number };

/** Where a config set the process model: it must not, the runs set it. */
export function singleProcess(conf: string): string {
  if (/^\s*(daemon|master_process|pid)\s/m.test(conf)) throw new Error("the config sets daemon, master_process or pid itself");
  const replaced = conf.replace(/^worker_processes\s+[^;]+;/m, "worker_processes 1;");
  if (replaced === conf && !/^worker_processes 1;/m.test(conf)) throw new Error("no worker_processes line in the config");
  return replaced;
}

// $1 hosts file, $2 directory (nginx's prefix, holding nginx.conf); the rest is the command to run nginx with.
// nginx runs in a private mount namespace with the hosts file over /etc/hosts, like the tests' nginx.
const LAUNCH = ['h=$1 d=$2; shift 2;', 'mount --bind "$h" /etc/hosts &&', 'exec "$@" -p "$d/" -c "$d/nginx.conf" -e stderr -g "daemon off; master_process off; pid $d/nginx.pid;" >>"$d/stdout.log" 2>>"$d/stderr.log"'].join(" ");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A keep-alive HTTP/1.1 client that sends one request at a time and opens a new connection when nginx closes one. */
class SequentialClient {
  private socket: net.Socket | undefined;
  private buffer = Buffer.alloc(0);
  private waiting: ((r: Response | Error) => void) | undefined;
  connections = 0;

  constructor(private readonly port: number) {}

  private connect(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port: this.port });
      s.setNoDelay(true);
      s.once("connect", () => {
        this.connections += 1;
        resolve(s);
      });
      s.once("error", reject);
      s.on("data", (d: Buffer) => {
        this.buffer = Buffer.concat([this.buffer, d]);
        this.parse();
      });
      s.on("close", () => {
        if (this.socket === s) this.socket = undefined;
        const w = this.waiting;
        this.waiting = undefined;
        w?.(new Error("connection closed before a whole response"));
      });
    });
  }

  private parse(): void {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end < 0 || !this.waiting) return;
    const head = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0])?.[1] ?? 0);
    const headers = new Map<string, string>();
    for (const line of head.slice(1)) {
      const i = line.indexOf(":");
      headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
    }
    const length = Number(headers.get("content-length") ?? NaN);
    if (!Number.isFinite(length)) {
      this.waiting(new Error(`no Content-Length in the response: ${head.join(" | ")}`));
      this.waiting = undefined;
      return;
    }
    if (this.buffer.length < end + 4 + length) return;
    this.buffer = this.buffer.subarray(end + 4 + length);
    const w = this.waiting;
    this.waiting = undefined;
    const closing = (headers.get("connection") ?? "").toLowerCase() === "close";
    if (closing) {
      // nginx closes after keepalive_requests: the next request goes on a new connection
      const s = this.socket;
      this.socket = undefined;
      s?.removeAllListeners("close");
      s?.destroy();
    }
    w({ status, headers });
  }

  async send(requestPath: string): Promise<Response> {
    if (!this.socket) {
      this.buffer = Buffer.alloc(0);
      this.socket = await this.connect();
    }
    const socket = this.socket;
    const answer = new Promise<Response | Error>((resolve) => (this.waiting = resolve));
    socket.write(`GET ${requestPath} HTTP/1.1\r\nHost: dtable-web\r\nUser-Agent: seatable-bench\r\nAccept: */*\r\n\r\n`);
    const r = await answer;
    if (r instanceof Error) throw r;
    return r;
  }

  close(): void {
    this.socket?.removeAllListeners("close");
    this.socket?.destroy();
    this.socket = undefined;
  }
}

/** Sends `requests` through the client, checking each answer; the problems found (at most 5). */
async function sendAll(client: SequentialClient, requests: readonly Request[]): Promise<string[]> {
  const problems: string[] = [];
  for (const r of requests) {
    const got = await client.send(r.path);
    const problem = got.status !== 200 ? `status ${got.status}` : r.check?.(got.status, got.headers);
    if (problem && problems.length < 5) problems.push(`${r.path}: ${problem}`);
  }
  return problems;
}

export type Counted = {
  /** what the wrapper counted for the whole nginx process (start-up to exit), by name */
  readonly counts: Readonly<Record<string, number>>;
  /** connections the client opened */
  readonly connections: number;
  /** what nginx wrote to its stdout (the access log, for a config that logs there) */
  readonly stdout: string;
  /** files the config wrote in its prefix directory, by name */
  readonly files: ReadonlyMap<string, string>;
};

export type Wrapper = {
  /** the command (and arguments) that runs nginx; gets `out` to write its result to */
  readonly command: (out: string) => string[];
  /** reads the counts from `out` once nginx exited */
  readonly result: (out: string) => Record<string, number>;
};

/** valgrind's callgrind: instructions executed by the whole process (`Ir`). */
export const CALLGRIND: Wrapper = {
  command: (out) => [VALGRIND, "--tool=callgrind", "--dump-instr=no", "--compress-strings=no", `--callgrind-out-file=${out}`, NGINX],
  result: (out) => {
    const text = readFileSync(out, "utf8");
    const m = /^(?:summary|totals):\s+(\d+)/m.exec(text);
    if (!m) throw new Error(`no totals in ${out}`);
    return { Ir: Number(m[1]) };
  },
};

/** strace -c: system calls made by the whole process, by name (and `total`). */
export const STRACE: Wrapper = {
  command: (out) => ["strace", "-c", "-o", out, NGINX],
  result: (out) => {
    const counts: Record<string, number> = {};
    for (const line of readFileSync(out, "utf8").split("\n")) {
      // % time, seconds, usecs/call, calls, [errors,] syscall
      const m = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$/.exec(line);
      if (m) counts[m[2]] = Number(m[1]);
    }
    if (counts.total === undefined) throw new Error(`no strace summary in ${out}`);
    return counts;
  },
};

/**
 * Runs nginx with `run.conf` under `wrapper`, sends `requests` one after the
 * other, stops nginx (SIGQUIT: finish and exit, so that callgrind writes its
 * counts) and returns what the wrapper counted. `files` names files in the
 * prefix directory to read back before it is removed.
 */
export async function countRun(run: NginxRun, requests: readonly Request[], wrapper: Wrapper, files: readonly string[] = []): Promise<Counted> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "seatable-callgrind-"));
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, "nginx.conf"), singleProcess(run.conf));
  writeFileSync(path.join(dir, "hosts"), run.hosts);
  const out = path.join(dir, "count.out");
  const logFd = openSync(path.join(dir, "launch.log"), "a");
  const child = spawn("unshare", ["--mount", "sh", "-c", LAUNCH, "sh", path.join(dir, "hosts"), dir, ...wrapper.command(out)], { stdio: ["ignore", logFd, logFd] });
  closeSync(logFd);
  let exitCode: number | null | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code) => {
      exitCode = code;
      resolve();
    });
    child.once("error", () => resolve());
  });
  const read = (name: string) => {
    try {
      return readFileSync(path.join(dir, name), "utf8");
    } catch {
      return "";
    }
  };
  const client = new SequentialClient(run.port);
  try {
    const deadline = Date.now() + 120_000;
    while (!(await canConnect(run.port))) {
      if (exitCode !== undefined) throw new Error(`nginx exited at start (${exitCode}):\n${read("launch.log")}\n${read("stderr.log")}`);
      if (Date.now() > deadline) throw new Error(`nginx not listening on ${run.port} after 120 s:\n${read("stderr.log")}`);
      await sleep(100);
    }
    // canConnect opened (and closed) one connection; every run does the same, so it cancels out
    const problems = await sendAll(client, requests);
    client.close();
    if (problems.length > 0) throw new Error(`wrong answers through the measured nginx:\n${problems.join("\n")}`);
    // let nginx see the client's close before it is told to stop, in every run alike
    await sleep(200);
    // nginx's own pid (under strace it is strace's child; under valgrind the same process)
    const pid = Number(read("nginx.pid").trim());
    if (!(pid > 0)) throw new Error(`no nginx.pid in ${dir}`);
    process.kill(pid, "SIGQUIT");
    const stopDeadline = setTimeout(() => child.kill("SIGKILL"), 60_000);
    await exited;
    clearTimeout(stopDeadline);
    if (exitCode !== 0) throw new Error(`nginx under ${wrapper.command(out)[0]} exited ${exitCode}:\n${read("stderr.log")}`);
    if (process.env.BENCH_CALLGRIND_KEEP) copyFileSync(out, `${process.env.BENCH_CALLGRIND_KEEP}.${requests.length}`);
    return {
      counts: wrapper.result(out),
      connections: client.connections,
      stdout: read("stdout.log"),
      files: new Map(files.map((f) => [f, read(f)])),
    };
  } finally {
    client.close();
    if (exitCode === undefined) {
      // nginx itself first: under strace it is not the child
      const pid = Number(read("nginx.pid").trim());
      if (pid > 0) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      child.kill("SIGKILL");
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether `command --version` runs here. */
export function have(command: string): boolean {
  return spawnSync(command, ["--version"], { stdio: "ignore" }).status === 0;
}
