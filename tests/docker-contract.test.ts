// The fake docker (tests/support/fake-docker.ts), held to a real dockerd.
//
// Every host step in the load test and the host tests runs against the fake.
// Here the same docker command lines the steps use (found in the program's
// shell, last test) run against both: a real dockerd (Debian's docker.io,
// tests/support/dockerd.ts) and the fake world, and each test asserts the same
// observable behaviour of both: exit codes, output, timing, and what `docker
// inspect` shows after.
//
// The containers, one of each at a time:
//   seatable-server on a dtable-server host: in the fake, the stand-in
//       (dtable-standin.ts); one that exits on SIGTERM (the saves-on-sigterm
//       model) or ignores it (crash-only). Real: the program's image name on an
//       image built here, PID 1 a shell that traps SIGTERM (exit 0, or '' to
//       ignore it) and runs nginx answering GET /ping/ with "pong" on port 5000,
//       without --init (as Pulumi creates SeaTable's). Both have a health check
//       (real: curl of /ping/ every second, 1 s timeout, 2 retries, no start
//       period; the fake's world the same). "Frozen": SIGSTOP to the server
//       process (the stand-in; nginx's processes): it answers nothing.
//   seatable-server on dtable-web: its nginx, for `nginx -t` and `nginx -s reload`.
//   dtable-server-proxy: nginx with the program's rendered config, its folder on
//       /etc/nginx/proxy and its hosts file on /etc/hosts, as Pulumi creates it
//       (the program's proxy image name on the image built here).
//
// Debian 12's dockerd is 20.10; the fake follows today's Docker Engine (moby
// v29: daemon/errors.go, daemon/server/router/container/container_routes.go),
// whose daemon errors begin in lower case. `todaysWording` says 20.10's
// messages the way today's does; nothing else is rewritten.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { buildPlan } from "../pure/plan";
import { PROXY_CONTAINER, PROXY_DIR, PROXY_DIR_IN_CONTAINER, SEATABLE_CONTAINER } from "../pure/plan/containers";
import { renderProxyConfig, renderProxyHosts } from "../pure/plan/nginx";
import { WEB_PID_FILE } from "../pure/plan/seatable";
import { compileStandin } from "./support/dtable-standin";
import { buildRootfs, dockerdUnavailable, Dockerd, Run, runShell, startDockerd, which } from "./support/dockerd";
import { FakeDocker } from "./support/fake-docker";
import { setStandinContainer, writeDockerStandin } from "./support/mariadb";
import { addressesOf } from "./support/loopback-cluster";
import { freePort, NGINX } from "./support/nginx";
import { configOf, withServers } from "./support/stacks";

jest.setTimeout(60_000);

// ---- what both sides run --------------------------------------------------------

const CONFIG = configOf(withServers(2));
/** the images the program runs (built here from this machine's binaries for the real dockerd) */
const SEATABLE_IMAGE = CONFIG.image;
const PROXY_IMAGE = CONFIG.proxy.image;

/** Docker's health check options of both sides' seatable-servers. */
const HEALTH = { intervalMs: 1_000, retries: 2, startPeriodMs: 0 };
const HEALTH_CMD = "curl -fsS -m 1 http://127.0.0.1:5000/ping/ || exit 1";

/** How long a step's docker call may take beyond what Docker waits for (a busy machine). */
const SLACK_MS = 4_000;
/** "At once": well before a `-t 5` would end in SIGKILL. */
const AT_ONCE_MS = 2_500;

type OnTerm = "exits on SIGTERM" | "ignores SIGTERM";

/** One docker world: a real dockerd or the fake. */
type Side = {
  readonly name: string;
  /** `sh -c command` as a step runs it on the dtable-server host (docker first on PATH) */
  onServer(command: string, stdin?: string): Promise<Run>;
  /** … and on dtable-web */
  onWeb(command: string, stdin?: string): Promise<Run>;
  /** a new seatable-server on the dtable-server host (the old one gone), running and answering /ping/ unless `frozen` right after its start */
  createServer(onTerm: OnTerm, frozen?: boolean): Promise<void>;
  /** the dtable-server host has no seatable-server */
  removeServer(): Promise<void>;
  /** SIGSTOP / SIGCONT to the server process of the dtable-server host's seatable-server */
  freeze(): Promise<void>;
  thaw(): Promise<void>;
  /** the restart policy of the dtable-server host's seatable-server */
  restartPolicy(): Promise<string | undefined>;
  /** a seatable-server on dtable-web (its nginx) */
  createWeb(): Promise<void>;
  /** a pid file in the dtable-web's seatable-server (real: its nginx's; fake: dtable-web's gunicorn's, WEB_PID_FILE) */
  readonly webPidFile: string;
  /** where the proxy step's folder (PROXY_DIR) is, on this machine and in a step */
  readonly proxyDir: string;
  readonly proxyDirInStep: string;
  /** the port the proxy's config must listen on (the fake's proxy runs on this machine) */
  readonly proxyPort: number;
  /** dtable-server-proxy, running the files in proxyDir */
  startProxy(): Promise<void>;
  /** it stops (`docker stop`; in the fake, its nginx ends) */
  stopProxy(): Promise<void>;
  stop(): Promise<void>;
};

// The real seatable-server: nginx answering /ping/ (as dtable-server does) on 5000.
const SERVER_NGINX_CONF = `pid /run/nginx.pid;
events {}
http {
  access_log off;
  server {
    listen 5000;
    location = /ping/ { return 200 "pong\\n"; }
    location / { return 404; }
  }
}
`;
/**
 * SIGSTOP or SIGCONT to every nginx process of the container, master and worker:
 * again until both got it (up to 200 scans), as right after `nginx` the master may not have forked
 * its worker yet (a worker forked after the scan would answer /ping/).
 */
const signalNginx = (signal: "STOP" | "CONT") =>
  `n=0 i=0; while [ $n -lt 2 ] && [ $i -lt 200 ]; do n=0 i=$((i + 1)); for d in /proc/[0-9]*; do read c < $d/comm 2>/dev/null || continue; [ "$c" = nginx ] && kill -${signal} \${d#/proc/} && n=$((n + 1)); done; done; [ $n -ge 2 ]`;
/** PID 1 of the real seatable-server (/bin/sh is dash). */
const serverScript = (onTerm: OnTerm, frozen: boolean) =>
  [
    "nginx",
    ...(frozen ? [signalNginx("STOP")] : []),
    onTerm === "exits on SIGTERM" ? "trap 'exit 0' TERM" : "trap '' TERM",
    "while :; do sleep 1 & wait $!; done",
  ].join("\n");

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function realSide(): Promise<Side> {
  const dockerd: Dockerd = await startDockerd();
  try {
    const curl = which("curl");
    if (!curl) throw new Error("no curl on this machine for the test image: install Debian's curl (.ci/run does)");
    const rootfs = buildRootfs(dockerd.root, {
      programs: { "/bin/sh": which("dash") ?? "/bin/sh", "/bin/sleep": which("sleep")!, "/bin/cat": which("cat")!, "/usr/sbin/nginx": NGINX, "/usr/bin/curl": curl },
      files: {
        "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nnginx:x:101:101:nginx:/var/cache/nginx:/bin/false\n",
        "/etc/group": "root:x:0:\nnogroup:x:65534:\nnginx:x:101:nginx\n",
        // /etc/hosts first: the proxy's upstream names (without it, glibc asks DNS first)
        "/etc/nsswitch.conf": "hosts: files dns\n",
        "/etc/nginx/nginx.conf": SERVER_NGINX_CONF,
      },
      dirs: ["var/lib/nginx", "var/log/nginx", "run", "proc", "sys", "dev", "etc/nginx/proxy"],
    });
    await dockerd.importImage(rootfs, [SEATABLE_IMAGE, PROXY_IMAGE]);
    rmSync(rootfs, { recursive: true, force: true });
    const proxyDir = join(dockerd.root, "proxy");
    mkdirSync(proxyDir);

    const sh = async (command: string, stdin = ""): Promise<Run> => {
      const r = await dockerd.sh(command, stdin);
      return { ...r, stdout: todaysWording(r.stdout), stderr: todaysWording(r.stderr) };
    };
    const must = async (command: string) => {
      const r = await dockerd.sh(command);
      if (r.code !== 0) throw new Error(`${command}: exit ${r.code}: ${r.stderr}\ndockerd:\n${dockerd.log()}`);
      return r.stdout;
    };
    const answers = async () => {
      const deadline = Date.now() + 10_000;
      while ((await dockerd.sh(`docker exec ${SEATABLE_CONTAINER} curl -fsS -m 1 http://127.0.0.1:5000/ping/`)).code !== 0) {
        if (Date.now() > deadline) throw new Error(`the real ${SEATABLE_CONTAINER} does not answer /ping/ within 10 s`);
        await sleep(50);
      }
    };
    const create = async (onTerm: OnTerm, frozen: boolean) => {
      await dockerd.sh(`docker rm -f ${SEATABLE_CONTAINER}`);
      const health = `--health-cmd ${shq(HEALTH_CMD)} --health-interval ${HEALTH.intervalMs}ms --health-timeout 1s --health-retries ${HEALTH.retries} --health-start-period ${HEALTH.startPeriodMs}ms`;
      await must(`docker run -d --name ${SEATABLE_CONTAINER} --restart unless-stopped --stop-timeout 30 ${health} ${shq(SEATABLE_IMAGE)} sh -c ${shq(serverScript(onTerm, frozen))}`);
      if (!frozen) await answers();
    };
    return {
      name: `real dockerd ${dockerd.serverVersion} (client ${dockerd.clientVersion})`,
      onServer: sh,
      onWeb: sh,
      createServer: (onTerm, frozen = false) => create(onTerm, frozen),
      removeServer: async () => void (await dockerd.sh(`docker rm -f ${SEATABLE_CONTAINER}`)),
      freeze: async () => void (await must(`docker exec ${SEATABLE_CONTAINER} sh -c ${shq(signalNginx("STOP"))}`)),
      thaw: async () => void (await must(`docker exec ${SEATABLE_CONTAINER} sh -c ${shq(signalNginx("CONT"))}`)),
      restartPolicy: async () => (await must(`docker inspect -f '{{.HostConfig.RestartPolicy.Name}}' ${SEATABLE_CONTAINER}`)).trim(),
      createWeb: () => create("exits on SIGTERM", false),
      webPidFile: "/run/nginx.pid",
      proxyDir,
      proxyDirInStep: proxyDir,
      proxyPort: 5000,
      startProxy: async () => {
        await dockerd.sh(`docker rm -f ${PROXY_CONTAINER}`);
        const volumes = `-v ${shq(proxyDir)}:${PROXY_DIR_IN_CONTAINER}:ro -v ${shq(join(proxyDir, "hosts"))}:/etc/hosts:ro`;
        await must(`docker run -d --name ${PROXY_CONTAINER} --restart unless-stopped ${volumes} ${shq(PROXY_IMAGE)} nginx -g 'daemon off;' -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`);
        // up once its master wrote its pid file (what `nginx -s reload` reads)
        const deadline = Date.now() + 10_000;
        while ((await dockerd.sh(`docker exec ${PROXY_CONTAINER} sh -c 'test -s /run/nginx.pid'`)).code !== 0) {
          if (Date.now() > deadline) throw new Error(`the real ${PROXY_CONTAINER} did not start within 10 s: ${(await dockerd.sh(`docker logs ${PROXY_CONTAINER}`)).stderr}`);
          await sleep(50);
        }
      },
      stopProxy: async () => void (await must(`docker stop -t 10 ${PROXY_CONTAINER}`)),
      stop: () => dockerd.stop(),
    };
  } catch (e) {
    await dockerd.stop();
    throw e;
  }
}

/**
 * Daemon messages of Docker 20.10 (Debian 12's docker.io), and its client's, as
 * today's Docker Engine says them (the fake's wording).
 */
function todaysWording(s: string): string {
  return s
    .replace(/^Error response from daemon: Cannot kill container: /gm, "Error response from daemon: cannot kill container: ")
    .replace(/\bContainer ([0-9a-f]{64}) is not running\b/g, "container $1 is not running")
    .replace(/^Error: No such container: /gm, "Error response from daemon: No such container: ");
}

/** Loopback blocks of their own (fake-docker: 203, the host tests 201-202, the load test's from 0). */
const WORLDS = { exits: 204, ignores: 205 } as const;

async function fakeSide(): Promise<Side> {
  const root = mkdtempSync(join(tmpdir(), "docker-contract-"));
  chmodSync(root, 0o755);
  const standinScript = compileStandin(join(root, "standin"));
  const proxyPort = await freePort();
  const worldOf = async (n: number, model: "saves-on-sigterm" | "crash-only") => {
    const a = addressesOf(n);
    const w = new FakeDocker({
      root: join(root, `world-${n}`),
      web: a.web,
      db: a.db,
      proxyPort,
      servers: a.servers.slice(0, 1),
      standinScript,
      saveIntervalMs: 60_000,
      model,
      // no scaling: `-t N` waits N s, as Docker does
      killAfterMs: 60_000,
      confFiles: () => [],
      health: HEALTH,
      reloadNotice: true,
    });
    await w.start();
    return { w, server: a.servers[0].name, web: a.web.name };
  };
  const stops: (() => Promise<void>)[] = [];
  try {
    // saves-on-sigterm: SIGTERM saves, then exits; crash-only: SIGTERM is ignored
    const exits = await worldOf(WORLDS.exits, "saves-on-sigterm");
    stops.push(() => exits.w.stop());
    const ignores = await worldOf(WORLDS.ignores, "crash-only");
    stops.push(() => ignores.w.stop());
    let current = exits;
    const step = (world: typeof exits, host: string) => (command: string, stdin?: string) => world.w.runStep({ host, command, stdin }, 60_000);
    const remove = async (world: typeof exits) => {
      if (!world.w.containerHosts().includes(world.server)) return;
      await world.w.thaw(world.server);
      await world.w.deleteContainer(world.server, 1);
    };
    mkdirSync(exits.w.proxyDir, { recursive: true });
    return {
      name: "fake docker",
      onServer: (command, stdin) => step(current, current.server)(command, stdin),
      onWeb: step(exits, exits.web),
      createServer: async (onTerm, frozen = false) => {
        await remove(exits);
        await remove(ignores);
        current = onTerm === "exits on SIGTERM" ? exits : ignores;
        await current.w.createContainer(current.server, "v1", SEATABLE_IMAGE);
        if (frozen) await current.w.freeze(current.server);
      },
      removeServer: () => remove(current),
      freeze: () => current.w.freeze(current.server),
      thaw: () => current.w.thaw(current.server),
      restartPolicy: async () => current.w.restartPolicy(current.server),
      createWeb: async () => {
        if (!exits.w.containerHosts().includes(exits.web)) await exits.w.createContainer(exits.web, "v1", SEATABLE_IMAGE);
      },
      webPidFile: WEB_PID_FILE,
      proxyDir: exits.w.proxyDir,
      proxyDirInStep: PROXY_DIR,
      proxyPort,
      startProxy: () => exits.w.startProxy(PROXY_IMAGE),
      stopProxy: () => exits.w.stopProxy(),
      stop: async () => {
        await Promise.allSettled(stops.map((s) => s()));
        rmSync(root, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await Promise.allSettled(stops.map((s) => s()));
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}

// ---- the contract ------------------------------------------------------------------

const out = (r: Run) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr });
const INSPECT_RUNNING = `docker inspect -f '{{.State.Running}}' ${SEATABLE_CONTAINER}`;
const INSPECT_IDENTITY = `docker inspect -f '{{.Id}} {{.State.StartedAt}}' ${SEATABLE_CONTAINER}`;
const INSPECT_STATE = `docker inspect -f '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' ${SEATABLE_CONTAINER}`;
const INSPECT_WEB_STATE = `docker inspect -f '{{.State.Status}}' ${SEATABLE_CONTAINER}`;
const INSPECT_HEALTH = `docker inspect -f '{{.State.Health.Status}}' ${SEATABLE_CONTAINER}`;
/** Go's RFC3339Nano in UTC, as Docker prints a time (the fraction's trailing zeros dropped) */
const STARTED_AT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{0,8}[1-9])?Z$/;
const PING = `docker exec ${SEATABLE_CONTAINER} curl -fsS -m 5 http://127.0.0.1:5000/ping/`;

/** The proxy's files as the program renders them, its upstreams on loopback (the fake's proxy runs on this machine). */
const servers = addressesOf(WORLDS.exits).servers.slice(0, 2);
const proxyHosts = renderProxyHosts(servers);

/** A step's `nginx -t` of a config in the proxy's image (hostscripts/proxy-files.sh), with `hosts` on /etc/hosts. */
const nginxTestStep = (dir: string, hosts: string) =>
  [
    `D=${shq(dir)}`,
    'T=$(mktemp -d "$D/.incoming.XXXXXX")',
    "trap 'rm -rf \"$T\"' EXIT",
    'cat > "$T/nginx-proxy.conf"',
    `printf %s ${shq(hosts)} > "$T/hosts"`,
    `docker run --rm --network none -v "$T":${PROXY_DIR_IN_CONTAINER}:ro -v "$T/hosts":/etc/hosts:ro ${shq(PROXY_IMAGE)} nginx -t -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`,
  ].join("\n");

/** nginx's log time (2026/12/07 14:03:05, UTC in a container) and pid, which differ from run to run. */
const NGINX_LINE = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] (\d+)#\2: /gm;
const nginxLines = (s: string) => s.replace(NGINX_LINE, "<time> [$1] <pid>#<pid>: ");

/** Polls `docker inspect` until `want` shows (or `timeoutMs` passed); returns every distinct line seen, in order. */
async function until(side: Side, command: string, want: string, timeoutMs: number): Promise<string[]> {
  const seen: string[] = [];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await side.onServer(command);
    const line = r.code === 0 ? r.stdout.trim() : `exit ${r.code}: ${r.stderr.trim()}`;
    if (seen.at(-1) !== line) seen.push(line);
    if (line === want || Date.now() > deadline) return seen;
    await sleep(100);
  }
}

const unavailable = dockerdUnavailable();
const SIDES: [string, () => Promise<Side>, boolean][] = [
  [unavailable ? `real dockerd (skipped: ${unavailable})` : "real dockerd", realSide, unavailable === undefined],
  ["fake docker", fakeSide, true],
];

describe.each(SIDES)("%s", (_title, make, runs) => {
  const d = runs ? describe : describe.skip;
  d("the docker operations of the program's steps", () => {
    let side: Side;
    beforeAll(async () => {
      side = await make();
    }, 180_000);
    afterAll(async () => {
      await side?.stop();
    }, 60_000);

    test("docker inspect -f: Running, Status, Health, Id and StartedAt of a running container; a missing one fails with stdout's empty line", async () => {
      await side.createServer("exits on SIGTERM");
      expect(out(await side.onServer(INSPECT_RUNNING))).toEqual({ code: 0, stdout: "true\n", stderr: "" });
      expect(out(await side.onServer(INSPECT_STATE))).toEqual({ code: 0, stdout: "running starting\n", stderr: "" });
      // what the live read asks (hostscripts/container-state.sh)
      const live = await side.onServer(`docker inspect -f '{{.State.Status}} {{.Config.Image}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' ${SEATABLE_CONTAINER}`);
      expect(out(live)).toEqual({ code: 0, stdout: `running ${SEATABLE_IMAGE} starting\n`, stderr: "" });
      const identity = await side.onServer(INSPECT_IDENTITY);
      expect([identity.code, identity.stderr]).toEqual([0, ""]);
      expect(identity.stdout).toMatch(/^[0-9a-f]{64} \S+\n$/);
      const startedAt = identity.stdout.trim().split(" ")[1];
      expect(startedAt).toMatch(STARTED_AT);
      expect(Math.abs(Date.parse(startedAt) - Date.now())).toBeLessThan(30_000);
      // the form the steps test with
      expect(out(await side.onServer(`if [ "$(${INSPECT_RUNNING} 2>/dev/null)" = true ]; then echo yes; fi`))).toEqual({ code: 0, stdout: "yes\n", stderr: "" });

      await side.removeServer();
      for (const command of [INSPECT_RUNNING, INSPECT_IDENTITY, INSPECT_STATE, INSPECT_HEALTH]) {
        expect(out(await side.onServer(command))).toEqual({ code: 1, stdout: "\n", stderr: `Error: No such object: ${SEATABLE_CONTAINER}\n` });
      }
      expect(out(await side.onServer(`if ${INSPECT_RUNNING} >/dev/null 2>&1; then echo yes; else echo no; fi`))).toEqual({ code: 0, stdout: "no\n", stderr: "" });
      expect(out(await side.onServer(`${INSPECT_IDENTITY} > id 2>/dev/null || : > id; wc -c < id; rm -f id`))).toEqual({ code: 0, stdout: "0\n", stderr: "" });
    });

    test("docker stop -t 5 of a server that exits on SIGTERM: at once; stopped, same Id and StartedAt, unhealthy; again: nothing to do; docker start runs it again (same Id, a new start); a running one is left as it is", async () => {
      await side.createServer("exits on SIGTERM");
      const before = (await side.onServer(INSPECT_IDENTITY)).stdout;
      const stopped = await side.onServer(`docker stop -t 5 ${SEATABLE_CONTAINER}`);
      expect(out(stopped)).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect(stopped.ms).toBeLessThan(AT_ONCE_MS);
      expect(out(await side.onServer(INSPECT_RUNNING))).toEqual({ code: 0, stdout: "false\n", stderr: "" });
      expect(out(await side.onServer(INSPECT_STATE))).toEqual({ code: 0, stdout: "exited unhealthy\n", stderr: "" });
      expect((await side.onServer(INSPECT_IDENTITY)).stdout).toBe(before);
      expect(out(await side.onServer(`docker stop -t 1 ${SEATABLE_CONTAINER}`))).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });

      expect(out(await side.onServer(`docker start ${SEATABLE_CONTAINER}`))).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      const started = (await side.onServer(INSPECT_IDENTITY)).stdout;
      expect(started.split(" ")[0]).toBe(before.split(" ")[0]);
      expect(Date.parse(started.trim().split(" ")[1])).toBeGreaterThan(Date.parse(before.trim().split(" ")[1]));
      expect(out(await side.onServer(INSPECT_STATE))).toEqual({ code: 0, stdout: "running starting\n", stderr: "" });
      expect(out(await side.onServer(`docker start ${SEATABLE_CONTAINER}`))).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect((await side.onServer(INSPECT_IDENTITY)).stdout).toBe(started);
    });

    test("docker stop -t 1 and restart -t 1 of a server that ignores SIGTERM: SIGKILL after 1 s; a restart keeps the Id and changes StartedAt", async () => {
      await side.createServer("ignores SIGTERM");
      const first = (await side.onServer(INSPECT_IDENTITY)).stdout.trim().split(" ");
      const restarted = await side.onServer(`docker restart -t 1 ${SEATABLE_CONTAINER}`);
      expect(out(restarted)).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect(restarted.ms).toBeGreaterThanOrEqual(1_000);
      expect(restarted.ms).toBeLessThan(1_000 + SLACK_MS);
      const second = (await side.onServer(INSPECT_IDENTITY)).stdout.trim().split(" ");
      expect(second[0]).toBe(first[0]);
      expect(Date.parse(second[1]) - Date.parse(first[1])).toBeGreaterThanOrEqual(1_000);
      expect(out(await side.onServer(INSPECT_STATE))).toEqual({ code: 0, stdout: "running starting\n", stderr: "" });

      // a container runs (and shows running) until its process is gone
      const stopping = side.onServer(`docker stop -t 2 ${SEATABLE_CONTAINER}`);
      await sleep(700);
      expect(out(await side.onServer(INSPECT_RUNNING))).toEqual({ code: 0, stdout: "true\n", stderr: "" });
      const stopped = await stopping;
      expect(out(stopped)).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect(stopped.ms).toBeGreaterThanOrEqual(2_000);
      expect(stopped.ms).toBeLessThan(2_000 + SLACK_MS);
      expect(out(await side.onServer(INSPECT_STATE))).toEqual({ code: 0, stdout: "exited unhealthy\n", stderr: "" });
      expect((await side.onServer(INSPECT_IDENTITY)).stdout.trim().split(" ")).toEqual(second);

      // a restart of a stopped container starts it
      const again = await side.onServer(`docker restart -t 5 ${SEATABLE_CONTAINER}`);
      expect(out(again)).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect(again.ms).toBeLessThan(AT_ONCE_MS);
      expect(out(await side.onServer(INSPECT_RUNNING))).toEqual({ code: 0, stdout: "true\n", stderr: "" });
    });

    test("docker restart -t 5 of a server that exits on SIGTERM: at once, same Id, a new start", async () => {
      await side.createServer("exits on SIGTERM");
      const first = (await side.onServer(INSPECT_IDENTITY)).stdout.trim().split(" ");
      const restarted = await side.onServer(`docker restart -t 5 ${SEATABLE_CONTAINER} >/dev/null`);
      expect(out(restarted)).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(restarted.ms).toBeLessThan(AT_ONCE_MS);
      const second = (await side.onServer(INSPECT_IDENTITY)).stdout.trim().split(" ");
      expect([second[0], second[1] !== first[1]]).toEqual([first[0], true]);
      expect(out(await side.onServer(PING))).toEqual({ code: 0, stdout: "pong\n", stderr: "" });
    });

    test("docker kill: SIGKILL at once, also to a server that ignores SIGTERM; it stays stopped (restart policy unless-stopped); a second kill fails; docker update --restart=no", async () => {
      await side.createServer("ignores SIGTERM");
      expect(await side.restartPolicy()).toBe("unless-stopped");
      const id = (await side.onServer(INSPECT_IDENTITY)).stdout.split(" ")[0];
      const killed = await side.onServer(`docker kill ${SEATABLE_CONTAINER}`);
      expect(out(killed)).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect(killed.ms).toBeLessThan(AT_ONCE_MS);
      // a kill counts as stopped by hand: Docker does not start it again
      await sleep(1_500);
      expect(out(await side.onServer(INSPECT_STATE))).toEqual({ code: 0, stdout: "exited unhealthy\n", stderr: "" });
      expect(out(await side.onServer(`docker kill ${SEATABLE_CONTAINER}`))).toEqual({
        code: 1,
        stdout: "",
        stderr: `Error response from daemon: cannot kill container: ${SEATABLE_CONTAINER}: container ${id} is not running\n`,
      });
      expect(out(await side.onServer(`docker update --restart=no ${SEATABLE_CONTAINER}`))).toEqual({ code: 0, stdout: `${SEATABLE_CONTAINER}\n`, stderr: "" });
      expect(await side.restartPolicy()).toBe("no");
      // the fence step's lines
      expect(
        out(await side.onServer(`if [ "$(${INSPECT_RUNNING} 2>/dev/null)" = true ]; then docker kill ${SEATABLE_CONTAINER} >/dev/null; echo killed; fi; if ${INSPECT_RUNNING} >/dev/null 2>&1; then docker update --restart=no ${SEATABLE_CONTAINER} >/dev/null; echo kept; fi`)),
      ).toEqual({ code: 0, stdout: "kept\n", stderr: "" });

      await side.removeServer();
      expect(out(await side.onServer(`docker kill ${SEATABLE_CONTAINER}`))).toEqual({
        code: 1,
        stdout: "",
        stderr: `Error response from daemon: cannot kill container: ${SEATABLE_CONTAINER}: No such container: ${SEATABLE_CONTAINER}\n`,
      });
      expect(out(await side.onServer(`docker update --restart=no ${SEATABLE_CONTAINER}`))).toEqual({ code: 1, stdout: "", stderr: `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\n` });
      for (const cmd of ["stop -t 1", "restart -t 1"]) {
        expect(out(await side.onServer(`docker ${cmd} ${SEATABLE_CONTAINER}`))).toEqual({ code: 1, stdout: "", stderr: `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\n` });
      }
      expect(out(await side.onServer(`docker start ${SEATABLE_CONTAINER}`))).toEqual({
        code: 1,
        stdout: "",
        stderr: `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\nError: failed to start containers: ${SEATABLE_CONTAINER}\n`,
      });
    });

    test("docker exec curl: its output and exit codes (7 refused, 22 HTTP error, 28 no answer); exec in a stopped or missing container fails", async () => {
      await side.createServer("exits on SIGTERM");
      expect(out(await side.onServer(PING))).toEqual({ code: 0, stdout: "pong\n", stderr: "" });
      const refused = await side.onServer(`docker exec ${SEATABLE_CONTAINER} curl -fsS -m 5 http://127.0.0.1:5001/ping/`);
      expect([refused.code, refused.stdout]).toEqual([7, ""]);
      expect(refused.stderr).toMatch(/^curl: \(7\) Failed to connect to 127\.0\.0\.1 port 5001\b.*\n$/);
      expect(out(await side.onServer(`docker exec ${SEATABLE_CONTAINER} curl -fsS -m 5 http://127.0.0.1:5000/nope/`))).toEqual({ code: 22, stdout: "", stderr: "curl: (22) The requested URL returned error: 404\n" });
      await side.freeze();
      const hung = await side.onServer(`docker exec ${SEATABLE_CONTAINER} curl -fsS -m 1 http://127.0.0.1:5000/ping/`);
      expect([hung.code, hung.stdout]).toEqual([28, ""]);
      expect(hung.stderr).toMatch(/^curl: \(28\) Operation timed out after \d+ milliseconds with 0 bytes received\n$/);
      await side.thaw();
      expect(out(await side.onServer(PING))).toEqual({ code: 0, stdout: "pong\n", stderr: "" });
      // the wait for /ping/ after a restart, as the steps loop on it
      expect(out(await side.onServer(`until ${PING} >/dev/null 2>&1; do sleep 1; done; echo up`))).toEqual({ code: 0, stdout: "up\n", stderr: "" });

      const id = (await side.onServer(INSPECT_IDENTITY)).stdout.split(" ")[0];
      expect((await side.onServer(`docker stop -t 1 ${SEATABLE_CONTAINER}`)).code).toBe(0);
      expect(out(await side.onServer(PING))).toEqual({ code: 1, stdout: "", stderr: `Error response from daemon: container ${id} is not running\n` });
      await side.removeServer();
      expect(out(await side.onServer(PING))).toEqual({ code: 1, stdout: "", stderr: `Error response from daemon: No such container: ${SEATABLE_CONTAINER}\n` });
    });

    test("health: starting, healthy once a check passes; unhealthy after 2 failed checks (frozen), healthy again once one passes; unhealthy once stopped; starting again on a start", async () => {
      await side.createServer("exits on SIGTERM");
      // the first check comes an interval after the start
      expect(out(await side.onServer(INSPECT_HEALTH))).toEqual({ code: 0, stdout: "starting\n", stderr: "" });
      expect(await until(side, INSPECT_HEALTH, "healthy", 5_000)).toEqual(["starting", "healthy"]);
      await side.freeze();
      // two checks fail in a row (each may wait for its 1 s timeout)
      expect(await until(side, INSPECT_HEALTH, "unhealthy", 10_000)).toEqual(["healthy", "unhealthy"]);
      await side.thaw();
      expect(await until(side, INSPECT_HEALTH, "healthy", 5_000)).toEqual(["unhealthy", "healthy"]);
      expect((await side.onServer(`docker stop -t 5 ${SEATABLE_CONTAINER}`)).code).toBe(0);
      expect(out(await side.onServer(INSPECT_HEALTH))).toEqual({ code: 0, stdout: "unhealthy\n", stderr: "" });
      expect((await side.onServer(`docker start ${SEATABLE_CONTAINER}`)).code).toBe(0);
      expect(await until(side, INSPECT_HEALTH, "healthy", 5_000)).toEqual(["starting", "healthy"]);
      // a restart starts over too
      expect((await side.onServer(`docker restart -t 5 ${SEATABLE_CONTAINER}`)).code).toBe(0);
      expect(await until(side, INSPECT_HEALTH, "healthy", 5_000)).toEqual(["starting", "healthy"]);
    });

    test("health: a server that never answers goes from starting to unhealthy", async () => {
      await side.createServer("exits on SIGTERM", true);
      expect(await until(side, INSPECT_STATE, "running unhealthy", 10_000)).toEqual(["running starting", "running unhealthy"]);
      await side.removeServer();
    });

    test("dtable-server-proxy: Id, status, start time and image; no health check (the {{if}} shows nothing, .State.Health.Status fails as Go's template does); docker exec nginx -s reload; stopped, a reload fails and docker start runs it again", async () => {
      writeFileSync(join(side.proxyDir, "nginx-proxy.conf"), renderProxyConfig(buildPlan(CONFIG).routing, servers.map((s) => s.name), { ...CONFIG.proxy, port: side.proxyPort }));
      writeFileSync(join(side.proxyDir, "hosts"), proxyHosts);
      await side.startProxy();
      expect(out(await side.onWeb(`docker inspect -f '{{.State.Running}}' ${PROXY_CONTAINER}`))).toEqual({ code: 0, stdout: "true\n", stderr: "" });
      const state = await side.onWeb(`docker inspect -f '{{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.Config.Image}}' ${PROXY_CONTAINER}`);
      expect([state.code, state.stderr]).toEqual([0, ""]);
      const [id, status, startedAt, image, ...more] = state.stdout.trim().split(" ");
      expect([id, status, image, more]).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/), "running", PROXY_IMAGE, []]);
      expect(startedAt).toMatch(STARTED_AT);
      expect(out(await side.onWeb(`docker inspect -f '{{.State.Status}} [{{if .State.Health}}{{.State.Health.Status}}{{end}}]' ${PROXY_CONTAINER}`))).toEqual({ code: 0, stdout: "running []\n", stderr: "" });
      expect(out(await side.onWeb(`docker inspect -f 'x {{.State.Health.Status}}' ${PROXY_CONTAINER}`))).toEqual({
        code: 1,
        stdout: "\n",
        stderr: 'template parsing error: template: :1:10: executing "" at <.State.Health.Status>: map has no entry for key "Health"\n',
      });
      const reload = await side.onWeb(`docker exec ${PROXY_CONTAINER} nginx -s reload -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`);
      // the signalling nginx's notice, on stderr (the image's error log)
      expect({ ...out(reload), stderr: nginxLines(reload.stderr) }).toEqual({ code: 0, stdout: "", stderr: "<time> [notice] <pid>#<pid>: signal process started\n" });
      expect(Math.abs(Date.parse(`${reload.stderr.slice(0, 19).replace(/\//g, "-").replace(" ", "T")}Z`) - Date.now())).toBeLessThan(60_000);

      // stopped: the proxy step's check sees false, a reload fails; docker start runs the same container again
      await side.stopProxy();
      expect(out(await side.onWeb(`docker inspect -f '{{.State.Running}} {{.State.Status}}' ${PROXY_CONTAINER}`))).toEqual({ code: 0, stdout: "false exited\n", stderr: "" });
      expect(out(await side.onWeb(`docker exec ${PROXY_CONTAINER} nginx -s reload -c ${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`))).toEqual({
        code: 1,
        stdout: "",
        stderr: `Error response from daemon: container ${id} is not running\n`,
      });
      expect(out(await side.onWeb(`docker start ${PROXY_CONTAINER}`))).toEqual({ code: 0, stdout: `${PROXY_CONTAINER}\n`, stderr: "" });
      const restarted = (await side.onWeb(`docker inspect -f '{{.Id}} {{.State.Status}} {{.State.StartedAt}}' ${PROXY_CONTAINER}`)).stdout.trim().split(" ");
      expect([restarted[0], restarted[1], Date.parse(restarted[2]) > Date.parse(startedAt)]).toEqual([id, "running", true]);
      expect(out(await side.onWeb(`docker start ${PROXY_CONTAINER}`))).toEqual({ code: 0, stdout: `${PROXY_CONTAINER}\n`, stderr: "" });
    });

    test("docker run --rm --network none … nginx -t in the proxy's image (the proxy step): a config that passes, and two that fail with nginx's message", async () => {
      const conf = renderProxyConfig(buildPlan(CONFIG).routing, servers.map((s) => s.name), { ...CONFIG.proxy, port: 5000 });
      const file = `${PROXY_DIR_IN_CONTAINER}/nginx-proxy.conf`;
      const passed = await side.onWeb(nginxTestStep(side.proxyDirInStep, proxyHosts), conf);
      expect(out(passed)).toEqual({ code: 0, stdout: "", stderr: `nginx: the configuration file ${file} syntax is ok\nnginx: configuration file ${file} test is successful\n` });

      // an upstream name the hosts file does not have
      const line = conf.split("\n").indexOf(`    server ${servers[1].name}:5000;`) + 1;
      const unresolved = await side.onWeb(nginxTestStep(side.proxyDirInStep, renderProxyHosts(servers.slice(0, 1))), conf);
      expect({ ...out(unresolved), stderr: nginxLines(unresolved.stderr) }).toEqual({
        code: 1,
        stdout: "",
        stderr: `<time> [emerg] <pid>#<pid>: host not found in upstream "${servers[1].name}:5000" in ${file}:${line}\nnginx: configuration file ${file} test failed\n`,
      });
      // nginx is the container's process 1
      expect(unresolved.stderr).toMatch(/ \[emerg\] 1#1: /);

      const broken = await side.onWeb(nginxTestStep(side.proxyDirInStep, proxyHosts), `${conf}oops;\n`);
      expect({ ...out(broken), stderr: nginxLines(broken.stderr) }).toEqual({
        code: 1,
        stdout: "",
        stderr: `<time> [emerg] <pid>#<pid>: unknown directive "oops" in ${file}:${conf.split("\n").length}\nnginx: configuration file ${file} test failed\n`,
      });
      // the step's folder is left as it was (its trap removes the copy)
      expect(readdirSync(side.proxyDir).filter((f) => f.startsWith(".incoming"))).toEqual([]);
    });

    test("seatable-server on dtable-web: docker exec nginx -t prints nginx's two lines; nginx -s reload succeeds", async () => {
      await side.createWeb();
      expect(out(await side.onWeb(`docker exec ${SEATABLE_CONTAINER} nginx -t`))).toEqual({
        code: 0,
        stdout: "",
        stderr: "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\nnginx: configuration file /etc/nginx/nginx.conf test is successful\n",
      });
      // the site-upload step keeps it: out=$(docker exec … nginx -t 2>&1)
      expect(out(await side.onWeb(`out=$(docker exec ${SEATABLE_CONTAINER} nginx -t 2>&1); printf '%s\\n' "$out" | tail -n 1`))).toEqual({
        code: 0,
        stdout: "nginx: configuration file /etc/nginx/nginx.conf test is successful\n",
        stderr: "",
      });
      // where its notice goes depends on SeaTable's nginx build: only the exit code is held to
      expect((await side.onWeb(`docker exec ${SEATABLE_CONTAINER} nginx -s reload`)).code).toBe(0);
    });

    test("seatable-server on dtable-web: docker exec sh -c 'kill -HUP \"$(cat \"$1\")\"' sh PIDFILE (conf-edits' reload of dtable-web) succeeds and leaves it running; a pid file that is not there fails", async () => {
      await side.createWeb();
      const hup = (pidFile: string) => side.onWeb(`docker exec ${SEATABLE_CONTAINER} sh -c 'kill -HUP "$(cat "$1")"' sh ${pidFile}`);
      expect(out(await hup(side.webPidFile))).toEqual({ code: 0, stdout: "", stderr: "" });
      expect((await side.onWeb(INSPECT_WEB_STATE)).stdout).toBe("running\n");
      const missing = await hup("/nonexistent/dtable-web.pid");
      expect([missing.code, missing.stdout]).toEqual([2, ""]);
      expect(missing.stderr).toContain("cat: /nonexistent/dtable-web.pid: No such file or directory\n");
    });
  });
});

// ---- dtable-web's docker in the MariaDB read ---------------------------------------
// tests/mariadb.ssh.test.ts runs hostscripts/mariadb.sh against a stand-in
// (support/mariadb.ts, writeDockerStandin); the same command lines here run
// against it and a real dockerd, with sh in place of python3 (the test image
// has no Python): the program comes on stdin, and the container's environment
// reaches it unchanged, quotes and spaces included.

(unavailable ? describe.skip : describe)(`dtable-web's docker in the reads of plan (MariaDB, the access log): a real dockerd, and the MariaDB read's stand-in${unavailable ? ` (skipped: ${unavailable})` : ""}`, () => {
  let dockerd: Dockerd | undefined;
  let dir: string;
  const ENV = { SEATABLE_MYSQL_DB_HOST: "192.0.2.40", SEATABLE_MYSQL_DB_PORT: "3306", SEATABLE_MYSQL_DB_USER: "seatable", SEATABLE_MYSQL_DB_PASSWORD: `it's "a" pass` };
  const PROGRAM = 'printf "%s|%s|%s\\n" "$SEATABLE_MYSQL_DB_HOST" "$SEATABLE_MYSQL_DB_USER" "$SEATABLE_MYSQL_DB_PASSWORD"\nread -r more || echo "nothing after the program"\n';
  // as hostscripts/mariadb.sh runs it
  const EXEC = `printf '%s\\n' ${shq(PROGRAM)} | timeout 12 docker exec -i ${SEATABLE_CONTAINER} sh -`;
  const standin = (command: string) => runShell(command, { ...process.env, PATH: `${dir}:${process.env.PATH}` });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mariadb-docker-"));
    writeDockerStandin(dir);
    dockerd = await startDockerd();
    const rootfs = buildRootfs(dockerd.root, { programs: { "/bin/sh": which("dash") ?? "/bin/sh", "/bin/sleep": which("sleep")! }, files: {}, dirs: ["proc", "sys", "dev"] });
    await dockerd.importImage(rootfs, [SEATABLE_IMAGE]);
    const env = Object.entries(ENV).map(([k, v]) => `-e ${shq(`${k}=${v}`)}`).join(" ");
    const r = await dockerd.sh(`docker run -d --name ${SEATABLE_CONTAINER} ${env} ${shq(SEATABLE_IMAGE)} sh -c ${shq("trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done")}`);
    if (r.code !== 0) throw new Error(`docker run: ${r.stderr}`);
  }, 180_000);
  afterAll(async () => {
    await dockerd?.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  test("running: inspect says true, and exec -i runs the program from stdin with the container's environment; stopped: false; gone: Docker's error", async () => {
    setStandinContainer(dir, { running: "true", env: ENV, hide: [] });
    const both = async (command: string) => [out(await dockerd!.sh(command)), out(await standin(command))];
    const running = await both(INSPECT_RUNNING);
    expect(running).toEqual([{ code: 0, stdout: "true\n", stderr: "" }, running[0]]);
    const exec = await both(EXEC);
    expect(exec).toEqual([{ code: 0, stdout: `192.0.2.40|seatable|it's "a" pass\nnothing after the program\n`, stderr: "" }, exec[0]]);

    await dockerd!.docker("stop", "-t", "5", SEATABLE_CONTAINER);
    setStandinContainer(dir, { running: "false", env: ENV, hide: [] });
    const stopped = await both(INSPECT_RUNNING);
    expect(stopped).toEqual([{ code: 0, stdout: "false\n", stderr: "" }, stopped[0]]);

    await dockerd!.docker("rm", SEATABLE_CONTAINER);
    setStandinContainer(dir, { running: "missing", env: ENV, hide: [] });
    const gone = await both(INSPECT_RUNNING);
    expect(gone).toEqual([{ code: 1, stdout: "\n", stderr: `Error: No such object: ${SEATABLE_CONTAINER}\n` }, gone[0]]);
  });

  // what pure/plan/access-log.ts's proxyLogCommand runs: the proxy's access log is its stdout
  // (access_log /dev/stdout), nginx's own messages its stderr
  test("docker logs --since Ns dtable-server-proxy: the container's stdout on stdout, its stderr on stderr, within the window; no container: exit 1", async () => {
    const script = "echo '{\"base\":\"a\"}'; echo 'nginx: [warn] on stderr' >&2; echo '{\"base\":\"b\"}'; trap 'exit 0' TERM; while :; do sleep 1 & wait $!; done";
    const r = await dockerd!.sh(`docker run -d --name ${PROXY_CONTAINER} ${shq(SEATABLE_IMAGE)} sh -c ${shq(script)}`);
    expect(r.code).toBe(0);
    let logs = await dockerd!.sh(`docker logs --since 86400s ${PROXY_CONTAINER}`);
    for (let i = 0; i < 50 && logs.stdout.split("\n").length < 3; i++) {
      await sleep(100);
      logs = await dockerd!.sh(`docker logs --since 86400s ${PROXY_CONTAINER}`);
    }
    expect(out(logs)).toEqual({ code: 0, stdout: '{"base":"a"}\n{"base":"b"}\n', stderr: "nginx: [warn] on stderr\n" });
    // lines older than the window are left out
    await sleep(2100);
    expect(out(await dockerd!.sh(`docker logs --since 1s ${PROXY_CONTAINER}`))).toEqual({ code: 0, stdout: "", stderr: "" });
    await dockerd!.sh(`docker rm -f ${PROXY_CONTAINER}`);
    const none = await dockerd!.sh(`docker logs --since 86400s ${PROXY_CONTAINER}`);
    expect([none.code, none.stdout]).toEqual([1, ""]);
    expect(none.stderr).toBe(`Error response from daemon: No such container: ${PROXY_CONTAINER}\n`);
  });
});

// ---- the docker command lines of the program's steps -----------------------------

const ROOT = join(__dirname, "..");

/** Every .ts and .sh file of the program (not its tests). */
function programFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|sh)$/.test(name) && !name.endsWith(".d.ts")) files.push(p);
    }
  };
  for (const d of ["pure", "io", "components", "cli", "hostscripts"]) {
    try {
      walk(join(ROOT, d));
    } catch {
      // not in this tree
    }
  }
  return [...files, join(ROOT, "index.ts")];
}

/**
 * The shell words after `docker` up to the end of its command (a redirection,
 * `;`, `|`, `&`, `)` or the line's end): quotes removed; the proxy container
 * (by name, or a variable or constant PROXY_CONTAINER) becomes `<proxy>`; a
 * word with a variable or `${…}` in it, or seatable-server, becomes `_`; the
 * format of `inspect -f` stays as it is.
 */
function dockerForm(text: string, from: number): string {
  const words: string[] = [];
  let i = from;
  for (;;) {
    while (text[i] === " " || text[i] === "\t") i++;
    const c = text[i];
    if (c === undefined || ";|&)\n`<>".includes(c) || /^\d>/.test(text.slice(i, i + 2))) break;
    let raw = "";
    let value = "";
    while (i < text.length && !" \t;|&)\n`<>".includes(text[i])) {
      if (text[i] === "'" || text[i] === '"') {
        const q = text[i];
        const end = text.indexOf(q, i + 1);
        raw += text.slice(i, end + 1);
        value += text.slice(i + 1, end);
        i = end + 1;
      } else if (text.startsWith("${", i)) {
        let depth = 0;
        const start = i;
        do {
          if (text[i] === "{") depth++;
          else if (text[i] === "}") depth--;
          i++;
        } while (depth > 0 && i < text.length);
        raw += text.slice(start, i);
        value += text.slice(start, i);
      } else {
        raw += text[i];
        value += text[i];
        i++;
      }
    }
    const format = words.at(-1) === "-f" && words[0] === "inspect";
    // the proxy container is <proxy> (the fake models each container's commands on its own)
    const proxy = value === PROXY_CONTAINER || raw.includes("PROXY_CONTAINER");
    words.push(format ? value : proxy ? "<proxy>" : raw.includes("$") || value === SEATABLE_CONTAINER ? "_" : value);
  }
  return words.join(" ");
}

/** docker's commands: a word after `docker` that is none of them is prose. */
const DOCKER_COMMANDS = new Set(
  "attach build commit compose container cp create diff events exec export history image images import info inspect kill load login logout logs network pause port ps pull push rename restart rm rmi run save search start stats stop system tag top unpause update version volume wait".split(" "),
);

/**
 * Each docker command in the program's shell: its form and where it is. In a
 * host script, any line but a comment; in TypeScript, where a command starts
 * in shell text: after `$(`, at the start of a template literal (not an
 * escaped backtick: that is Markdown in a message), or after `then`, `do`,
 * `if`, `!`, `;`, `&&` or `||`.
 */
function dockerCommands(): { form: string; at: string }[] {
  const found: { form: string; at: string }[] = [];
  for (const file of programFiles()) {
    const sh = file.endsWith(".sh");
    const start = sh ? /(?:^\s*|\$\(|[;&|!(]\s*|\b(?:then|do|else|elif|if|until|while)\s+)(?:timeout \d+ )?docker\s+([a-z]+)/g : /(?:\$\(|(?<!\\)`|\b(?:then|do|else|if|until|while)\s+|[;&|!]\s*)docker\s+([a-z]+)/g;
    readFileSync(file, "utf8")
      .split("\n")
      .forEach((line, n) => {
        const t = line.trim();
        if (t.startsWith("#") || t.startsWith("//") || t.startsWith("*") || t.startsWith("/*")) return;
        for (const m of line.matchAll(start)) {
          if (!DOCKER_COMMANDS.has(m[1])) continue;
          found.push({ form: dockerForm(line, m.index + m[0].length - m[1].length), at: `${relative(ROOT, file)}:${n + 1}` });
        }
      });
  }
  return found;
}

/** The forms the tests above run against both sides; for inspect -f, the template actions they show. */
const COVERED = new Set([
  "kill _",
  "update --restart=no _",
  "start _",
  "start <proxy>",
  "stop -t _ _",
  "restart -t _ _",
  "exec _ curl -fsS -m 5 _",
  "exec _ nginx -t",
  "exec _ nginx -s reload",
  "exec _ sh -c _ sh _",
  // run against the stand-in of tests/mariadb.ssh.test.ts and a real dockerd, below (with sh for python3)
  "exec -i _ python3 -",
  // plan --suggest's read of the proxy's access log: against a real dockerd, below
  "logs --since _ <proxy>",
  "exec <proxy> nginx -s reload -c _",
  "run --rm --network none -v _ -v _ _ nginx -t -c _",
]);
const COVERED_ACTIONS = new Set([".Id", ".State.StartedAt", ".State.Running", ".State.Status", ".State.Health.Status", ".Config.Image", "if .State.Health", "end"]);

test("every docker command line of the program's steps is one this suite holds the fake to", () => {
  const found = dockerCommands();
  const uncovered = found.filter(({ form }) => {
    const inspect = /^inspect -f (.*) (_|<proxy>)$/.exec(form);
    if (!inspect) return !COVERED.has(form);
    const actions = [...inspect[1].matchAll(/\{\{(.*?)\}\}/g)].map((m) => m[1].trim());
    return actions.length === 0 || actions.some((a) => !COVERED_ACTIONS.has(a));
  });
  expect(uncovered).toEqual([]);
  // the scan finds the steps' shell at all
  expect(found.map((f) => f.form)).toEqual(expect.arrayContaining(["restart -t _ _", "kill _", "inspect -f {{.Id}} {{.State.StartedAt}} _"]));
});
