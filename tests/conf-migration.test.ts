// 6.1 → 6.2 without losing a setting (pure/plan/conf-migration.ts): SeaTable
// 6.1's own files (tests/corpus/conf-6.1) and an admin's edits of them.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parse } from "yaml";
import {
  changedSettings,
  COMPONENT_OF_FILE,
  COMPONENTS_OF_ROLE,
  converted,
  DEPRECATED_SETTINGS,
  DeprecatedFile,
  migrationProblems,
  NodeSettings,
  parseDeprecatedConfRead,
  parseDeprecatedFile,
} from "../pure/plan/conf-migration";
import { CONF_FILES_UNREAD_FROM_6_2, confEdits, type Role } from "../pure/plan/seatable";
import { configOf } from "./support/stacks";

const CORPUS = join(__dirname, "corpus", "conf-6.1");
const corpus = (dir: "first-start" | "edited"): Partial<Record<DeprecatedFile, string>> =>
  Object.fromEntries(CONF_FILES_UNREAD_FROM_6_2.map((f) => [f, readFileSync(join(CORPUS, dir, f), "utf8")]));

const byId = (dir: "first-start" | "edited") => {
  const { settings, problems } = changedSettings(corpus(dir));
  expect(problems).toEqual([]);
  return Object.fromEntries(settings.map((s) => [s.id, s]));
};

test("SeaTable 6.1's files as first written, with this program's keys, lose nothing", () => {
  expect(byId("first-start")).toEqual({});
});

test("an admin's edits are found with the variable that carries each; defaults in other spellings and the program's keys are not", () => {
  const found = byId("edited");
  expect(Object.keys(found).sort()).toEqual(
    [
      "dtable-api-gateway.conf:[general]base_api_limit_per_minute",
      "dtable-db.conf:[dtable cache]total_cache_size",
      "dtable-events.conf:[CLEAN DB]keep_operation_log_days",
      "dtable-events.conf:[EMAIL SENDER]enabled",
      "dtable-events.conf:[Syslog]enabled",
      "dtable-storage-server.conf:[snapshot]interval",
      "dtable-storage-server.conf:[snapshot]keep_days",
      "dtable_server_config.json:base_max_rows_limit",
      "dtable_server_config.json:base_writable_limit",
      "dtable_server_config.json:enable_notification_publish",
    ].sort(),
  );
  expect(found["dtable_server_config.json:base_writable_limit"]).toEqual({
    file: "dtable_server_config.json",
    key: "base_writable_limit",
    value: "200000",
    default: "100000",
    variable: "BASE_WRITABLE_LIMIT",
    variables: ["BASE_WRITABLE_LIMIT"],
    variableValue: "200000",
    id: "dtable_server_config.json:base_writable_limit",
  });
  expect(found["dtable_server_config.json:base_max_rows_limit"]).toMatchObject({ value: "250000", variable: "BASE_MAX_ROWS_LIMIT", variableValue: "250000" });
  expect(found["dtable-db.conf:[dtable cache]total_cache_size"]).toMatchObject({ key: "[dtable cache]total_cache_size", value: "4000", default: "2000", variable: "DTABLE_DB_TOTAL_CACHE_SIZE" });
  // the inline comment is the Go ini reader's, not part of the value
  expect(found["dtable-api-gateway.conf:[general]base_api_limit_per_minute"]).toMatchObject({ value: "2000", variable: "API_GATEWAY_BASE_API_LIMIT_PER_MINUTE" });
  expect(found["dtable-storage-server.conf:[snapshot]keep_days"]).toMatchObject({ value: "365", variable: "STORAGE_SERVER_SNAPSHOT_KEEP_DAYS" });
  expect(found["dtable-events.conf:[EMAIL SENDER]enabled"]).toMatchObject({ variables: ["EMAIL_SENDER_ENABLED", "UPDATES_SENDER_ENABLED"], variableValue: "false" });
  // no 6.2 variable: reported, to be accepted
  expect(found["dtable-storage-server.conf:[snapshot]interval"]).toMatchObject({ value: "43200", default: "86400", variables: [] });
  expect(found["dtable_server_config.json:enable_notification_publish"]).toMatchObject({ value: "true", variables: [] });
  // not in the manual: reported as unknown
  expect(found["dtable-events.conf:[Syslog]enabled"]).toMatchObject({ unknown: true, variables: [] });
  // never a secret's value, never a key 6.1 itself ignored
  expect(JSON.stringify(found)).not.toContain("do-not-print-me");
});

test("no key this program writes (confEdits) is ever reported, whatever its value", () => {
  const config = configOf();
  const edits = (["dtable-web", "dtable-db", "dtable-server"] as const).flatMap((role) => confEdits({ ...config, seatableVersion: "6.1.8" }, role, { snapshotCleanup: true }).edits);
  const programs = DEPRECATED_SETTINGS.filter((s) => s.handling === "program");
  for (const e of edits) {
    if (e.format === "python") continue;
    expect([e.file, e.format === "ini" ? e.section : "", e.key, programs.some((s) => s.file === e.file && s.key === e.key && s.section === (e.format === "ini" ? e.section : undefined))]).toEqual([
      e.file,
      e.format === "ini" ? e.section : "",
      e.key,
      true,
    ]);
  }
  const strange = fc.string({ minLength: 1, maxLength: 20 }).filter((v) => !/[\n\r"]/.test(v));
  fc.assert(
    fc.property(fc.constantFrom(...programs), strange, (s, v) => {
      const text = s.section === undefined ? JSON.stringify({ [s.key]: v }) : `[${s.section}]\n${s.key} = "${v}"\n`;
      expect(changedSettings({ [s.file]: text }).settings).toEqual([]);
    }),
  );
});

test("values compare by meaning: quotes, numbers as strings, True/yes/1, intervals with a unit", () => {
  expect(converted("number", '"100000"')).toBe("100000");
  expect(converted("boolean", "True")).toBe("true");
  expect(converted("boolean", "0")).toBe("false");
  expect(converted("interval", "2h")).toBe("7200");
  expect(converted("text", "'.bmp, .gif'")).toBe(".bmp,.gif");
  const same = [
    ["dtable_server_config.json", '{"base_writable_limit": "100000", "redirect_list_rows_api": false}'],
    ["dtable-db.conf", '[dtable cache]\ntotal_cache_size = "2000"\n[SQL]\ndefault_result_rows = 100\n'],
    ["dtable-events.conf", "[LDAP SYNC]\nenabled = False\nsync_interval = 1h\n[EMAIL SYNCER]\nenabled = yes\n[CLEAN DB]\nenabled = 1\n"],
    ["dtable-storage-server.conf", "[snapshot]\nkeep_days = '180'\ncleanup_at = \"03:00\"\n"],
  ] as const;
  for (const [file, text] of same) expect([file, changedSettings({ [file]: text })]).toEqual([file, { settings: [], problems: [] }]);
});

test("6.1 reads an old section spelling only without the new one; 6.2's own defaults count", () => {
  const old = changedSettings({ "dtable-events.conf": "[LDAP_SYNC]\nenabled = true\n" }).settings;
  expect(old.map((s) => [s.id, s.key, s.variable])).toEqual([["dtable-events.conf:[LDAP SYNC]enabled", "[LDAP_SYNC]enabled", "LDAP_SYNC_ENABLED"]]);
  expect(changedSettings({ "dtable-events.conf": "[LDAP SYNC]\nenabled = false\n[LDAP_SYNC]\nenabled = true\n" }).settings).toEqual([]);
  // 6.1's written-out default is not 6.2's: the 6.1 behaviour must be carried
  expect(changedSettings({ "dtable-db.conf": "[general]\nrow_update_limit = 0\n" }).settings).toMatchObject([
    { variable: "DTABLE_DB_ROW_UPDATE_LIMIT", variableValue: "0", default: "0", default62: "5000" },
  ]);
  // and a value 6.2 takes by default is not lost (SeaTable 6.1 writes this one at first start)
  expect(changedSettings({ "dtable-events.conf": "[CLEAN DB]\nenabled = true\n" }).settings).toEqual([]);
});

test("text that does not parse is a problem that names the file, not a crash", () => {
  expect(parseDeprecatedFile("dtable_server_config.json", '{"base_writable_limit": 200000,')).toEqual({ problem: expect.stringContaining("dtable_server_config.json: not JSON") });
  expect(parseDeprecatedFile("dtable_server_config.json", "[1, 2]")).toEqual({ problem: "dtable_server_config.json: not a JSON object" });
  expect(parseDeprecatedFile("dtable-db.conf", "[general]\nthis is not a setting\n")).toEqual({ problem: expect.stringContaining("dtable-db.conf: line 2") });
  const { settings, problems } = changedSettings({ "dtable-db.conf": "[general\nport 7777", "dtable_server_config.json": "{" });
  expect(settings).toEqual([]);
  expect(problems).toHaveLength(2);
  // SeaTable's own oddities: a byte order mark, an empty file, CRLF
  expect(parseDeprecatedFile("dtable_server_config.json", "\uFEFF{}")).toEqual({ entries: [] });
  expect(parseDeprecatedFile("dtable_server_config.json", "")).toEqual({ entries: [] });
  expect(changedSettings({ "dtable-db.conf": "[dtable cache]\r\ntotal_cache_size = 3000\r\n" }).settings).toMatchObject([{ value: "3000" }]);
  // any text at all: a result, never an exception
  fc.assert(
    fc.property(fc.constantFrom(...CONF_FILES_UNREAD_FROM_6_2), fc.string({ maxLength: 200 }), (file, text) => {
      const r = changedSettings({ [file]: text });
      expect(Array.isArray(r.settings) && Array.isArray(r.problems)).toBe(true);
    }),
  );
});

// ---------------------------------------------------------------- per node

const edited = changedSettings(corpus("edited")).settings;
const cluster = (settings = edited): NodeSettings[] => [
  { host: "dtable-web", role: "dtable-web", settings },
  { host: "dtable-db", role: "dtable-db", settings },
  { host: "dtable-server", role: "dtable-server", settings },
  { host: "dtable-server-2", role: "dtable-server", settings },
];
const none = () => ({});

test("carried (the variable set, any value), accepted (its id), or a problem that names host, file, key, value, default and variable", () => {
  const server = (env: Record<string, string>, accepted: string[] = []) =>
    migrationProblems(
      [{ host: "dtable-server-2", role: "dtable-server", settings: edited.filter((s) => s.file === "dtable_server_config.json") }],
      () => env,
      accepted,
    );
  const open = server({});
  expect(open.problems).toContainEqual(
    'dtable-server-2: dtable_server_config.json base_writable_limit = "200000" (6.1 default 100000) is not read by SeaTable 6.2: set BASE_WRITABLE_LIMIT="200000" in seatable-cluster:environment, or accept 6.2\'s default with acceptDefaults "dtable_server_config.json:base_writable_limit"',
  );
  expect(open.problems).toContainEqual(expect.stringMatching(/^dtable-server-2: dtable_server_config\.json enable_notification_publish = "true" \(6\.1 default false\) has no 6\.2 variable: it is lost/));
  expect(open.problems).toHaveLength(3);
  const carried = server({ BASE_WRITABLE_LIMIT: "150000", BASE_MAX_ROWS_LIMIT: "" }, ["dtable_server_config.json:enable_notification_publish"]);
  expect(carried).toEqual({ problems: [], lines: [] });
});

test("a file of a component that does not run in the node's role changed nothing", () => {
  expect(COMPONENT_OF_FILE["dtable-events.conf"]).toBe("dtable-events");
  const db = migrationProblems([{ host: "dtable-db", role: "dtable-db", settings: edited }], none, []);
  expect(new Set(db.problems.map((p) => p.split(" ")[1]))).toEqual(new Set(["dtable-db.conf", "dtable-storage-server.conf"]));
});

test("the suggested lines: all, a role, a host, acceptDefaults; in a fixed order", () => {
  const nodes = cluster();
  nodes[3] = { ...nodes[3], settings: changedSettings({ ...corpus("edited"), "dtable_server_config.json": '{"base_writable_limit": 300000, "base_max_rows_limit": 250000}' }).settings };
  const { lines } = migrationProblems(nodes, none, []);
  expect(lines).toEqual([
    "seatable-cluster:environment:",
    '  all: { STORAGE_SERVER_SNAPSHOT_KEEP_DAYS: "365" }',
    '  dtable-web: { API_GATEWAY_BASE_API_LIMIT_PER_MINUTE: "2000", CLEAN_DB_KEEP_OPERATION_LOG_DAYS: "30", EMAIL_SENDER_ENABLED: "false", UPDATES_SENDER_ENABLED: "false" }',
    '  dtable-db: { DTABLE_DB_TOTAL_CACHE_SIZE: "4000" }',
    '  dtable-server: { BASE_MAX_ROWS_LIMIT: "250000" }',
    "  hosts:",
    '    dtable-server: { BASE_WRITABLE_LIMIT: "200000" }',
    '    dtable-server-2: { BASE_WRITABLE_LIMIT: "300000" }',
    "  acceptDefaults:",
    '    - "dtable-events.conf:[Syslog]enabled"',
    '    - "dtable-storage-server.conf:[snapshot]interval"',
    '    - "dtable_server_config.json:enable_notification_publish"',
  ]);
  expect(migrationProblems([...nodes].reverse(), none, [])).toEqual(migrationProblems(nodes, none, []));
});

// ---------------------------------------------------------------- the property

type Applied = { all?: Record<string, string>; hosts?: Record<string, Record<string, string>>; acceptDefaults?: string[] } & Partial<Record<Role, Record<string, string>>>;

/** The effective environment once the lines are in the stack: hosts over role over all. */
function apply(lines: string[], nodes: readonly NodeSettings[]) {
  const doc = lines.length === 0 ? {} : (parse(lines.join("\n")) as Record<string, Applied>);
  expect(Object.keys(doc)).toEqual(lines.length === 0 ? [] : ["seatable-cluster:environment"]);
  const env = doc["seatable-cluster:environment"] ?? {};
  for (const [k, v] of Object.entries(env)) {
    expect(["all", "dtable-web", "dtable-db", "dtable-server", "hosts", "acceptDefaults"]).toContain(k);
    if (k === "acceptDefaults") expect((v as string[]).every((id) => typeof id === "string")).toBe(true);
    else if (k === "hosts") for (const m of Object.values(v as Record<string, Record<string, string>>)) expect(Object.values(m).every((x) => typeof x === "string")).toBe(true);
    else expect(Object.values(v as Record<string, string>).every((x) => typeof x === "string")).toBe(true);
  }
  const roleOf = new Map(nodes.map((n) => [n.host, n.role]));
  return {
    environmentOf: (host: string) => ({ ...env.all, ...env[roleOf.get(host)!], ...env.hosts?.[host] }),
    accepted: env.acceptDefaults ?? [],
  };
}

test("property: the suggested lines parse as YAML into the stack's shape and, applied, leave no problem", () => {
  const settable = DEPRECATED_SETTINGS.filter((s) => s.handling === "setting");
  const valueOf = (s: (typeof settable)[number], i: number) => (s.kind === "boolean" ? (i % 2 ? "true" : "false") : s.kind === "text" ? `v${i}` : String(i));
  const text = (chosen: { s: (typeof settable)[number]; i: number }[]) => {
    const files: Partial<Record<DeprecatedFile, string>> = {};
    for (const file of CONF_FILES_UNREAD_FROM_6_2) {
      const mine = chosen.filter((c) => c.s.file === file);
      if (mine.length === 0) continue;
      files[file] =
        file === "dtable_server_config.json"
          ? JSON.stringify(Object.fromEntries(mine.map((c) => [c.s.key, c.s.kind === "number" ? c.i : valueOf(c.s, c.i)])))
          : mine.map((c) => `[${c.s.section}]\n${c.s.key} = "${valueOf(c.s, c.i)}"`).join("\n");
    }
    return files;
  };
  const setting = fc.record({ s: fc.constantFrom(...settable), i: fc.integer({ min: 0, max: 3 }) });
  const node = fc.record({
    role: fc.constantFrom<Role>("dtable-web", "dtable-db", "dtable-server"),
    settings: fc.array(setting, { maxLength: 6 }),
    unknown: fc.boolean(),
    env: fc.subarray(["BASE_WRITABLE_LIMIT", "DTABLE_DB_TOTAL_CACHE_SIZE", "EMAIL_SENDER_ENABLED", "STORAGE_SERVER_SNAPSHOT_KEEP_DAYS"]),
  });
  fc.assert(
    fc.property(fc.array(node, { minLength: 1, maxLength: 5 }), fc.subarray(settable.map((s) => (s.section ? `${s.file}:[${s.section}]${s.key}` : `${s.file}:${s.key}`))), (drawn, accepted) => {
      const nodes: NodeSettings[] = drawn.map((d, i) => {
        const files = text(d.settings);
        if (d.unknown) files["dtable-storage-server.conf"] = `${files["dtable-storage-server.conf"] ?? ""}\n[snapshot]\nsome_new_key = 1\n`;
        const { settings, problems } = changedSettings(files);
        expect(problems).toEqual([]);
        return { host: i === 0 ? d.role : `${d.role}-${i + 1}`, role: d.role, settings };
      });
      const base = (host: string) => Object.fromEntries(drawn[nodes.findIndex((n) => n.host === host)].env.map((v) => [v, "set before"]));
      const before = migrationProblems(nodes, base, accepted);
      const { environmentOf, accepted: more } = apply(before.lines, nodes);
      const after = migrationProblems(nodes, (h) => ({ ...base(h), ...environmentOf(h) }), [...accepted, ...more]);
      expect(after.problems).toEqual([]);
      expect(before.lines.length === 0).toBe(before.problems.length === 0);
      // every setting left open is one of a component that runs there
      for (const p of before.problems) {
        const [host, file] = p.split(" ");
        const role = nodes.find((n) => `${n.host}:` === host)!.role;
        expect(COMPONENTS_OF_ROLE[role]).toContain(COMPONENT_OF_FILE[file as DeprecatedFile]);
      }
    }),
    { numRuns: 200 },
  );
});

test("the read's output: files between markers, missing, too large, cut off, unexpected", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const ok = ["missing dtable-api-gateway.conf", "begin dtable-db.conf 9", b64("[general]"), "end dtable-db.conf", "begin dtable-events.conf 0", "end dtable-events.conf", ""].join("\n");
  expect(parseDeprecatedConfRead(ok, "dtable-db")).toEqual({ files: { "dtable-db.conf": "[general]", "dtable-events.conf": "" }, problems: [] });
  const bad = parseDeprecatedConfRead(["too-large dtable_server_config.json 70000 65536", "begin dtable-db.conf 20", b64("[general]"), "end dtable-db.conf", "begin dtable-events.conf 3", "Zm9v"].join("\n"), "dtable-db");
  expect(bad.files).toEqual({});
  expect(bad.problems).toEqual([
    "dtable-db: dtable_server_config.json has 70000 bytes, more than the 65536 read: its settings are unknown; check it by hand",
    expect.stringContaining("dtable-db: /opt/seatable-server/seatable/conf/dtable-db.conf changed while it was read"),
    "dtable-db: the read of dtable-events.conf was cut off",
  ]);
  expect(parseDeprecatedConfRead("hello", "h").problems).toEqual(['h: unexpected line from the conf read: "hello"']);
});
