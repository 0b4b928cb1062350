// Runs the program's own rollout steps (pure/plan/rollout.ts, HostStep) for real
// on this machine, against a small test world instead of SSH hosts and Docker.
//
// The world, in one temporary folder:
//   hosts/<host>/          each host's /opt/seatable-compose (a step runs in a
//                          private mount namespace where this folder is bind-
//                          mounted there, so its paths are the program's own)
//   storage/               the bases' files, shared by all dtable-servers (S3)
//   events.log             the stand-ins' event log (see dtable-standin.ts)
//   bin/docker             the fake `docker` first on each step's PATH
//   proxy/                 prefix, pid file and output of the proxy's nginx
//
// The "containers":
//   dtable-server-proxy    Debian's nginx, run as the container runs it: the
//                          host's dtable-server-proxy/nginx-proxy.conf, and that
//                          folder's `hosts` bind-mounted on /etc/hosts (in a
//                          private mount namespace), so rewriting it in place
//                          and reloading re-resolves the upstream names
//   seatable-server        on a dtable-server host: a stand-in process
//                          (dtable-standin.ts) on the host's address:5000
//
// The fake `docker` is a few lines of Node (DOCKER_SHIM below) that send their
// arguments and the host the step runs on to a control server in the test
// process, which does what Docker would do in this world (`FakeDocker.handle`):
//   docker run --rm ... -v D:C ... -v H:/etc/hosts IMAGE nginx -t -c C/F
//                          → the real `nginx -t` on D/F, with H as /etc/hosts
//   docker inspect -f '{{.State.Running}}' dtable-server-proxy
//                          → "true" while the proxy's nginx runs
//   docker exec dtable-server-proxy nginx -s reload
//                          → SIGHUP to the proxy's nginx master
//   docker exec dtable-server-proxy wget -q -S -O /dev/null [-T S] URL
//                          → the request, from the host; names resolve through
//                            the proxy's hosts file as inside the container; the
//                            output is busybox wget's: with -S, "  HTTP/1.1 200 OK"
//                            and "  Name: value" lines on stderr, but for an answer
//                            other than 2xx only the status line, then
//                            "wget: server returned error: ..." and exit 1
//   docker restart -t N seatable-server   (on a dtable-server host)
//                          → SIGTERM its stand-in, wait for the exit (the stand-in
//                            saves first; SIGKILL after min(N, 15) s), start a new one
//   docker stop -t N seatable-server      → the same, without the new start
//   docker exec seatable-server curl -fsS -m 5 http://127.0.0.1:5000/ping/
//                          → the request to that host's stand-in, curl's exit codes
// Anything else fails with exit 125, so a step that changes shape shows up.
// Every request goes to a loopback address; any other address is refused.
import { spawn } from "child_process";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { spawnGroup } from "./process-group";
import { withTimeout } from "./standins";
import { COMPOSE_DIR, PROXY_CONTAINER, PROXY_DIR, SEATABLE_CONTAINER } from "../../pure/plan/containers";
import type { HostStep } from "../../pure/plan/rollout";
import { NGINX } from "./nginx";
import { spawnDtableStandin, StandinOptions, StandinProcess } from "./dtable-standin";

// bin/docker.js; bin/docker runs it (as a file: after `node -e`, an argument such as
// `inspect` would be taken for node's own sub-command)
const DOCKER_SHIM = `const http = require("http");
const body = JSON.stringify({ host: process.env.FAKE_DOCKER_HOST, args: process.argv.slice(2) });
const req = http.request(process.env.FAKE_DOCKER_URL, { method: "POST", headers: { "content-type": "application/json" } }, (res) => {
  const chunks = [];
  res.on("data", (c) => chunks.push(c));
  res.on("end", () => {
    const r = JSON.parse(Buffer.concat(chunks).toString());
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.code;
  });
});
req.setTimeout(120000, () => req.destroy(new Error("no answer from the test within 120 s")));
req.on("error", (e) => { process.stderr.write("fake docker: " + e.message + "\\n"); process.exitCode = 125; });
req.end(body);
`;

export type Result = { code: number; stdout: string; stderr: string };
const ok = (stdout = "", stderr = ""): Result => ({ code: 0, stdout, stderr });
const fail = (code: number, stderr: string, stdout = ""): Result => ({ code, stdout, stderr });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


function isLoopback(address: string): boolean {
  return net.isIPv4(address) ? address.startsWith("127.") : address === "::1";
}

/** One HTTP GET from this machine; resolves with the status line and raw headers, or the error. */
function get(url: URL, address: string, timeoutMs: number): Promise<{ statusLine: string; status: number; headers: string[]; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port: Number(url.port || 80), path: url.pathname + url.search, headers: { host: url.host, connection: "close" }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const headers: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ statusLine: `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}`, status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString() });
      });
      res.on("error", (e) => resolve({ error: e.message }));
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error("timed out")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code === "ECONNREFUSED" ? "Connection refused" : e.message }));
  });
}

// ---- the proxy "container" ----------------------------------------------------------

export type ProxyNginx = { readonly pid: number; readonly running: boolean; output(): string; reload(): void; stop(): Promise<void> };

/**
 * The dtable-server-proxy as the container runs it: nginx with `<dir>/nginx-proxy.conf`
 * and `<dir>/hosts` on /etc/hosts, `dir` being the host's PROXY_DIR.
 */
export async function startProxyNginx(proxyDir: string, prefix: string, port: number): Promise<ProxyNginx> {
  mkdirSync(prefix, { recursive: true });
  chmodSync(prefix, 0o755);
  const logPath = path.join(prefix, "nginx.log");
  const fd = openSync(logPath, "a");
  const launch = 'mount --bind "$1" /etc/hosts && exec "$0" -p "$2/" -c "$3" -e stderr -g "daemon off; pid $2/nginx.pid;"';
  // nginx (the shell execs it) leads its own process group, so stop() reaches the workers
  const group = spawnGroup("unshare", ["--mount", "sh", "-c", launch, NGINX, path.join(proxyDir, "hosts"), prefix, path.join(proxyDir, "nginx-proxy.conf")], fd, "the proxy's nginx");
  closeSync(fd);
  const { pid } = group;
  const output = () => (existsSync(logPath) ? readFileSync(logPath, "utf8").slice(-20_000) : "");
  const stop = () => group.stop();
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (group.hasExited()) throw new Error(`the proxy's nginx exited during start-up:\n${output()}`);
    const r = await get(new URL(`http://127.0.0.1:${port}/ping/`), "127.0.0.1", 1_000);
    if (!("error" in r)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the proxy's nginx does not answer on ${port} within 10 s:\n${output()}`);
    }
    await sleep(25);
  }
  return {
    pid,
    get running() {
      return !group.hasExited();
    },
    output,
    reload: () => process.kill(pid, "SIGHUP"),
    stop,
  };
}

// ---- the world and its docker ---------------------------------------------------

export type WorldServer = { readonly name: string; readonly address: string };

export type WorldOptions = {
  readonly root: string;
  readonly web: string;
  readonly proxyPort: number;
  /** every dtable-server the world may run (also those not started yet) */
  readonly servers: readonly WorldServer[];
  /** the compiled stand-in (compileStandin) */
  readonly standinScript: string;
  readonly saveIntervalMs: number;
  /** cap on `docker stop/restart -t N` waits, ms */
  readonly maxStopWaitMs?: number;
};

export class FakeDocker {
  readonly root: string;
  readonly storage: string;
  readonly eventLog: string;
  readonly bin: string;
  private readonly standins = new Map<string, StandinProcess>();
  private proxy?: ProxyNginx;
  private control?: http.Server;
  private controlUrl = "";
  private stopping?: Promise<void>;
  /** every docker call the steps made, for the report: host, arguments, exit code, ms */
  readonly calls: { host: string; args: string[]; code: number; ms: number }[] = [];

  constructor(readonly o: WorldOptions) {
    this.root = o.root;
    this.storage = path.join(o.root, "storage");
    this.eventLog = path.join(o.root, "events.log");
    this.bin = path.join(o.root, "bin");
    for (const d of [this.storage, this.bin, this.hostDir(o.web), ...o.servers.map((s) => this.hostDir(s.name))]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(this.bin, "docker.js"), DOCKER_SHIM);
    writeFileSync(path.join(this.bin, "docker"), `#!/bin/sh\nexec "${process.execPath}" "${path.join(this.bin, "docker.js")}" "$@"\n`, { mode: 0o755 });
  }

  /** The folder that is /opt/seatable-compose on `host`. */
  hostDir(host: string): string {
    return path.join(this.root, "hosts", host);
  }

  /** A path on `host` (under /opt/seatable-compose) → where it is in the world. */
  private onHost(host: string, p: string): string {
    if (p !== COMPOSE_DIR && !p.startsWith(`${COMPOSE_DIR}/`)) throw new Error(`${p} is outside ${COMPOSE_DIR}, which is all this world maps`);
    return path.join(this.hostDir(host), p.slice(COMPOSE_DIR.length));
  }

  private get proxyDir(): string {
    return this.onHost(this.o.web, PROXY_DIR);
  }

  private server(name: string): WorldServer {
    const s = this.o.servers.find((x) => x.name === name);
    if (!s) throw new Error(`no dtable-server ${name} in this world`);
    return s;
  }

  async start(): Promise<void> {
    this.control = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const started = Date.now();
        const { host, args } = JSON.parse(Buffer.concat(chunks).toString()) as { host: string; args: string[] };
        this.handle(host, args)
          .catch((e: Error) => fail(125, `fake docker: ${e.message}\n`))
          .then((r) => {
            this.calls.push({ host, args, code: r.code, ms: Date.now() - started });
            res.writeHead(200, { "content-type": "application/json" });
            res.end(JSON.stringify(r));
          });
      });
    });
    await new Promise<void>((resolve) => this.control!.listen(0, "127.0.0.1", resolve));
    const address = this.control.address() as net.AddressInfo;
    this.controlUrl = `http://127.0.0.1:${address.port}/docker`;
  }

  /** Starts the seatable-server "container" of dtable-server `name`. */
  async startServer(name: string): Promise<void> {
    const s = this.server(name);
    const o: StandinOptions = { name, address: s.address, port: 5000, storage: this.storage, eventLog: this.eventLog, saveIntervalMs: this.o.saveIntervalMs };
    this.standins.set(name, await spawnDtableStandin(this.o.standinScript, o, path.join(this.root, "standins.log")));
  }

  /** Graceful stop of dtable-server `name` (SIGTERM: it saves, then exits). */
  async stopServer(name: string, graceMs = this.o.maxStopWaitMs ?? 15_000): Promise<void> {
    await this.standins.get(name)?.stop(graceMs);
  }

  serverRunning(name: string): boolean {
    return this.standins.get(name)?.running ?? false;
  }

  /** Writes the proxy's config and hosts file as a first deployment would, and starts its nginx. */
  async startProxy(conf: string, hosts: string): Promise<void> {
    mkdirSync(this.proxyDir, { recursive: true });
    writeFileSync(path.join(this.proxyDir, "nginx-proxy.conf"), conf);
    writeFileSync(path.join(this.proxyDir, "hosts"), hosts);
    this.proxy = await startProxyNginx(this.proxyDir, path.join(this.root, "proxy"), this.o.proxyPort);
  }

  proxyOutput(): string {
    return this.proxy?.output() ?? "";
  }

  /** Stops everything this world started. Safe to call twice, and after a failed start. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.standins.keys()].map((n) => this.stopServer(n, 5_000)));
      await this.proxy?.stop();
      const control = this.control;
      if (control) {
        const closed = new Promise<void>((resolve) => control.close(() => resolve()));
        control.closeAllConnections();
        await withTimeout(closed, 5_000, "the control server to close").catch(() => undefined);
      }
    })();
    return this.stopping;
  }

  /**
   * Runs one step as its host would: `sh -c command` with `stdin`, in a private
   * mount namespace where /opt/seatable-compose is the host's folder, with the
   * fake docker first on PATH.
   */
  runStep(step: HostStep, timeoutMs = 60_000): Promise<Result & { ms: number }> {
    mkdirSync(COMPOSE_DIR, { recursive: true }); // only a mount point
    const started = Date.now();
    const child = spawn("unshare", ["--mount", "sh", "-c", 'mount --bind "$1" "$2" && exec sh -c "$3"', "step", this.hostDir(step.host), COMPOSE_DIR, step.command], {
      detached: true,
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, PATH: `${this.bin}:${process.env.PATH ?? "/usr/bin:/bin"}`, FAKE_DOCKER_URL: this.controlUrl, FAKE_DOCKER_HOST: step.host },
    });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(step.stdin ?? "");
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stderr += `\n(step killed after ${timeoutMs} ms)`;
        try {
          process.kill(-(child.pid ?? 0), "SIGKILL");
        } catch {
          // gone
        }
      }, timeoutMs);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
      });
    });
  }

  /** What `docker <args>` does on `host` in this world. */
  async handle(host: string, args: string[]): Promise<Result> {
    const [cmd, ...rest] = args;
    const unsupported = () => fail(125, `fake docker: unsupported on ${host}: docker ${args.join(" ")}\n`);
    const isServer = this.o.servers.some((s) => s.name === host);
    if (cmd === "run" && host === this.o.web) return this.nginxTest(host, rest);
    if (cmd === "inspect" && host === this.o.web && rest.join(" ") === `-f {{.State.Running}} ${PROXY_CONTAINER}`) {
      return this.proxy ? ok(`${this.proxy.running}\n`) : fail(1, `Error: No such object: ${PROXY_CONTAINER}\n`);
    }
    if (cmd === "exec" && host === this.o.web && rest[0] === PROXY_CONTAINER) {
      if (!this.proxy?.running) return fail(1, `Error response from daemon: container ${PROXY_CONTAINER} is not running\n`);
      const inner = rest.slice(1);
      if (inner.join(" ") === "nginx -s reload" || inner.join(" ") === `nginx -s reload -c /etc/nginx/proxy/nginx-proxy.conf`) {
        this.proxy.reload();
        return ok();
      }
      if (inner[0] === "wget") return this.wget(inner.slice(1));
      return unsupported();
    }
    if ((cmd === "restart" || cmd === "stop") && isServer && rest.length === 3 && rest[0] === "-t" && rest[2] === SEATABLE_CONTAINER) {
      const graceMs = Math.min(Number(rest[1]) * 1000, this.o.maxStopWaitMs ?? 15_000);
      await this.stopServer(host, graceMs);
      if (cmd === "restart") await this.startServer(host);
      return ok(`${SEATABLE_CONTAINER}\n`);
    }
    if (cmd === "exec" && isServer && rest[0] === SEATABLE_CONTAINER && rest[1] === "curl") {
      if (!this.serverRunning(host)) return fail(1, `Error response from daemon: container ${SEATABLE_CONTAINER} is not running\n`);
      return this.curl(host, rest.slice(2));
    }
    return unsupported();
  }

  /** `docker run ... -v A:B[:ro] ... IMAGE nginx -t -c PATH`: the real nginx -t, paths mapped. */
  private async nginxTest(host: string, args: string[]): Promise<Result> {
    const volumes: { hostPath: string; containerPath: string }[] = [];
    let i = 0;
    for (; i < args.length && args[i].startsWith("-"); i++) {
      if (args[i] === "-v") {
        const [hostPath, containerPath] = args[++i].split(":");
        volumes.push({ hostPath, containerPath });
      } else if (args[i] === "--network") i++;
      else if (args[i] !== "--rm") return fail(125, `fake docker: unsupported docker run option ${args[i]}\n`);
    }
    const command = args.slice(i + 1); // after the image
    const c = command.indexOf("-c");
    if (command[0] !== "nginx" || !command.includes("-t") || c < 0) return fail(125, `fake docker: unsupported docker run command ${command.join(" ")}\n`);
    const inContainer = (p: string) => {
      const v = volumes.filter((x) => p === x.containerPath || p.startsWith(`${x.containerPath}/`)).sort((a, b) => b.containerPath.length - a.containerPath.length)[0];
      if (!v) throw new Error(`${p} is not in a volume of docker run`);
      return this.onHost(host, v.hostPath + p.slice(v.containerPath.length));
    };
    const conf = inContainer(command[c + 1]);
    const hosts = inContainer("/etc/hosts");
    const prefix = path.join(this.root, "nginx-t");
    mkdirSync(prefix, { recursive: true });
    const logPath = path.join(prefix, `out.${Date.now()}.${Math.random().toString(36).slice(2)}`);
    const fd = openSync(logPath, "a"); // a file, not a pipe: the config logs to /dev/stderr
    try {
      const child = spawn("unshare", ["--mount", "sh", "-c", 'mount --bind "$1" /etc/hosts && exec "$0" -t -p "$2/" -c "$3" -e stderr', NGINX, hosts, prefix, conf], { stdio: ["ignore", fd, fd] });
      const code = await withTimeout(new Promise<number>((resolve) => child.once("exit", (n) => resolve(n ?? -1))), 15_000, "nginx -t").catch(() => {
        child.kill("SIGKILL");
        return -1;
      });
      // nginx names the file it tested; say it as the container would
      const out = readFileSync(logPath, "utf8").split(conf).join(command[c + 1]);
      return code === 0 ? ok("", out) : fail(1, out);
    } finally {
      closeSync(fd);
      rmSync(logPath, { force: true });
    }
  }

  /** The address `name` has inside the proxy container: its /etc/hosts, else an IP literal. */
  private resolveInProxy(name: string): string | undefined {
    if (net.isIP(name)) return name;
    if (name === "localhost") return "127.0.0.1";
    const hosts = readFileSync(path.join(this.proxyDir, "hosts"), "utf8");
    for (const line of hosts.split("\n")) {
      const [ip, ...names] = line.replace(/#.*/, "").trim().split(/\s+/);
      if (names.includes(name)) return ip;
    }
    return undefined;
  }

  /** busybox wget -q -S -O /dev/null [-T SEC] URL, inside the proxy container. */
  private async wget(args: string[]): Promise<Result> {
    let timeoutS = 30;
    let url: string | undefined;
    let show = false;
    for (let i = 0; i < args.length; i++) {
      if (args[i] === "-q") continue;
      else if (args[i] === "-S") show = true;
      else if (args[i] === "-O" && args[i + 1] === "/dev/null") i++;
      else if (args[i] === "-T") timeoutS = Number(args[++i]);
      else if (!args[i].startsWith("-") && url === undefined) url = args[i];
      else return fail(125, `fake docker: unsupported wget argument ${args[i]}\n`);
    }
    if (!url) return fail(1, "wget: missing URL\n");
    const u = new URL(url);
    const address = this.resolveInProxy(u.hostname);
    if (!address) return fail(1, `wget: bad address '${u.hostname}'\n`);
    if (!isLoopback(address)) return fail(1, `fake docker: ${u.hostname} is ${address}, not a loopback address; this test sends nothing elsewhere\n`);
    const r = await get(u, address, timeoutS * 1000);
    if ("error" in r) return fail(1, `wget: can't connect to remote host (${address}): ${r.error}\n`);
    const lines = show ? [`  ${r.statusLine}`] : [];
    // busybox wget: any status but 2xx is an error, reported before the headers are read
    if (r.status < 200 || r.status > 299) return fail(1, [...lines, `wget: server returned error: ${r.statusLine}`, ""].join("\n"));
    return ok("", show ? [...lines, ...r.headers.map((h) => `  ${h}`), "  ", ""].join("\n") : "");
  }

  /** curl -fsS -m 5 URL inside a seatable-server container: 127.0.0.1 is that host's stand-in. */
  private async curl(host: string, args: string[]): Promise<Result> {
    let timeoutS = 30;
    let url: string | undefined;
    for (let i = 0; i < args.length; i++) {
      if (args[i] === "-fsS") continue;
      else if (args[i] === "-m") timeoutS = Number(args[++i]);
      else if (!args[i].startsWith("-") && url === undefined) url = args[i];
      else return fail(125, `fake docker: unsupported curl argument ${args[i]}\n`);
    }
    if (!url) return fail(2, "curl: no URL specified\n");
    const u = new URL(url);
    if (u.hostname !== "127.0.0.1" && u.hostname !== "localhost") return fail(125, `fake docker: curl to ${u.hostname} inside ${SEATABLE_CONTAINER} is not mapped\n`);
    const r = await get(u, this.server(host).address, timeoutS * 1000);
    if ("error" in r) return fail(7, `curl: (7) Failed to connect to ${u.hostname} port ${u.port}: ${r.error}\n`);
    if (r.status >= 400) return fail(22, `curl: (22) The requested URL returned error: ${r.status}\n`);
    return ok(r.body);
  }
}
