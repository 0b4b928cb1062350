import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateStackFile } from "../pure/config/stack-file";
import { ClusterConfig, SECRET_KEYS, SecretKey } from "../pure/config/schema";
import {
  ConfEdit,
  confEdits,
  editCommand,
  nodeEnvironment,
  proxyUrl,
  Role,
  secretEnvironmentNames,
  versionNotes,
  versionStyle,
} from "../pure/plan/seatable";

function devConfig(): ClusterConfig {
  const v = validateStackFile(join(__dirname, "..", "Pulumi.dev.yaml"));
  if (!v.ok) throw new Error(v.problems.join("\n"));
  return v.config;
}
const base = devConfig();
const withAvatar = { ...base.s3, buckets: { ...base.s3.buckets, avatar: "seatable-dev-avatars" } };
const withVersion = (version: string, extra: Partial<ClusterConfig> = {}): ClusterConfig => ({ ...base, seatableVersion: version, ...extra });

const VERSIONS = ["6.1.8", "6.2.0", "6.3.1"] as const;
const ROLES: Role[] = ["dtable-web", "dtable-db", "dtable-server"];
const PROXY = "http://dtable-web:5000";
const SECRET_NAME = /PASSWORD|SECRET|PRIVATE_KEY|SSE_C|TOKEN/;

const find = (edits: readonly ConfEdit[], file: string, key: string, section?: string) =>
  edits.filter((e) => e.file === file && e.key === key && (section === undefined || (e.format === "ini" && e.section === section)));

describe("versionStyle", () => {
  test.each([
    ["6.1", "6.1"],
    ["6.1.8", "6.1"],
    ["6.2.0", "6.2"],
    ["6.2.12", "6.2"],
    ["6.10.1", "6.2"],
  ])("%s is %s", (version, style) => expect(versionStyle(version)).toBe(style));
  test.each(["latest", "6.0.10", "5.3.12", "7.0"])("refuses %s (validation refuses it first)", (version) => {
    expect(() => versionStyle(version)).toThrow(/not a SeaTable version|is not supported/);
  });
});

test("proxyUrl follows proxy.port", () => {
  expect(proxyUrl(base)).toBe(PROXY);
  expect(proxyUrl({ ...base, proxy: { ...base.proxy, port: 5050 } })).toBe("http://dtable-web:5050");
});

describe.each(VERSIONS)("SeaTable %s", (version) => {
  const config = withVersion(version);
  const style = versionStyle(version);

  test.each(ROLES)("%s: REL environment from the config", (role) => {
    const env = nodeEnvironment(config, role, { snapshotCleanup: false });
    expect(env).toMatchObject({
      SEATABLE_MYSQL_DB_HOST: "192.0.2.40",
      SEATABLE_MYSQL_DB_PORT: "3306",
      SEATABLE_MYSQL_DB_USER: "seatable",
      // REL's database names: another name is an empty database, a SeaTable without its bases
      SEATABLE_MYSQL_DB_DTABLE_DB_NAME: "dtable_db",
      SEATABLE_MYSQL_DB_CCNET_DB_NAME: "ccnet_db",
      SEATABLE_MYSQL_DB_SEAFILE_DB_NAME: "seafile_db",
      REDIS_HOST: "192.0.2.41",
      REDIS_PORT: "6379",
      SEATABLE_SERVER_HOSTNAME: "seatable-dev.example.com",
      SEATABLE_SERVER_PROTOCOL: "https",
      SEATABLE_ADMIN_EMAIL: "admin@example.com",
      TIME_ZONE: "Europe/Berlin",
      // Python's requests trusts the system's CA store (an internal S3 or SSO certificate)
      REQUESTS_CA_BUNDLE: "/etc/ssl/certs/ca-certificates.crt",
    });
    for (const value of Object.values(env)) expect(typeof value).toBe("string");
  });

  test.each(ROLES)("%s: S3 in the environment", (role) => {
    const env = nodeEnvironment(config, role, { snapshotCleanup: false });
    expect(env).toMatchObject({
      STORAGE_TYPE: "s3",
      S3_STORAGE_BUCKET: "seatable-dev-storage",
      S3_COMMIT_BUCKET: "seatable-dev-commit",
      S3_FS_BUCKET: "seatable-dev-fs",
      S3_BLOCK_BUCKET: "seatable-dev-block",
      S3_KEY_ID: "seatable-dev",
      S3_HOST: "s3.dev.example.com",
      S3_AWS_REGION: "us-east-1",
      S3_USE_HTTPS: "true",
      S3_PATH_STYLE_REQUEST: "true",
      S3_USE_V4_SIGNATURE: "true",
    });
    expect(env.S3_AVATAR_BUCKET).toBeUndefined();
    expect(env.S3_PART_SIZE).toBeUndefined();
    expect(nodeEnvironment(withVersion(version, { s3: withAvatar }), role, { snapshotCleanup: false }).S3_AVATAR_BUCKET).toBe("seatable-dev-avatars");
    // AWS itself: no S3_HOST at all (not the text "undefined"); a part size only when set
    const aws = nodeEnvironment(withVersion(version, { s3: { ...base.s3, host: undefined, partSize: 64 } }), role, { snapshotCleanup: false });
    expect(Object.keys(aws)).not.toContain("S3_HOST");
    expect(aws.S3_PART_SIZE).toBe("64");
  });

  test("the proxy URL in the environment (6.2 and later) or nowhere in it", () => {
    const web = nodeEnvironment(config, "dtable-web", { snapshotCleanup: false });
    const db = nodeEnvironment(config, "dtable-db", { snapshotCleanup: false });
    const server = nodeEnvironment(config, "dtable-server", { snapshotCleanup: false });
    if (style === "6.2") {
      expect(web.INNER_DTABLE_SERVER_URL).toBe(PROXY);
      expect(web.INNER_DTABLE_DB_URL).toBe("http://dtable-db:7777");
      expect(db.INNER_DTABLE_SERVER_URL).toBe(PROXY);
      expect(db.DTABLE_DB_HOST).toBe("0.0.0.0");
      expect(server.INNER_DTABLE_WEB_SERVICE_URL).toBe("http://dtable-web:8000/");
      expect(server.INNER_DTABLE_DB_URL).toBe("http://dtable-db:7777/");
      // a dtable-server must not talk to itself through the proxy
      expect(server.INNER_DTABLE_SERVER_URL).toBeUndefined();
    } else {
      for (const env of [web, db, server]) {
        for (const name of ["INNER_DTABLE_SERVER_URL", "INNER_DTABLE_DB_URL", "INNER_DTABLE_WEB_SERVICE_URL", "DTABLE_DB_HOST"]) {
          expect(env[name]).toBeUndefined();
        }
      }
    }
  });

  test("snapshot clean-up on exactly one node of the cluster", () => {
    // the caller picks the node: here the dtable-db node
    const nodes: { role: Role; cleanup: boolean }[] = [
      { role: "dtable-web", cleanup: false },
      { role: "dtable-db", cleanup: true },
      ...config.hosts.servers.map(() => ({ role: "dtable-server" as Role, cleanup: false })),
    ];
    const envs = nodes.map((n) => nodeEnvironment(config, n.role, { snapshotCleanup: n.cleanup }));
    const files = nodes.map((n) => confEdits(config, n.role, { snapshotCleanup: n.cleanup }).edits);
    const cleanupEdits = files.map((edits) => find(edits, "dtable-storage-server.conf", "enable_cleanup", "snapshot"));
    // the environment in every version; 6.1 also the conf key, so that precedence does not matter
    expect(envs.map((e) => e.STORAGE_SERVER_ENABLE_SNAPSHOT_CLEANUP)).toEqual(["false", "true", "false", "false"]);
    if (style === "6.2") expect(cleanupEdits.flat()).toEqual([]);
    else {
      expect(cleanupEdits.map((edits) => edits.map((e) => e.value))).toEqual([["false"], ["true"], ["false"], ["false"]]);
      // the conf-edits step's title names the service that reads it
      expect(confEdits(config, "dtable-db", { snapshotCleanup: true }).services).toContain("dtable-storage-server");
    }
    // without the option, the file's setting is left alone
    expect(find(confEdits(config, "dtable-db").edits, "dtable-storage-server.conf", "enable_cleanup")).toEqual([]);
  });

  test("dtable-web: settings file and gunicorn in every version, api-gateway file up to 6.1", () => {
    const plan = confEdits(config, "dtable-web");
    const { edits } = plan;
    expect(find(edits, "dtable_web_settings.py", "INNER_DTABLE_SERVER_URL")).toEqual([
      { file: "dtable_web_settings.py", format: "python", key: "INNER_DTABLE_SERVER_URL", value: `${PROXY}/` },
    ]);
    expect(find(edits, "dtable_web_settings.py", "INNER_DTABLE_DB_URL").map((e) => e.value)).toEqual(["http://dtable-db:7777/"]);
    expect(find(edits, "gunicorn.py", "bind").map((e) => e.value)).toEqual(["0.0.0.0:8000"]);
    expect(edits.some((e) => e.key === "INNER_DTABLE_SERVER")).toBe(false); // the manual's typo
    const gateway = edits.filter((e) => e.file === "dtable-api-gateway.conf");
    if (style === "6.2") {
      expect(gateway).toEqual([]);
      expect(edits.map((e) => e.file).sort()).toEqual(["dtable_web_settings.py", "dtable_web_settings.py", "gunicorn.py"]);
    } else {
      // 6.1 reads the old and the new key name: both, with the same value
      expect(gateway.filter((e) => e.format === "ini" && e.section === "dtable-server").map((e) => [e.key, e.value])).toEqual([
        ["server_address", `"${PROXY}"`],
        ["inner_dtable_server_url", `"${PROXY}"`],
      ]);
      expect(gateway.filter((e) => e.format === "ini" && e.section === "dtable-db").map((e) => [e.key, e.value])).toEqual([
        ["server_address", '"http://dtable-db:7777"'],
        ["inner_dtable_db_url", '"http://dtable-db:7777"'],
      ]);
      // SeaTable does not generate this file: the script may create it
      for (const e of gateway) expect(e.create).toBe(true);
      expect(plan.services).toEqual(expect.arrayContaining(["dtable-web", "dtable-events", "api-gateway"]));
    }
    expect(plan.restart).toBe(true);
  });

  test("dtable-db: conf file up to 6.1, environment from 6.2", () => {
    const plan = confEdits(config, "dtable-db");
    if (style === "6.2") {
      expect(plan).toEqual({ edits: [], restart: false, services: [], reloadFiles: [] });
      return;
    }
    expect(find(plan.edits, "dtable-db.conf", "host", "general").map((e) => e.value)).toEqual(["0.0.0.0"]);
    expect(plan.edits.filter((e) => e.format === "ini" && e.section === "dtable cache")).toEqual(
      ["dtable_server_url", "inner_dtable_server_url"].map((key) => ({ file: "dtable-db.conf", format: "ini", section: "dtable cache", key, value: `"${PROXY}"` })),
    );
    expect(plan).toMatchObject({ restart: true, services: ["dtable-db"] });
  });

  test("dtable-server: JSON up to 6.1, environment from 6.2", () => {
    const plan = confEdits(config, "dtable-server");
    if (style === "6.2") {
      expect(plan.edits).toEqual([]);
      expect(plan.restart).toBe(false);
      return;
    }
    expect(plan.edits).toEqual([
      { file: "dtable_server_config.json", format: "json", key: "dtable_web_service_url", value: "http://dtable-web:8000/" },
      { file: "dtable_server_config.json", format: "json", key: "dtable_db_service_url", value: "http://dtable-db:7777/" },
    ]);
    expect(plan).toMatchObject({ restart: true, services: ["dtable-server"] });
  });

  test("no secrets in the plan data", () => {
    const secretish = withVersion(version, { secretsSet: Object.keys(SECRET_KEYS) as SecretKey[] });
    for (const role of ROLES) {
      for (const cleanup of [true, false]) {
        const env = nodeEnvironment(secretish, role, { snapshotCleanup: cleanup });
        const plan = confEdits(secretish, role, { snapshotCleanup: cleanup });
        expect(Object.keys(env).filter((k) => SECRET_NAME.test(k))).toEqual([]);
        for (const name of Object.keys(secretEnvironmentNames(role))) expect(env[name]).toBeUndefined();
        for (const e of plan.edits) expect(`${e.key}`).not.toMatch(/password|secret|private|key_id|^key$/i);
        const command = editCommand(plan.edits, "SCRIPT");
        expect(command.command).not.toMatch(/PASSWORD|SECRET_KEY|JWT/);
      }
    }
  });
});

describe("secretEnvironmentNames", () => {
  test("REL names; the admin and MariaDB init passwords only on dtable-web", () => {
    const everyRole = {
      SEATABLE_MYSQL_DB_PASSWORD: "mariadbPassword",
      REDIS_PASSWORD: "redisPassword",
      JWT_PRIVATE_KEY: "jwtPrivateKey",
      S3_SECRET_KEY: "s3SecretKey",
      S3_SSE_C_KEY: "s3SseCKey",
      SECRET_KEY: "secretKey",
    };
    expect(secretEnvironmentNames("dtable-web")).toEqual({ ...everyRole, INIT_SEATABLE_MYSQL_ROOT_PASSWORD: "mariadbPassword", SEATABLE_ADMIN_PASSWORD: "adminPassword" });
    for (const role of ["dtable-db", "dtable-server"] as const) expect(secretEnvironmentNames(role)).toEqual(everyRole);
  });
  test("with a config: only secrets that are set, and SECRET_KEY only from 6.2 (6.1 reads it from dtable_web_settings.py)", () => {
    const set: SecretKey[] = ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey", "secretKey"];
    expect(Object.keys(secretEnvironmentNames("dtable-server", withVersion("6.1.8", { secretsSet: set }))).sort()).toEqual(
      ["JWT_PRIVATE_KEY", "S3_SECRET_KEY", "SEATABLE_MYSQL_DB_PASSWORD"],
    );
    for (const version of ["6.2.0", "6.3.1"]) {
      for (const role of ROLES) expect(secretEnvironmentNames(role, withVersion(version, { secretsSet: set })).SECRET_KEY).toBe("secretKey");
    }
  });
});

describe("editCommand", () => {
  test("script on stdin, edits in an environment variable, every argument arrives as it was (a quote in the folder's name too)", () => {
    const edits = confEdits(withVersion("6.1.8"), "dtable-db").edits;
    // a stand-in for python3 that shows what it was given
    const dir = mkdtempSync(join(tmpdir(), "edit-command-"));
    const python = join(dir, "python's");
    writeFileSync(python, '#!/bin/sh\nprintf "%s|" "$@"; printf "\\n%s\\n" "$SEATABLE_CONF_EDITS"; cat\n', { mode: 0o755 });
    try {
      for (const shell of ["dash", "bash"]) {
        const { command, stdin } = editCommand(edits, "print('x')\n", { confDir: "/tmp/it's here", timeoutSeconds: 30, settleSeconds: 0, python });
        const out = execFileSync(shell, ["-c", command], { input: stdin, encoding: "utf8" }).split("\n");
        expect([shell, out[0], JSON.parse(out[1]), out.slice(2).join("\n")]).toEqual([shell, "-|--conf-dir|/tmp/it's here|--timeout|30|--settle|0|", edits, "print('x')\n"]);
      }
      const defaults = execFileSync("dash", ["-c", editCommand([], "", { python }).command], { input: "", encoding: "utf8" });
      expect(defaults.split("\n")[0]).toBe("-|--conf-dir|/opt/seatable-server/seatable/conf|--timeout|600|--settle|2|");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test("versionNotes: how 6.2 keeps 6.1's SECRET_KEY, and which files it moves aside", () => {
  expect(versionNotes(withVersion("6.1.8"))).toEqual([]);
  const notes = versionNotes(withVersion("6.2.0", { s3: withAvatar })).join("\n");
  expect(notes).toContain("`grep SECRET_KEY /opt/seatable-server/seatable/conf/dtable_web_settings.py`");
  expect(notes).toContain("`pulumi config set --secret secretKey '<value>'`");
  expect(notes).toContain("dtable-api-gateway.conf, dtable-db.conf, dtable-events.conf, dtable-storage-server.conf, dtable_server_config.json");
});

test("what a gunicorn HUP takes: on 6.2 dtable-web's settings file alone (dtable-events takes its URLs from the environment); on 6.1 nothing (dtable-events reads that file too)", () => {
  for (const version of VERSIONS) {
    const style = version.startsWith("6.1") ? "6.1" : "6.2";
    for (const role of ROLES) {
      expect(confEdits(withVersion(version), role).reloadFiles).toEqual(style === "6.2" && role === "dtable-web" ? ["dtable_web_settings.py"] : []);
    }
  }
});
