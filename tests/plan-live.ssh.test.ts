// `npm run plan -- --live` end to end: the command as a process (as `npm run
// plan` starts it), a real stack file, the system ssh with the options the
// stack gives it, and a real sshd as the stack's dtable-web.
//
// The config's validation refuses loopback addresses, so nothing is bent to
// reach 127.0.0.1: the command and the sshd run in their own network namespace,
// where the dev stack's dtable-web address (192.0.2.10) is on the loopback
// device and sshd listens there on port 22, and their own mount namespace,
// where a temporary folder is /opt, so the proxy's files sit at the paths a
// real dtable-web has them. The namespaces are also a PID namespace: when the
// run ends, or is killed, everything in it (sshd, ssh) ends with it.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { allBuckets, routingJson, RoutingTable } from "../pure/config/routing-file";
import { PROXY_CONFIG, PROXY_HOSTS } from "../pure/plan/containers";
import { PROXY_INSTALLED, PROXY_LEASE, PROXY_PROGRESS, PROXY_ROUTING, PROXY_SERVERS, sha256 } from "../pure/plan/rollout";
import { ROOT, stackValues, writeStackFile } from "./support/stacks";

const WEB = "192.0.2.10";

let dir: string;
let opt: string;
let keys: { hostKey: string; identityFile: string };

const keygen = (file: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", file], { timeout: 10000, stdio: "pipe" });
const publicKey = (file: string) => readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "plan-live-"));
  opt = join(dir, "opt");
  mkdirSync(opt);
  keygen(join(dir, "host_key"));
  keygen(join(dir, "id"));
  keys = { hostKey: publicKey(join(dir, "host_key")), identityFile: join(dir, "id") };
  writeFileSync(join(dir, "authorized_keys"), readFileSync(join(dir, "id.pub")));
  writeFileSync(
    join(dir, "sshd_config"),
    [
      "Port 22",
      `ListenAddress ${WEB}`,
      `HostKey ${join(dir, "host_key")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "LogLevel ERROR",
      "",
    ].join("\n"),
  );
  // privilege separation directory; sshd refuses to start without it
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  execFileSync("/usr/sbin/sshd", ["-t", "-f", join(dir, "sshd_config")], { timeout: 10000, stdio: "pipe" });
});

afterEach(() => rmSync(join(opt, "seatable-compose"), { recursive: true, force: true }));

afterAll(() => {
  // nothing of a run outlives it: no process still names this test's folder
  let left = "";
  try {
    left = execFileSync("pgrep", ["-a", "-f", dir], { encoding: "utf8" });
  } catch {
    // pgrep exits 1 when it finds none
  }
  rmSync(dir, { recursive: true, force: true });
  expect(left).toBe("");
});

// Inside the namespaces: 192.0.2.10 on lo, the folder as /opt, sshd there; then the command.
const NAMESPACE_SCRIPT = `
set -eu
dir=$1 opt=$2; shift 2
ip link set lo up
ip addr add ${WEB}/32 dev lo
mount --bind "$opt" /opt
/usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>>"$dir/sshd.log" &
sshd=$!
trap 'kill $sshd 2>/dev/null || true; wait $sshd 2>/dev/null || true' EXIT
for i in $(seq 200); do
  if (exec 3<>/dev/tcp/${WEB}/22) 2>/dev/null; then break; fi
  if [ "$i" = 200 ]; then echo "sshd did not listen on ${WEB}:22" >&2; cat "$dir/sshd.log" >&2; exit 99; fi
  sleep 0.05
done
set +e
"$@"
`;

type Run = { code: number | null; stdout: string; stderr: string };

/** `npm run plan -- ARGS` (ts-node, as package.json runs it) inside the namespaces; killed, with all it started, after 60 s. */
function planLive(...args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "unshare",
      ["--net", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc", "bash", "-c", NAMESPACE_SCRIPT, "plan-live", dir, opt,
        process.execPath, "-r", "ts-node/register/transpile-only", join(ROOT, "cli", "plan.ts"), ...args],
      { cwd: ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        // gone already
      }
      reject(new Error(`plan --live did not end within 60 s\n${stderr}`));
    }, 60_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const put = (path: string, text: string) => {
  const file = join(opt, path.replace(/^\/opt\//, ""));
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(file, text);
  return file;
};

/** The dev stack from the manual's seed, its dtable-web the sshd: its key pinned, our key as ssh.privateKeyPath. */
function stack(hostKey = keys.hostKey): string {
  const v = stackValues("dev");
  v.routing.start = "seed";
  v.hosts.web.ssh.hostKey = hostKey;
  v.ssh.privateKeyPath = keys.identityFile;
  return writeStackFile(dir, v);
}

/** What a proxy set up by this program keeps: its files, their record, servers.json, and `table` as routing.json. */
function proxyRuns(table: RoutingTable, conf = "events {}\n") {
  const hosts = "192.0.2.21 dtable-server\n192.0.2.22 dtable-server-2\n";
  put(PROXY_CONFIG, conf);
  put(PROXY_HOSTS, hosts);
  put(PROXY_INSTALLED, `conf ${sha256("events {}\n")}\nhosts ${sha256(hosts)}\n`);
  put(PROXY_ROUTING, routingJson(table));
  const v = stackValues("dev");
  put(PROXY_SERVERS, JSON.stringify({ servers: v.hosts.servers.map((s: { name: string; address: string; ssh: { hostKey: string } }) => ({ name: s.name, address: s.address, ssh: { user: "root", port: 22, hostKey: s.ssh.hostKey } })), evicted: [] }));
}

// an up from the seed (00-9f on dtable-server-2) that stopped half-way: 80-8f moved to dtable-server, 90-9f not yet
const halfWay: RoutingTable = {
  bucketHexDigits: 2,
  default: "dtable-server",
  buckets: Object.fromEntries(allBuckets(2).map((b) => [b, b < "80" || (b >= "90" && b < "a0") ? "dtable-server-2" : "dtable-server"])),
  pins: {},
};

/** the hosts outside this test's network */
const OTHERS = [
  ["dtable-db", "192.0.2.11"],
  ["dtable-server", "192.0.2.21"],
  ["dtable-server-2", "192.0.2.22"],
] as const;

test("a held lease: the warning names the run, its age and its last step; the plan starts from the proxy's routing.json", async () => {
  proxyRuns(halfWay);
  const lease = put(PROXY_LEASE, "stack=acme/seatable-cluster/dev run=2026-11-25T10:00:00.000Z-abc123\n");
  const taken = new Date(Date.now() - 630_000);
  utimesSync(lease, taken, taken);
  put(PROXY_PROGRESS, `stage-1-switch ${Math.floor(Date.now() / 1000) - 150} stack=acme/seatable-cluster/dev run=2026-11-25T10:00:00.000Z-abc123\n`);
  const r = await planLive("--stack-file", stack(), "--live");
  const [leaseLine, docker, ...hosts] = r.stderr.split("\n");
  expect({ code: r.code, lease: leaseLine, hosts }).toEqual({
    code: 0,
    lease:
      "warning: dtable-web: a change holds the lease: stack=acme/seatable-cluster/dev run=2026-11-25T10:00:00.000Z-abc123, taken 10 min ago; " +
      "the last step it completed on dtable-web: stage-1-switch, 2 min ago; pulumi up refuses to start while it is held",
    // the other hosts are not in this test's network: each is reported, and the plan goes on
    hosts: [
      ...OTHERS.map(
        ([name, address]) =>
          `warning: ${name} (${address}): its containers could not be read (reading the containers on ${name} (${address}) over SSH failed: ssh: connect to host ${address} port 22: Network is unreachable); the plan takes them as running`,
      ),
      ...OTHERS.map(
        ([name, address]) =>
          `warning: ${name} (${address}): its memory and conf files could not be read (reading the memory and conf files on ${name} (${address}) over SSH failed: ssh: connect to host ${address} port 22: Network is unreachable); they are not checked`,
      ),
      "",
    ],
  });
  // dtable-web's own read, over this test's sshd: its memory, as /proc/meminfo gives it
  const kib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
  // and MariaDB, which dtable-web's seatable-server reads: none runs here
  expect(r.stdout).toContain(`Hosts, as read:\n  dtable-web: ${(kib / 1024 / 1024).toFixed(1)} GiB memory\n  MariaDB (192.0.2.40:3306): not checked yet; seatable-server does not run on dtable-web\n`);
  // no Docker daemon answers on this dtable-web
  expect(docker).toMatch(/^warning: dtable-web: docker did not answer \(.+\); pulumi up cannot change this host until it does$/);
  expect(r.stdout).toContain("Containers, as read on the hosts:\n  dtable-web: seatable-server could not be read");
  expect(r.stdout).toContain(`Against the proxy's routing.json on dtable-web (${WEB}): 16 bucket(s) and 0 pinned base(s) change server.\n  dtable-server-2 -> dtable-server: 16 bucket(s): 90-9f\n`);
  expect(r.stdout).toContain("stage 1: dtable-server-2 restart (it gives up buckets or pinned bases)");
}, 90_000);

test("--where: where a base is now, by the proxy's table", async () => {
  proxyRuns(halfWay);
  const r = await planLive("--stack-file", stack(), "--live", "--where", "95000000-0000-0000-0000-000000000001");
  expect(r).toEqual({
    code: 0,
    stdout: `95000000-0000-0000-0000-000000000001: dtable-server-2 (bucket 95), in the proxy's routing.json on dtable-web (${WEB})\nafter \`pulumi up\`: moves to dtable-server (bucket 95)\n`,
    stderr: "",
  });
}, 90_000);

test("a proxy config this program did not install: exit 1 with why, nothing on stdout", async () => {
  proxyRuns(halfWay, "events {} # edited by hand\n");
  const r = await planLive("--stack-file", stack(), "--live");
  expect([r.code, r.stdout]).toEqual([1, ""]);
  expect(r.stderr).toMatch(/^dtable-web: the proxy's config \(\/opt\/seatable-compose\/dtable-server-proxy\/nginx-proxy\.conf\) is not one this program installed [^\n]*\n$/);
}, 90_000);

test("a host key other than the pinned one: exit 2 with the read's own words", async () => {
  proxyRuns(halfWay);
  const other = join(dir, "other_key");
  keygen(other);
  const r = await planLive("--stack-file", stack(publicKey(other)), "--live");
  expect([r.code, r.stdout]).toEqual([2, ""]);
  expect(r.stderr).toMatch(new RegExp(`^reading the proxy's live files on dtable-web \\(${WEB.replace(/\./g, "\\.")}\\) over SSH failed: [^]*Host key verification failed\\.\\n$`));
}, 90_000);
