// What the program reads on dtable-web before it plans (io/hosts.ts), run for
// real: the system ssh with the options index.ts gives it, against a real sshd
// on 127.0.0.1 whose /opt is a temporary folder (a private mount namespace), so
// the proxy's files sit at the paths a real dtable-web has them.
import { execFileSync, spawn } from "node:child_process";
import { closeSync, constants, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { connect, createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ContainerState } from "../pure/plan/live";
import { hostAccess, HostAccess, MAX_OUTPUT_BYTES, readNodeContainers, readNodeFacts, setHostAccess } from "../io/hosts";
import { nodeFactsCommand } from "../pure/plan/node-facts";
import { routingJson } from "../pure/config/routing-file";
import { buildPlan } from "../pure/plan";
import { PROXY_CONFIG, PROXY_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "../pure/plan/containers";
import { PROXY_INSTALLED, PROXY_LEASE, PROXY_PROGRESS, PROXY_QUARANTINE, PROXY_ROUTING, PROXY_SERVERS, sha256 } from "../pure/plan/rollout";
import { configOf, stackValues, withServers } from "./support/stacks";
import { sshOptions } from "../pure/plan/ssh";
import { Sshd, startSshd, stopSshd } from "./support/sshd";

let sshd: Sshd | undefined;
let opt: string;

beforeAll(async () => {
  opt = mkdtempSync(join(tmpdir(), "live-read-opt-"));
  sshd = await startSshd({ opt });
}, 30000);

afterAll(async () => {
  await stopSshd(sshd);
  rmSync(opt, { recursive: true, force: true });
});

/** Lets a host reader waiting on a FIFO at `path` go (it would wait after its session is gone). */
function releaseFifo(path: string) {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // no FIFO, or no reader left
  }
}

// also after a test that timed out before its own clean-up
afterEach(() => {
  releaseFifo(onHost(PROXY_CONFIG));
  rmSync(join(opt, "seatable-compose"), { recursive: true, force: true });
});

const onHost = (path: string) => join(opt, path.replace(/^\/opt\//, ""));
const put = (path: string, text: string) => {
  mkdirSync(join(onHost(path), ".."), { recursive: true });
  writeFileSync(onHost(path), text);
};

const web = () => {
  const s = sshd as Sshd;
  return { name: "dtable-web", address: "127.0.0.1", ssh: { user: s.user, port: s.port } };
};
// as index.ts calls it
const options = (hostKey = (sshd as Sshd).hostKey) => [
  ...sshOptions("dtable-web", { ...web().ssh, hostKey }, { privateKeyPath: (sshd as Sshd).identityFile }),
  "-o",
  "ConnectTimeout=10",
];

/** The read of the proxy's files; its containers (no Docker daemon answers on this test host) apart. */
async function readFiles() {
  const { containers, ...live } = await hostAccess().readLive(web(), options());
  expect(Object.keys(containers ?? {}).sort()).toEqual([PROXY_CONTAINER, SEATABLE_CONTAINER].sort());
  return live;
}

test("a dtable-web without the proxy's files reads as empty: the first up; its containers are read, and a docker that does not answer is said so", async () => {
  const live = await hostAccess().readLive(web(), options());
  expect(Object.keys(live)).toEqual(["containers"]);
  for (const name of [SEATABLE_CONTAINER, PROXY_CONTAINER]) {
    const state = live.containers![name];
    expect([name, state.status, state.status === "unreadable" && state.reason.length > 10]).toEqual([name, "unreadable", true]);
  }
}, 30000);

test("the hashes of the proxy's config, hosts file and table, the table itself, its servers, the quarantine, what was installed, and the lease with its age and last step", async () => {
  const table = buildPlan(configOf(withServers(2))).routing;
  const servers = { servers: [{ name: "dtable-server", address: "10.0.1.21", ssh: { user: "root", port: 22 } }], evicted: [] };
  put(PROXY_CONFIG, "events {}\n");
  put(PROXY_HOSTS, "10.0.0.11 dtable-server-1\n");
  put(PROXY_ROUTING, routingJson(table));
  put(PROXY_SERVERS, JSON.stringify(servers));
  put(PROXY_QUARANTINE, '{"buckets":["00"],"pins":[]}\n');
  put(PROXY_INSTALLED, `conf ${sha256("events {}\n")}\nhosts ${sha256("x")}\n`);
  put(PROXY_LEASE, "stack=prod run=2026-11-25T10:00:00Z-abc123\n");
  put(PROXY_PROGRESS, `stage-1-switch ${Math.floor(Date.now() / 1000) - 125} stack=prod run=2026-11-25T10:00:00Z-abc123\n`);
  // the lease file taken 10 minutes ago
  const tenMinutesAgo = new Date(Date.now() - 600_000);
  utimesSync(onHost(PROXY_LEASE), tenMinutesAgo, tenMinutesAgo);
  const live = await readFiles();
  expect({ ...live, leaseAgeSeconds: Math.round((live.leaseAgeSeconds ?? 0) / 10), progress: { ...live.progress!, agoSeconds: Math.round(live.progress!.agoSeconds / 10) } }).toEqual({
    conf: sha256("events {}\n"),
    hosts: sha256("10.0.0.11 dtable-server-1\n"),
    routing: sha256(routingJson(table)),
    table,
    servers,
    paused: { buckets: ["00"], pins: [] },
    installed: { conf: [sha256("events {}\n")], hosts: [sha256("x")] },
    lease: "stack=prod run=2026-11-25T10:00:00Z-abc123",
    leaseAgeSeconds: 60,
    progress: { step: "stage-1-switch", agoSeconds: 13, run: "stack=prod run=2026-11-25T10:00:00Z-abc123" },
  });
}, 30000);

test("a routing.json of 4,096 buckets with pins comes through whole", async () => {
  const v = withServers(8);
  v.routing = { bucketHexDigits: 3, pins: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`${i.toString(16).padStart(8, "0")}-0000-4000-8000-000000000000`, "dtable-server-2"])) };
  const table = buildPlan(configOf(v)).routing;
  put(PROXY_ROUTING, routingJson(table));
  expect((await readFiles()).table).toEqual(table);
}, 30000);

test("a lease is read on its own, its first 300 bytes on one line", async () => {
  put(PROXY_LEASE, `stack=prod\n${"x".repeat(400)}`);
  const live = await readFiles();
  expect({ ...live, leaseAgeSeconds: (live.leaseAgeSeconds ?? -1) < 5 }).toEqual({ lease: `stack=prod${"x".repeat(289)}`, leaseAgeSeconds: true });
}, 30000);

test("a host key other than the pinned one: the read fails, naming dtable-web and its address", async () => {
  const other = mkdtempSync(join(tmpdir(), "live-read-key-"));
  try {
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(other, "k")], { timeout: 10000, stdio: "pipe" });
    const otherKey = readFileSync(join(other, "k.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    put(PROXY_CONFIG, "events {}\n");
    const failure = await hostAccess().readLive(web(), options(otherKey)).then(() => undefined, (e: Error) => e.message);
    // ssh's own words, trimmed: not Node's "Command failed: ssh <options>"
    expect(failure).toMatch(/^reading the proxy's live files on dtable-web \(127\.0\.0\.1\) over SSH failed: [^\n]*\S(\r?\n[^\n]*\S)*$/);
    expect(failure).toMatch(/Host key verification failed\.$/);
    expect(failure).not.toContain("Command failed");
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
}, 30000);

test("a read that hangs (a file that never opens) is stopped after 20 s, and says so", async () => {
  // a FIFO without a writer: the host's `sha256sum < file` waits forever, as on a stuck mount
  mkdirSync(join(onHost(PROXY_CONFIG), ".."), { recursive: true });
  execFileSync("mkfifo", [onHost(PROXY_CONFIG)]);
  const started = Date.now();
  try {
    const failure = await hostAccess().readLive(web(), options()).then(() => undefined, (e: Error) => e.message);
    const seconds = (Date.now() - started) / 1000;
    expect({ failure, stoppedAt20s: seconds >= 19.9 && seconds < 26 }).toEqual({
      failure: "reading the proxy's live files on dtable-web (127.0.0.1) over SSH failed: no answer within 20 s",
      stoppedAt20s: true,
    });
  } finally {
    releaseFifo(onHost(PROXY_CONFIG));
  }
}, 40000);

test("a host that prints more than 5 MiB is cut off, and the read fails saying so", async () => {
  const flood = await startSshd({ opt, config: [`ForceCommand head -c ${MAX_OUTPUT_BYTES + 1000} /dev/zero | tr '\\0' x`] });
  try {
    const failure = await hostAccess()
      .readLive({ ...web(), ssh: { user: flood.user, port: flood.port } }, [
        ...sshOptions("dtable-web", { user: flood.user, port: flood.port, hostKey: flood.hostKey }, { privateKeyPath: flood.identityFile }),
      ])
      .then(() => undefined, (e: Error) => e.message);
    expect(failure).toBe("reading the proxy's live files on dtable-web (127.0.0.1) over SSH failed: more than 5120 KiB of output");
  } finally {
    await stopSshd(flood);
  }
}, 30000);

test("reachable: the sshd's port answers, a closed port does not", async () => {
  const closed = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
  const s = sshd as Sshd;
  await expect(hostAccess().reachable({ ...web(), ssh: { user: s.user, port: s.port } })).resolves.toBe(true);
  await expect(hostAccess().reachable({ ...web(), ssh: { user: s.user, port: closed } })).resolves.toBe(false);
}, 30000);

test("reachable: a host that drops connection attempts counts as unreachable after 10 s, not never", async () => {
  // a listener that never accepts, its queue full: the kernel drops further SYNs, as a firewall does
  const listener = spawn("python3", ["-c", "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\nsys.stdin.read()"], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const held: Socket[] = [];
  try {
    const port = await new Promise<number>((resolve) => listener.stdout.once("data", (d: Buffer) => resolve(Number(String(d).trim()))));
    for (let i = 0; i < 3; i++) held.push(connect({ host: "127.0.0.1", port }));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const reachable = await hostAccess().reachable({ ...web(), ssh: { user: "root", port } });
    const seconds = (Date.now() - started) / 1000;
    expect({ reachable, gaveUpAt10s: seconds >= 9.9 && seconds < 16 }).toEqual({ reachable: false, gaveUpAt10s: true });
  } finally {
    for (const s of held) s.destroy();
    listener.stdin.end();
    listener.kill();
  }
}, 30000);

test("the node read and the container read over ssh: what the host has, and a docker that does not answer said so", async () => {
  const conf = join(opt, "conf");
  mkdirSync(conf, { recursive: true });
  writeFileSync(join(conf, "seatable-controller.conf"), "[seatable]\n");
  const facts = await hostAccess().readFacts(web(), options(), nodeFactsCommand({ confDir: conf, mariadb: true }));
  const kib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
  // no docker on this host: MariaDB cannot be read through dtable-web's container
  expect(facts).toEqual({ memoryKiB: kib, controllerConf: true, deprecatedConf: { files: {}, problems: [] }, mariadb: { noContainer: true } });
  const containers = await hostAccess().readContainers(web(), options(), [SEATABLE_CONTAINER]);
  expect(Object.keys(containers)).toEqual([SEATABLE_CONTAINER]);
  expect(containers[SEATABLE_CONTAINER].status).toBe("unreadable");
  rmSync(conf, { recursive: true, force: true });
  // what a host printed that is not the read: the parser's words; a host that does not answer: what was read, where
  await expect(hostAccess().readFacts(web(), options(), "echo hello")).rejects.toThrow('reading dtable-web: no "controller-conf" line in what it printed');
  const closed = { ...web(), ssh: { ...web().ssh, port: 1 } };
  await expect(hostAccess().readFacts(closed, options(), nodeFactsCommand())).rejects.toThrow(/^reading the memory and conf files on dtable-web \(127\.0\.0\.1\) over SSH failed: ssh: connect to host 127\.0\.0\.1 port 1: Connection refused/);
  await expect(hostAccess().readContainers(closed, options(), [SEATABLE_CONTAINER])).rejects.toThrow(/^reading the containers on dtable-web \(127\.0\.0\.1\) over SSH failed: ssh: connect to host 127\.0\.0\.1 port 1: Connection refused/);
}, 30000);

test("readNodeFacts: every node read side by side, MariaDB only through dtable-web; a host that fails is unreadable, not fatal", async () => {
  const config = configOf(stackValues("dev"));
  const commands = new Map<string, string>();
  const optionsSeen = new Map<string, readonly string[]>();
  const fake: HostAccess = {
    ...hostAccess(),
    readFacts: (host, sshOptionsGiven, command) => {
      commands.set(host.name, command);
      optionsSeen.set(host.name, sshOptionsGiven);
      return host.name === "dtable-db" ? Promise.reject(new Error("ssh: connect to host 192.0.2.20 port 22: Connection refused")) : Promise.resolve({ controllerConf: false, deprecatedConf: { files: {}, problems: [] } });
    },
  };
  setHostAccess(fake);
  try {
    const read = await readNodeFacts(config);
    expect(read).toEqual({
      "dtable-web": { controllerConf: false, deprecatedConf: { files: {}, problems: [] } },
      "dtable-db": { unreadable: "ssh: connect to host 192.0.2.20 port 22: Connection refused" },
      "dtable-server": { controllerConf: false, deprecatedConf: { files: {}, problems: [] } },
      "dtable-server-2": { controllerConf: false, deprecatedConf: { files: {}, problems: [] } },
    });
    expect(Object.fromEntries(commands)).toEqual({
      "dtable-web": nodeFactsCommand({ mariadb: true }),
      "dtable-db": nodeFactsCommand(),
      "dtable-server": nodeFactsCommand(),
      "dtable-server-2": nodeFactsCommand(),
    });
    // each with its own pinned key, and a bound on the connection
    for (const h of [config.hosts.web, config.hosts.db, ...config.hosts.servers]) {
      expect(optionsSeen.get(h.name)).toEqual([...sshOptions(h.name, h.ssh, config.ssh), "-o", "ConnectTimeout=10"]);
    }
  } finally {
    setHostAccess(undefined);
  }
});

test("readNodeContainers: dtable-web's come with the proxy's read, the others read side by side; a host that fails is unreadable, not fatal", async () => {
  const config = configOf(stackValues("dev"));
  const asked: string[] = [];
  const running: ContainerState = { status: "running", startedAt: "2026-12-07T10:00:00Z", image: config.image, health: "healthy" };
  setHostAccess({
    ...hostAccess(),
    readContainers: (host, _options, names) => {
      asked.push(`${host.name}: ${names.join(" ")}`);
      return host.name === "dtable-server-2" ? Promise.reject(new Error("no answer")) : Promise.resolve({ [SEATABLE_CONTAINER]: running });
    },
  });
  try {
    const web = { [SEATABLE_CONTAINER]: running, [PROXY_CONTAINER]: running };
    expect(await readNodeContainers(config, { containers: web })).toEqual({
      "dtable-web": { containers: web },
      "dtable-db": { containers: { [SEATABLE_CONTAINER]: running } },
      "dtable-server": { containers: { [SEATABLE_CONTAINER]: running } },
      "dtable-server-2": { unreadable: "no answer" },
    });
    expect(asked.sort()).toEqual(["dtable-db: seatable-server", "dtable-server-2: seatable-server", "dtable-server: seatable-server"]);
    // no proxy read of dtable-web's containers (none there yet): dtable-web is left out, not read again
    expect(Object.keys(await readNodeContainers(config, {}))).toEqual(["dtable-db", "dtable-server", "dtable-server-2"]);
  } finally {
    setHostAccess(undefined);
  }
});
