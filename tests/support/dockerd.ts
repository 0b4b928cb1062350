// A real Docker daemon for tests/docker-contract.test.ts: Debian's dockerd (the
// docker.io package), started by the test as root, and images built from this
// machine's own binaries (there is no registry to pull from).
//
// The daemon lives in namespaces of its own, so that nothing it does stays on
// the machine after the test:
//   a PID namespace    dockerd is its init: when it dies, the kernel kills
//                      containerd, the shims and every container with it
//   a mount namespace  what dockerd and containerd mount (the data root, the
//                      containers' root filesystems, the netns files) is never
//                      seen outside, and a tmpfs on /run hides a system
//                      containerd's socket (dockerd then starts its own) and
//                      keeps the shims' sockets off the machine's /run
//   a network namespace  the docker0 bridge of the default network is made
//                      there, not on the machine (--iptables=false: no rules)
// and every path of its own under one temporary folder: --data-root,
// --exec-root, its socket (DOCKER_HOST), its pid file, an empty daemon.json
// (not the machine's /etc/docker/daemon.json) and the client's DOCKER_CONFIG.
// A system dockerd (Debian's package starts one under systemd) is not touched
// and does not get in the way.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as http from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

export type Run = { code: number; stdout: string; stderr: string; ms: number };

const READY_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 20_000;
const COMMAND_TIMEOUT_MS = 60_000;

/** A program on this machine: PATH first, then the usual sbin folders (dockerd is in /usr/sbin). */
export function which(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? "").split(":").filter((d) => d !== ""), "/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const d of dirs) {
    const p = join(d, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * Why this machine cannot run a dockerd for reasons outside the project (not
 * root; no namespaces in this sandbox), or undefined. A missing dockerd is not
 * one of them: startDockerd fails and says to install docker.io.
 */
export function dockerdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "dockerd needs root, and this test runs as a user";
  const probe = spawnSync("unshare", ["--mount", "--net", "--pid", "--fork", "--mount-proc", "true"], { encoding: "utf8", timeout: 10_000 });
  if (probe.error || probe.status !== 0) return `this machine does not allow the namespaces dockerd runs in (unshare: ${(probe.error?.message ?? probe.stderr).trim()})`;
  return undefined;
}

export type Dockerd = {
  readonly root: string;
  /** the daemon's version (`docker version -f '{{.Server.Version}}'`), e.g. 20.10.24+dfsg1 */
  readonly serverVersion: string;
  readonly clientVersion: string;
  /** what the docker client needs to talk to this daemon */
  readonly env: NodeJS.ProcessEnv;
  /** `sh -c command` on this machine with the client pointed at this daemon */
  sh(command: string, stdin?: string, timeoutMs?: number): Promise<Run>;
  /** `docker args…`; fails unless it exits 0 */
  docker(...args: string[]): Promise<string>;
  /** `docker import` of a root filesystem folder (see buildRootfs), tagged with each of `tags` */
  importImage(rootfs: string, tags: readonly string[]): Promise<void>;
  /** the end of dockerd's own output */
  log(): string;
  /** Removes every container, stops dockerd (SIGKILL to all it left when it takes too long), removes its folder. Safe to call twice. */
  stop(): Promise<void>;
};

/** Runs `sh -c command`; resolves with its exit code and output, killed (exit -1) after `timeoutMs`. */
export function runShell(command: string, env: NodeJS.ProcessEnv, stdin = "", timeoutMs = COMMAND_TIMEOUT_MS): Promise<Run> {
  const started = Date.now();
  const child = spawn("sh", ["-c", command], { env, stdio: ["pipe", "pipe", "pipe"], detached: true });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.on("error", () => undefined);
  child.stdin.end(stdin);
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stderr += `\n(killed after ${timeoutMs} ms)`;
      try {
        process.kill(-(child.pid ?? 0), "SIGKILL");
      } catch {
        // gone
      }
    }, timeoutMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout, stderr: stderr + e.message, ms: Date.now() - started });
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
  });
}

/** GET /_ping on the daemon's socket: "OK" once it serves the API. */
function ping(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: "/_ping", timeout: 2_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode === 200));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The process ids of `pid`'s children (/proc/<pid>/task/<pid>/children). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter((x) => x !== "").map(Number);
  } catch {
    return [];
  }
}

/** Starts a dockerd of its own (see the top of this file) and waits until it answers; fails with its output if it does not. */
export async function startDockerd(): Promise<Dockerd> {
  const dockerd = which("dockerd");
  if (!dockerd) throw new Error("no dockerd on this machine: install Debian's docker.io (apt-get install -y --no-install-recommends docker.io; .ci/run does)");
  if (!which("docker")) throw new Error("no docker client on this machine: install Debian's docker.io");
  // short: the daemon's sockets live below it (a unix socket path has at most 107 bytes)
  const root = mkdtempSync(join(tmpdir(), "dockerd-"));
  chmodSync(root, 0o755);
  const socket = join(root, "docker.sock");
  const logPath = join(root, "dockerd.log");
  writeFileSync(join(root, "daemon.json"), "{}\n");
  mkdirSync(join(root, "client"));
  // the client: this daemon, no context, TLS settings or config of the machine's
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(root, "client") };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  delete env.DOCKER_CERT_PATH;
  const args = [
    "--data-root",
    join(root, "data"),
    "--exec-root",
    join(root, "exec"),
    "-H",
    `unix://${socket}`,
    "--pidfile",
    join(root, "dockerd.pid"),
    "--config-file",
    join(root, "daemon.json"),
    "--storage-driver=vfs",
    "--iptables=false",
    "--ip-masq=false",
    // a container that ignores SIGTERM must not hold the shutdown up for long
    "--shutdown-timeout=2",
  ];
  const launch = 'mount -t tmpfs tmpfs /run && exec "$0" "$@"';
  const fd = openSync(logPath, "a");
  // --kill-child: should unshare die, dockerd (the namespace's init, and so everything in it) dies too
  const child = spawn("unshare", ["--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child", "sh", "-c", launch, dockerd, ...args], { detached: true, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  const group = child.pid;
  if (group === undefined) throw new Error("could not spawn unshare for dockerd");
  let exited = false;
  const done = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.once("error", () => resolve());
  }).then(() => {
    exited = true;
  });
  const killAll = () => {
    try {
      process.kill(-group, "SIGKILL");
    } catch {
      // gone
    }
  };
  // last resort if the test process ends without stop()
  process.once("exit", killAll);
  const log = () => (existsSync(logPath) ? readFileSync(logPath, "utf8").split("\n").slice(-40).join("\n") : "");
  const sh = (command: string, stdin = "", timeoutMs = COMMAND_TIMEOUT_MS) => runShell(command, env, stdin, timeoutMs);

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (!exited) {
        // the containers first (SIGKILL): dockerd then has nothing to wait for
        await sh('ids=$(docker ps -aq) && [ -z "$ids" ] || docker rm -f $ids >/dev/null', "", STOP_TIMEOUT_MS);
        // dockerd is unshare's child: SIGTERM to it, a clean shutdown (containerd and the shims go with it)
        for (const pid of childrenOf(group)) {
          try {
            process.kill(pid, "SIGTERM");
          } catch {
            // gone
          }
        }
        const timer = sleep(STOP_TIMEOUT_MS).then(() => "late" as const);
        if ((await Promise.race([done.then(() => "done" as const), timer])) === "late") {
          killAll();
          await Promise.race([done, sleep(5_000)]);
        }
      }
      killAll();
      process.off("exit", killAll);
      rmSync(root, { recursive: true, force: true });
    })());

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await ping(socket))) {
      if (exited) throw new Error(`dockerd exited during start-up:\n${log()}`);
      if (Date.now() > deadline) throw new Error(`dockerd does not answer on ${socket} within ${READY_TIMEOUT_MS / 1000} s:\n${log()}`);
      await sleep(100);
    }
    const versions = await sh("docker version -f '{{.Client.Version}} {{.Server.Version}}'");
    if (versions.code !== 0) throw new Error(`docker version failed: ${versions.stderr}`);
    const [clientVersion, serverVersion] = versions.stdout.trim().split(" ");
    const docker = async (...a: string[]) => {
      const r = await runShellArgs(a, env);
      if (r.code !== 0) throw new Error(`docker ${a.join(" ")} failed (exit ${r.code}): ${r.stderr}\ndockerd:\n${log()}`);
      return r.stdout;
    };
    const importImage = async (rootfs: string, tags: readonly string[]) => {
      const [first, ...rest] = tags;
      const imported = await runShell('tar -C "$ROOTFS" -c . | docker import - "$TAG" >/dev/null', { ...env, ROOTFS: rootfs, TAG: first });
      if (imported.code !== 0) throw new Error(`docker import of ${rootfs} failed: ${imported.stderr}`);
      for (const t of rest) await docker("tag", first, t);
    };
    return { root, serverVersion, clientVersion, env, sh, docker, importImage, log, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `docker args…`, each argument quoted for the shell. */
const runShellArgs = (args: readonly string[], env: NodeJS.ProcessEnv): Promise<Run> => runShell(`exec docker ${args.map(shq).join(" ")}`, env);

/** What a root filesystem holds: programs of this machine (with the libraries ldd names), files, and empty folders. */
export type RootfsSpec = {
  /** path in the image → path on this machine */
  readonly programs: Readonly<Record<string, string>>;
  /** path in the image → its text */
  readonly files: Readonly<Record<string, string>>;
  readonly dirs: readonly string[];
};

/** The shared libraries `program` loads, as ldd names them (none for a static one). */
function librariesOf(program: string): string[] {
  let out: string;
  try {
    out = execFileSync("ldd", [program], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return []; // "not a dynamic executable"
  }
  return out
    .split("\n")
    .map((l) => /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
}

/** Writes a root filesystem for `docker import` into a new folder below `parent`; returns it. */
export function buildRootfs(parent: string, spec: RootfsSpec): string {
  const dir = mkdtempSync(join(parent, "rootfs-"));
  chmodSync(dir, 0o755);
  const put = (inImage: string, from: string, mode: number) => {
    const to = join(dir, inImage);
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to); // follows symlinks: the library's own file
    chmodSync(to, mode);
  };
  for (const [inImage, onHost] of Object.entries(spec.programs)) {
    if (!existsSync(onHost)) throw new Error(`${onHost} (for ${inImage} in the test image) is not on this machine`);
    put(inImage, onHost, 0o755);
    for (const lib of librariesOf(onHost)) if (!existsSync(join(dir, lib))) put(lib, lib, 0o755);
  }
  for (const d of ["tmp", ...spec.dirs]) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, "tmp"), 0o1777);
  for (const [inImage, text] of Object.entries(spec.files)) {
    const to = join(dir, inImage);
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, text);
  }
  return dir;
}
