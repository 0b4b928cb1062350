// `npm run plan`: the command in-process (cli/plan.ts's `plan`), and as a process for what only a process shows.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { plan as planCommand, planCommand as planWithHosts } from "../cli/plan";
import { setHostAccess } from "../io/hosts";
import { allBuckets, parseRoutingTable, RoutingTable, routingJson } from "../pure/config/routing-file";
import { PROXY_CONFIG } from "../pure/plan/containers";
import type { LiveProxy } from "../pure/plan/rollout";
import { configOf, ROOT, stackValues, writeStackFile } from "./support/stacks";
import { NO_FACTS } from "./support/program";
import { seatableEnvironment } from "../pure/plan/containers";
import { environmentLines } from "../pure/plan/environment";

const run = promisify(execFile);
const plan = (...args: string[]) => planCommand(args);

/** `npm run plan` as a process: what the in-process tests below cannot see (the exit status, the streams). */
async function planProcess(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "cli", "plan.ts"), ...args], { cwd: ROOT, timeout: 30000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "plan-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const writeStack = (values: Record<string, unknown>) => writeStackFile(dir, values);

test("dev: prints each server's weight, buckets and share, and writes routing.json and the proxy config", () => {
  const out = join(dir, "out");
  const r = plan("--stack", "dev", "--out", out);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/dtable-server\s+192\.0\.2\.21\s+1\s+128\s+50\.00%\s+50\.00%\s+0\s+00-7f/);
  expect(r.stdout).toMatch(/dtable-server-2\s+192\.0\.2\.22\s+1\s+128\s+50\.00%\s+50\.00%\s+0\s+80-ff/);
  expect(r.stdout).toContain("First deployment: no table applied before");
  const json = JSON.parse(readFileSync(join(out, "routing.json"), "utf8"));
  expect(Object.keys(json)).toEqual(["bucketHexDigits", "default", "buckets", "pins"]);
  expect(json.bucketHexDigits).toBe(2);
  expect(json.default).toBe("dtable-server");
  expect(Object.keys(json.buckets)).toHaveLength(256);
  expect(readFileSync(join(out, "routing.json"), "utf8")).toMatch(/"buckets": \{\n {4}"00": "dtable-server",\n {4}"01"/); // bucket order, not JS key order
  const conf = readFileSync(join(out, "dtable-web", "opt", "seatable-compose", "dtable-server-proxy", "nginx-proxy.conf"), "utf8");
  expect(conf).toContain("server dtable-server-2:5000;");
  expect(conf).toContain("listen 5000;");
  const site = readFileSync(join(out, "dtable-web", "opt", "seatable-compose", "config", "seatable-nginx.conf"), "utf8");
  expect(site).toContain("proxy_pass http://dtable-web:5000/ping/;");
  expect(site).toContain("proxy_pass http://dtable-db:7777/ping/;");
});

test("the whole of what a first plan prints, and the files it writes", () => {
  const out = join(dir, "out");
  const r = plan("--stack", "dev", "--out", out);
  const proxy = join(out, "dtable-web", "opt", "seatable-compose", "dtable-server-proxy");
  const dev = configOf(stackValues("dev"));
  expect(environmentLines(seatableEnvironment(dev, dev.hosts.servers[1]))).toEqual(environmentLines(seatableEnvironment(dev, dev.hosts.servers[0])));
  expect(r.stdout).toBe(
    [
      `Stack file ${join(ROOT, "Pulumi.dev.yaml")}`,
      "SeaTable 6.1.8 (seatable/seatable-enterprise:6.1.8); dtable-web 192.0.2.10, dtable-db 192.0.2.11, 2 dtable-server(s)",
      "",
      "Routing: 256 buckets (2 hex digits of the base UUID), 0 pinned base(s); requests without a base UUID go to dtable-server",
      "",
      "dtable-server    address     weight  buckets   share  target  pins  bucket ranges",
      "dtable-server    192.0.2.21       1      128  50.00%  50.00%     0  00-7f",
      "dtable-server-2  192.0.2.22       1      128  50.00%  50.00%     0  80-ff",
      "",
      "First deployment: no table applied before, so nothing moves and nothing is quarantined.",
      "",
      "Order of `pulumi up` (after every image is pulled on every host):",
      "  1. [dtable-web] take the lease on dtable-web for this change (stack (this stack)); refuse if another run holds it or the proxy's live files are not this program's",
      "  2. [dtable-db, dtable-server, dtable-server-2] claim each host for this change: every later step on it checks the claim",
      "  3. [dtable-web] create the seatable-server container (waits until healthy)",
      "  4. [dtable-db] create the seatable-server container (waits until healthy)",
      "  5. [dtable-server] create the seatable-server container (waits until healthy)",
      "  6. [dtable-server-2] create the seatable-server container (waits until healthy)",
      "  7. [dtable-web] put the proxy's config, hosts file and table in place (reload only if they changed)",
      "  8. [dtable-web] verify: every server answers, the proxy runs the new config and sends each server's buckets to it; release the lease",
      "",
      // each node's environment; the two dtable-servers' are the same, so they share a block
      "Environment of seatable-server (secret values masked; marked: set by the stack's environment):",
      ...[[dev.hosts.web], [dev.hosts.db], dev.hosts.servers].flatMap((group) => [
        `  ${group.map((n) => n.name).join(", ")}:`,
        ...environmentLines(seatableEnvironment(dev, group[0])).map((l) => `    ${l}`),
      ]),
      "",
      `wrote ${join(out, "routing.json")}`,
      `wrote ${join(proxy, "nginx-proxy.conf")}`,
      `wrote ${join(proxy, "hosts")}`,
      `wrote ${join(out, "dtable-web", "opt", "seatable-compose", "config", "seatable-nginx.conf")}`,
      "",
    ].join("\n"),
  );
});

test("against its own table: the comparison and the (empty) stages, each section after one blank line", () => {
  const first = join(dir, "first");
  plan("--stack", "dev", "--out", first);
  const previous = join(first, "routing.json");
  const lines = plan("--stack", "dev", "--previous", previous).stdout.split("\n");
  const at = lines.indexOf(`Against --previous ${previous}: no bucket or pinned base changes server; nothing restarts.`);
  expect(lines.slice(at - 1, at + 6)).toEqual([
    "",
    `Against --previous ${previous}: no bucket or pinned base changes server; nothing restarts.`,
    "",
    "Stages (rollout.maxRestarting: 1; containers unchanged):",
    "  No dtable-server goes down in this change.",
    "",
    "Order of `pulumi up` (after every image is pulled on every host):",
  ]);
  const environment = lines.indexOf("Environment of seatable-server (secret values masked; marked: set by the stack's environment):");
  expect(lines.slice(environment - 2, environment)).toEqual([expect.stringMatching(/^ {2}4\. \[dtable-web\] verify: /), ""]);
  expect(lines.slice(-2)).toEqual(["", ""]);
});

test("routing.start.file: the moves away from the starting table", () => {
  const start = join(dir, "start.json");
  writeFileSync(start, routingJson({ bucketHexDigits: 2, default: "dtable-server", buckets: Object.fromEntries(allBuckets(2).map((b) => [b, "dtable-server"])), pins: {} }));
  const v = stackValues("dev");
  v.routing.start = { file: start };
  const r = plan("--stack-file", writeStack(v));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("Against the starting table (routing.start.file): 128 bucket(s)");
});

test.each([
  ["a file that is not there", (path: string) => path, /ENOENT/],
  ["a file that is not JSON", (path: string) => (writeFileSync(path, "{ buckets"), path), /JSON/],
])("--previous: %s: exit 1 and why, nothing written", (_, make, why) => {
  const previous = make(join(dir, "routing.json"));
  const out = join(dir, "out");
  const r = plan("--stack", "dev", "--previous", previous, "--out", out);
  expect([r.code, r.stdout]).toEqual([1, ""]);
  expect(r.stderr).toMatch(new RegExp(`^--previous: cannot read ${previous.replace(/[.]/g, "\\.")} as JSON: `));
  expect(r.stderr).toMatch(why);
  expect(existsSync(out)).toBe(false);
});

test("prod: unequal weights and the pin", () => {
  const out = join(dir, "out");
  const r = plan("--stack", "prod", "--out", out);
  expect(r.code).toBe(0);
  expect(r.stdout).toMatch(/dtable-server-3\s+198\.51\.100\.23\s+3\s+96\s+37\.50%\s+37\.50%\s+1\s+80-df/);
  expect(r.stdout).toMatch(/dtable-server-4\s+198\.51\.100\.24\s+1\s+32\s+12\.50%\s+12\.50%\s+0\s+e0-ff/);
  const read = parseRoutingTable(JSON.parse(readFileSync(join(out, "routing.json"), "utf8")), "routing.json");
  expect(read.problems).toEqual([]);
  expect(read.table?.pins).toEqual({ "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10": "dtable-server-3" });
});

test("--previous shows the buckets that move, from and to where, and which servers restart", () => {
  const first = join(dir, "first");
  expect((plan("--stack", "dev", "--out", first)).code).toBe(0);
  const v = stackValues("dev");
  v.hosts.servers.push({ name: "dtable-server-3", address: "192.0.2.23", ssh: { hostKey: v.hosts.servers[0].ssh.hostKey } });
  const r = plan("--stack-file", writeStack(v), "--previous", join(first, "routing.json"));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("85 bucket(s) and 0 pinned base(s) change server.");
  expect(r.stdout).toContain("dtable-server -> dtable-server-3: 42 bucket(s): 56-7f");
  expect(r.stdout).toContain("dtable-server-2 -> dtable-server-3: 43 bucket(s): d5-ff");
  expect(r.stdout).toContain("Give up buckets or bases, so restart inside a quarantine: dtable-server, dtable-server-2");
  // one server down at a time (rollout.maxRestarting 1): two stages, each pausing what its server holds
  expect(r.stdout).toContain("stage 1: dtable-server restart (it gives up buckets or pinned bases)");
  expect(r.stdout).toContain("paused: 128 bucket(s) (50.0%) and 0 pinned base(s); moving: 42 bucket(s), 0 pinned base(s)");
  expect(r.stdout).toContain("stage 2: dtable-server-2 restart");
  expect(r.stdout).toContain("Largest share of buckets paused at any moment: 50.0%.");
  const steps = r.stdout.slice(r.stdout.indexOf("Order of `pulumi up`")).split("\n").filter((l) => /^\s+\d+\. /.test(l));
  expect(steps.map((l) => l.replace(/^\s+\d+\. /, "").split(" ").slice(0, 4).join(" "))).toEqual([
    "[dtable-web] take the lease",
    "[dtable-db, dtable-server, dtable-server-2, dtable-server-3]",
    "[dtable-server-3] create the seatable-server",
    "[dtable-web] stage 1: quarantine",
    "[dtable-server] restart dtable-server so",
    "[dtable-web] stage 1: reload",
    "[dtable-web] verify: every server",
    "[dtable-web] stage 2: quarantine",
    "[dtable-server-2] restart dtable-server-2 so",
    "[dtable-web] stage 2: reload",
    "[dtable-web] verify: every server",
  ]);
});

test("--replace-containers: a new image or environment restarts dtable-web, then dtable-db, then each dtable-server in its own stage", () => {
  const first = join(dir, "first");
  plan("--stack", "prod", "--out", first);
  const r = plan("--stack", "prod", "--previous", join(first, "routing.json"), "--replace-containers");
  expect(r.code).toBe(0);
  const steps = r.stdout.slice(r.stdout.indexOf("Order of `pulumi up`")).split("\n").filter((l) => /^\s+\d+\. /.test(l));
  const replaced = steps.filter((l) => l.includes("replace the seatable-server container")).map((l) => /\[(.*?)\]/.exec(l)![1]);
  expect(replaced).toEqual(["dtable-web", "dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"]);
  expect(r.stdout).toContain("Stages (rollout.maxRestarting: 1; every container replaced: a new image or environment):");
  expect(r.stdout).toContain("4 stage(s)");
  // prod's largest server holds 96 of 256 buckets (weight 3 of 8), and its pinned base
  expect(r.stdout).toContain("Largest share of buckets paused at any moment: 37.5%.");
});

test("the same stack against its own table: nothing moves, nothing restarts", () => {
  const first = join(dir, "first");
  plan("--stack", "prod", "--out", first);
  const r = plan("--stack", "prod", "--previous", join(first, "routing.json"));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("no bucket or pinned base changes server; nothing restarts");
});

test("routing.start: seed shows the moves away from the manual's hand-built table", () => {
  const v = stackValues("dev");
  v.routing.start = "seed";
  const r = plan("--stack-file", writeStack(v));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("Against the seed's hand-built table (routing.start: seed): 32 bucket(s)");
  expect(r.stdout).toContain("dtable-server-2 -> dtable-server: 32 bucket(s): 80-9f");
});

test("the shipped dev stack names a license beside it that is not there: plan warns, and still plans", () => {
  const r = plan("--stack", "dev");
  expect(r.code).toBe(0);
  expect(r.stderr).toBe(
    'warning: licenseFile: cannot read "seatable-license.txt": ENOENT: no such file or directory; the SeaTable Enterprise image does not start without its license\n',
  );
  const v = stackValues("dev");
  delete v.licenseFile;
  const unset = plan("--stack-file", writeStack(v));
  expect([unset.code, unset.stderr]).toEqual([0, expect.stringMatching(/^warning: licenseFile: not set; the SeaTable Enterprise image does not start without its license: set it to the local path of seatable-license\.txt/)]);
});

test("SeaTable 6.2: plan says how to keep 6.1's SECRET_KEY and which conf files are moved aside", () => {
  const v = stackValues("dev");
  v.image = "seatable/seatable-enterprise:6.2.12";
  v.s3.buckets.avatar = "seatable-dev-avatar";
  const r = plan("--stack-file", writeStack(v));
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("SeaTable 6.2.12 (seatable/seatable-enterprise:6.2.12)");
  expect(r.stderr.trimEnd().split("\n")).toEqual([
    "note: SeaTable 6.2.12 reads SECRET_KEY from the container environment: `pulumi up` needs the secret secretKey (moving from 6.1, keep the value dtable-web used so far: on dtable-web, `grep SECRET_KEY /opt/seatable-server/seatable/conf/dtable_web_settings.py`; a new installation: `openssl rand -hex 32`; then `pulumi config set --secret secretKey '<value>'`)",
    "note: SeaTable 6.2.12 no longer reads dtable-api-gateway.conf, dtable-db.conf, dtable-events.conf, dtable-storage-server.conf, dtable_server_config.json: `pulumi up` renames those it finds under /opt/seatable-server/seatable/conf on each node (to <file>.moved-by-seatable-cluster-<time>) before the node's container changes",
  ]);
});

test("an invalid stack: exit 1, one line per problem starting with the key path, nothing written", () => {
  const v = stackValues("dev");
  v.hosts.servers[1].address = "10.0.0";
  v.hosts.servers[0].weight = 0;
  v.routing.bucketHexDigits = 5;
  const out = join(dir, "out");
  const r = plan("--stack-file", writeStack(v), "--out", out);
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr.trimEnd().split("\n")).toEqual([
    expect.stringMatching(/^hosts\.servers\[0\]\.weight: /),
    'hosts.servers[1].address: "10.0.0" is not an IPv4 or IPv6 address',
    expect.stringMatching(/^routing\.bucketHexDigits: /),
  ]);
  expect(existsSync(out)).toBe(false);
});

test("an invalid --previous table: exit 1, nothing written", () => {
  const bad = join(dir, "routing.json");
  writeFileSync(bad, JSON.stringify({ bucketHexDigits: 1, default: "dtable-server", buckets: { "0": "dtable-server" }, pins: {} }));
  const out = join(dir, "out");
  const r = plan("--stack", "dev", "--previous", bad, "--out", out);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^--previous\(.*routing\.json\)\.buckets: does not cover every bucket; missing 1, 2, 3/);
  expect(readdirSync(dir)).toEqual(["routing.json"]);
});

test("bad usage: exit 2 with the usage line", () => {
  const r = plan("--stack", "dev", "--stack-file", "x.yaml");
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("usage: npm run plan --");
  expect(plan("--colour").code).toBe(2);
  expect(plan("--help")).toEqual({ code: 0, stdout: `${r.stderr.split("\n")[1]}\n`, stderr: "" });
});

describe("as a process", () => {
  test("a plan: exit 0, the summary on stdout, the warnings on stderr", async () => {
    expect(await planProcess("--stack", "dev")).toEqual(plan("--stack", "dev"));
    expect(plan("--stack", "dev")).toEqual({ code: 0, stdout: expect.stringContaining("dtable-server-2"), stderr: expect.stringMatching(/^warning: licenseFile/) });
  }, 60000);

  test.each([
    ["an invalid stack", ["--stack-file", "no-such-stack.yaml"], 1],
    ["bad usage", ["--colour"], 2],
  ])("%s: its exit status, and only stderr", async (_, args, code) => {
    const r = await planProcess(...args);
    expect(r).toEqual({ code, stdout: "", stderr: expect.stringMatching(/\S/) });
    expect(r).toEqual(plan(...args));
  }, 60000);
});

describe("--where: the server that holds a base, and why", () => {
  const PINNED = "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10";

  test("a pinned base, written in any case and without dashes", () => {
    const r = plan("--stack", "prod", "--where", PINNED.replace(/-/g, "").toUpperCase());
    expect([r.code, r.stdout]).toEqual([0, `${PINNED}: dtable-server-3 (pinned), in the stack's table (Pulumi.prod.yaml)\n`]);
  });

  test("a base by its bucket, on each side of the dev stack's split", () => {
    const low = plan("--stack", "dev", "--where", "7F2504E0-4F89-11D3-9A0C-0305E82C3301");
    expect([low.code, low.stdout]).toEqual([0, "7f2504e0-4f89-11d3-9a0c-0305e82c3301: dtable-server (bucket 7f), in the stack's table (Pulumi.dev.yaml)\n"]);
    const high = plan("--stack", "dev", "--where", "802504e04f8911d39a0c0305e82c3301");
    expect([high.code, high.stdout]).toEqual([0, "802504e0-4f89-11d3-9a0c-0305e82c3301: dtable-server-2 (bucket 80), in the stack's table (Pulumi.dev.yaml)\n"]);
  });

  test("with --previous: where it is now, and where `pulumi up` puts it", () => {
    const first = join(dir, "first");
    expect((plan("--stack", "dev", "--out", first)).code).toBe(0);
    const previous = join(first, "routing.json");
    const pinned = plan("--stack", "prod", "--previous", previous, "--where", PINNED);
    expect([pinned.code, pinned.stdout]).toEqual([0, `${PINNED}: dtable-server-2 (bucket ff), in --previous ${previous}\nafter \`pulumi up\`: moves to dtable-server-3 (pinned)\n`]);
    const stays = plan("--stack", "prod", "--previous", previous, "--where", "00000000-0000-0000-0000-000000000001");
    expect(stays.stdout).toBe(`00000000-0000-0000-0000-000000000001: dtable-server (bucket 00), in --previous ${previous}\nafter \`pulumi up\`: stays on dtable-server (bucket 00)\n`);
  });

  test.each(["3f2504e0-4f89", "3f2504e0-4f89-11d3-9a0c-0305e82c330g", "x3f2504e0-4f89-11d3-9a0c-0305e82c3301", ""])("a malformed UUID %p: exit 1 and why", (given) => {
    const r = plan("--stack", "dev", "--where", given);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, "", `--where: ${JSON.stringify(given)} is not a base UUID; expected 8-4-4-4-12 hex digits or 32 hex digits, in any case\n`]);
  });

  test("with --out: bad usage, nothing written", () => {
    const out = join(dir, "out");
    const r = plan("--stack", "dev", "--where", PINNED, "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--where prints where one base is and writes nothing");
    expect(existsSync(out)).toBe(false);
  });
});

// --previous with a table whose bucket digits differ from the config's
/** routing.json of `digits` hex digits: the first half of the buckets on dtable-server, the rest on dtable-server-2 */
function previousOf(digits: 1 | 2 | 3): string {
  const all = allBuckets(digits);
  const path = join(dir, "routing.json");
  writeFileSync(path, routingJson({ bucketHexDigits: digits, default: "dtable-server", buckets: Object.fromEntries(all.map((b, i) => [b, i < all.length / 2 ? "dtable-server" : "dtable-server-2"])), pins: {} }));
  return path;
}

test("a table of more hex digits than the config (2): exit 1 with the message, no stack trace", () => {
  const path = previousOf(3);
  const r = plan("--stack", "dev", "--previous", path, "--out", join(dir, "out"));
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 1,
    stdout: "",
    stderr: `--previous(${path}).bucketHexDigits: 3 is more than routing.bucketHexDigits (2); fewer digits would merge buckets that live on different servers\n`,
  });
});

test("a table of fewer hex digits than the config is restated: nothing moves", () => {
  const r = plan("--stack", "dev", "--previous", previousOf(1));
  // the one warning: the shipped dev stack names a license beside it that the repository does not have
  expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(/^warning: licenseFile: cannot read "seatable-license\.txt"[^\n]*\n$/)]);
  expect(r.stdout).toContain(`Against --previous ${join(dir, "routing.json")}: no bucket or pinned base changes server; nothing restarts.`);
});

describe("--live: plans from what the proxy on dtable-web runs, as `pulumi up` starts", () => {
  const SHA = (c: string) => c.repeat(64);
  /** 2 hex digits: `low` on dtable-server-2 (the seed's side), the rest on dtable-server */
  const tableWith = (onSecond: (bucket: string) => boolean): RoutingTable => ({
    bucketHexDigits: 2,
    default: "dtable-server",
    buckets: Object.fromEntries(allBuckets(2).map((b) => [b, onSecond(b) ? "dtable-server-2" : "dtable-server"])),
    pins: {},
  });
  // servers.json as the proxy's steps write it: how to reach each dtable-server
  const servers = {
    servers: stackValues("dev").hosts.servers.map((s: { name: string; address: string; ssh: { hostKey: string } }) => ({ name: s.name, address: s.address, ssh: { user: "root", port: 22, hostKey: s.ssh.hostKey } })),
    evicted: [],
  };
  /** the dev stack (its license found), started from the manual's seed: 00-9f on dtable-server-2, a0-ff on dtable-server */
  const seedStack = () => {
    const v = stackValues("dev");
    v.routing.start = "seed";
    return writeStack(v);
  };
  const LABEL = "the proxy's routing.json on dtable-web (192.0.2.10)";
  // an up from the seed that stopped half-way: 80-8f moved to dtable-server already, 90-9f not yet
  const halfWay = () => tableWith((b) => b < "80" || (b >= "90" && b < "a0"));
  const live = (more: Partial<LiveProxy> = {}): LiveProxy => ({ conf: SHA("a"), hosts: SHA("b"), installed: { conf: [SHA("a")], hosts: [SHA("b")] }, servers, ...more });

  afterEach(() => setHostAccess(undefined));

  test("a table ahead of the config's start: the moves from the proxy's table, not from the seed", () => {
    const stack = seedStack();
    expect(plan("--stack-file", stack).stdout).toContain("Against the seed's hand-built table (routing.start: seed): 32 bucket(s) and 0 pinned base(s) change server.");
    const r = planCommand(["--stack-file", stack, "--live"], live({ table: halfWay() }));
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain(`Against ${LABEL}: 16 bucket(s) and 0 pinned base(s) change server.\n  dtable-server-2 -> dtable-server: 16 bucket(s): 90-9f\n`);
    expect(r.stdout).not.toContain("seed");
    // the same table as --previous: the same plan, under the proxy's name
    const previous = join(dir, "live.json");
    writeFileSync(previous, routingJson(halfWay()));
    expect(r.stdout).toBe(plan("--stack-file", stack, "--previous", previous).stdout.replace(`--previous ${previous}`, LABEL));
  });

  test("a held lease: a warning with whose it is, its age and the last step its run completed; the plan still runs", () => {
    const r = planCommand(
      ["--stack-file", seedStack(), "--live"],
      live({ table: halfWay(), lease: "stack=acme/seatable-cluster/prod run=2026-11-25T10:00:00.000Z-abc123", leaseAgeSeconds: 600, progress: { step: "stage-1-switch", agoSeconds: 125, run: "stack=acme/seatable-cluster/prod run=2026-11-25T10:00:00.000Z-abc123" } }),
    );
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(
      "warning: dtable-web: a change holds the lease: stack=acme/seatable-cluster/prod run=2026-11-25T10:00:00.000Z-abc123, taken 10 min ago; " +
        "the last step it completed on dtable-web: stage-1-switch, 2 min ago; pulumi up refuses to start while it is held\n",
    );
    expect(r.stdout).toContain(`Against ${LABEL}: 16 bucket(s)`);
  });

  test("an evicted server the proxy still lists: a warning until the up that fences it", () => {
    const gone = { name: "dtable-server-9", address: "192.0.2.99", ssh: { user: "root", port: 22, hostKey: servers.servers[0].ssh.hostKey } };
    const r = planCommand(["--stack-file", seedStack(), "--live"], live({ table: halfWay(), servers: { ...servers, evicted: [gone] } }));
    expect([r.code, r.stderr]).toEqual([
      0,
      "warning: dtable-server-9 (192.0.2.99) was evicted as dead and does not answer; when it answers again, the next pulumi up stops its seatable-server before anything else (a fence).\n",
    ]);
  });

  test("a held lease beside an error: the lease stays a warning, the error ends the run", () => {
    const r = planCommand(["--stack-file", seedStack(), "--live"], live({ table: halfWay(), conf: SHA("c"), lease: "stack=acme/seatable-cluster/prod run=r1", leaseAgeSeconds: 30 }));
    expect([r.code, r.stdout]).toEqual([1, ""]);
    expect(r.stderr.trimEnd().split("\n")).toEqual([
      "warning: dtable-web: a change holds the lease: stack=acme/seatable-cluster/prod run=r1, taken 30 s ago; it completed no step on dtable-web; pulumi up refuses to start while it is held",
      expect.stringMatching(/^dtable-web: the proxy's config \(\S+\) is not one this program installed/),
    ]);
  });

  test("the starting point's warnings: a quarantine the proxy runs now", () => {
    const r = planCommand(["--stack-file", seedStack(), "--live"], live({ table: tableWith((b) => b < "a0"), paused: { buckets: ["80", "81"], pins: [] } }));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: the proxy runs a quarantine now: 2 bucket\(s\) and 0 pinned base\(s\) answer 503 .*ends the quarantine\.\n$/);
  });

  test.each([
    ["a config this program did not install", live({ table: tableWith((b) => b < "a0"), conf: SHA("c") }), new RegExp(`^dtable-web: the proxy's config \\(${PROXY_CONFIG}\\) is not one this program installed`)],
    [
      "a server the proxy routes to that neither the config nor servers.json says how to reach",
      live({ table: { ...tableWith((b) => b < "a0"), buckets: { ...tableWith((b) => b < "a0").buckets, ff: "dtable-server-3" } } }),
      /^dtable-web: the proxy sends bases to "dtable-server-3", which is not in hosts\.servers, and neither the proxy's \S+servers\.json nor the stack says how to reach it/,
    ],
    ["a server that moved to another address", live({ table: tableWith((b) => b < "a0"), servers: { servers: [{ ...servers.servers[0], address: "192.0.2.99" }, servers.servers[1]], evicted: [] } }), /^hosts\.servers\[0\]\.address: dtable-server runs at 192\.0\.2\.99 \(as the proxy and the stack know it\), not 192\.0\.2\.21; /],
  ])("%s: exit 1 with the error, as a config problem, and nothing on stdout", (_, given, error) => {
    const r = planCommand(["--stack-file", seedStack(), "--live", "--out", join(dir, "out")], given);
    expect([r.code, r.stdout]).toEqual([1, ""]);
    expect(r.stderr.trimEnd().split("\n")).toEqual([expect.stringMatching(error)]);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });
});

describe("--live: usage, --where, and what is read", () => {
  const SEED_SPLIT = (b: string) => (b < "a0" ? "dtable-server-2" : "dtable-server");
  const seedTable: RoutingTable = { bucketHexDigits: 2, default: "dtable-server", buckets: Object.fromEntries(allBuckets(2).map((b) => [b, SEED_SPLIT(b)])), pins: {} };
  const devStack = () => writeStack(stackValues("dev"));
  const unused: LiveProxy = {};

  afterEach(() => setHostAccess(undefined));

  test("with --previous: bad usage, exit 2, nothing read", () => {
    const r = planCommand(["--stack", "dev", "--live", "--previous", "live.json"], unused);
    expect([r.code, r.stdout]).toEqual([2, ""]);
    expect(r.stderr).toBe(`give --live or --previous, not both: --live plans from the table the proxy on dtable-web runs, --previous from a file\n${r.stderr.split("\n")[1]}\n`);
    expect(r.stderr.split("\n")[1]).toBe(
      "usage: npm run plan -- (--stack NAME | --stack-file PATH) [--live | --previous routing.json] [--replace-containers] [--out DIR | --where BASE_UUID | --suggest [--log FILE|- | --since 24h]]",
    );
  });

  test("--where answers from the proxy's table, and says where `pulumi up` puts the base", () => {
    const r = planCommand(["--stack-file", devStack(), "--live", "--where", "90000000-0000-0000-0000-000000000001"], { table: seedTable });
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe(
      "90000000-0000-0000-0000-000000000001: dtable-server-2 (bucket 90), in the proxy's routing.json on dtable-web (192.0.2.10)\nafter `pulumi up`: moves to dtable-server (bucket 90)\n",
    );
  });

  test("a dtable-web without the proxy's files: a first deployment, and a note that says why", () => {
    const r = planCommand(["--stack-file", devStack(), "--live"], {});
    expect([r.code, r.stderr]).toEqual([0, "note: dtable-web (192.0.2.10): the proxy runs no routing.json yet, so the plan starts as a first deployment does\n"]);
    expect(r.stdout).toContain("First deployment: no table applied before");
  });

  test("a proxy's table of more hex digits than the config: exit 1", () => {
    const three: RoutingTable = { bucketHexDigits: 3, default: "dtable-server", buckets: Object.fromEntries(allBuckets(3).map((b) => [b, "dtable-server"])), pins: {} };
    const r = planCommand(["--stack-file", devStack(), "--live"], { table: three });
    expect(r).toEqual({
      code: 1,
      stdout: "",
      stderr: "routing.bucketHexDigits: 2 is fewer than the 3 of the table the proxy on dtable-web runs; fewer digits would merge buckets that live on different servers\n",
    });
  });

  test("planCommand without --live reads no host: the same run as plan", async () => {
    setHostAccess({ readLive: () => Promise.reject(new Error("read a host")), readContainers: () => Promise.reject(new Error("read a host")), readFacts: () => Promise.reject(new Error("read a host")), reachable: () => Promise.reject(new Error("probed a host")) });
    expect(await planWithHosts(["--stack", "dev"])).toEqual(plan("--stack", "dev"));
    expect(await planWithHosts(["--stack", "dev", "--colour"])).toEqual(plan("--stack", "dev", "--colour"));
    expect(await planWithHosts(["--help"])).toEqual(plan("--help"));
  });

  test("planCommand --live reads dtable-web once, with the stack's own SSH settings (its pinned key, ssh.privateKeyPath), as `pulumi up` does", async () => {
    const v = stackValues("dev");
    v.ssh.privateKeyPath = "/keys/deploy";
    const calls: unknown[] = [];
    setHostAccess({
      readLive: (web, options) => (calls.push({ web, options }), Promise.resolve({ table: seedTable })),
      readContainers: () => Promise.resolve({}),
      readFacts: () => Promise.resolve(NO_FACTS),
      reachable: () => Promise.reject(new Error("probed a host")),
    });
    const r = await planWithHosts(["--stack-file", writeStack(v), "--live"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toContain("Against the proxy's routing.json on dtable-web (192.0.2.10): 32 bucket(s)");
    expect(calls).toEqual([
      {
        web: expect.objectContaining({ name: "dtable-web", address: "192.0.2.10", ssh: expect.objectContaining({ user: "root", port: 22, hostKey: v.hosts.web.ssh.hostKey }) }),
        options: [
          "-F", "/dev/null",
          "-o", "BatchMode=yes",
          "-o", "StrictHostKeyChecking=yes",
          "-o", `KnownHostsCommand=/bin/echo %H ${v.hosts.web.ssh.hostKey}`,
          "-o", "UserKnownHostsFile=/dev/null",
          "-o", "GlobalKnownHostsFile=/dev/null",
          "-o", "UpdateHostKeys=no",
          "-i", "/keys/deploy",
          "-o", "IdentitiesOnly=yes",
          "-o", "ConnectTimeout=10",
        ],
      },
    ]);
  });

  test("planCommand --live: a read that fails exits 2 with its own words; an invalid stack is not read at all", async () => {
    const failure = "reading the proxy's live files on dtable-web (192.0.2.10) over SSH failed: ssh: connect to host 192.0.2.10 port 22: Connection timed out";
    let reads = 0;
    setHostAccess({ readLive: () => (reads++, Promise.reject(new Error(failure))), readContainers: () => Promise.resolve({}), readFacts: () => Promise.resolve(NO_FACTS), reachable: () => Promise.reject(new Error("probed a host")) });
    expect(await planWithHosts(["--stack-file", devStack(), "--live"])).toEqual({ code: 2, stdout: "", stderr: `${failure}\n` });
    const v = stackValues("dev");
    v.hosts.web.address = "10.0.0";
    expect(await planWithHosts(["--stack-file", writeStack(v), "--live"])).toEqual({ code: 1, stdout: "", stderr: 'hosts.web.address: "10.0.0" is not an IPv4 or IPv6 address\n' });
    expect(await planWithHosts(["--stack", "dev", "--live", "--previous", "x.json"])).toEqual(expect.objectContaining({ code: 2 }));
    expect(reads).toBe(1);
  });
});

test("plan --live, a 6.1 cluster moving to 6.2 with an admin's settings in the old conf files: refused with the lines to add; with them, the plan shows each variable carried", () => {
  const corpus = join(__dirname, "corpus", "conf-6.1", "edited");
  const files = Object.fromEntries(readdirSync(corpus).map((f) => [f, readFileSync(join(corpus, f), "utf8")]));
  const v = stackValues("dev");
  const to62 = { ...v, image: "seatable/seatable-enterprise:6.2.13", s3: { ...v.s3, buckets: { ...v.s3.buckets, avatar: "avatars" } } };
  const facts = Object.fromEntries(["dtable-web", "dtable-db", "dtable-server", "dtable-server-2"].map((h) => [h, { ...NO_FACTS, deprecatedConf: { files, problems: [] } }]));
  const refused = planCommand(["--stack-file", writeStack(to62), "--live"], {}, {}, facts);
  expect(refused.code).toBe(1);
  const lines = refused.stderr.split("\n");
  expect(lines).toContain("SeaTable 6.2.13 no longer reads these settings of 6.1's conf files, and the move to it would drop them (the manual's 6.2 upgrade notice: they must move to environment variables):");
  const yaml = lines.slice(lines.findIndex((l) => l.startsWith("Add these lines under config:")) + 1).filter((l) => l.startsWith("  "));
  expect(yaml[0]).toBe("  seatable-cluster:environment:");
  // the admin pastes them, as printed, at the end of the stack file's config: section
  const stackFile = writeStack(to62);
  writeFileSync(stackFile, `${readFileSync(stackFile, "utf8")}${yaml.join("\n")}\n`);
  const accepted = planCommand(["--stack-file", stackFile, "--live"], {}, {}, facts);
  expect([accepted.code, accepted.stderr.split("\n").filter((l) => !l.startsWith("warning: licenseFile") && !l.startsWith("note: "))]).toEqual([0, [""]]);
  expect(accepted.stdout).toMatch(/^ {4}BASE_WRITABLE_LIMIT=\d+ {2}\(environment\.[a-z-]+\)$/m);
});
