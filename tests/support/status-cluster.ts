// A whole cluster for `npm run status` on this machine, reached as the admin
// reaches it: the command as a process, the system ssh with the stack's own
// options and pinned host keys, a real sshd per host at the stack's addresses.
//
// The config's validation refuses loopback addresses, so, as in
// tests/plan-live.ssh.test.ts, nothing is bent to reach 127.0.0.1: this file,
// run as a process in its own network, mount and PID namespaces, puts the
// stack's addresses on that namespace's loopback device and builds the world
// there (fake-docker.ts: the stand-in dtable-servers on <address>:5000,
// dtable-web's stand-in on :8000, the proxy's real nginx on the proxy port,
// the fake docker, held to the real dockerd in docker-contract.test.ts); each
// host's sshd listens on <address>:22, in a mount namespace of its own whose
// /opt holds that host's folders, and hands its sessions the fake docker
// (sshd_config's SetEnv). The test drives it over a Unix socket in the
// world's folder (a path, not an address: it crosses network namespaces),
// and runs the status command there, inside the namespaces. When the process
// ends, or is killed, everything in its PID namespace ends with it.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { appendFileSync, mkdirSync, readFileSync, symlinkSync } from "node:fs";
import * as http from "node:http";
import { join } from "node:path";
import { FakeDocker, Result, WorldHost } from "./fake-docker";
import { Sshd, startSshd, stopSshd } from "./sshd";
import { withTimeout } from "./standins";
import { ROOT } from "./stacks";

export type ClusterHosts = { readonly web: WorldHost; readonly db: WorldHost; readonly servers: readonly WorldHost[] };

type Spec = ClusterHosts & { readonly root: string; readonly proxyPort: number; readonly standinScript: string };

/** What the test asks the world to do (each answered with JSON). */
export type Op =
  /** every node's seatable-server created with `image` and healthy; the proxy started on the files in its folder */
  | { readonly op: "start"; readonly image: string; readonly proxyImage: string }
  /** `docker ARGS` on a host, as a host step would run it there */
  | { readonly op: "docker"; readonly host: string; readonly args: readonly string[] }
  /** until the host's seatable-server is healthy */
  | { readonly op: "healthy"; readonly host: string }
  /** the host's sshd stops: its SSH no longer answers */
  | { readonly op: "stop-sshd"; readonly host: string }
  /** `npm run status -- ARGS`, inside the namespaces */
  | { readonly op: "status"; readonly args: readonly string[] }
  | { readonly op: "stop" };

export type StatusRun = { readonly code: number | null; readonly stdout: string; readonly stderr: string; readonly ms: number };

export type StatusCluster = {
  readonly root: string;
  /** each host's SSH host key, as its stack entry pins it */
  readonly hostKeys: Readonly<Record<string, string>>;
  /** the key every host's sshd accepts, for ssh.privateKeyPath */
  readonly identityFile: string;
  /** the folder that is /opt/seatable-compose on `host` */
  hostDir(host: string): string;
  act(op: Exclude<Op, { op: "status" }>): Promise<unknown>;
  status(...args: string[]): Promise<StatusRun>;
  /** stops everything it started; safe to call twice */
  stop(): Promise<void>;
};

const STATUS_TIMEOUT_MS = 60_000;
const hostDirOf = (root: string, host: string) => join(root, "hosts", host, "compose");

// Inside the namespaces: the stack's addresses on lo, then this file.
const NAMESPACE_SCRIPT = 'set -eu; ip link set lo up; for a in $ADDRESSES; do ip addr add "$a/32" dev lo; done; exec "$@"';

/** Starts the world in its namespaces (`root`: an empty folder it may fill); call stop() in afterAll. */
export async function startStatusCluster(root: string, hosts: ClusterHosts, proxyPort: number, standinScript: string): Promise<StatusCluster> {
  const spec: Spec = { ...hosts, root, proxyPort, standinScript };
  const addresses = [hosts.web, hosts.db, ...hosts.servers].map((h) => h.address).join(" ");
  const child: ChildProcess = spawn(
    "unshare",
    ["--net", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c", NAMESPACE_SCRIPT, "status-cluster",
      process.execPath, "-r", "ts-node/register/transpile-only", __filename, JSON.stringify(spec)],
    { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ADDRESSES: addresses } },
  );
  let log = "";
  child.stderr!.on("data", (d: Buffer) => (log = (log + d.toString()).slice(-8000)));
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
  const kill = () => {
    try {
      process.kill(-child.pid!, "SIGKILL");
    } catch {
      // gone already
    }
  };
  const ready = await new Promise<{ hostKeys: Record<string, string>; identityFile: string }>((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`the status cluster did not start within 60 s\n${log}`));
    }, 60_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /^ready (.*)$/m.exec(out);
      if (!m) return;
      clearTimeout(timer);
      resolve(JSON.parse(m[1]));
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the status cluster ended during start-up\n${log}`));
    });
  });
  const socketPath = join(root, "control.sock");
  const call = (op: Op, timeoutMs: number) =>
    new Promise<unknown>((resolve, reject) => {
      const req = http.request({ socketPath, method: "POST", path: "/" }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const body = JSON.parse(Buffer.concat(chunks).toString()) as { ok: unknown } | { error: string };
          if ("error" in body) reject(new Error(`${op.op}: ${body.error}\n${log}`));
          else resolve(body.ok);
        });
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`${op.op}: no answer from the status cluster within ${timeoutMs} ms\n${log}`)));
      req.on("error", reject);
      req.end(JSON.stringify(op));
    });
  let stopping: Promise<void> | undefined;
  return {
    root,
    ...ready,
    hostDir: (host) => hostDirOf(root, host),
    act: (op) => call(op, 30_000),
    status: (...args) => call({ op: "status", args }, STATUS_TIMEOUT_MS + 5_000) as Promise<StatusRun>,
    stop: () =>
      (stopping ??= (async () => {
        await call({ op: "stop" }, 20_000).catch(() => undefined);
        // whatever is left goes with the namespace's first process
        kill();
        await withTimeout(exited, 5_000, "the status cluster to end").catch(() => undefined);
      })()),
  };
}

// ---- inside the namespaces ---------------------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function world(spec: Spec): Promise<void> {
  const docker = new FakeDocker({
    root: spec.root,
    web: spec.web,
    db: spec.db,
    proxyPort: spec.proxyPort,
    servers: spec.servers,
    standinScript: spec.standinScript,
    saveIntervalMs: 60_000,
    model: "saves-on-sigterm",
    killAfterMs: 1_000,
    confFiles: () => [],
  });
  const sshds = new Map<string, Sshd>();
  const stopAll = async () => {
    await Promise.allSettled([...sshds.values()].map((s) => stopSshd(s)));
    await docker.stop();
  };
  try {
    await docker.start();
    // the shim reaches the control server by this URL (fake-docker.ts sets it for its own steps)
    const controlUrl = docker.controlUrl;
    const identityFile = join(spec.root, "id_ed25519");
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "status", "-f", identityFile], { timeout: 10_000, stdio: "pipe" });
    for (const h of [spec.web, spec.db, ...spec.servers]) {
      const opt = join(spec.root, "opt", h.name);
      mkdirSync(opt, { recursive: true });
      symlinkSync(docker.hostDir(h.name), join(opt, "seatable-compose"));
      symlinkSync(docker.seatableDir(h.name), join(opt, "seatable-server"));
      const sshd = await startSshd({
        opt,
        config: [`ListenAddress ${h.address}:22`, `SetEnv PATH=${docker.bin}:/usr/bin:/bin FAKE_DOCKER_URL=${controlUrl} FAKE_DOCKER_HOST=${h.name}`],
      });
      sshds.set(h.name, sshd);
      appendFileSync(join(sshd.dir, "authorized_keys"), readFileSync(`${identityFile}.pub`));
    }
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const op = JSON.parse(Buffer.concat(chunks).toString()) as Op;
        perform(op).then(
          (ok) => res.end(JSON.stringify({ ok: ok ?? null })),
          (e: Error) => res.end(JSON.stringify({ error: e.stack ?? e.message })),
        );
        if (op.op === "stop") res.once("finish", () => void stopAll().finally(() => process.exit(0)));
      });
    });
    const perform = async (op: Op): Promise<unknown> => {
      switch (op.op) {
        case "start":
          for (const h of [spec.web, spec.db, ...spec.servers]) await docker.createContainer(h.name, "status", op.image);
          await docker.startProxy(op.proxyImage);
          for (const h of [spec.web, spec.db, ...spec.servers]) await healthy(h.name);
          return null;
        case "docker":
          return docker.handle(op.host, [...op.args]) as Promise<Result>;
        case "healthy":
          return healthy(op.host);
        case "stop-sshd":
          await stopSshd(sshds.get(op.host));
          sshds.delete(op.host);
          return null;
        case "status":
          return runStatus(op.args);
        case "stop":
          return null;
      }
    };
    const healthy = async (host: string) => {
      const deadline = Date.now() + 15_000;
      while (docker.healthStatus(host) !== "healthy") {
        if (Date.now() > deadline) throw new Error(`${host}: seatable-server not healthy within 15 s (${docker.healthStatus(host)})`);
        await sleep(50);
      }
      return null;
    };
    await new Promise<void>((resolve) => server.listen(join(spec.root, "control.sock"), resolve));
    process.stdout.write(`ready ${JSON.stringify({ hostKeys: Object.fromEntries([...sshds].map(([n, s]) => [n, s.hostKey])), identityFile })}\n`);
  } catch (e) {
    process.stderr.write(`${(e as Error).stack}\n`);
    await stopAll();
    process.exit(1);
  }
}

/** `npm run status -- ARGS` as package.json runs it (ts-node), killed after STATUS_TIMEOUT_MS. */
function runStatus(args: readonly string[]): Promise<StatusRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "cli", "status.ts"), ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      stderr += `\n(status killed after ${STATUS_TIMEOUT_MS} ms)`;
      child.kill("SIGKILL");
    }, STATUS_TIMEOUT_MS);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}

if (require.main === module) void world(JSON.parse(process.argv[2]) as Spec);
