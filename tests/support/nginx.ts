// A real nginx (Debian's) for the tests, run on loopback with a rendered config.
// Upstream names resolve through a rendered hosts file: nginx runs in a private
// mount namespace in which that file is bind-mounted over /etc/hosts, so the
// machine's own /etc/hosts is never touched.
//
// Layout: one directory per nginx holding `nginx.conf` and `hosts`; it is also
// nginx's prefix (temp directories, pid file). nginx's stdout, where the rendered
// config writes its access log, goes to `access.log` there.
import { spawn } from "child_process";
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { spawnGroup } from "./process-group";
import { withTimeout } from "./standins";

export const NGINX = "/usr/sbin/nginx";
const TEST_TIMEOUT_MS = 15_000;
const READY_TIMEOUT_MS = 10_000;
const RELOAD_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const MAX_OUTPUT = 64 * 1024;

// $1 hosts file, $2 prefix directory, $3 config file; further arguments go to nginx.
const LAUNCH = [
  'h=$1 d=$2 c=$3; shift 3;',
  'mount --bind "$h" /etc/hosts &&',
  'exec "$0" -p "$d/" -c "$c" -e stderr -g "daemon off; pid $d/nginx.pid;" "$@" >>"$d/access.log"',
].join(" ");

function launchArgs(dir: string, extra: readonly string[]): string[] {
  return ["--mount", "sh", "-c", LAUNCH, NGINX, path.join(dir, "hosts"), dir, path.join(dir, "nginx.conf"), ...extra];
}

/** A fresh nginx directory with `hosts` written (and `nginx.conf` if given). */
export function nginxDir(hostsText: string, confText?: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "seatable-nginx-"));
  // Workers run as nobody: they must be able to reach the temp directories.
  chmodSync(dir, 0o755);
  writeFileSync(path.join(dir, "hosts"), hostsText);
  if (confText !== undefined) writeFileSync(path.join(dir, "nginx.conf"), confText);
  return dir;
}

export type NginxTestResult = { readonly code: number; readonly output: string };

/**
 * nginx's stdout and stderr go to files: the rendered config logs to
 * /dev/stdout and /dev/stderr, which nginx cannot open() when they are sockets (as
 * Node's pipes are); a regular file, like a container runtime's pipe, works.
 */
function openLog(dir: string, name: string): { path: string; fd: number } {
  const logPath = path.join(dir, name);
  return { path: logPath, fd: openSync(logPath, "a") };
}

const readLog = (logPath: string) => {
  try {
    return readFileSync(logPath, "utf8").slice(-MAX_OUTPUT);
  } catch {
    return "";
  }
};

/**
 * `nginx -t` for `confPath`, in the same namespace set-up nginx runs in: the
 * upstream names resolve through the `hosts` file next to `confPath`.
 */
export async function nginxTest(confPath: string): Promise<NginxTestResult> {
  const dir = path.dirname(confPath);
  if (path.basename(confPath) !== "nginx.conf") throw new Error(`expected <dir>/nginx.conf, got ${confPath}`);
  const log = openLog(dir, `nginx-t.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.log`);
  try {
    const child = spawn("unshare", launchArgs(dir, ["-t"]), { stdio: ["ignore", log.fd, log.fd] });
    const exited = new Promise<number>((resolve) => {
      child.once("error", () => resolve(-1));
      child.once("exit", (code) => resolve(code ?? -1));
    });
    let code: number;
    try {
      code = await withTimeout(exited, TEST_TIMEOUT_MS, "nginx -t");
    } catch (e) {
      child.kill("SIGKILL");
      await withTimeout(exited, STOP_TIMEOUT_MS, "nginx -t to die after SIGKILL").catch(() => undefined);
      return { code: -1, output: `${readLog(log.path)}\n${(e as Error).message}` };
    }
    return { code, output: readLog(log.path) };
  } finally {
    closeSync(log.fd);
    rmSync(log.path, { force: true });
  }
}

/** A TCP port that was free on 127.0.0.1 a moment ago. */
/**
 * The kernel's first port for outgoing connections: a port below it is never
 * taken by a client's socket between freePort() and the bind that follows.
 */
const EPHEMERAL_FROM = (() => {
  try {
    return Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
})();

/** Whether nothing listens on `port` (on any address). */
function unused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
  });
}

/**
 * A port to bind later, outside the kernel's range for outgoing connections: a
 * port the kernel hands out (listen on port 0) can be taken in the meantime by
 * one of the thousands of connections a load test makes, and the bind fails.
 */
export function freePort(): Promise<number> {
  return withTimeout(
    (async () => {
      const from = 10_000;
      for (let tries = 0; tries < 200; tries++) {
        const port = from + Math.floor(Math.random() * (EPHEMERAL_FROM - from));
        if (await unused(port)) return port;
      }
      throw new Error(`no free port between ${from} and ${EPHEMERAL_FROM - 1}`);
    })(),
    5000,
    "finding a free port",
  );
}

export type Nginx = {
  readonly dir: string;
  readonly confPath: string;
  readonly port: number;
  readonly pid: number;
  /** what nginx wrote to stderr so far (the last 64 KiB) */
  output(): string;
  /** everything nginx wrote to stdout so far: the access log */
  accessLog(): string;
  /** Writes the new config, checks it with `nginx -t`, reloads, and waits until only new workers serve. */
  reload(confText: string): Promise<void>;
  /** Stops nginx (its whole process group) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
};

/** The pids of the live children of `ppid`. */
export function childPids(ppid: number): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // fields[0] is the state, fields[1] the parent pid
      if (Number(fields[1]) === ppid && fields[0] !== "Z") pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether a TCP connection to host:port opens within half a second. */
export function canConnect(port: number, host = "127.0.0.1"): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Starts nginx with `confText` (which must `listen` on `port`) and upstream
 * names resolved through `hostsText`. Resolves once nginx accepts connections
 * on 127.0.0.1:`port` and its workers run.
 */
export async function startNginx(confText: string, hostsText: string, port: number): Promise<Nginx> {
  const dir = nginxDir(hostsText, confText);
  const confPath = path.join(dir, "nginx.conf");
  const checked = await nginxTest(confPath);
  if (checked.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`nginx -t failed (exit ${checked.code}):\n${checked.output}`);
  }

  const log = openLog(dir, "nginx.log");
  const output = () => readLog(log.path);
  // nginx (the master, which the shell execs) leads its own process group, so stop() reaches the workers too
  const group = spawnGroup("unshare", launchArgs(dir, []), log.fd, "nginx", STOP_TIMEOUT_MS);
  closeSync(log.fd);
  const { pid } = group;
  const hasExited = () => group.hasExited();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= group.stop().then(() => rmSync(dir, { recursive: true, force: true })));

  const failed = (why: string) => new Error(`${why}\n--- nginx output ---\n${output()}`);

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (hasExited()) throw failed(`nginx exited during start-up`);
      if (childPids(pid).length > 0 && (await canConnect(port))) break;
      if (Date.now() > deadline) throw failed(`nginx not ready on port ${port} within ${READY_TIMEOUT_MS} ms`);
      await sleep(25);
    }
  } catch (e) {
    await stop();
    throw e;
  }

  return {
    dir,
    confPath,
    port,
    pid,
    output,
    accessLog: () => readFileSync(path.join(dir, "access.log"), "utf8"),
    stop,
    async reload(newConfText: string) {
      if (hasExited()) throw failed("nginx is not running");
      writeFileSync(confPath, newConfText);
      const checkedNew = await nginxTest(confPath);
      if (checkedNew.code !== 0) throw new Error(`nginx -t failed for the new config (exit ${checkedNew.code}):\n${checkedNew.output}`);
      const before = new Set(childPids(pid));
      process.kill(pid, "SIGHUP");
      // The master starts new workers and lets the old ones finish their
      // requests and exit: once no old worker is left, only the new config serves.
      const deadline = Date.now() + RELOAD_TIMEOUT_MS;
      for (;;) {
        if (hasExited()) throw failed("nginx exited during reload");
        const now = childPids(pid);
        if (now.length > 0 && now.every((p) => !before.has(p))) break;
        if (Date.now() > deadline) throw failed(`nginx reload not finished within ${RELOAD_TIMEOUT_MS} ms (workers before ${[...before]}, now ${now})`);
        await sleep(25);
      }
    },
  };
}
