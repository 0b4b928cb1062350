// The bad-input corpus (tests/support/corpus.ts): each file must be rejected by
// `npm run plan` (as a process: exit 1, nothing written, exactly the expected
// lines on stderr) and by the program under the SDK's mocks (before any resource is registered, with the same lines).
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { promisify } from "node:util";
import ts from "typescript";
import { parse } from "yaml";
import { rawFromStackYaml } from "../pure/config/stack-file";
import { PROJECT, SECRET_KEYS } from "../pure/config/schema";
import { ProgramFailure, runProgram, SECRET_VALUES } from "./support/program";
import { ROOT, stackValues, TEST_LICENSE, writeStackFile } from "./support/stacks";
import { CORPUS, expectedLines, FILES } from "./support/corpus";

const run = promisify(execFile);

// `npm run plan` is `ts-node --transpile-only cli/plan.ts`: the same transpilation,
// done once here, so that ~60 processes take seconds instead of a minute
// (ts-node spends ~2 s per start transpiling the plan layer). One file also runs
// through ts-node itself, exactly as `npm run plan` does.
let planJs: string;
function transpilePlanCommand(): string {
  const out = mkdtempSync(join(tmpdir(), "plan-js-"));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) {
        const js = ts.transpileModule(readFileSync(path, "utf8"), {
          fileName: path,
          compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
        }).outputText;
        const target = join(out, relative(ROOT, path)).replace(/\.ts$/, ".js");
        mkdirSync(dirname(target), { recursive: true });
        writeFileSync(target, js);
      }
    }
  };
  walk(join(ROOT, "cli"));
  walk(join(ROOT, "pure"));
  // plan --live reads dtable-web through io/hosts.ts
  walk(join(ROOT, "io"));
  // the host scripts, read beside pure/ (pure/plan/host-scripts.ts)
  cpSync(join(ROOT, "hostscripts"), join(out, "hostscripts"), { recursive: true });
  return out;
}

type Result = { code: number; stdout: string; stderr: string };

async function plan(args: string[], viaTsNode = false): Promise<Result> {
  const argv = viaTsNode ? ["-r", "ts-node/register/transpile-only", join(ROOT, "cli", "plan.ts"), ...args] : [join(planJs, "cli", "plan.js"), ...args];
  try {
    const { stdout, stderr } = await run(process.execPath, argv, {
      cwd: ROOT,
      timeout: 30000,
      env: { ...process.env, NODE_PATH: join(ROOT, "node_modules") },
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** Runs `jobs` at most `limit` at a time. */
async function bounded<T>(jobs: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return results;
}

let work: string;
const planned = new Map<string, Result & { out: string }>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "invalid-configs-"));
  planJs = transpilePlanCommand();
  const results = await bounded(
    FILES.map((file) => async () => {
      const out = join(work, file, "out");
      return { ...(await plan(["--stack-file", join(CORPUS, file), "--out", out])), out };
    }),
    4,
  );
  FILES.forEach((file, i) => planned.set(file, results[i]));
}, 120000);

afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  rmSync(planJs, { recursive: true, force: true });
});

/**
 * A stack file's values and secrets as the Pulumi CLI would hand them to the
 * program: `{secure: ...}` keys are secrets; every secret key the file does not
 * set in plain text is set (as a secret), and a license file unless the file
 * names one, so that only the file's mistake shows. Keys of other namespaces
 * reach the program as written.
 */
function programInput(text: string): { values: Record<string, unknown>; secrets: Record<string, string>; otherKeys: Record<string, string> } {
  const raw = rawFromStackYaml(text);
  const values = { licenseFile: TEST_LICENSE, ...Object.fromEntries(Object.entries(raw.values).filter(([k]) => !raw.secretKeys.has(k))) };
  const secrets: Record<string, string> = Object.fromEntries(Object.entries(SECRET_VALUES).filter(([k]) => !(k in values)));
  for (const k of raw.secretKeys) secrets[k] = `secret-${k}`;
  const config = (parse(text) as { config: Record<string, unknown> }).config;
  const otherKeys = Object.fromEntries(
    Object.entries(config)
      .filter(([k]) => k.includes(":") && !k.startsWith(`${PROJECT}:`))
      .map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]),
  );
  return { values, secrets, otherKeys };
}

/** Runs the program with the stack file's directory as the working directory, as `pulumi up` would. */
async function programFailure(file: string): Promise<ProgramFailure> {
  const { values, secrets, otherKeys } = programInput(readFileSync(file, "utf8"));
  const cwd = process.cwd();
  process.chdir(dirname(file));
  try {
    await runProgram(values, { secrets, otherKeys });
  } catch (e) {
    return e as ProgramFailure;
  } finally {
    process.chdir(cwd);
  }
  throw new Error(`${file}: the program accepted it`);
}

describe.each(FILES)("%s", (file) => {
  const path = join(CORPUS, file);
  const expected = () => expectedLines(readFileSync(path, "utf8"));

  test("npm run plan: exit 1, nothing on stdout, nothing written, exactly the expected line(s) on stderr", () => {
    const r = planned.get(file)!;
    expect(r.stderr.trimEnd().split("\n")).toEqual(expected().matchers);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(existsSync(r.out)).toBe(false);
  });

  // a problem the Pulumi CLI catches first, or one that does not harm the program, says so in its file
  const planOnly = /^# plan only: /m.test(readFileSync(path, "utf8"));
  if (!planOnly) test("the program: rejects before any resource is registered, with the same line(s)", async () => {
    const failure = await programFailure(path);
    const [head, ...lines] = failure.message.split("\n");
    expect(lines).toEqual(expected().matchers);
    expect(head).toBe(`the stack config has ${lines.length} problem(s):`);
    expect(lines).toEqual(planned.get(file)!.stderr.trimEnd().split("\n"));
    expect(failure.registered).toEqual([]);
  });
});

test.each(["45-secret-plain-mariadb.yaml"])("through ts-node, as `npm run plan` runs it: %s", async (file) => {
  const out = join(work, `ts-node-${file}`);
  const r = await plan(["--stack-file", join(CORPUS, file), "--out", out], true);
  expect([r.code, r.stdout, r.stderr]).toEqual([1, "", planned.get(file)!.stderr]);
  expect(existsSync(out)).toBe(false);
});

test.each(Object.keys(SECRET_KEYS))("%s in plain text: refused with the `pulumi config set --secret` command", async (key) => {
  const dir = mkdtempSync(join(work, "secret-"));
  const r = await plan(["--stack-file", writeStackFile(dir, { ...stackValues("dev"), [key]: "plain-text-value" })]);
  expect([r.code, r.stdout]).toEqual([1, ""]);
  expect(r.stderr).toContain(`\`pulumi config set --secret ${key} <value>\``);
  expect(r.stderr).not.toContain("plain-text-value");
});

describe("the explicit opt-outs are accepted, with a warning", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "opt-out-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const writeStack = (values: Record<string, unknown>) => writeStackFile(dir, values);
  /** runProgram, collecting what the program logs as warnings (pulumi.log.warn goes to console.warn under mocks) */
  const programWarnings = async (values: Record<string, unknown>) => {
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    try {
      const r = await runProgram(values);
      return { run: r, warnings: warn.mock.calls.map((c) => String(c[0])) };
    } finally {
      warn.mockRestore();
    }
  };

  test("allowPublicAddresses: true lets a public address through, with a warning from plan and from the program", async () => {
    const v = stackValues("dev");
    v.allowPublicAddresses = true;
    v.hosts.db.address = "8.8.8.8";
    const warning = 'hosts.db.address: "8.8.8.8" is public; ports 5000, 7777 and 8000 will be reachable there unless a firewall blocks them';
    const out = join(dir, "out");
    const r = await plan(["--stack-file", writeStack(v), "--out", out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(`warning: ${warning}\n`);
    expect(existsSync(join(out, "routing.json"))).toBe(true);
    const { run: ran, warnings } = await programWarnings(v);
    expect(warnings).toEqual([`warning: [runtime] ${warning}`]);
    // still published on that one address, never on all of them
    const db = ran.one("dtable-db-seatable-server");
    expect((db.inputs.ports as { ip: string }[]).map((p) => p.ip)).toEqual(["8.8.8.8"]);
  });

  test("without allowPublicAddresses the same stack is refused", async () => {
    const v = stackValues("dev");
    v.hosts.db.address = "8.8.8.8";
    const r = await plan(["--stack-file", writeStack(v)]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^hosts\.db\.address: "8\.8\.8\.8" is a public address; expected a private one/);
  });

  test("values written as strings, as `pulumi config set` writes them, are read as the program reads them", async () => {
    const v = stackValues("dev");
    v.stopTimeoutSeconds = "600";
    v.allowPublicAddresses = "false";
    const r = await plan(["--stack-file", writeStack(v)]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    v.stopTimeoutSeconds = "ten minutes";
    const bad = await plan(["--stack-file", writeStack(v)]);
    expect([bad.code, bad.stderr]).toEqual([1, 'stopTimeoutSeconds: expected a whole number of seconds from 30 to 3600, found "ten minutes" (a string)\n']);
    await expect(runProgram(v)).rejects.toThrow(/\nstopTimeoutSeconds: expected a whole number of seconds from 30 to 3600, found "ten minutes" \(a string\)$/);
  });

  test("a 6.x newer than 6.2 runs with 6.2's settings, with the same warning from plan and from the program", async () => {
    const v = stackValues("dev");
    v.image = "seatable/seatable-enterprise:6.3.0";
    v.s3.buckets.avatar = "seatable-dev-avatar";
    const warning = "image: SeaTable 6.3.0 is newer than 6.2, the newest version this program knows; its settings follow 6.2: read SeaTable's upgrade notice for 6.3 before deploying it";
    const r = await plan(["--stack-file", writeStack(v)]);
    expect(r.code).toBe(0);
    expect(r.stderr.split("\n")[0]).toBe(`warning: ${warning}`);
    const { run: ran, warnings } = await programWarnings(v);
    expect(warnings).toEqual([`warning: [runtime] ${warning}`]);
    expect(ran.resources.some((res) => res.name === "dtable-server-move-aside")).toBe(true);
  });

  test("hosts.*.ssh.insecureSkipHostKeyCheck: true runs without those hosts' keys, with a loud warning per host from plan and from the program", async () => {
    const v = stackValues("dev");
    const hosts = [{ path: "hosts.web", name: "dtable-web", h: v.hosts.web }, { path: "hosts.servers[1]", name: v.hosts.servers[1].name, h: v.hosts.servers[1] }];
    for (const { h } of hosts) {
      delete h.ssh.hostKey;
      h.ssh.insecureSkipHostKeyCheck = true;
    }
    const warnings = hosts.map(({ path, name, h }) => `${path}.ssh.insecureSkipHostKeyCheck: true: the SSH host key of ${name} (${h.address}) is NOT checked; anyone on the path can impersonate it and receive the cluster's secrets`);
    const r = await plan(["--stack-file", writeStack(v)]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe(warnings.map((w) => `warning: ${w}\n`).join(""));
    const { run: ran, warnings: logged } = await programWarnings(v);
    expect(logged).toEqual(warnings.map((w) => `warning: [runtime] ${w}`));
    expect(ran.resources.length).toBeGreaterThan(0);
  });

});
