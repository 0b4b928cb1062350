// `npm run plan -- --suggest`: as a process on a log file and on stdin, and
// in-process (planCommand) for the flags' refusals.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { planCommand } from "../cli/plan";
import { setHostAccess } from "../io/hosts";
import { buildPlan } from "../pure/plan";
import { seedTable } from "../pure/plan/routing";
import { configOf, ROOT, stackValues, writeStackFile } from "./support/stacks";
import { trafficLines } from "./support/access-log";

/** `npm run plan` as a process, `input` on its stdin. */
function planProcess(args: string[], input = ""): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "cli", "plan.ts"), ...args], { cwd: ROOT, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "suggest-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** dev's table, a log in which buckets 00-3f take four times the requests of the others, after an nginx start line. */
function skewedLog(): string {
  const table = buildPlan(configOf(stackValues("dev"))).routing;
  return ["/docker-entrypoint.sh: Configuration complete; ready for start up", ...trafficLines({ table, requests: 20000, seed: 5, bucketWeight: (b) => (b < "40" ? 4 : 1), noBase: 0.01 })].join("\n") + "\n";
}

test("as a process on a log file: the load, the candidates, and the stack config change, which `plan` then shows as the predicted table", async () => {
  const stack = writeStackFile(dir, stackValues("dev"));
  const log = join(dir, "access.log");
  writeFileSync(log, skewedLog());
  const r = await planProcess(["--stack-file", stack, "--suggest", "--log", log]);
  expect(r.stderr).toBe("note: --suggest takes the cluster to run the stack's table; --live (or --previous) plans from the table it runs\n");
  expect(r.code).toBe(0);
  const lines = r.stdout.split("\n");
  expect(lines.slice(0, 4)).toEqual([
    `Stack file ${stack}`,
    "SeaTable 6.1.8 (seatable/seatable-enterprise:6.1.8); dtable-web 192.0.2.10, dtable-db 192.0.2.11, 2 dtable-server(s)",
    "",
    `Load measured (--log ${log}): 20,000 request(s) from 2024-01-15T00:00:00+00:00 to 2024-01-15T23:59:55+00:00 (24.0 h); load is the summed upstream time, 200.0 s in all.`,
  ]);
  expect(lines[4]).toBe('  1 line(s) that are not access-log lines skipped, e.g. line 1: not JSON: "/docker-entrypoint.sh: Configuration complete; ready for start up"');
  expect(lines.slice(8, 11).map((l) => l.trim().split(/\s+/))).toEqual([
    ["dtable-server", "weight", "buckets", "pins", "requests", "load", "(s)", "share", "logged"],
    ["dtable-server", "1", "128", "0", expect.stringMatching(/^1\d,\d{3}$/), expect.stringMatching(/^1\d\d\.\d$/), expect.stringMatching(/^7\d\.\d%$/), expect.stringMatching(/^7\d\.\d%$/)],
    ["dtable-server-2", "1", "128", "0", expect.stringMatching(/^\d,\d{3}$/), expect.stringMatching(/^\d\d\.\d$/), expect.stringMatching(/^2\d\.\d%$/), expect.stringMatching(/^2\d\.\d%$/)],
  ]);
  expect(r.stdout).toMatch(/^Busiest: dtable-server, 7\d\.\d% of the load; the mean of the 2 serving dtable-server\(s\) is 50\.0% \(balanced: up to 55\.0%\)\.$/m);
  expect(r.stdout).toContain("  A. weights: only dtable-server gives buckets up");
  expect(r.stdout).toMatch(/^ {5}restarts: dtable-server \(1 stage\(s\); largest share of buckets paused at once 50\.0%\)$/m);
  expect(r.stdout).toMatch(/^ {7}stage 1: dtable-server restart; paused 128 bucket\(s\) and 0 pinned base\(s\); moving \d+ bucket\(s\) and 0 pinned base\(s\)$/m);
  expect(r.stdout).toMatch(/^Chosen: A, of the candidates that bring the busiest server within 10% of the mean, the one with the fewest restarts, then the fewest moves\.$/m);

  // the printed YAML, put under config: in place of the keys it names
  const start = lines.indexOf(`The change (A) for ${stack}: replace these keys under config: with`);
  const end = lines.findIndex((l, i) => i > start && l.startsWith("then review it with"));
  expect(lines[end]).toBe(`then review it with \`npm run plan -- --stack-file ${stack}\` and make it with \`pulumi up\`.`);
  const change = (parse(`config:\n${lines.slice(start + 1, end).join("\n")}`) as { config: Record<string, unknown> }).config;
  expect(Object.keys(change)).toEqual(["seatable-cluster:hosts"]);
  const doc = parse(readFileSync(stack, "utf8")) as { config: Record<string, unknown> };
  writeFileSync(stack, JSON.stringify({ config: { ...doc.config, ...change } }));
  // what the candidate predicted after the change: each server's bucket count
  const after = lines.slice(lines.indexOf("     after:") + 2, lines.indexOf("     after:") + 4).map((l) => l.trim().split(/\s+/));
  const planned = await planCommand(["--stack-file", stack]);
  expect(planned.code).toBe(0);
  for (const [server, weight, buckets] of after) expect(planned.stdout).toMatch(new RegExp(`^${server} +192\\.0\\.2\\.2\\d +${weight} +${buckets} `, "m"));
  // the same log against the changed stack: balanced, and the log's routing is not the table's any more
  const again = await planCommand(["--stack-file", stack, "--suggest", "--log", log]);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("\nNo change proposed: the busiest dtable-server is within 10% of the mean.\n");
  expect(again.stderr).toMatch(/^warning: the log sends \d+ bucket\(s\) to another dtable-server than the stack's table \(/m);
});

test("as a process on stdin (--log -), with uniform load: no change proposed", async () => {
  const table = buildPlan(configOf(stackValues("dev"))).routing;
  const log = [...trafficLines({ table, requests: 5000, seed: 9 })].join("\n");
  const r = await planProcess(["--stack", "dev", "--suggest", "--log", "-"], log);
  expect(r.code).toBe(0);
  expect(r.stdout).toContain("Load measured (--log - (stdin)): 5,000 request(s)");
  expect(r.stdout).toMatch(/\nNo change proposed: the busiest dtable-server is within 10% of the mean\.\n$/);
});

describe("in-process", () => {
  const run = (...args: string[]) => planCommand(args);

  test("against --previous: the moves are planned from that table", async () => {
    const log = join(dir, "access.log");
    writeFileSync(log, skewedLog());
    const first = join(dir, "routing.json");
    const table = buildPlan(configOf(stackValues("dev"))).routing;
    writeFileSync(first, JSON.stringify(table));
    const r = await run("--stack", "dev", "--suggest", "--log", log, "--previous", first);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain("note: --suggest takes the cluster");
    expect(r.stdout).toContain(`Candidates (each planned against --previous ${first}):`);
    expect(r.stdout).toContain("then review it with `npm run plan -- --stack dev --previous");
  });

  test("--live: the load is modelled on the table the proxy runs, and the moves planned from it; nothing else is read on the hosts", async () => {
    const config = configOf(stackValues("dev"));
    // the manual's table (00-9f on dtable-server-2) still runs; the stack's would move 32 buckets
    const running = seedTable(config.hosts.servers, 2);
    setHostAccess({
      readLive: () => Promise.resolve({ table: running }),
      readContainers: () => Promise.reject(new Error("read the containers")),
      readFacts: () => Promise.reject(new Error("read the facts")),
      reachable: () => Promise.reject(new Error("probed a host")),
    });
    try {
      const log = join(dir, "access.log");
      writeFileSync(log, [...trafficLines({ table: running, requests: 20000, seed: 2, bucketWeight: (b) => (b >= "a0" ? 3 : 1) })].join("\n"));
      const stack = writeStackFile(dir, stackValues("dev"));
      const r = await run("--stack-file", stack, "--live", "--suggest", "--log", log);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const label = "the proxy's routing.json on dtable-web (192.0.2.10)";
      expect(r.stdout).toContain(`Load per dtable-server under the stack's table, after \`pulumi up\` of the stack as it is (it moves 32 bucket(s) and 0 pinned base(s) against ${label}; "logged": what the log's server field says each got):`);
      expect(r.stdout).toContain(`Candidates (each planned against ${label}):`);
      expect(r.stdout).toContain(`then review it with \`npm run plan -- --stack-file ${stack} --live\` and make it with \`pulumi up\`.`);
    } finally {
      setHostAccess(undefined);
    }
  });

  test.each([
    [["--log", "x.log"], "--log goes with --suggest, which reads the proxy's access log; without it, plan reads no log"],
    [["--since", "24h"], "--since goes with --suggest, which reads the proxy's access log; without it, plan reads no log"],
    [["--suggest", "--out", "d"], "--suggest proposes a change of weights and pins and writes nothing; give it without --out"],
    [["--suggest", "--where", "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10"], "--suggest proposes a change of weights and pins and writes nothing; give it without --where"],
    [["--suggest", "--replace-containers"], "--suggest proposes a change of weights and pins and writes nothing; give it without --replace-containers"],
    [["--suggest", "--log", "x.log", "--since", "1h"], "--since picks the window of `docker logs` on dtable-web; --log x.log is read whole (cut it to the window first), so give one of them"],
    [["--suggest", "--since", "1w"], '--since: "1w" is not a duration such as 24h, 90m, 7d or 1h30m, nor a time such as 2024-01-15T09:30:00Z'],
    [["--suggest", "--log", ""], "--log: empty; give a file, or - for stdin"],
  ])("%j is refused with exit status 2, saying why and the usage", async (args, message) => {
    const r = await run("--stack", "dev", ...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n");
    expect(lines[0]).toBe(message);
    expect(lines[1]).toMatch(/^usage: npm run plan -- .*--suggest \[--log FILE\|- \| --since 24h\]\]$/);
  });

  test("a --previous that cannot be read: exit status 1 before any log is read", async () => {
    const r = await run("--stack", "dev", "--suggest", "--log", join(dir, "missing.log"), "--previous", join(dir, "none.json"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^--previous: cannot read .*none\.json as JSON: ENOENT/);
  });

  test("a log file that cannot be read: exit status 1, the flag, the file and why", async () => {
    const r = await run("--stack", "dev", "--suggest", "--log", join(dir, "missing.log"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^note: .*\n--log: cannot read .*missing\.log: ENOENT: no such file or directory/);
  });

  test("plan(argv), the synchronous entry, sends --suggest to planCommand", async () => {
    const { plan } = await import("../cli/plan");
    expect(plan(["--stack", "dev", "--suggest", "--log", "x"])).toMatchObject({ code: 2, stderr: expect.stringContaining("--suggest streams the proxy's access log") });
  });
});
