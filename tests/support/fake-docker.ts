// Runs the program's own host steps (pure/plan: HostStep) for real on this
// machine, against a small test world instead of SSH hosts and Docker.
//
// The world, in one temporary folder:
//   hosts/<host>/compose/  each host's /opt/seatable-compose, and
//   hosts/<host>/seatable/ its /opt/seatable-server (a step runs in a private
//                          mount namespace where both are bind-mounted there,
//                          so its paths are the program's own)
//   storage/               the bases' snapshots, shared by all dtable-servers (S3)
//   oplog                  the operation log shared by all dtable-servers (crash-only model)
//   events.log             the stand-ins' event log (see dtable-standin.ts)
//   bin/docker             the fake `docker` first on each step's PATH
//   proxy/                 prefix, pid file and output of the proxy's nginx
//
// The "containers" (what Pulumi creates; see tests/support/graph-runner.ts):
//   dtable-server-proxy    Debian's nginx, run as the container runs it: the
//                          host's dtable-server-proxy/nginx-proxy.conf, and that
//                          folder's `hosts` bind-mounted on /etc/hosts (in a
//                          private mount namespace), so rewriting it in place
//                          and reloading re-resolves the upstream names
//   seatable-server        on a dtable-server host: a stand-in process
//                          (dtable-standin.ts) on the host's address:5000;
//                          on dtable-web: a small HTTP server answering
//                          /api2/ping/ on the host's address:8000; on dtable-db:
//                          nothing runs (no step talks to it)
// Its first start writes the conf files SeaTable would write on a first start
// (`confFiles`), dated back so that the conf edits' settle time has passed.
//
// The fake `docker` is a few lines of Node (DOCKER_SHIM below) that send their
// arguments and the host the step runs on to a control server in the test
// process, which does what Docker would do in this world (`FakeDocker.handle`).
// tests/docker-contract.test.ts holds it to a real dockerd, form by form; its
// messages are today's Docker Engine's (daemon errors in lower case).
//   docker run --rm --network none -v D:C:ro -v H:/etc/hosts:ro IMAGE nginx -t -c C/F
//                          → the real `nginx -t` on D/F, with H as /etc/hosts, as in
//                            the container: nginx is pid 1 ("[emerg] 1#1: ..."), UTC
//   docker inspect -f FORMAT seatable-server|dtable-server-proxy
//                          → FORMAT's text around the actions {{.Id}} (64 hex),
//                            {{.State.StartedAt}} (Go's RFC3339Nano in UTC:
//                            2026-12-07T14:03:05.123456789Z, trailing zeros of the
//                            fraction dropped), {{.State.Running}} (true while it runs, a
//                            frozen one too, and during a stop's wait), {{.State.Status}}
//                            (running, exited), {{.Config.Image}} (as createContainer or
//                            startProxy were told; otherwise unsupported),
//                            {{.State.Health.Status}} and {{if .State.Health}}…{{end}};
//                            and a newline. A created container (Pulumi's create or
//                            replace) has a new Id; a restart keeps the Id and changes
//                            StartedAt; stop and kill keep both. Health: each
//                            seatable-server has Docker's health check (`health`
//                            below); the proxy has none: the {{if}} shows nothing and
//                            {{.State.Health.Status}} fails (exit 1, Go's "template
//                            parsing error: … map has no entry for key "Health"").
//                            No such container: exit 1, stdout "\n", stderr
//                            "Error: No such object: NAME"
//   docker exec dtable-server-proxy nginx -s reload -c C/F
//                          → SIGHUP to the proxy's nginx master; with `reloadNotice`,
//                            nginx's notice on stderr. Stopped: exit 1, "Error response
//                            from daemon: container <Id> is not running"
//   docker start seatable-server|dtable-server-proxy
//                          → a stopped container starts again (same Id, a new start time);
//                            a running one is left as it is
//   docker restart|stop -t N seatable-server
//                          → as Docker: SIGTERM, SIGKILL after N s (scaled down to
//                            `killAfterMs`), then (restart) a new process; a frozen
//                            one (below) sees only the SIGKILL
//   docker kill seatable-server
//                          → SIGKILL at once (no SIGTERM: nothing saves); the container
//                            stays, stopped (a kill is a stop by hand: the restart policy
//                            does not start it); prints its name. Not running: exit 1,
//                            "Error response from daemon: cannot kill container:
//                            seatable-server: container <Id> is not running"
//   docker update --restart=P seatable-server   (also --restart P; P: no, always,
//                            unless-stopped, on-failure[:N])
//                          → records the restart policy (`restartPolicy`; a created
//                            container has the program's unless-stopped); prints its name
//   docker exec seatable-server curl -fsS -m 5 http://127.0.0.1:5000/ping/
//                          → the request to that host's stand-in, curl's exit codes
//                            (7 refused, 22 HTTP error, 28 no answer within -m)
//   docker exec seatable-server nginx -t | nginx -s reload   (on dtable-web)
//                          → succeed (-t with nginx's two lines on stderr): the site's
//                            nginx is tested for real in tests/site-upload.nginx.test.ts
//   docker exec seatable-server sh -c 'kill -HUP "$(cat "$1")"' sh PIDFILE   (on dtable-web)
//                          → dtable-web's gunicorn reloads (counted: `webReloads`) when
//                            PIDFILE is its pid file (WEB_PID_FILE); another file: exit 2,
//                            as dash's kill of an empty pid
// docker exec in a stopped container: exit 1, "Error response from daemon:
// container <Id> is not running"; in a missing one: "Error response from daemon:
// No such container: NAME".
// Anything else fails with exit 125, so a step that changes shape shows up.
//
// The health check (`health`: interval, retries, start period; by default the
// program's, 100 times faster) runs as Docker's does: "starting" from each start,
// a check every interval; a pass makes it "healthy", `retries` failures in a row
// "unhealthy" (not counted in the start period before the first pass). A check
// fails while the server is frozen; it runs on the host, so a partition does not
// fail it. Stopped or killed: "unhealthy".
//
// What a test does to the world besides Pulumi's and the steps' doings:
//   setReachable(host, false)  the host's SSH does not answer: every runStep on it
//                          exits 255 with ssh's "ssh: connect to host <address> port 22:
//                          Connection timed out" (all hosts start reachable)
//   freeze(host) / thaw(host)  SIGSTOP / SIGCONT to its seatable-server's process, resolved
//                          once it is stopped / runs again (a hung server: it neither
//                          answers nor saves; docker stop ends in SIGKILL, docker kill
//                          kills it; a restart's new process runs, not frozen)
//   partition(host) / heal(host)  a dtable-server host cut off from the network, and back
//                          (see below)
//
// A network partition, as it happens to a dtable-server host whose link (or
// switch, or routing) fails while the machine runs on. The process lives and
// keeps every base it holds in memory, with writes it acknowledged and has not
// saved. Nothing reaches it: SSH from the deploying machine does not answer,
// nor does its port 5000 from dtable-web (the proxy's requests and the
// lease step's check of an evicted server); and it reaches nothing: its saves go to S3 (and, crash-only,
// its operation log entries to the database on dtable-db), across the
// partition, so it saves nothing and keeps its bases dirty. Docker on the host
// still calls the container running. When the partition heals, all of that
// comes back at once: SSH answers, it listens, and its next save writes its
// copies from before the partition over whatever was saved since.
//   partition(host)        every runStep on the host fails as setReachable(host, false)
//                          makes it; the stand-in gets SIGUSR1 (dtable-standin.ts): it
//                          closes its listening socket and drops what still comes on a
//                          connection opened before (neither applied nor answered), and
//                          saves nothing (also not on SIGTERM) until healed. A process
//                          the container starts while the host is cut off starts cut off.
//   heal(host)             SSH answers again; SIGUSR2: the stand-in listens and answers
//                          again, and saves again from a full save interval after the
//                          heal (so that a test can freeze it first: a server whose next
//                          save comes after the next up)
// Held to the real thing, with two differences: a real partition drops packets,
// so a connect to port 5000 times out (nginx: 502 after proxy_connect_timeout;
// the lease step's check: no connection within its 3 s) where here it is refused at
// once (the same 502, the same failed connect, sooner); and a request already
// in flight on an open connection hangs in both, but here the stand-in is the
// one that drops it (on loopback the kernel delivers it), so it must never
// apply or answer one while cut off. The stand-in must be running (not frozen)
// to take either signal.
import { spawn } from "child_process";
import { randomBytes } from "crypto";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { spawnGroup } from "./process-group";
import { withTimeout } from "./standins";
import { PORTS } from "../../pure/config/schema";
import { COMPOSE_DIR, ContainerSpec, PROXY_CONTAINER, PROXY_DIR, PROXY_DIR_IN_CONTAINER, SEATABLE_CONTAINER, SEATABLE_DIR } from "../../pure/plan/containers";
import type { HostStep } from "../../pure/plan/rollout";
import { WEB_PID_FILE } from "../../pure/plan/seatable";
import { NGINX } from "./nginx";
import { logEvent, spawnDtableStandin, StandinModel, StandinOptions, StandinProcess } from "./dtable-standin";

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

/** One HTTP GET from this machine; resolves with the status and body, or the error (`timedOut`: nothing came for `timeoutMs`). */
function get(url: URL, address: string, timeoutMs: number): Promise<{ status: number; body: string } | { error: string; timedOut?: boolean }> {
  return new Promise((resolve) => {
    let timedOut = false;
    const req = http.get({ host: address, port: Number(url.port || 80), path: url.pathname + url.search, headers: { host: url.host, connection: "close" }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on("error", (e) => resolve({ error: e.message, timedOut }));
    });
    req.setTimeout(timeoutMs, () => {
      timedOut = true;
      req.destroy(new Error("timed out"));
    });
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ error: e.code === "ECONNREFUSED" ? "Connection refused" : e.message, timedOut }));
  });
}

/** The state letter of process `pid` in /proc/<pid>/stat (T: stopped by a signal), or undefined once it is gone. */
function procState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0];
  } catch {
    return undefined;
  }
}

/** A signal arrives after kill(2) returns: waits until process `pid` is stopped (or not), or gone. */
async function untilStopped(pid: number, stopped: boolean): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const state = procState(pid);
    if (state === undefined || (state === "T") === stopped) return;
    if (Date.now() > deadline) throw new Error(`process ${pid} is ${stopped ? "not stopped 5 s after SIGSTOP" : "stopped 5 s after SIGCONT"}`);
    await sleep(1);
  }
}

/** The restart policy of a created seatable-server: the program's (pure/plan/containers.ts). */
const CREATED_RESTART_POLICY: ContainerSpec["restart"] = "unless-stopped";
const RESTART_POLICY = /^(no|always|unless-stopped|on-failure(:\d+)?)$/;
/** conf-edits.sh's reload of dtable-web: the script its `docker exec … sh -c` runs, with the pid file as $1 */
const HUP_SCRIPT = 'kill -HUP "$(cat "$1")"';

/** The fields `docker inspect -f` may show here: their path in the template. */
type InspectField = "Id" | "State.StartedAt" | "State.Running" | "State.Status" | "State.Health.Status" | "Config.Image";

/** A parsed `docker inspect -f` format: text, a field, or `{{if .State.Health}}…{{end}}` (`at`: where `.Health` is, for Go's error). */
type InspectPart = string | { field: InspectField; at: number } | { ifHealth: InspectPart[] };

/**
 * A `docker inspect -f` format: literal text, the actions {{.Id}}, {{.State.StartedAt}},
 * {{.State.Running}}, {{.State.Status}}, {{.State.Health.Status}}, {{.Config.Image}}
 * and {{if .State.Health}}…{{end}} around any of them; undefined for anything else.
 */
function inspectFormat(format: string): InspectPart[] | undefined {
  const top: InspectPart[] = [];
  const open: InspectPart[][] = [top];
  let at = 0;
  let fields = 0;
  for (const part of format.split(/(\{\{.*?\}\})/)) {
    const here = open[open.length - 1];
    if (part.startsWith("{{") && part.endsWith("}}")) {
      const inner = part.slice(2, -2);
      const field = /^\s*\.(Id|State\.StartedAt|State\.Running|State\.Status|State\.Health\.Status|Config\.Image)\s*$/.exec(inner)?.[1] as InspectField | undefined;
      if (field !== undefined) {
        here.push({ field, at: at + 2 + inner.indexOf(".Health") });
        fields++;
      } else if (/^\s*if\s+\.State\.Health\s*$/.test(inner)) {
        const body: InspectPart[] = [];
        here.push({ ifHealth: body });
        open.push(body);
      } else if (/^\s*end\s*$/.test(inner) && open.length > 1) open.pop();
      else return undefined;
    } else if (part.includes("{{") || part.includes("}}")) return undefined;
    else if (part !== "") here.push(part);
    at += part.length;
  }
  return fields > 0 && open.length === 1 ? top : undefined;
}

/** What `docker inspect` shows of a container here. */
type Inspected = { id?: string; startedAt?: string; image?: string; running: boolean; health?: HealthStatus };

/**
 * `docker inspect -f format` as Docker prints it: the text and a newline; a container
 * without a health check has no .State.Health, so {{.State.Health.Status}} fails as Go's
 * template does (exit 1; the newline only on stdout).
 */
function renderInspect(parts: readonly InspectPart[], c: Inspected): Result {
  let out = "";
  const walk = (ps: readonly InspectPart[]): string | undefined => {
    for (const p of ps) {
      if (typeof p === "string") out += p;
      else if ("ifHealth" in p) {
        if (c.health !== undefined) {
          const error = walk(p.ifHealth);
          if (error !== undefined) return error;
        }
      } else if (p.field === "State.Health.Status" && c.health === undefined) {
        return `template parsing error: template: :1:${p.at}: executing "" at <.State.Health.Status>: map has no entry for key "Health"\n`;
      } else out += p.field === "Id" ? c.id : p.field === "State.StartedAt" ? c.startedAt : p.field === "Config.Image" ? c.image : p.field === "State.Running" ? String(c.running) : p.field === "State.Status" ? (c.running ? "running" : "exited") : c.health;
    }
    return undefined;
  };
  const error = walk(parts);
  return error === undefined ? ok(`${out}\n`) : fail(1, error, "\n");
}

/** Every field a parsed format shows, in an `if` too. */
function fieldsOf(parts: readonly InspectPart[]): InspectField[] {
  return parts.flatMap((p) => (typeof p === "string" ? [] : "ifHealth" in p ? fieldsOf(p.ifHealth) : [p.field]));
}

/** Now as nginx writes it in its error log, in a container's time zone (UTC): 2026/12/07 14:03:05. */
const nginxTime = () => new Date().toISOString().slice(0, 19).replace(/-/g, "/").replace("T", " ");

/** Docker's health states (`docker inspect -f '{{.State.Health.Status}}'`). */
export type HealthStatus = "starting" | "healthy" | "unhealthy";

/**
 * The health check every seatable-server has (pure/plan/containers.ts: interval 20 s,
 * 3 retries, a start period of 120 s), scaled down a hundredfold.
 */
export const DEFAULT_HEALTH = { intervalMs: 200, retries: 3, startPeriodMs: 1_200 } as const;

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

export type WorldHost = { readonly name: string; readonly address: string };

export type WorldOptions = {
  readonly root: string;
  readonly web: WorldHost;
  readonly db: WorldHost;
  readonly proxyPort: number;
  /** every dtable-server the world may run (also those not started yet) */
  readonly servers: readonly WorldHost[];
  /** the compiled stand-in (compileStandin) */
  readonly standinScript: string;
  readonly saveIntervalMs: number;
  readonly model: StandinModel;
  /** `docker stop/restart -t N` sends SIGKILL after min(N s, this), ms */
  readonly killAfterMs: number;
  /** the conf files (under conf/) a node's seatable-server writes on its first start */
  readonly confFiles: (host: string) => readonly string[];
  /**
   * `docker exec dtable-server-proxy nginx -s reload` prints nginx's notice on stderr
   * ("2026/12/07 14:03:05 [notice] 30#30: signal process started"), as the real one
   * does (tests/docker-contract.test.ts). Off unless set: tests/rollout.host.test.ts
   * still expects a reloading proxy step to write nothing on stderr.
   */
  readonly reloadNotice?: boolean;
  /** the seatable-servers' health check (Docker's --health-interval, --health-retries, --health-start-period); DEFAULT_HEALTH if not given */
  readonly health?: { readonly intervalMs: number; readonly retries: number; readonly startPeriodMs: number };
};

/**
 * A node's seatable-server container: the spec it was created from, what Docker
 * knows of it (Id, last start, restart policy), what runs, and whether a test froze it
 * (`held`: what dtable-web's in-process stand-in has not answered meanwhile).
 */
type NodeContainer = {
  digest: string;
  readonly id: string;
  readonly image?: string;
  startedAt: string;
  restartPolicy: string;
  running: boolean;
  frozen: boolean;
  held: (() => void)[];
  /** Docker's health state, and the timer of its checks while it runs */
  health: { status: HealthStatus; failingStreak: number; timer?: NodeJS.Timeout };
  standin?: StandinProcess;
  web?: http.Server;
};

export class FakeDocker {
  readonly root: string;
  readonly storage: string;
  readonly opLog: string;
  readonly eventLog: string;
  readonly bin: string;
  private readonly containers = new Map<string, NodeContainer>();
  private readonly unreachable = new Set<string>();
  private readonly partitioned = new Set<string>();
  /** what Docker last showed of each container Pulumi deleted (deleteContainer), by host */
  private readonly deletedContainers = new Map<string, { readonly id: string; readonly restartPolicy: string; readonly running: boolean }>();
  /** now in ns since the epoch = this + process.hrtime.bigint() (a clock with Docker's resolution) */
  private readonly epochNs = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  private proxy?: ProxyNginx;
  /** the proxy container's image, if startProxy was told it, and its last start */
  private proxyImage?: string;
  private proxyStartedAt = "";
  /** the proxy container's Id (Docker names it in some errors) */
  private readonly proxyId = randomBytes(32).toString("hex");
  /** the pid inside a container of the next `docker exec` (nginx prints its own) */
  private nextExecPid = 30;
  private control?: http.Server;
  /** where a `docker` shim on a host (FAKE_DOCKER_URL) sends its commands */
  controlUrl = "";
  private stopping?: Promise<void>;
  /** every docker call the steps made: host, arguments, exit code, ms */
  readonly calls: { host: string; args: string[]; code: number; ms: number }[] = [];
  /** gunicorn HUPs dtable-web's seatable-server got (conf-edits.sh's reload) */
  webReloads = 0;
  /** asked first for each docker call: a result to give instead of the world's (a failure a test injects), or undefined */
  intercept?: (host: string, args: readonly string[]) => Result | undefined;

  constructor(readonly o: WorldOptions) {
    this.root = o.root;
    this.storage = path.join(o.root, "storage");
    this.opLog = path.join(o.root, "oplog");
    this.eventLog = path.join(o.root, "events.log");
    this.bin = path.join(o.root, "bin");
    for (const h of [o.web, o.db, ...o.servers]) for (const d of [this.hostDir(h.name), this.seatableDir(h.name)]) mkdirSync(d, { recursive: true });
    for (const d of [this.storage, this.bin]) mkdirSync(d, { recursive: true });
    writeFileSync(path.join(this.bin, "docker.js"), DOCKER_SHIM);
    writeFileSync(path.join(this.bin, "docker"), `#!/bin/sh\nexec "${process.execPath}" "${path.join(this.bin, "docker.js")}" "$@"\n`, { mode: 0o755 });
    // the steps' probes run the host's python3: Debian's, where a shim that takes 0.4 s a start (pyenv) comes first on PATH
    if (existsSync("/usr/bin/python3")) symlinkSync("/usr/bin/python3", path.join(this.bin, "python3"));
  }

  /** The folder that is /opt/seatable-compose on `host`. */
  hostDir(host: string): string {
    return path.join(this.root, "hosts", host, "compose");
  }

  /** The folder that is /opt/seatable-server on `host`. */
  seatableDir(host: string): string {
    return path.join(this.root, "hosts", host, "seatable");
  }

  /** A path on `host` (under /opt/seatable-compose) → where it is in the world. */
  private onHost(host: string, p: string): string {
    if (p !== COMPOSE_DIR && !p.startsWith(`${COMPOSE_DIR}/`)) throw new Error(`${p} is outside ${COMPOSE_DIR}, which is all this world maps for docker run`);
    return path.join(this.hostDir(host), p.slice(COMPOSE_DIR.length));
  }

  get proxyDir(): string {
    return this.onHost(this.o.web.name, PROXY_DIR);
  }

  private host(name: string): WorldHost & { role: "web" | "db" | "server" } {
    if (name === this.o.web.name) return { ...this.o.web, role: "web" };
    if (name === this.o.db.name) return { ...this.o.db, role: "db" };
    const s = this.o.servers.find((x) => x.name === name);
    if (!s) throw new Error(`no host ${name} in this world`);
    return { ...s, role: "server" };
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

  // ---- the node containers (Pulumi's side: create, delete; Docker's: restart, stop)

  /** The spec digest of `host`'s seatable-server container, if it exists. */
  containerDigest(host: string): string | undefined {
    return this.containers.get(host)?.digest;
  }

  /** The hosts that have a seatable-server container. */
  containerHosts(): string[] {
    return [...this.containers.keys()];
  }

  running(host: string): boolean {
    return this.containers.get(host)?.running ?? false;
  }

  /** The restart policy of `host`'s seatable-server (unless-stopped when created; `docker update --restart` changes it), if it exists. */
  restartPolicy(host: string): string | undefined {
    return this.containers.get(host)?.restartPolicy;
  }

  /** Whether `host`'s SSH answers (every host does until setReachable(host, false)). */
  reachable(host: string): boolean {
    this.host(host);
    return !this.unreachable.has(host);
  }

  /** Cuts `host` off (false: every runStep on it fails as ssh does, exit 255) or lets it answer again (true). */
  setReachable(host: string, reachable: boolean): void {
    this.host(host);
    if (reachable) this.unreachable.delete(host);
    else this.unreachable.add(host);
  }

  /** Whether `host` is cut off by partition(host) and not healed since. */
  isPartitioned(host: string): boolean {
    this.host(host);
    return this.partitioned.has(host);
  }

  /**
   * A network partition of a dtable-server host (see the top of this file): its SSH
   * does not answer, its stand-in stops listening on port 5000, drops what comes on
   * open connections and saves nothing, but lives on with what it holds. Resolves once
   * the stand-in no longer listens.
   */
  async partition(host: string): Promise<void> {
    if (this.host(host).role !== "server") throw new Error(`${host}: only a dtable-server host is partitioned here`);
    const c = this.containers.get(host);
    if (c?.frozen) throw new Error(`${host}: its ${SEATABLE_CONTAINER} is frozen and cannot take the partition's signal; thaw it first`);
    this.partitioned.add(host);
    this.unreachable.add(host);
    if (c?.standin?.running) await c.standin.cutOff();
  }

  /**
   * The partition of `host` heals: SSH answers, its stand-in listens and answers
   * again, and saves again a full save interval from now. Resolves once it listens.
   */
  async heal(host: string): Promise<void> {
    if (!this.partitioned.has(host)) return;
    const c = this.containers.get(host);
    if (c?.frozen) throw new Error(`${host}: its ${SEATABLE_CONTAINER} is frozen and cannot take the heal's signal; thaw it first`);
    this.partitioned.delete(host);
    this.unreachable.delete(host);
    if (c?.standin?.running) await c.standin.reconnect();
  }

  /** What Docker last showed of `host`'s seatable-server when Pulumi deleted it (deleteContainer), if it did. */
  deletedContainer(host: string): { readonly id: string; readonly restartPolicy: string; readonly running: boolean } | undefined {
    return this.deletedContainers.get(host);
  }

  /** Whether `host`'s seatable-server is frozen (freeze, and no thaw, stop, restart or kill since). */
  frozen(host: string): boolean {
    return this.containers.get(host)?.frozen ?? false;
  }

  /**
   * SIGSTOP to `host`'s running seatable-server (a hung server: it answers nothing and
   * saves nothing; Docker still calls it running). On dtable-web, whose stand-in runs
   * in this process, requests are held unanswered until thaw; on dtable-db nothing runs.
   * Resolves once the process is stopped.
   */
  async freeze(host: string): Promise<void> {
    const c = this.containers.get(host);
    if (!c?.running) throw new Error(`${host}: no running ${SEATABLE_CONTAINER} to freeze`);
    if (c.frozen) return;
    c.frozen = true;
    const s = c.standin;
    if (s?.running) {
      process.kill(s.pid, "SIGSTOP");
      await untilStopped(s.pid, true);
    }
  }

  /** SIGCONT to a frozen seatable-server of `host` (nothing when it is not frozen); resolves once it runs again. */
  async thaw(host: string): Promise<void> {
    const c = this.containers.get(host);
    if (!c?.frozen) return;
    c.frozen = false;
    for (const answer of c.held.splice(0)) answer();
    const s = c.standin;
    if (s?.running) {
      process.kill(s.pid, "SIGCONT");
      await untilStopped(s.pid, false);
    }
  }

  /** Now as Docker prints a time: Go's RFC3339Nano in UTC (nanoseconds, the fraction's trailing zeros dropped). */
  private now(): string {
    const ns = this.epochNs + process.hrtime.bigint();
    const seconds = new Date(Number(ns / 1_000_000_000n) * 1000).toISOString().slice(0, 19);
    const fraction = (ns % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
    return `${seconds}${fraction === "" ? "" : `.${fraction}`}Z`;
  }

  /**
   * Creates and starts `host`'s seatable-server (it must not exist), and waits until it answers, as Pulumi's `wait: true`.
   * `image`: what {{.Config.Image}} shows (without it, a step that reads it fails as an unsupported command does).
   */
  async createContainer(host: string, digest: string, image?: string): Promise<void> {
    if (this.containers.has(host)) throw new Error(`${host}: a ${SEATABLE_CONTAINER} container exists already`);
    const c: NodeContainer = { digest, id: randomBytes(32).toString("hex"), image, startedAt: "", restartPolicy: CREATED_RESTART_POLICY, running: false, frozen: false, held: [], health: { status: "starting", failingStreak: 0 } };
    this.containers.set(host, c);
    await this.run(host, c);
  }

  /** Pulumi's `wait: true`: until the container answers its health check (/ping/ on a dtable-server, /api2/ping/ on dtable-web). */
  async waitHealthy(name: string, timeoutMs: number): Promise<void> {
    const h = this.host(name);
    const url = h.role === "server" ? `http://${h.address}:${PORTS.dtableServer}/ping/` : h.role === "web" ? `http://${h.address}:${PORTS.dtableWeb}/api2/ping/` : undefined;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running(name)) throw new Error(`${name}: ${SEATABLE_CONTAINER} is not running`);
      if (url === undefined) return;
      const r = await get(new URL(url), h.address, 2_000);
      if ("status" in r && r.status === 200) return;
      if (Date.now() > deadline) throw new Error(`${name}: ${SEATABLE_CONTAINER} not healthy within ${timeoutMs} ms`);
      await sleep(50);
    }
  }

  /** Pulumi's delete: `docker stop -t N` (SIGTERM, SIGKILL after the timeout), then the container is gone (its volume stays). */
  async deleteContainer(host: string, stopTimeoutS: number): Promise<void> {
    const c = this.containers.get(host);
    if (!c) return;
    this.deletedContainers.set(host, { id: c.id, restartPolicy: c.restartPolicy, running: c.running });
    await this.halt(c, stopTimeoutS);
    this.containers.delete(host);
  }

  /** Starts the process(es) of an existing container; the first start of a node writes its conf files. */
  private async run(name: string, c: NodeContainer): Promise<void> {
    const h = this.host(name);
    const conf = path.join(this.seatableDir(name), "seatable", "conf");
    mkdirSync(conf, { recursive: true });
    const past = new Date(Date.now() - 60_000);
    for (const f of this.o.confFiles(name)) {
      const file = path.join(conf, f);
      if (existsSync(file)) continue;
      writeFileSync(file, f.endsWith(".json") ? "{}\n" : `# written by ${SEATABLE_CONTAINER} on its first start\n`);
      utimesSync(file, past, past);
    }
    c.startedAt = this.now();
    if (h.role === "server") {
      const o: StandinOptions = { name, address: h.address, port: PORTS.dtableServer, storage: this.storage, eventLog: this.eventLog, opLog: this.opLog, saveIntervalMs: this.o.saveIntervalMs, model: this.o.model };
      c.standin = await spawnDtableStandin(this.o.standinScript, o, path.join(this.root, "standins.log"));
      // its host is still cut off: so is the new process
      if (this.partitioned.has(name)) await c.standin.cutOff();
    } else if (h.role === "web") {
      const server = http.createServer((req, res) => {
        const answer = () => {
          res.writeHead(req.url === "/api2/ping/" ? 200 : 404);
          res.end(req.url === "/api2/ping/" ? '"pong"' : "");
        };
        if (c.frozen) c.held.push(answer);
        else answer();
      });
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(PORTS.dtableWeb, h.address, resolve);
      });
      c.web = server;
    }
    c.running = true;
    this.monitorHealth(name, c);
  }

  /**
   * Docker's health monitor (moby daemon/health.go): "starting" from each start; a
   * check every interval from then on. A passing check makes it "healthy"; `retries`
   * failed checks in a row make it "unhealthy", not counting those of the start
   * period before the first pass. The check is the container's curl to its own
   * port, on the host: it fails while the process is frozen (no answer within its
   * timeout), not while the host is cut off (partition); dtable-db's passes while
   * the container runs.
   */
  private monitorHealth(name: string, c: NodeContainer): void {
    clearInterval(c.health.timer);
    const { intervalMs, retries, startPeriodMs } = this.o.health ?? DEFAULT_HEALTH;
    const started = Date.now();
    const health: NodeContainer["health"] = { status: "starting", failingStreak: 0 };
    const role = this.host(name).role;
    health.timer = setInterval(() => {
      if (!c.running) return;
      const passes = !c.frozen && (role !== "server" || c.standin?.running === true);
      if (passes) {
        health.failingStreak = 0;
        health.status = "healthy";
      } else if (!(health.status === "starting" && Date.now() - started < startPeriodMs)) {
        health.failingStreak += 1;
        if (health.failingStreak >= retries) health.status = "unhealthy";
      }
    }, intervalMs);
    health.timer.unref();
    c.health = health;
  }

  /** The monitor stops with the container: Docker then shows it "unhealthy". */
  private stopHealth(c: NodeContainer): void {
    if (c.health.timer === undefined) return;
    clearInterval(c.health.timer);
    c.health = { status: "unhealthy", failingStreak: c.health.failingStreak };
  }

  /** What `docker inspect -f '{{.State.Health.Status}}'` shows of `host`'s seatable-server, if it exists. */
  healthStatus(host: string): HealthStatus | undefined {
    return this.containers.get(host)?.health.status;
  }

  /** `docker stop -t N`: SIGTERM, SIGKILL after N s (scaled down); a frozen process sees only the SIGKILL. */
  private async halt(c: NodeContainer, stopTimeoutS: number): Promise<void> {
    const graceMs = Math.min(stopTimeoutS * 1000, this.o.killAfterMs);
    // as Docker: it runs (and its health is checked) until its process is gone
    await c.standin?.stop(graceMs);
    // dtable-web's stand-in runs in this process: frozen, it "ignores" the SIGTERM too
    if (c.web && c.frozen) await sleep(graceMs);
    await this.closeWeb(c, c.frozen);
    c.running = false;
    this.stopHealth(c);
    c.standin = undefined;
    c.frozen = false;
    c.held = [];
  }

  /** `docker kill`: SIGKILL at once (a frozen process dies too), the container stays. */
  private async kill(c: NodeContainer): Promise<void> {
    c.running = false;
    this.stopHealth(c);
    const s = c.standin;
    if (s?.running) {
      process.kill(s.pid, "SIGKILL");
      await withTimeout(s.exited, 5_000, `stand-in ${s.name} to die of SIGKILL`);
      logEvent(this.eventLog, s.name, s.pid, "killed");
    }
    await this.closeWeb(c, true);
    c.standin = undefined;
    c.frozen = false;
    c.held = [];
  }

  /** Closes dtable-web's stand-in; `abrupt`: its connections too, at once (as a SIGKILL would). */
  private async closeWeb(c: NodeContainer, abrupt: boolean): Promise<void> {
    const web = c.web;
    if (!web) return;
    c.web = undefined;
    const closed = new Promise<void>((resolve) => web.close(() => resolve()));
    if (abrupt) web.closeAllConnections();
    await closed;
    web.closeAllConnections();
  }

  /**
   * Writes nothing: starts the proxy's nginx on the files in its folder, as its container does.
   * `image`: what {{.Config.Image}} shows (without it, a step that reads it fails as an unsupported command does).
   */
  async startProxy(image?: string): Promise<void> {
    // another image: Pulumi replaces the container (delete before replace), a new start
    if (image !== undefined && this.proxyImage !== undefined && image !== this.proxyImage && this.proxy?.running) await this.proxy.stop();
    if (image !== undefined) this.proxyImage = image;
    if (this.proxy?.running) return;
    this.proxyStartedAt = this.now();
    this.proxy = await startProxyNginx(this.proxyDir, path.join(this.root, "proxy"), this.o.proxyPort);
  }

  /** The proxy container stops (its nginx ends, as on `docker stop`); `docker start dtable-server-proxy` or startProxy starts it again (the same container). */
  async stopProxy(): Promise<void> {
    await this.proxy?.stop();
  }

  /** SIGHUP to the proxy (an operator's `docker exec dtable-server-proxy nginx -s reload`). */
  reloadProxy(): void {
    this.proxy?.reload();
  }

  proxyOutput(): string {
    return this.proxy?.output() ?? "";
  }

  /** Stops everything this world started. Safe to call twice, and after a failed start. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled([...this.containers.values()].map((c) => this.halt(c, 5)));
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
   * mount namespace where /opt/seatable-compose and /opt/seatable-server are
   * the host's folders, with the fake docker first on PATH. On a host cut off
   * by setReachable(host, false) it fails at once as ssh would (exit 255).
   */
  runStep(step: Pick<HostStep, "host" | "command" | "stdin">, timeoutMs = 60_000): Promise<Result & { ms: number }> {
    const started = Date.now();
    // ssh's own message and exit code when the host does not answer (its ConnectTimeout is not waited for)
    if (this.unreachable.has(step.host)) return Promise.resolve({ ...fail(255, `ssh: connect to host ${this.host(step.host).address} port 22: Connection timed out\n`), ms: Date.now() - started });
    // /opt is an empty tmpfs in the namespace: the mount points are made there, not on this machine
    const mounts = 'mount -t tmpfs tmpfs /opt && mkdir -p "$2" "$4" && mount --bind "$1" "$2" && mount --bind "$3" "$4" && exec sh -c "$5"';
    const child = spawn("unshare", ["--mount", "sh", "-c", mounts, "step", this.hostDir(step.host), COMPOSE_DIR, this.seatableDir(step.host), SEATABLE_DIR, step.command], {
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
    const injected = this.intercept?.(host, args);
    if (injected) return injected;
    const [cmd, ...rest] = args;
    const line = rest.join(" ");
    const unsupported = () => fail(125, `fake docker: unsupported on ${host}: docker ${args.join(" ")}\n`);
    const h = this.host(host);
    const onWeb = h.role === "web";
    const node = this.containers.get(host);
    if (cmd === "run" && onWeb) return this.nginxTest(host, rest);
    const format = cmd === "inspect" && rest.length === 3 && rest[0] === "-f" ? inspectFormat(rest[1]) : undefined;
    if (format) {
      const name = rest[2];
      const proxy = name === PROXY_CONTAINER && onWeb ? this.proxy : undefined;
      const inspected = name === SEATABLE_CONTAINER ? node : undefined;
      // as Docker: the (empty) line on stdout, the error on stderr
      if (!proxy && !inspected) return fail(1, `Error: No such object: ${name}\n`, "\n");
      // the proxy has no health check (pure/plan/containers.ts)
      const fields = fieldsOf(format);
      if (proxy) return fields.includes("Config.Image") && this.proxyImage === undefined ? unsupported() : renderInspect(format, { id: this.proxyId, startedAt: this.proxyStartedAt, running: proxy.running, image: this.proxyImage });
      if (fields.includes("Config.Image") && inspected!.image === undefined) return unsupported();
      return renderInspect(format, { id: inspected!.id, startedAt: inspected!.startedAt, image: inspected!.image, running: inspected!.running, health: inspected!.health.status });
    }
    if (cmd === "kill" && line === SEATABLE_CONTAINER) {
      if (!node) return fail(1, `Error response from daemon: cannot kill container: ${SEATABLE_CONTAINER}: No such container: ${SEATABLE_CONTAINER}\n`);
      if (!node.running) return fail(1, `Error response from daemon: cannot kill container: ${SEATABLE_CONTAINER}: container ${node.id} is not running\n`);
      await this.kill(node);
      return ok(`${SEATABLE_CONTAINER}\n`);
    }
    const policy = cmd === "update" ? (rest.length === 2 && rest[0].startsWith("--restart=") ? rest[0].slice("--restart=".length) : rest.length === 3 && rest[0] === "--restart" ? rest[1] : undefined) : undefined;
    if (policy !== undefined && RESTART_POLICY.test(policy) && rest[rest.length - 1] === SEATABLE_CONTAINER) {
      if (!node) return fail(1, `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\n`);
      node.restartPolicy = policy;
      return ok(`${SEATABLE_CONTAINER}\n`);
    }
    if (cmd === "exec" && onWeb && line === `${PROXY_CONTAINER} nginx -s reload -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`) {
      if (!this.proxy) return fail(1, `Error response from daemon: No such container: ${PROXY_CONTAINER}\n`);
      if (!this.proxy.running) return fail(1, `Error response from daemon: container ${this.proxyId} is not running\n`);
      this.proxy.reload();
      // the signalling nginx's notice goes to its compiled-in error log: stderr in nginx's image
      const pid = this.nextExecPid++;
      return ok("", this.o.reloadNotice ? `${nginxTime()} [notice] ${pid}#${pid}: signal process started\n` : "");
    }
    if ((cmd === "restart" || cmd === "stop") && rest.length === 3 && rest[0] === "-t" && /^\d+$/.test(rest[1]) && rest[2] === SEATABLE_CONTAINER) {
      if (!node) return fail(1, `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\n`);
      await this.halt(node, Number(rest[1]));
      if (cmd === "restart") await this.run(host, node);
      return ok(`${SEATABLE_CONTAINER}\n`);
    }
    if (cmd === "start" && onWeb && line === PROXY_CONTAINER) {
      if (!this.proxy) return fail(1, `Error response from daemon: No such container: ${PROXY_CONTAINER}\nError: failed to start containers: ${PROXY_CONTAINER}\n`);
      await this.startProxy();
      return ok(`${PROXY_CONTAINER}\n`);
    }
    if (cmd === "start" && line === SEATABLE_CONTAINER) {
      // as Docker: a running container is left as it is; a stopped one starts (a new start time, the same Id)
      if (!node) return fail(1, `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\nError: failed to start containers: ${SEATABLE_CONTAINER}\n`);
      if (!node.running) await this.run(host, node);
      return ok(`${SEATABLE_CONTAINER}\n`);
    }
    if (cmd === "exec" && rest[0] === SEATABLE_CONTAINER) {
      if (!node) return fail(1, `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\n`);
      if (!node.running) return fail(1, `Error response from daemon: container ${node.id} is not running\n`);
      if (h.role === "server" && rest[1] === "curl") return this.curl(host, rest.slice(2));
      if (onWeb && line === `${SEATABLE_CONTAINER} nginx -t`) return ok("", "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n");
      // where the notice goes depends on SeaTable's nginx (its compiled-in error log): not modelled
      if (onWeb && line === `${SEATABLE_CONTAINER} nginx -s reload`) return ok();
      if (onWeb && rest.length === 6 && rest.slice(1, 5).join("\0") === ["sh", "-c", HUP_SCRIPT, "sh"].join("\0")) {
        if (rest[5] !== WEB_PID_FILE) return fail(2, `cat: ${rest[5]}: No such file or directory\nsh: 1: kill: Illegal number: \n`);
        this.webReloads++;
        return ok();
      }
    }
    return unsupported();
  }

  /** `docker run --rm --network none -v A:B[:ro] ... IMAGE nginx -t -c PATH`: the real nginx -t, paths mapped. */
  private async nginxTest(host: string, args: string[]): Promise<Result> {
    const volumes: { hostPath: string; containerPath: string }[] = [];
    let i = 0;
    for (; i < args.length && args[i].startsWith("-"); i++) {
      if (args[i] === "-v") {
        const [hostPath, containerPath, mode] = args[++i].split(":");
        if (mode !== undefined && mode !== "ro") return fail(125, `fake docker: unsupported volume mode ${mode}\n`);
        volumes.push({ hostPath, containerPath });
      } else if (args[i] === "--network" && args[i + 1] === "none") i++;
      else if (args[i] !== "--rm") return fail(125, `fake docker: unsupported docker run option ${args[i]}\n`);
    }
    const command = args.slice(i + 1); // after the image
    if (command.length !== 4 || command[0] !== "nginx" || command[1] !== "-t" || command[2] !== "-c") return fail(125, `fake docker: unsupported docker run command ${command.join(" ")}\n`);
    const inContainer = (p: string) => {
      const v = volumes.filter((x) => p === x.containerPath || p.startsWith(`${x.containerPath}/`)).sort((a, b) => b.containerPath.length - a.containerPath.length)[0];
      if (!v) throw new Error(`${p} is not in a volume of docker run`);
      return this.onHost(host, v.hostPath + p.slice(v.containerPath.length));
    };
    const conf = inContainer(command[3]);
    const hosts = inContainer("/etc/hosts");
    const prefix = path.join(this.root, "nginx-t");
    mkdirSync(prefix, { recursive: true });
    const logPath = path.join(prefix, `out.${Date.now()}.${Math.random().toString(36).slice(2)}`);
    const fd = openSync(logPath, "a"); // a file, not a pipe: the config logs to /dev/stderr
    try {
      // as in the container: nginx is pid 1 (it prints its pid: "[emerg] 1#1: ...") and the time is UTC
      const launch = 'mount --bind "$1" /etc/hosts && exec "$0" -t -p "$2/" -c "$3" -e stderr';
      const child = spawn("unshare", ["--mount", "--pid", "--fork", "--kill-child", "sh", "-c", launch, NGINX, hosts, prefix, conf], { stdio: ["ignore", fd, fd], env: { ...process.env, TZ: "UTC" } });
      const code = await withTimeout(new Promise<number>((resolve) => child.once("exit", (n) => resolve(n ?? -1))), 15_000, "nginx -t").catch(() => {
        child.kill("SIGKILL");
        return -1;
      });
      // nginx names the file it tested; say it as the container would
      const out = readFileSync(logPath, "utf8").split(conf).join(command[3]);
      return code === 0 ? ok("", out) : fail(1, out);
    } finally {
      closeSync(fd);
      rmSync(logPath, { force: true });
    }
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
    const started = Date.now();
    const r = await get(u, this.host(host).address, timeoutS * 1000);
    if ("error" in r && r.timedOut) return fail(28, `curl: (28) Operation timed out after ${Date.now() - started} milliseconds with 0 bytes received\n`);
    if ("error" in r) return fail(7, `curl: (7) Failed to connect to ${u.hostname} port ${u.port}: ${r.error}\n`);
    if (r.status >= 400) return fail(22, `curl: (22) The requested URL returned error: ${r.status}\n`);
    return ok(r.body);
  }
}
