// 6.1 → 6.2 without losing a setting. SeaTable 6.2 no longer reads five conf
// files (CONF_FILES_UNREAD_FROM_6_2); AD's 6.2 extra upgrade notice says their
// non-default settings "must be migrated to environment variables". This file
// knows which 6.1 setting became which 6.2 variable (docs/conf-migration.md has
// the table with its sources), finds the settings an admin changed, and says
// what each node's environment still lacks. Pure: plain data in, plain data out.
import { hostScript } from "./host-scripts";
import { ROLES } from "../config/environment";
import { CONF_DIR, CONF_FILES_UNREAD_FROM_6_2, type Role } from "./seatable";

export type DeprecatedFile = (typeof CONF_FILES_UNREAD_FROM_6_2)[number];

/** The SeaTable component that reads a file (in 6.1). */
export type Component = "api-gateway" | "dtable-db" | "dtable-events" | "dtable-storage-server" | "dtable-server";

export const COMPONENT_OF_FILE: Readonly<Record<DeprecatedFile, Component>> = {
  "dtable-api-gateway.conf": "api-gateway",
  "dtable-db.conf": "dtable-db",
  "dtable-events.conf": "dtable-events",
  "dtable-storage-server.conf": "dtable-storage-server",
  "dtable_server_config.json": "dtable-server",
};

/** What runs in each role's container (ROLE_SWITCHES in seatable.ts): a file of a component that does not run there changed nothing. */
export const COMPONENTS_OF_ROLE: Readonly<Record<Role, readonly Component[]>> = {
  "dtable-web": ["api-gateway", "dtable-events", "dtable-storage-server"],
  "dtable-db": ["dtable-db", "dtable-storage-server"],
  "dtable-server": ["dtable-server", "dtable-storage-server"],
};

/** How a value is compared and written: by meaning, not by spelling. */
export type ValueKind = "number" | "boolean" | "text" | "interval";

export type DeprecatedSetting = {
  readonly file: DeprecatedFile;
  /** INI section; absent for dtable_server_config.json */
  readonly section?: string;
  /** sections 6.1 reads instead when `section` is absent (dtable-events' old spellings) */
  readonly sectionAliases?: readonly string[];
  readonly key: string;
  /**
   * - setting: an admin's; lost in 6.2 unless `variables` are set
   * - program: written or replaced by this program (confEdits, the stack's S3, MariaDB and Redis settings)
   * - unread: 6.1 itself no longer read it (the 6.1 manual's deprecated options): nothing to lose
   */
  readonly handling: "setting" | "program" | "unread";
  readonly kind: ValueKind;
  /** the 6.1 manual's default; absent where it documents none */
  readonly default?: string;
  /** the 6.2 variables that carry it (two where 6.2 split one setting); empty: lost in 6.2 */
  readonly variables: readonly string[];
  /** the 6.2 manual's default of the variable where it differs from the 6.1 default */
  readonly default62?: string;
  /** what SeaTable writes at first start where that differs from the default: SeaTable's value, not an admin's */
  readonly firstStart?: string;
  /** what an admin should check before copying the value */
  readonly note?: string;
  readonly sources: readonly string[];
};

// the manual at its 6.1 state (just before the v6.2 merge) and at 6.2; dtable-events' code per branch
const AD61 = "https://github.com/seatable/seatable-admin-docs/blob/0d44c01dc95b1d7ac6debb76cc4d0f02a5b788d1/docs/configuration/components/";
const AD62 = "https://github.com/seatable/seatable-admin-docs/blob/e0c28689385f3239065f47b3c04e0e21be5ca0c6/docs/configuration/components/";
const EV61 = "https://github.com/seatable/dtable-events/blob/01e140c24825ae45e0135599a2894a573ed4c88e/dtable_events/";
const EV62 = "https://github.com/seatable/dtable-events/blob/5fff76be04bb3e990d08c1578cd738ebfb3592a8/dtable_events/app/config.py";

type Options = Partial<Omit<DeprecatedSetting, "file" | "section" | "key" | "sources">> & { readonly sources?: readonly string[] };

function table(file: DeprecatedFile, doc: string, rows: readonly (readonly [string | undefined, string, Options])[]): DeprecatedSetting[] {
  return rows.map(([section, key, o]) => ({
    file,
    ...(section !== undefined ? { section } : {}),
    key,
    handling: o.handling ?? "setting",
    kind: o.kind ?? "text",
    variables: o.variables ?? [],
    ...Object.fromEntries(Object.entries(o).filter(([k]) => !["handling", "kind", "variables", "sources"].includes(k))),
    sources: o.sources ?? [`${AD61}${doc}.md`, ...((o.variables ?? []).length > 0 ? [`${AD62}${doc}.md`] : [])],
  }));
}

const n = (def: string | undefined, variable?: string, more: Options = {}): Options => ({
  kind: "number",
  ...(def !== undefined ? { default: def } : {}),
  variables: variable ? [variable] : [],
  ...more,
});
const b = (def: string, variable?: string, more: Options = {}): Options => ({ kind: "boolean", default: def, variables: variable ? [variable] : [], ...more });
const t = (def: string | undefined, variable?: string, more: Options = {}): Options => ({
  kind: "text",
  ...(def !== undefined ? { default: def } : {}),
  variables: variable ? [variable] : [],
  ...more,
});
const program: Options = { handling: "program" };
const unread: Options = { handling: "unread" };
const LOG_LEVEL_NOTE = "6.2 has one LOG_LEVEL for every component (DEBUG, INFO, WARNING, ERROR, CRITICAL), not one per component";

const EVENTS_SOURCES = (code: string) => [`${AD61}dtable-events.md`, `${EV61}${code}`, `${AD62}dtable-events.md`, EV62];
const ev = (o: Options, code: string): Options => ({ ...o, sources: EVENTS_SOURCES(code) });

/** Every key of the five files that 6.1 read, with what becomes of it in 6.2. */
export const DEPRECATED_SETTINGS: readonly DeprecatedSetting[] = [
  ...table("dtable_server_config.json", "dtable-server", [
    [undefined, "save_interval", n("300000", "SAVE_INTERVAL")],
    [undefined, "base_writable_limit", n("100000", "BASE_WRITABLE_LIMIT")],
    [undefined, "base_max_rows_limit", n("150000", "BASE_MAX_ROWS_LIMIT")],
    [undefined, "base_max_size", n("200", "BASE_MAX_SIZE")],
    [undefined, "dtable_storage_server_url", t("http://127.0.0.1:6666/", "INNER_DTABLE_STORAGE_SERVER_URL")],
    [undefined, "enable_notification_publish", b("false")],
    [undefined, "worker_threads_num", n("2")],
    [undefined, "worker_threads_rows_limit", n("50000")],
    [undefined, "rows_api_max_limit", n("1000")],
    [undefined, "redirect_list_rows_api", b("false")],
    [undefined, "dtable_web_service_url", program],
    [undefined, "dtable_db_service_url", program],
    // read from the environment since 5.3 (the stack's MariaDB, Redis and JWT key)
    ...["host", "user", "password", "database", "port", "redis_host", "redis_password", "redis_port", "private_key"].map((k) => [undefined, k, unread] as const),
    // API limits moved to api-gateway in 5.2; per_minute_trigger_limit removed in 6.1
    ...["api_req_max", "api_base_day_max", "rows_api_minute_max", "rows_api_hour_max", "per_minute_trigger_limit"].map((k) => [undefined, k, unread] as const),
  ]),
  ...table("dtable-db.conf", "dtable-db", [
    ["general", "host", program],
    ["general", "port", n("7777", "DTABLE_DB_PORT")],
    ["general", "log_dir", t("/opt/seatable/logs")],
    ["general", "log_level", t("info", undefined, { note: LOG_LEVEL_NOTE })],
    ["general", "slow_query_threshold", n("1000", "DTABLE_DB_SLOW_QUERY_THRESHOLD")],
    ["general", "query_per_minute_limit", n("50000", "DTABLE_DB_QUERY_PER_MINUTE_LIMIT")],
    [
      "general",
      "global_row_update_limit",
      n("0", "DTABLE_DB_GLOBAL_ROW_UPDATE_LIMIT", {
        default62: "30000",
        note: "the 6.1 manual says per second and 0 for no limit, the 6.2 manual says per minute and does not say what 0 means: check the value",
      }),
    ],
    ["general", "row_update_limit", n("0", "DTABLE_DB_ROW_UPDATE_LIMIT", { default62: "5000", note: "6.1's 0 means no limit; the 6.2 manual does not say what 0 means" })],
    ["general", "base_api_limit_per_day", unread],
    ["storage", "data_dir", t("/opt/seatable/db-data", "DTABLE_DB_DATA_DIR")],
    ["storage", "cleanup_at", t("00:00", "DTABLE_DB_STORAGE_CLEANUP_AT")],
    ["dtable cache", "inner_dtable_server_url", program],
    ["dtable cache", "dtable_server_url", program],
    ["dtable cache", "total_cache_size", n("2000", "DTABLE_DB_TOTAL_CACHE_SIZE")],
    ["dtable cache", "private_key", unread],
    ["dtable cache", "clean_cache_interval", unread],
    ["SQL", "default_result_rows", n("100", "DTABLE_DB_SQL_DEFAULT_RESULT_ROWS")],
    ["SQL", "result_rows_hard_limit", n("10000", "DTABLE_DB_SQL_RESULT_ROWS_HARD_LIMIT")],
    ["SQL", "exec_cost_hard_limit", n("5000000", "DTABLE_DB_SQL_EXEC_COST_HARD_LIMIT")],
    ["SQL", "group_by_stmt_limit", unread],
    [
      "backup",
      "dtable_storage_server_url",
      t("http://127.0.0.1:6666", undefined, { note: "6.2 always uses the storage server in dtable-db's own container (as this program runs it)" }),
    ],
    ["backup", "backup_at", t("02:00", "DTABLE_DB_BACKUP_AT")],
    ["backup", "keep_backup_num", n("3", "DTABLE_DB_BACKUP_KEEP_NUM")],
    ["backup", "keep_days", n(undefined, "DTABLE_DB_BACKUP_KEEP_DAYS", { default62: "0" })],
    ["backup", "keep_frequency_days", n(undefined, "DTABLE_DB_BACKUP_KEEP_FREQUENCY_DAYS", { default62: "0" })],
    ["backup", "backup_interval", n("86400", undefined, { note: "deprecated since 5.2; 6.2 backs up once a day at DTABLE_DB_BACKUP_AT" })],
  ]),
  ...table("dtable-api-gateway.conf", "dtable-api-gateway", [
    ["general", "host", t("localhost", "API_GATEWAY_HOST", { default62: "0.0.0.0" })],
    ["general", "port", n("7780", "API_GATEWAY_PORT")],
    ["general", "log_dir", t(undefined)],
    ["general", "log_level", t("info", undefined, { note: LOG_LEVEL_NOTE })],
    ["general", "base_api_limit_per_minute", n("500", "API_GATEWAY_BASE_API_LIMIT_PER_MINUTE")],
    ["general", "max_base_cache_size", n("1024", "API_GATEWAY_MAX_BASE_CACHE_SIZE")],
    ["cluster", "etcd_endpoints", t("127.0.0.1:2379")],
    ["dtable-db", "cluster_mode", b("false")],
    ["dtable-db", "inner_dtable_db_url", program],
    ["dtable-db", "server_address", program],
    ["dtable-server", "cluster_mode", b("false")],
    ["dtable-server", "inner_dtable_server_url", program],
    ["dtable-server", "server_address", program],
  ]),
  ...table("dtable-storage-server.conf", "dtable-storage-server", [
    ["general", "host", t("127.0.0.1", "STORAGE_SERVER_HOST", { default62: "0.0.0.0" })],
    ["general", "port", n("6666", "STORAGE_SERVER_PORT")],
    ["general", "log_dir", t(undefined, undefined, { firstStart: "/opt/seatable/logs" })],
    ["general", "temp_file_dir", t(undefined, undefined, { firstStart: "/tmp/tmp-storage-data" })],
    // the cluster stores on S3 from the stack's s3 settings (STORAGE_TYPE, S3_*), in 6.1 as in 6.2
    ...["type", "path", "bucket", "key_id", "key", "use_v4_signature", "aws_region", "host", "path_style_request", "use_https", "sse_c_key"].map(
      (k) => ["storage backend", k, program] as const,
    ),
    ["snapshot", "interval", n("86400")],
    ["snapshot", "enable_cleanup", program],
    ["snapshot", "keep_days", n("180", "STORAGE_SERVER_SNAPSHOT_KEEP_DAYS")],
    ["snapshot", "keep_frequency_days", n("0", "STORAGE_SERVER_SNAPSHOT_KEEP_FREQUENCY_DAYS")],
    ["snapshot", "cleanup_at", t("03:00", "STORAGE_SERVER_SNAPSHOT_CLEANUP_AT")],
  ]),
  ...table("dtable-events.conf", "dtable-events", [
    // read from the environment since 5.3: the stack's MariaDB and Redis settings
    ...["type", "host", "port", "db_name", "username", "password"].map((k) => ["DATABASE", k, program] as const),
    ...["host", "port", "password"].map((k) => ["REDIS", k, program] as const),
    ["CLEAN DB", "enabled", ev(b("false", "CLEAN_DB_ENABLED", { default62: "true", firstStart: "true" }), "tasks/clean_db_records_worker.py")],
    ...(
      [
        ["dtable_snapshot", "365"],
        ["activities", "30"],
        ["operation_log", "14"],
        ["delete_operation_log", "30"],
        ["dtable_db_op_log", "30"],
        ["notifications_usernotification", "30"],
        ["dtable_notifications", "30"],
        ["session_log", "30"],
        ["auto_rules_task_log", "30"],
        ["user_activity_statistics", "0"],
        ["dtable_app_pages_operation_log", "14"],
      ] as const
    ).map(([name, def]) => ["CLEAN DB", `keep_${name}_days`, ev(n(def, `CLEAN_DB_KEEP_${name.toUpperCase()}_DAYS`), "tasks/clean_db_records_worker.py")] as const),
    // 6.1 reads this one switch for both senders; 6.2 has one variable each
    ["EMAIL SENDER", "enabled", ev({ kind: "boolean", default: "true", variables: ["EMAIL_SENDER_ENABLED", "UPDATES_SENDER_ENABLED"] }, "tasks/dtable_updates_sender.py")],
    ["EMAIL SENDER", "interval", ev({ kind: "interval", default: "3600", variables: ["EMAIL_SENDER_INTERVAL"] }, "tasks/email_notices_sender.py")],
    ["INSTANT SENDER", "interval", ev({ kind: "interval", default: "60", variables: ["INSTANT_SENDER_INTERVAL"] }, "tasks/instant_notices_sender.py")],
    ["COMMON DATASET SYNCER", "enabled", ev(b("true", "COMMON_DATASET_SYNCER_ENABLED", { sectionAliases: ["COMMON-DATASET-SYNCER"] }), "common_dataset/common_dataset_syncer.py")],
    ["EMAIL SYNCER", "enabled", ev(b("true", "EMAIL_SYNCER_ENABLED", { sectionAliases: ["EMAIL-SYNCER"] }), "data_sync/data_syncer.py")],
    ["EMAIL SYNCER", "max_workers", ev(n("5", "EMAIL_SYNCER_MAX_WORKERS", { sectionAliases: ["EMAIL-SYNCER"] }), "data_sync/data_syncer.py")],
    ["LDAP SYNC", "enabled", ev(b("false", "LDAP_SYNC_ENABLED", { sectionAliases: ["LDAP_SYNC"] }), "tasks/ldap_syncer.py")],
    ["LDAP SYNC", "sync_interval", ev({ kind: "interval", default: "3600", variables: ["LDAP_SYNC_INTERVAL"], sectionAliases: ["LDAP_SYNC"] }, "tasks/ldap_syncer.py")],
    ["VIRUS SCAN", "enabled", ev(b("false", "VIRUS_SCAN_ENABLED"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "scan_command", ev(t(undefined, "VIRUS_SCAN_SCAN_COMMAND"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "virus_code", ev(t(undefined, "VIRUS_SCAN_VIRUS_CODE"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "nonvirus_code", ev(t(undefined, "VIRUS_SCAN_NONVIRUS_CODE"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "scan_interval", ev(n("60", "VIRUS_SCAN_SCAN_INTERVAL"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "scan_size_limit", ev(n("20", "VIRUS_SCAN_SCAN_SIZE_LIMIT"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "scan_skip_ext", ev(t(".bmp,.gif,.ico,.png,.jpg,.mp3,.mp4,.wav,.avi,.rmvb,.mkv", "VIRUS_SCAN_SCAN_SKIP_EXT"), "virus_scanner/scan_settings.py")],
    ["VIRUS SCAN", "threads", ev(n("4", "VIRUS_SCAN_THREADS"), "virus_scanner/scan_settings.py")],
    // in 6.1's code, not in its manual
    ["NOTIFY SCANNER", "enabled", ev(b("true", "NOTIFICATION_RULES_SCAN_ENABLED", { sectionAliases: ["NOTIFY-SCANNER"] }), "notification_rules/dtable_notification_rules_scanner.py")],
    ["WORKFLOW SCANNER", "enabled", ev(b("true", "WORKFLOW_SCANNER_ENABLED", { sectionAliases: ["WORKFLOW-SCANNER"] }), "workflow/workflow_schedules_scanner.py")],
    ["AI STATS", "enabled", ev(b("true", "AI_STATS_ENABLED"), "tasks/ai_stats_worker.py")],
    ["DTABLE IO", "host", ev(t("127.0.0.1", "IO_SERVER_HOST", { sectionAliases: ["DTABLE-IO"] }), "dtable_io/dtable_io_server.py")],
    ["DTABLE IO", "port", ev(n("6000", "IO_SERVER_PORT", { sectionAliases: ["DTABLE-IO"] }), "dtable_io/dtable_io_server.py")],
    ["DTABLE IO", "workers", ev(n("3", "IO_SERVER_WORKERS", { sectionAliases: ["DTABLE-IO"] }), "dtable_io/dtable_io_server.py")],
    ["DTABLE IO", "io_task_timeout", ev(n("3600", "IO_SERVER_TASK_TIMEOUT", { sectionAliases: ["DTABLE-IO"] }), "dtable_io/dtable_io_server.py")],
    ["DTABLE IO", "file_server_port", ev(n("8082", undefined, { sectionAliases: ["DTABLE-IO"] }), "dtable_io/dtable_io_server.py")],
    // removed before 6.1 (the 6.1 manual's deprecated options)
    ["AUTOMATION", "per_minute_trigger_limit", unread],
    ["AUTOMATION", "per_update_auto_rule_workers", unread],
    ["ROWS COUNTER", "enabled", unread],
  ]),
];

// ---------------------------------------------------------------- parsing

/** One `key = value` as the file has it; quotes kept (compared by meaning later). */
export type ParsedEntry = { readonly section?: string; readonly key: string; readonly value: string; readonly line: number };
export type ParsedFile = { readonly entries: readonly ParsedEntry[] } | { readonly problem: string };

const isJson = (file: DeprecatedFile) => file.endsWith(".json");

/**
 * A deprecated file's settings. INI: `[section]`, `key = value` (or `key: value`),
 * whole-line comments with `#` or `;`; for the Go components (all but
 * dtable-events, whose Python configparser keeps them) also an inline comment
 * after a blank. JSON: one object; a byte order mark and an empty file (no
 * settings) are tolerated, as SeaTable's own files may have them.
 */
export function parseDeprecatedFile(file: DeprecatedFile, text: string): ParsedFile {
  const body = text.replace(/^\uFEFF/, "");
  if (isJson(file)) {
    if (body.trim() === "") return { entries: [] };
    let value: unknown;
    try {
      value = JSON.parse(body);
    } catch (e) {
      return { problem: `${file}: not JSON (${(e as Error).message}); SeaTable 6.1's dtable-server could not have read it either: fix or remove it by hand` };
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) return { problem: `${file}: not a JSON object` };
    return {
      // strings stay quoted, as in the INI files: unquote() reads both
      entries: Object.entries(value as Record<string, unknown>).map(([key, v]) => ({ key, value: JSON.stringify(v), line: 0 })),
    };
  }
  const inlineComments = file !== "dtable-events.conf";
  const entries: ParsedEntry[] = [];
  let section = "DEFAULT";
  const lines = body.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[([^\]]*)\]\s*(?:[#;].*)?$/.exec(line);
    if (head) {
      section = head[1].trim();
      continue;
    }
    const kv = /^([^=:]+?)\s*[=:]\s*(.*)$/.exec(line);
    if (!kv) return { problem: `${file}: line ${i + 1} is neither [section] nor key = value: ${JSON.stringify(line.slice(0, 80))}` };
    let value = kv[2];
    if (inlineComments && !/^["'`]/.test(value)) value = value.replace(/\s+[#;].*$/, "");
    entries.push({ section, key: kv[1], value: value.trim(), line: i + 1 });
  }
  return { entries };
}

// ---------------------------------------------------------------- values

const unquote = (v: string): string => {
  const s = v.trim();
  const m = /^"(.*)"$/s.exec(s) ?? /^'(.*)'$/s.exec(s) ?? /^`(.*)`$/s.exec(s);
  if (!m) return s;
  if (s.startsWith('"')) {
    try {
      return JSON.parse(s) as string;
    } catch {
      return m[1];
    }
  }
  return m[1];
};

const TRUE = new Set(["1", "true", "yes", "on"]);
const FALSE = new Set(["0", "false", "no", "off"]);

/**
 * The value as the 6.2 variable takes it: booleans as true/false (dtable-events
 * reads the variable as JSON), numbers in decimal, 6.1's intervals with a unit
 * (30m, 2h, 1d; dtable-events' parse_interval) in seconds, text unquoted.
 * A value that does not read as its kind stays as written.
 */
export function converted(kind: ValueKind, value: string): string {
  const v = unquote(value);
  const lower = v.toLowerCase();
  if (kind === "boolean") return TRUE.has(lower) ? "true" : FALSE.has(lower) ? "false" : v;
  if (kind === "number") return /^[+-]?\d+(\.\d+)?$/.test(v) ? String(Number(v)) : v;
  if (kind === "interval") {
    const m = /^(\d+)\s*([smhd]?)$/.exec(lower);
    if (!m) return v;
    const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as "" | "s" | "m" | "h" | "d"];
    return String(Number(m[1]) * unit);
  }
  if (v === "" || v.includes(",")) return v.split(",").map((p) => p.trim()).join(",");
  return v;
}

const sameMeaning = (kind: ValueKind, a: string, b: string) => converted(kind, a) === converted(kind, b);

// ---------------------------------------------------------------- changed settings

export type ChangedSetting = {
  readonly file: DeprecatedFile;
  /** `[section]key` in an INI file, `key` in the JSON file, as the file spells it */
  readonly key: string;
  /** as found (unquoted); "<secret>" for a key whose name says it is one */
  readonly value: string;
  /** the 6.1 manual's default */
  readonly default?: string;
  /** what a 6.2 node does without the variable, where the 6.2 manual differs from 6.1 */
  readonly default62?: string;
  /** the first of `variables` */
  readonly variable?: string;
  /** every 6.2 variable that must be set to carry it; empty: lost in 6.2 */
  readonly variables: readonly string[];
  /** the value for the variables (converted()) */
  readonly variableValue?: string;
  /** not in DEPRECATED_SETTINGS: SeaTable's manual does not document it */
  readonly unknown?: true;
  readonly note?: string;
  /**
   * What an admin writes under acceptDefaults: `<file>:[<section>]<key>` for an
   * INI key (the section as the table spells it, also when the file uses an old
   * spelling), `<file>:<key>` for the JSON file.
   */
  readonly id: string;
};

const settingId = (file: DeprecatedFile, section: string | undefined, key: string) => (section === undefined ? `${file}:${key}` : `${file}:[${section}]${key}`);
const SECRET_NAME = /pass|secret|token|(^|_)key$/i;

export type ChangedSettings = { readonly settings: readonly ChangedSetting[]; readonly problems: readonly string[] };

/**
 * The settings of the given files that a 6.2 node would lose: each known one
 * whose value differs (by meaning) from what 6.2 does without it, and each key
 * the table does not know. Keys this program writes, keys 6.1 no longer read,
 * defaults and SeaTable's own first-start values are left out. A file that
 * does not parse is a problem.
 */
export function changedSettings(files: Partial<Record<DeprecatedFile, string>>): ChangedSettings {
  const settings: ChangedSetting[] = [];
  const problems: string[] = [];
  for (const file of CONF_FILES_UNREAD_FROM_6_2) {
    const text = files[file];
    if (text === undefined) continue;
    const parsed = parseDeprecatedFile(file, text);
    if ("problem" in parsed) {
      problems.push(parsed.problem);
      continue;
    }
    const known = DEPRECATED_SETTINGS.filter((s) => s.file === file);
    const sectionsPresent = new Set(parsed.entries.map((e) => e.section));
    // 6.1 reads an old section spelling only when the new one is absent
    const effectiveSection = (s: DeprecatedSetting) => [s.section, ...(s.sectionAliases ?? [])].find((name) => sectionsPresent.has(name)) ?? s.section;
    const norm = (key: string) => (file === "dtable-events.conf" ? key.toLowerCase() : key);
    // the last of a repeated key wins
    const last = new Map<string, ParsedEntry>();
    for (const e of parsed.entries) last.set(`${e.section ?? ""}\n${norm(e.key)}`, e);
    for (const e of last.values()) {
      const match = known.find((s) => s.key === norm(e.key) && (s.section === undefined ? e.section === undefined : [s.section, ...(s.sectionAliases ?? [])].includes(e.section ?? "")));
      const key = e.section === undefined ? e.key : `[${e.section}]${e.key}`;
      const value = unquote(e.value);
      if (!match) {
        const secret = SECRET_NAME.test(e.key);
        settings.push({ file, key, value: secret ? "<secret>" : value, variables: [], unknown: true, id: settingId(file, e.section, e.key) });
        continue;
      }
      if (match.handling !== "setting") continue;
      if (match.section !== undefined && effectiveSection(match) !== e.section) continue; // shadowed by the new spelling
      const target = match.variables.length > 0 ? (match.default62 ?? match.default) : match.default;
      if (target !== undefined && sameMeaning(match.kind, e.value, target)) continue;
      // SeaTable's own first-start value, where 6.2 has no default of its own to compare with
      if ((match.variables.length === 0 || target === undefined) && match.firstStart !== undefined && sameMeaning(match.kind, e.value, match.firstStart)) continue;
      settings.push({
        file,
        key,
        value,
        ...(match.default !== undefined ? { default: match.default } : {}),
        ...(match.default62 !== undefined && match.variables.length > 0 ? { default62: match.default62 } : {}),
        ...(match.variables.length > 0 ? { variable: match.variables[0], variableValue: converted(match.kind, e.value) } : {}),
        variables: match.variables,
        ...(match.note !== undefined ? { note: match.note } : {}),
        id: settingId(file, match.section, match.key),
      });
    }
  }
  return { settings, problems };
}

// ---------------------------------------------------------------- per node

export type NodeSettings = { readonly host: string; readonly role: Role; readonly settings: readonly ChangedSetting[] };

const yamlString = (s: string) => JSON.stringify(s);
const yamlKey = (s: string) => (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) ? s : JSON.stringify(s));
const flowMap = (vars: ReadonlyMap<string, string>) => `{ ${[...vars].map(([k, v]) => `${k}: ${yamlString(v)}`).join(", ")} }`;

/**
 * What a 6.2 cluster would lose: each changed setting of each node that is
 * neither carried (all its variables set in the host's effective environment,
 * whatever the value) nor accepted (its id in `accepted`). `lines`: the stack
 * config that carries or accepts all of them. A variable goes under `all` when
 * every node lacks it with the same value, under a role when every node of
 * that role does, else under `hosts.<name>`; a setting with no 6.2 variable
 * is suggested under acceptDefaults. A setting of a component that does not
 * run in the node's role (COMPONENTS_OF_ROLE) changed nothing and is skipped.
 */
export function migrationProblems(
  nodes: readonly NodeSettings[],
  environmentOf: (host: string) => Readonly<Record<string, string>>,
  accepted: readonly string[],
): { problems: string[]; lines: string[] } {
  const problems: string[] = [];
  const wanted = new Map<string, Map<string, string>>(); // variable → host → value
  const accept = new Set<string>();
  const sortedNodes = [...nodes].sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  for (const node of sortedNodes) {
    const env = environmentOf(node.host);
    for (const s of node.settings) {
      if (!COMPONENTS_OF_ROLE[node.role].includes(COMPONENT_OF_FILE[s.file])) continue;
      if (accepted.includes(s.id)) continue;
      const missing = s.variables.filter((v) => !Object.prototype.hasOwnProperty.call(env, v));
      if (s.variables.length > 0 && missing.length === 0) continue;
      const found = `${node.host}: ${s.file} ${s.key} = ${JSON.stringify(s.value)}`;
      const defaults = s.unknown
        ? "not in SeaTable's 6.1 manual"
        : `6.1 default ${s.default ?? "none documented"}${s.default62 !== undefined ? `, 6.2 default ${s.default62}` : ""}`;
      const note = s.note !== undefined ? `; ${s.note}` : "";
      if (s.variables.length > 0) {
        problems.push(`${found} (${defaults}) is not read by SeaTable 6.2: set ${missing.join(" and ")}=${JSON.stringify(s.variableValue)} in seatable-cluster:environment, or accept 6.2's default with acceptDefaults "${s.id}"${note}`);
        for (const v of missing) {
          const perHost = wanted.get(v) ?? new Map<string, string>();
          perHost.set(node.host, s.variableValue ?? s.value);
          wanted.set(v, perHost);
        }
      } else {
        problems.push(`${found} (${defaults}) has no 6.2 variable: it is lost; accept that with acceptDefaults "${s.id}", or stay on 6.1${note}`);
        accept.add(s.id);
      }
    }
  }
  const all = new Map<string, string>();
  const byRole = new Map<Role, Map<string, string>>();
  const byHost = new Map<string, Map<string, string>>();
  const put = <K>(m: Map<K, Map<string, string>>, k: K, name: string, value: string) => m.set(k, (m.get(k) ?? new Map<string, string>()).set(name, value));
  for (const name of [...wanted.keys()].sort()) {
    const perHost = wanted.get(name)!;
    const values = new Set(perHost.values());
    if (values.size === 1 && nodes.every((n) => perHost.has(n.host))) {
      all.set(name, [...values][0]);
      continue;
    }
    const left = new Map(perHost);
    for (const role of ROLES) {
      const ofRole = nodes.filter((n) => n.role === role);
      const roleValues = new Set(ofRole.map((n) => perHost.get(n.host)));
      if (ofRole.length > 0 && roleValues.size === 1 && !roleValues.has(undefined)) {
        put(byRole, role, name, [...roleValues][0]!);
        for (const n of ofRole) left.delete(n.host);
      }
    }
    for (const [host, value] of left) put(byHost, host, name, value);
  }
  const lines: string[] = [];
  if (all.size + byRole.size + byHost.size + accept.size > 0) {
    lines.push("seatable-cluster:environment:");
    if (all.size > 0) lines.push(`  all: ${flowMap(all)}`);
    for (const role of ROLES) if (byRole.has(role)) lines.push(`  ${role}: ${flowMap(byRole.get(role)!)}`);
    if (byHost.size > 0) {
      lines.push("  hosts:");
      for (const host of [...byHost.keys()].sort()) lines.push(`    ${yamlKey(host)}: ${flowMap(byHost.get(host)!)}`);
    }
    if (accept.size > 0) {
      lines.push("  acceptDefaults:");
      for (const id of [...accept].sort()) lines.push(`    - ${yamlString(id)}`);
    }
  }
  return { problems, lines };
}

// ---------------------------------------------------------------- the read on a host

/** Bytes read of a file at most: SeaTable's own files are a few hundred bytes. */
export const DEPRECATED_CONF_LIMIT = 65536;

/** The read-only command (hostscripts/deprecated-conf.sh) that prints the five files of CONF_DIR. */
export function deprecatedConfReadCommand(confDir: string = CONF_DIR, limit: number = DEPRECATED_CONF_LIMIT): string {
  return hostScript(["deprecated-conf"], { CONF_DIR: confDir, FILES: CONF_FILES_UNREAD_FROM_6_2, LIMIT: limit });
}

export const DEPRECATED_CONF_READ_COMMAND = deprecatedConfReadCommand();

export type DeprecatedConfRead = { readonly files: Partial<Record<DeprecatedFile, string>>; readonly problems: readonly string[] };

const isDeprecatedFile = (name: string): name is DeprecatedFile => (CONF_FILES_UNREAD_FROM_6_2 as readonly string[]).includes(name);

/**
 * The files the command printed. A file too large, unreadable, cut off or
 * changed while it was read is a problem that names the host: its settings
 * are unknown, never guessed.
 */
export function parseDeprecatedConfRead(stdout: string, host: string): DeprecatedConfRead {
  const files: Partial<Record<DeprecatedFile, string>> = {};
  const problems: string[] = [];
  let open: { name: DeprecatedFile; size: number; chunks: string[] } | undefined;
  for (const line of stdout.split("\n")) {
    let m: RegExpExecArray | null;
    if (open) {
      if (line === `end ${open.name}`) {
        const bytes = Buffer.from(open.chunks.join(""), "base64");
        if (bytes.length !== open.size) problems.push(`${host}: ${CONF_DIR}/${open.name} changed while it was read (${bytes.length} of ${open.size} bytes): read again`);
        else files[open.name] = bytes.toString("utf8");
        open = undefined;
      } else if (/^[A-Za-z0-9+/=]*$/.test(line)) open.chunks.push(line);
      else {
        problems.push(`${host}: unexpected line in ${open.name}: ${JSON.stringify(line.slice(0, 80))}`);
        open = undefined;
      }
    } else if (line === "") continue;
    else if ((m = /^begin (\S+) (\d{1,12})$/.exec(line)) && isDeprecatedFile(m[1])) open = { name: m[1], size: Number(m[2]), chunks: [] };
    else if ((m = /^missing (\S+)$/.exec(line)) && isDeprecatedFile(m[1])) continue;
    else if ((m = /^too-large (\S+) (\d{1,12}) (\d{1,12})$/.exec(line)) && isDeprecatedFile(m[1]))
      problems.push(`${host}: ${m[1]} has ${m[2]} bytes, more than the ${m[3]} read: its settings are unknown; check it by hand`);
    else if ((m = /^unreadable (\S+)$/.exec(line)) && isDeprecatedFile(m[1])) problems.push(`${host}: ${m[1]} exists but cannot be read`);
    else problems.push(`${host}: unexpected line from the conf read: ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (open) problems.push(`${host}: the read of ${open.name} was cut off`);
  return { files, problems };
}
