// The fake docker world (fake-docker.ts) with one more "container": dtable-web's
// seatable-server, as far as its own nginx site is concerned. It is Debian's
// nginx run the way the container runs it:
//   - the host's /opt/seatable-compose/config/seatable-nginx.conf bind-mounted
//     as one file (as REL's compose file mounts it at sites-enabled/default):
//     a write in place reaches it, a file renamed over the path does not;
//   - its own network namespace (the site listens on port 80, and nothing it
//     points at needs to answer for these tests) and its own /etc/hosts
//     (extra_hosts) and /opt (for /opt/nginx-logs);
// and docker on dtable-web does, for it:
//   docker inspect -f '{{.State.Running}}' seatable-server → "true" while it runs
//   docker exec seatable-server nginx -t | -s reload
//                          → that nginx command, inside the running nginx's
//                            namespaces (nsenter), as docker exec would
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "fs";
import { spawn } from "child_process";
import * as path from "path";
import { SEATABLE_CONTAINER, SEATABLE_NGINX_CONF } from "../../pure/plan/containers";
import { FakeDocker, Result } from "./fake-docker";
import { childPids, NGINX } from "./nginx";
import { ProcessGroup, spawnGroup } from "./process-group";
import { withTimeout } from "./standins";

const COMMAND_TIMEOUT_MS = 15_000;

// $1 hosts file, $2 the host's site file, $3 its mount point, $4 prefix; further arguments go to nginx
const LAUNCH = [
  "set -e;",
  'h=$1 f=$2 m=$3 d=$4; shift 4;',
  "mount -t tmpfs tmpfs /opt; mkdir /opt/nginx-logs;",
  'mount --bind "$h" /etc/hosts; mount --bind "$f" "$m";',
  'exec "$0" -p "$d/" -c "$d/nginx.conf" -e stderr -g "daemon off; pid $d/nginx.pid;" "$@"',
].join(" ");

export class SiteWorld extends FakeDocker {
  private site?: ProcessGroup;
  private readonly prefix: string;

  /** A world with only dtable-web; `hosts` is its seatable-server's /etc/hosts (extra_hosts). */
  constructor(root: string, readonly web: string, hosts: string) {
    const none = { name: "", address: "127.0.0.1" };
    super({ root, web: { ...none, name: web }, db: none, proxyPort: 0, servers: [], standinScript: "", saveIntervalMs: 0, model: "saves-on-sigterm", killAfterMs: 0, confFiles: () => [] });
    this.prefix = path.join(root, "seatable-server");
    mkdirSync(path.join(this.prefix, "site"), { recursive: true });
    writeFileSync(path.join(this.prefix, "hosts"), hosts);
    writeFileSync(path.join(this.prefix, "site", "default"), ""); // the mount point
    writeFileSync(path.join(this.prefix, "nginx.conf"), `worker_processes 1;\nevents { worker_connections 64; }\nhttp {\n  include ${path.join(this.prefix, "site", "default")};\n}\n`);
  }

  /** Where the site file is on dtable-web (SEATABLE_NGINX_CONF in this world). */
  get siteFile(): string {
    return path.join(this.hostDir(this.web), path.relative("/opt/seatable-compose", SEATABLE_NGINX_CONF));
  }

  private get log(): string {
    return path.join(this.prefix, "nginx.log");
  }

  output(): string {
    try {
      return readFileSync(this.log, "utf8").slice(-20_000);
    } catch {
      return "";
    }
  }

  /** Starts seatable-server's nginx with the site file as it is now; resolves once its workers run. */
  async startSeatableServer(): Promise<void> {
    const fd = openSync(this.log, "a");
    const args = ["--mount", "--net", "sh", "-c", LAUNCH, NGINX, path.join(this.prefix, "hosts"), this.siteFile, path.join(this.prefix, "site", "default"), this.prefix];
    this.site = spawnGroup("unshare", args, fd, "seatable-server's nginx");
    closeSync(fd);
    const deadline = Date.now() + COMMAND_TIMEOUT_MS;
    while (this.workers().length === 0) {
      if (this.site.hasExited() || Date.now() > deadline) throw new Error(`seatable-server's nginx did not start:\n${this.output()}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  get seatableServerRunning(): boolean {
    return this.site !== undefined && !this.site.hasExited();
  }

  /** The pids of its nginx workers (new ones after each reload); none before the shell has become nginx. */
  workers(): number[] {
    const isNginx = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "nginx";
      } catch {
        return false;
      }
    };
    return this.site && isNginx(this.site.pid) ? childPids(this.site.pid).filter(isNginx) : [];
  }

  override async handle(host: string, args: string[]): Promise<Result> {
    if (host !== this.web || !args.includes(SEATABLE_CONTAINER)) return super.handle(host, args);
    const [cmd, ...rest] = args;
    if (cmd === "inspect" && rest.join(" ") === `-f {{.State.Running}} ${SEATABLE_CONTAINER}`) {
      return this.site ? { code: 0, stdout: `${this.seatableServerRunning}\n`, stderr: "" } : { code: 1, stdout: "", stderr: `Error: No such object: ${SEATABLE_CONTAINER}\n` };
    }
    const inner = rest.slice(1).join(" ");
    if (cmd === "exec" && rest[0] === SEATABLE_CONTAINER && (inner === "nginx -t" || inner === "nginx -s reload")) {
      if (!this.seatableServerRunning) return { code: 1, stdout: "", stderr: `Error response from daemon: container ${SEATABLE_CONTAINER} is not running\n` };
      return this.nginxInside(rest.slice(2));
    }
    return { code: 125, stdout: "", stderr: `fake docker: unsupported on ${host}: docker ${args.join(" ")}\n` };
  }

  /** `nginx <args>` in the running nginx's mount and network namespaces, with its prefix, config and pid file. */
  private async nginxInside(args: string[]): Promise<Result> {
    const p = this.prefix;
    const child = spawn("nsenter", ["-t", String(this.site!.pid), "-m", "-n", NGINX, "-p", `${p}/`, "-c", `${p}/nginx.conf`, "-e", "stderr", "-g", `pid ${p}/nginx.pid;`, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const code = await withTimeout(new Promise<number>((resolve) => child.once("close", (c) => resolve(c ?? -1))), COMMAND_TIMEOUT_MS, `nginx ${args.join(" ")}`).catch(() => {
      child.kill("SIGKILL");
      return -1;
    });
    // say it as the container would: its config is /etc/nginx/nginx.conf, the site sites-enabled/default
    const inContainer = (text: string) => text.split(`${p}/site/default`).join("/etc/nginx/sites-enabled/default").split(`${p}/nginx.conf`).join("/etc/nginx/nginx.conf");
    return { code, stdout: inContainer(stdout), stderr: inContainer(stderr) };
  }

  override async stop(): Promise<void> {
    await this.site?.stop();
    await super.stop();
  }
}
