// hostscripts/edit-conf.py run for real through OpenSSH on loopback against
// sample SeaTable conf trees (contents after /tmp/research/seatable.md and AD),
// twice: the second run changes nothing.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateStackFile } from "../pure/config/stack-file";
import { ClusterConfig } from "../pure/config/schema";
import { CONF_DIR, CONF_FILES_UNREAD_FROM_6_2, ConfEdit, confEdits, editCommand, Role, versionStyle } from "../pure/plan/seatable";
import { moveAsideCommand, nodeSteps } from "../pure/plan/node-steps";
import { runOverSsh, Sshd, startSshd, stopSshd } from "./support/sshd";

const SCRIPT = readFileSync(join(__dirname, "..", "hostscripts", "edit-conf.py"), "utf8");
const PROXY = "http://dtable-web:5000";

// read once: the fixture is the shipped dev stack with the version overridden
const dev = validateStackFile(join(__dirname, "..", "Pulumi.dev.yaml"));
function devConfig(version: string): ClusterConfig {
  if (!dev.ok) throw new Error(dev.problems.join("\n"));
  return { ...dev.config, seatableVersion: version };
}
// local checks skip pyenv's shim when Debian's python3 is there (about 0.3 s a call)
const PY = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3";

// ---------------------------------------------------------------- sample files

const settingsHead = `# -*- coding: utf-8 -*-
SECRET_KEY = "not-a-real-secret-for-tests"
DTABLE_WEB_SERVICE_URL = 'https://seatable.example.com/'
FILE_SERVER_ROOT = 'https://seatable.example.com/seafhttp/'

ENABLE_SETTINGS_VIA_WEB = False

# E-mail
EMAIL_USE_TLS = True
EMAIL_HOST = 'smtp.example.com'
EMAIL_PORT = 587

# The manual's cluster example, commented out:
# INNER_DTABLE_SERVER_URL = 'http://dtable-server:5000/'
`;
const settingsTail = `
OAUTH_ATTRIBUTE_MAP = {
    "id": (True, "email"),
    "name": (False, "name"),  # bind = 'not this'
}
LOGO_PATH = 'custom/mylogo.png'
SEATABLE_MARKET_URL = 'https://market.seatable.io'`;

const gunicorn = `daemon = True
workers = 5
threads = 5

# default localhost:8000
bind = '127.0.0.1:8000'

# Pid
pidfile = '/var/run/dtable-web.pid'

# for file upload, we need a longer timeout value (default is only 30s, too short)
timeout = 1200

limit_request_line = 8190
`;

const dtableDbConf = `[general]
host = 127.0.0.1
port = 7777
log_dir = /opt/seatable/logs

[storage]
data_dir = /opt/seatable/db-data

[dtable cache]
dtable_server_url = "http://127.0.0.1:5000"

[backup]
dtable_storage_server_url = "http://127.0.0.1:6666"
keep_backup_num = 3
`;

const storageConf = `[general]
log_dir = /opt/seatable/logs
temp_file_dir = /tmp/tmp-storage-data

[storage backend]
type = filesystem
path = /opt/seatable/storage-data

[snapshot]
interval = 86400
keep_days = 180
`;

/** Per version: the files the container (or an admin) left in conf/, per role. */
function sampleTree(version: string): Record<Role, Record<string, string>> {
  if (versionStyle(version) === "6.2") {
    // an admin's settings: replaced in place (single quotes, a trailing comment), multi-line dict kept
    const settings = `${settingsHead}INNER_DTABLE_SERVER_URL = 'http://127.0.0.1:5000/'
INNER_DTABLE_DB_URL = "http://127.0.0.1:7777/"  # dtable-db on this node
${settingsTail}\n`;
    return {
      "dtable-web": { "dtable_web_settings.py": settings, "gunicorn.py": gunicorn },
      "dtable-db": {},
      "dtable-server": {},
    };
  }
  // 6.1: one value already right (double quotes: left alone, the other key is
  // appended), and no newline at the end of the file
  const settings = `${settingsHead}INNER_DTABLE_SERVER_URL = "${PROXY}/"\n${settingsTail}`;
  const gateway = `[general]
host = localhost
port = 7780

[cluster]
etcd_endpoints = 127.0.0.1:2379

[dtable-db]
cluster_mode = false
inner_dtable_db_url = "http://127.0.0.1:7777"

[dtable-server]
cluster_mode = false
; the local dtable-server
inner_dtable_server_url = "http://127.0.0.1:5000"
`;
  const serverJson = `{
    "save_interval": 300000,
    "dtable_web_service_url": "http://127.0.0.1:8000/"
}
`;
  return {
    "dtable-web": { "dtable_web_settings.py": settings, "gunicorn.py": gunicorn, "dtable-storage-server.conf": storageConf, "dtable-api-gateway.conf": gateway },
    "dtable-db": { "dtable-db.conf": dtableDbConf, "dtable-storage-server.conf": storageConf },
    "dtable-server": { "dtable_server_config.json": serverJson, "dtable-storage-server.conf": storageConf },
  };
}

// ---------------------------------------------------------------- helpers

function python(code: string, ...args: string[]): string {
  return execFileSync(PY, ["-c", code, ...args], { encoding: "utf8", timeout: 20000 });
}

const PY_VALUES = "import runpy, json, sys; g = runpy.run_path(sys.argv[1]); print(json.dumps({k: g.get(k) for k in sys.argv[2:]}))";
const INI_VALUES = `import configparser, json, sys
cp = configparser.ConfigParser(interpolation=None)  # strict: duplicate sections or keys fail
with open(sys.argv[1]) as f:
    cp.read_file(f)
print(json.dumps({s: dict(cp[s]) for s in cp.sections()}))`;

const unquote = (v: string) => v.replace(/^"(.*)"$/, "$1");
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The lines of a file that no edit concerns. */
function otherLines(text: string, edits: readonly ConfEdit[]): string[] {
  const keyLine = edits.map((e) =>
    e.format === "python" ? new RegExp(`^${escape(e.key)}\\s*=`) : new RegExp(`^\\s*${escape(e.key)}\\s*[=:]`, "i"),
  );
  return text.split(/\n/).filter((line) => !keyLine.some((re) => re.test(line)));
}

function readTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of execFileSync("ls", ["-A", dir], { encoding: "utf8" }).split("\n").filter(Boolean)) {
    out[name] = readFileSync(join(dir, name), "utf8");
  }
  return out;
}

// ---------------------------------------------------------------- tests

let sshd: Sshd | undefined;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "edit-conf-test-"));
  sshd = await startSshd();
}, 30000);

afterAll(async () => {
  await stopSshd(sshd);
  if (work) rmSync(work, { recursive: true, force: true });
});

const VERSIONS = ["6.1.8", "6.2.0"];
const ROLES: Role[] = ["dtable-web", "dtable-db", "dtable-server"];
const CLEANUP: Record<Role, boolean> = { "dtable-web": false, "dtable-db": true, "dtable-server": false };

describe.each(VERSIONS)("SeaTable %s", (version) => {
  const config = devConfig(version);
  const style = versionStyle(version);

  test.each(ROLES)("%s: edits applied through ssh, then nothing changes", async (role) => {
    const { edits } = confEdits(config, role, { snapshotCleanup: CLEANUP[role] });
    const dir = join(work, version, role);
    mkdirSync(dir, { recursive: true });
    const before = sampleTree(version)[role];
    for (const [name, text] of Object.entries(before)) writeFileSync(join(dir, name), text);

    const run = editCommand(edits, SCRIPT, { confDir: dir, timeoutSeconds: 10, settleSeconds: 0 });
    const first = await runOverSsh(sshd as Sshd, run);
    expect(first.stderr).toBe("");
    expect(first.status).toBe(0);
    const files = [...new Set(edits.map((e) => e.file))];
    expect(first.stdout.trim().split("\n").filter(Boolean).sort()).toEqual(files.map((f) => `changed ${f}`).sort());
    if (style === "6.2" && role !== "dtable-web") expect(files).toEqual([]);

    const after = readTree(dir);
    // no file appears or disappears except those the edits name (api-gateway conf)
    expect(Object.keys(after).sort()).toEqual([...new Set([...Object.keys(before), ...files])].sort());
    for (const [name, text] of Object.entries(before)) {
      if (!files.includes(name)) expect(after[name]).toBe(text);
    }

    for (const file of files) {
      const path = join(dir, file);
      const mine = edits.filter((e) => e.file === file);
      const old = before[file];
      if (file.endsWith(".py")) {
        execFileSync(PY, ["-m", "py_compile", path], { env: { ...process.env, PYTHONPYCACHEPREFIX: join(work, "pycache") }, timeout: 20000 });
        const values = JSON.parse(python(PY_VALUES, path, ...mine.map((e) => e.key))) as Record<string, string>;
        for (const e of mine) expect(values[e.key]).toBe(e.value);
        // other lines byte for byte; the replaced assignments stay where they were
        if (old !== undefined) {
          const kept = otherLines(old, mine);
          const now = otherLines(after[file], mine);
          expect(now.slice(0, kept.length)).toEqual(kept);
          expect(now.slice(kept.length).filter((line) => line !== "")).toEqual([]);
        }
      } else if (file.endsWith(".conf")) {
        const parsed = JSON.parse(python(INI_VALUES, path)) as Record<string, Record<string, string>>;
        for (const e of mine) {
          if (e.format !== "ini") throw new Error("ini expected");
          expect(unquote(parsed[e.section][e.key])).toBe(unquote(e.value));
        }
        if (old !== undefined) {
          const kept = otherLines(old, mine);
          const now = otherLines(after[file], mine);
          expect(now.slice(0, kept.length)).toEqual(kept);
          // anything after: only new sections and the blank lines before them
          const sections = new Set(mine.map((e) => (e.format === "ini" ? `[${e.section}]` : "")));
          for (const line of now.slice(kept.length)) expect(line === "" || (sections.has(line) && !old.includes(line))).toBe(true);
        }
      } else {
        const parsed = JSON.parse(after[file]) as Record<string, unknown>;
        for (const e of mine) expect(parsed[e.key]).toBe(e.value);
        const others = { ...(JSON.parse(old) as Record<string, unknown>) };
        for (const e of mine) delete others[e.key];
        expect(parsed).toMatchObject(others);
        expect(Object.keys(parsed).length).toBe(Object.keys(others).length + mine.length);
      }
    }

    // the proxy is where each version's readers look for it
    const text = (f: string) => after[f] ?? "";
    if (role === "dtable-web") {
      expect(text("dtable_web_settings.py")).toMatch(/^INNER_DTABLE_SERVER_URL = (['"])http:\/\/dtable-web:5000\/\1$/m);
      expect(text("gunicorn.py")).toMatch(/^bind = '0\.0\.0\.0:8000'$/m);
      expect(text("gunicorn.py")).toContain("# default localhost:8000\n");
      if (style === "6.1") expect(text("dtable-api-gateway.conf")).toMatch(/^\[dtable-server\]\n(?:.*\n)*?(server_address|inner_dtable_server_url) = "http:\/\/dtable-web:5000"$/m);
    }
    if (role === "dtable-db" && style === "6.1") {
      expect(text("dtable-db.conf")).toContain('[dtable cache]\ndtable_server_url = "http://dtable-web:5000"\n');
      expect(text("dtable-db.conf")).toContain("[general]\nhost = 0.0.0.0\nport = 7777\n");
      expect(text("dtable-storage-server.conf")).toContain("[snapshot]\ninterval = 86400\nkeep_days = 180\nenable_cleanup = true\n");
    }
    if (role === "dtable-server" && style === "6.1") {
      expect(text("dtable-storage-server.conf")).toContain("enable_cleanup = false\n");
    }

    // second run: all unchanged, byte-identical
    const second = await runOverSsh(sshd as Sshd, run);
    expect(second.status).toBe(0);
    expect(second.stdout.trim().split("\n").filter(Boolean).sort()).toEqual(files.map((f) => `unchanged ${f}`).sort());
    expect(readTree(dir)).toEqual(after);
  });
});

test("an admin's settings file: exact result", async () => {
  const dir = join(work, "exact");
  mkdirSync(dir, { recursive: true });
  const settings = sampleTree("6.2.0")["dtable-web"]["dtable_web_settings.py"];
  writeFileSync(join(dir, "dtable_web_settings.py"), settings);
  const edits = confEdits(devConfig("6.2.0"), "dtable-web").edits.filter((e) => e.file === "dtable_web_settings.py");
  const r = await runOverSsh(sshd as Sshd, editCommand(edits, SCRIPT, { confDir: dir, timeoutSeconds: 5, settleSeconds: 0 }));
  expect(r.status).toBe(0);
  expect(readFileSync(join(dir, "dtable_web_settings.py"), "utf8")).toBe(
    settings
      .replace("INNER_DTABLE_SERVER_URL = 'http://127.0.0.1:5000/'", "INNER_DTABLE_SERVER_URL = 'http://dtable-web:5000/'")
      .replace('INNER_DTABLE_DB_URL = "http://127.0.0.1:7777/"  # dtable-db', "INNER_DTABLE_DB_URL = 'http://dtable-db:7777/'  # dtable-db"),
  );
});

test("waits for a file the container writes a little later", async () => {
  const dir = join(work, "late");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gunicorn.py"), gunicorn);
  const edits = confEdits(devConfig("6.2.0"), "dtable-web").edits;
  const started = Date.now();
  const pending = runOverSsh(sshd as Sshd, editCommand(edits, SCRIPT, { confDir: dir, timeoutSeconds: 20, settleSeconds: 0.3 }));
  await new Promise((resolve) => setTimeout(resolve, 1000));
  expect(existsSync(join(dir, "dtable_web_settings.py"))).toBe(false);
  writeFileSync(join(dir, "dtable_web_settings.py"), `${settingsHead}${settingsTail}\n`);
  const r = await pending;
  expect(r.stderr).toBe("");
  expect(r.status).toBe(0);
  expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  expect(r.stdout.trim().split("\n").sort()).toEqual(["changed dtable_web_settings.py", "changed gunicorn.py"]);
  expect(readFileSync(join(dir, "dtable_web_settings.py"), "utf8")).toContain("INNER_DTABLE_SERVER_URL = 'http://dtable-web:5000/'\n");
});

test("exits 2 after its timeout when a file never appears, and changes nothing", async () => {
  const dir = join(work, "never");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "gunicorn.py"), gunicorn);
  const edits = confEdits(devConfig("6.1.8"), "dtable-web").edits;
  const started = Date.now();
  const r = await runOverSsh(sshd as Sshd, editCommand(edits, SCRIPT, { confDir: dir, timeoutSeconds: 1.5, settleSeconds: 0 }));
  const ms = Date.now() - started;
  expect(r.status).toBe(2);
  expect(ms).toBeGreaterThanOrEqual(1500);
  expect(ms).toBeLessThan(10000);
  expect(r.stdout).toBe("missing dtable_web_settings.py\n");
  expect(r.stderr).toMatch(/timed out after 1\.5s waiting for dtable_web_settings\.py/);
  expect(readTree(dir)).toEqual({ "gunicorn.py": gunicorn }); // no api-gateway conf created either
});

test("bad input exits 1 and touches nothing", async () => {
  const dir = join(work, "bad");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "dtable_server_config.json"), "{ not json");
  const edits = confEdits(devConfig("6.1.8"), "dtable-server").edits;
  const r = await runOverSsh(sshd as Sshd, editCommand(edits, SCRIPT, { confDir: dir, timeoutSeconds: 2, settleSeconds: 0 }));
  expect(r.status).toBe(1);
  expect(r.stderr).toMatch(/not valid JSON/);
  expect(readFileSync(join(dir, "dtable_server_config.json"), "utf8")).toBe("{ not json");
});

describe("SeaTable 6.2: the conf files it no longer reads are moved aside before its container starts", () => {
  const nodes = (config: ClusterConfig) => [config.hosts.web, config.hosts.db, ...config.hosts.servers];
  const moveAside = (config: ClusterConfig) => nodes(config).map((h) => nodeSteps(config, h, SCRIPT).before.find((s) => s.id === "move-aside"));

  test("every 6.2 node has the step, before its container; no 6.1 node has it", () => {
    for (const step of moveAside(devConfig("6.2.0"))) expect(step?.command).toBe(moveAsideCommand(CONF_DIR));
    for (const step of moveAside(devConfig("6.1.8"))) expect(step).toBeUndefined();
  });

  test("through ssh: moved (renamed, not deleted) and reported, files 6.2 still reads stay; a second run changes nothing", async () => {
    const dir = join(work, "move-aside");
    mkdirSync(dir, { recursive: true });
    // a 6.1 node's conf/ as the container and this program's 6.1 edits leave it
    const tree: Record<string, string> = {
      ...sampleTree("6.1.8")["dtable-web"],
      ...sampleTree("6.1.8")["dtable-db"],
      ...sampleTree("6.1.8")["dtable-server"],
      "dtable-events.conf": "[DATABASE]\ntype = mysql\n",
      "seafile.conf": "[fileserver]\nport = 8082\n",
    };
    for (const [name, text] of Object.entries(tree)) writeFileSync(join(dir, name), text);

    const first = await runOverSsh(sshd as Sshd, moveAsideCommand(dir));
    expect([first.status, first.stderr]).toEqual([0, ""]);
    const after = readTree(dir);
    const kept = Object.keys(tree).filter((f) => !(CONF_FILES_UNREAD_FROM_6_2 as readonly string[]).includes(f));
    expect(kept.sort()).toEqual(["dtable_web_settings.py", "gunicorn.py", "seafile.conf"]);
    for (const f of kept) expect(after[f]).toBe(tree[f]);
    const lines = first.stdout.trim().split("\n");
    expect(lines).toHaveLength(CONF_FILES_UNREAD_FROM_6_2.length);
    for (const f of CONF_FILES_UNREAD_FROM_6_2) {
      expect(after[f]).toBeUndefined();
      const moved = Object.keys(after).filter((name) => name.startsWith(`${f}.moved-by-seatable-cluster-`));
      expect(moved).toHaveLength(1);
      expect(moved[0]).toMatch(/-\d{8}T\d{6}Z$/);
      expect(after[moved[0]]).toBe(tree[f]);
      expect(lines).toContain(`moved ${dir}/${f} to ${dir}/${moved[0]} (SeaTable 6.2 no longer reads it)`);
    }

    const second = await runOverSsh(sshd as Sshd, moveAsideCommand(dir));
    expect([second.status, second.stderr, second.stdout]).toEqual([0, "", `no conf file that SeaTable 6.2 no longer reads in ${dir}\n`]);
    expect(readTree(dir)).toEqual(after);
  });

  /** A conf folder for the step, and the step run with `tools` (name → script) in front of the host's own. */
  const withTools = (name: string, tools: Record<string, string>) => {
    const dir = join(work, name);
    const bin = join(work, `${name}-bin`);
    mkdirSync(dir, { recursive: true });
    mkdirSync(bin, { recursive: true });
    for (const [tool, script] of Object.entries(tools)) writeFileSync(join(bin, tool), script, { mode: 0o755 });
    return { dir, run: () => runOverSsh(sshd as Sshd, `PATH=${bin}:$PATH\n${moveAsideCommand(dir)}`) };
  };

  test("a file already at the name it would be moved to: both stay as they are, and the step fails saying so", async () => {
    // the step's clock, fixed: the name it moves to is known before it runs
    const { dir, run } = withTools("move-aside-taken", { date: "#!/bin/sh\necho 20261126T010203Z\n" });
    const f = CONF_FILES_UNREAD_FROM_6_2[0];
    const taken = `${f}.moved-by-seatable-cluster-20261126T010203Z`;
    writeFileSync(join(dir, f), "the live file\n");
    writeFileSync(join(dir, taken), "moved aside before\n");
    const r = await run();
    expect([r.status, r.stderr]).toEqual([1, `${dir}/${taken} exists already; ${dir}/${f} left where it is\n`]);
    expect([readFileSync(join(dir, f), "utf8"), readFileSync(join(dir, taken), "utf8")]).toEqual(["the live file\n", "moved aside before\n"]);
  });

  test("a rename that fails stops the step before it claims a move", async () => {
    const { dir, run } = withTools("move-aside-fails", { mv: '#!/bin/sh\necho "mv: cannot move $1: Read-only file system" >&2\nexit 1\n' });
    for (const f of CONF_FILES_UNREAD_FROM_6_2) writeFileSync(join(dir, f), "live\n");
    const r = await run();
    expect([r.status === 0, r.stdout]).toEqual([false, ""]);
    expect(r.stderr).toContain("Read-only file system");
  });

  test("a first deployment (no conf/ yet) is left as it is", async () => {
    const dir = join(work, "no-conf-yet");
    const r = await runOverSsh(sshd as Sshd, moveAsideCommand(dir));
    expect([r.status, r.stderr, r.stdout]).toEqual([0, "", `no conf file that SeaTable 6.2 no longer reads in ${dir}\n`]);
    expect(existsSync(dir)).toBe(false);
  });
});
