// SeaTable reconfigured per version (../shared/docs/seatable-facts.md, "Role
// environment", "What must point at the proxy", "Other settings on the way",
// "Storage (S3)"; docs/seatable-versions.md has the table). Pure: plain data in,
// plain data out; no Pulumi, no I/O. Only 6.1 and 6.2 (and later 6.x, as 6.2)
// reach this file: pure/config/versions.ts refuses the others.
//
// Where SeaTable's sources disagree, what this file chose:
// - 6.1 renamed `server_address` (api-gateway) and `dtable_server_url`
//   (dtable-db) to `inner_dtable_*_url` and still reads the old names. Both
//   names are written with the same value, so whichever one 6.1 prefers when
//   both are present, it is the proxy.
// - SEED/AD's `INNER_DTABLE_SERVER` is a typo; `INNER_DTABLE_SERVER_URL` is set.
// - Trailing slashes follow the default of the component that reads the value:
//   dtable-web's settings `'http://dtable-web:5000/'`; api-gateway and dtable-db
//   `http://dtable-web:5000` (their defaults and AD's examples have none);
//   dtable-server's `dtable_web_service_url`/`dtable_db_service_url` and
//   `INNER_DTABLE_WEB_SERVICE_URL`/`INNER_DTABLE_DB_URL` (defaults
//   `http://127.0.0.1:8000/`, `http://127.0.0.1:7777/`) keep the slash, although
//   AD's cluster page writes them without (dtable-server builds the api-gateway
//   URL by appending to dtable_web_service_url).
// - dtable-web's `INNER_DTABLE_DB_URL` (dtable-db runs on its own node) is a
//   settings-file edit in every version, like `INNER_DTABLE_SERVER_URL`: dtable-web
//   and, in 6.1, dtable-events import it from dtable_web_settings.py; AD
//   documents no dtable-web environment variable for it.
// - Secrets only where a role needs them: the MariaDB root init password and the
//   admin password only on dtable-web (database set-up and upgrades run there;
//   the other nodes start with SEATABLE_START_MODE=cluster). 6.2's SECRET_KEY
//   goes to every node: dtable-web and dtable-events read it, the sources do
//   not say whether dtable-server or dtable-db do, and it harms none of them.
import { DB_NAME, PORTS, SECRET_KEY_HINT, SecretKey, WEB_NAME, type ClusterConfig } from "../config/schema";
import type { Role } from "../config/environment";
import { checkVersion, VersionStyle } from "../config/versions";
import { hostScript } from "./host-scripts";

export type { Role };

/** Where the seatable-server container keeps its conf files on the host (REL: /opt/seatable-server:/shared). */
export const CONF_DIR = "/opt/seatable-server/seatable/conf";

/** dtable-web's settings; 6.1 reads SECRET_KEY there, 6.2 from the environment. */
export const WEB_SETTINGS = `${CONF_DIR}/dtable_web_settings.py`;

/**
 * The conf files SeaTable 6.2 no longer reads: REL's compose/migrate/migrate_6.1_6.2.sh
 * reports each as deprecated and asks for its removal before the upgrade.
 * dtable_web_settings.py stays: dtable-web reads it in 6.2 too.
 */
export const CONF_FILES_UNREAD_FROM_6_2 = [
  "dtable-api-gateway.conf",
  "dtable-db.conf",
  "dtable-events.conf",
  "dtable-storage-server.conf",
  "dtable_server_config.json",
] as const;

/** How SeaTable of this (validated) version takes its settings. */
export function versionStyle(version: string): VersionStyle {
  const check = checkVersion(version);
  if ("problem" in check) throw new Error(check.problem);
  return check.style;
}

/** The dtable-server-proxy as every component reaches it. */
export function proxyUrl(config: Pick<ClusterConfig, "proxy">): string {
  return `http://${WEB_NAME}:${config.proxy.port}`;
}

const dbUrl = `http://${DB_NAME}:${PORTS.dtableDb}`;
const webServiceUrl = `http://${WEB_NAME}:${PORTS.dtableWeb}`;

// ---------------------------------------------------------------- environment

/** Role switches (facts file, "Role environment"); unset ones keep the image's default. */
const ROLE_SWITCHES: Record<Role, Record<string, string>> = {
  "dtable-web": {
    ENABLE_DTABLE_SERVER: "false",
    ENABLE_DTABLE_DB: "false",
    // SEATABLE_START_MODE unset: database upgrades run on this node only
  },
  "dtable-db": {
    ENABLE_DTABLE_WEB: "false",
    ENABLE_DTABLE_SERVER: "false",
    ENABLE_DTABLE_DB: "true",
    ENABLE_DTABLE_STORAGE_SERVER: "true",
    ENABLE_SEAFILE_SERVER: "false",
    ENABLE_DTABLE_EVENTS: "false",
    ENABLE_API_GATEWAY: "false",
    SEATABLE_START_MODE: "cluster",
  },
  "dtable-server": {
    ENABLE_DTABLE_WEB: "false",
    ENABLE_DTABLE_SERVER: "true",
    ENABLE_DTABLE_DB: "false",
    ENABLE_DTABLE_STORAGE_SERVER: "true",
    ENABLE_SEAFILE_SERVER: "false",
    ENABLE_DTABLE_EVENTS: "false",
    ENABLE_API_GATEWAY: "false",
    SEATABLE_START_MODE: "cluster",
  },
};

export type NodeEnvironmentOptions = {
  /** Whether this node runs the storage server's snapshot clean-up (exactly one node should). */
  readonly snapshotCleanup: boolean;
};

/**
 * Plain (non-secret) environment of a node's seatable-server container. Names as
 * in REL `seatable-server.yml` and `seatable-s3.yml`; secrets come from
 * `secretEnvironmentNames`.
 */
export function nodeEnvironment(config: ClusterConfig, role: Role, options: NodeEnvironmentOptions): Record<string, string> {
  const style = versionStyle(config.seatableVersion);
  const env: Record<string, string> = {
    ...ROLE_SWITCHES[role],
    SEATABLE_MYSQL_DB_HOST: config.mariadb.host,
    SEATABLE_MYSQL_DB_PORT: String(config.mariadb.port),
    SEATABLE_MYSQL_DB_USER: config.mariadb.user,
    SEATABLE_MYSQL_DB_DTABLE_DB_NAME: "dtable_db",
    SEATABLE_MYSQL_DB_CCNET_DB_NAME: "ccnet_db",
    SEATABLE_MYSQL_DB_SEAFILE_DB_NAME: "seafile_db",
    REDIS_HOST: config.redis.host,
    REDIS_PORT: String(config.redis.port),
    SEATABLE_SERVER_HOSTNAME: config.serverHostname,
    SEATABLE_SERVER_PROTOCOL: config.serverProtocol,
    SEATABLE_ADMIN_EMAIL: config.adminEmail,
    TIME_ZONE: config.timeZone,
    REQUESTS_CA_BUNDLE: "/etc/ssl/certs/ca-certificates.crt",
  };
  Object.assign(env, s3Environment(config));
  // documented since the 6.0 docs; 6.1 also gets the conf key (confEdits), so that precedence does not matter
  env.STORAGE_SERVER_ENABLE_SNAPSHOT_CLEANUP = options.snapshotCleanup ? "true" : "false";
  if (style === "6.2") {
    const proxy = proxyUrl(config);
    if (role === "dtable-web") {
      // read by dtable-events and api-gateway (dtable-web itself: dtable_web_settings.py)
      env.INNER_DTABLE_SERVER_URL = proxy;
      env.INNER_DTABLE_DB_URL = dbUrl; // api-gateway's default form, no slash
    } else if (role === "dtable-db") {
      env.INNER_DTABLE_SERVER_URL = proxy;
      env.DTABLE_DB_HOST = "0.0.0.0";
    } else {
      env.INNER_DTABLE_WEB_SERVICE_URL = `${webServiceUrl}/`;
      env.INNER_DTABLE_DB_URL = `${dbUrl}/`;
    }
  }
  return env;
}

/** REL `seatable-s3.yml` plus AD's S3_AVATAR_BUCKET (required from 6.2); the secret key is in secretEnvironmentNames. */
function s3Environment(config: ClusterConfig): Record<string, string> {
  const s3 = config.s3;
  return {
    STORAGE_TYPE: "s3",
    S3_STORAGE_BUCKET: s3.buckets.storage,
    S3_COMMIT_BUCKET: s3.buckets.commit,
    S3_FS_BUCKET: s3.buckets.fs,
    S3_BLOCK_BUCKET: s3.buckets.block,
    ...(s3.buckets.avatar !== undefined ? { S3_AVATAR_BUCKET: s3.buckets.avatar } : {}),
    S3_KEY_ID: s3.keyId,
    S3_USE_V4_SIGNATURE: String(s3.useV4Signature),
    S3_AWS_REGION: s3.region,
    ...(s3.host !== undefined ? { S3_HOST: s3.host } : {}),
    S3_USE_HTTPS: String(s3.useHttps),
    S3_PATH_STYLE_REQUEST: String(s3.pathStyleRequest),
    ...(s3.partSize !== undefined ? { S3_PART_SIZE: String(s3.partSize) } : {}),
  };
}

const ALL_ROLES_SECRETS: Record<string, SecretKey> = {
  SEATABLE_MYSQL_DB_PASSWORD: "mariadbPassword",
  REDIS_PASSWORD: "redisPassword",
  JWT_PRIVATE_KEY: "jwtPrivateKey",
  S3_SECRET_KEY: "s3SecretKey",
  S3_SSE_C_KEY: "s3SseCKey",
  // 6.2 only: 6.1 reads SECRET_KEY from dtable_web_settings.py
  SECRET_KEY: "secretKey",
};

/**
 * Which environment variable of a role's container carries which secret config
 * key; the resource layer fills the values from Pulumi secrets. With `config`,
 * only the secrets the stack sets and the version reads.
 */
export function secretEnvironmentNames(role: Role, config?: ClusterConfig): Record<string, SecretKey> {
  const names: Record<string, SecretKey> = { ...ALL_ROLES_SECRETS };
  if (role === "dtable-web") {
    // the first start creates the databases and the user as MariaDB's root: its password, never another user's
    names.INIT_SEATABLE_MYSQL_ROOT_PASSWORD = config === undefined || config.mariadb.user === "root" ? "mariadbPassword" : "mariadbRootPassword";
    names.SEATABLE_ADMIN_PASSWORD = "adminPassword";
  }
  if (!config) return names;
  const style = versionStyle(config.seatableVersion);
  return Object.fromEntries(
    Object.entries(names).filter(([name, key]) => config.secretsSet.includes(key) && (style === "6.2" || name !== "SECRET_KEY")),
  );
}

// ---------------------------------------------------------------- conf files

/** One idempotent edit of a file in CONF_DIR, applied by hostscripts/edit-conf.py. */
export type ConfEdit =
  | { readonly file: string; readonly format: "python"; readonly key: string; readonly value: string; readonly create?: boolean }
  | { readonly file: string; readonly format: "ini"; readonly section: string; readonly key: string; readonly value: string; readonly create?: boolean }
  | { readonly file: string; readonly format: "json"; readonly key: string; readonly value: string | number | boolean; readonly create?: boolean };

export type ConfPlan = {
  readonly edits: readonly ConfEdit[];
  /**
   * Restart the seatable-server container after the edits when the script
   * reports a changed file (true whenever there are edits).
   */
  readonly restart: boolean;
  /** The services inside the container that read the edited files. */
  readonly services: readonly string[];
  /**
   * Files whose change dtable-web alone reads, so that a gunicorn HUP takes
   * it (AD FAQ) and sessions and WebSockets stay; a change of any other file
   * restarts the container.
   */
  readonly reloadFiles: readonly string[];
};

/** Where dtable-web's gunicorn keeps its pid in the seatable-server container (AD FAQ: `kill -HUP`). */
export const WEB_PID_FILE = "/opt/seatable/pids/dtable-web.pid";

export type ConfEditOptions = {
  /**
   * 6.1: whether this node's storage server cleans up snapshots
   * (dtable-storage-server.conf `[snapshot] enable_cleanup`). Leave it out to
   * keep the file's setting; pass the value given to nodeEnvironment.
   */
  readonly snapshotCleanup?: boolean;
};

const quoted = (url: string) => `"${url}"`;

/** The conf-file edits of one role for the config's SeaTable version. */
export function confEdits(config: ClusterConfig, role: Role, options: ConfEditOptions = {}): ConfPlan {
  const style = versionStyle(config.seatableVersion);
  const proxy = proxyUrl(config);
  const edits: ConfEdit[] = [];
  const services = new Set<string>();

  if (role === "dtable-web") {
    // dtable-web reads its settings file in every version (no documented variable)
    edits.push(
      { file: "dtable_web_settings.py", format: "python", key: "INNER_DTABLE_SERVER_URL", value: `${proxy}/` },
      { file: "dtable_web_settings.py", format: "python", key: "INNER_DTABLE_DB_URL", value: `${dbUrl}/` },
      { file: "gunicorn.py", format: "python", key: "bind", value: `0.0.0.0:${PORTS.dtableWeb}` },
    );
    services.add("dtable-web");
    if (style === "6.1") {
      services.add("dtable-events"); // reads dtable_web_settings.py in 6.1
      // not generated by SeaTable: created when missing (after the other files exist);
      // 6.1 reads the old and the new key name: both are written (see the top of the file)
      for (const key of ["server_address", "inner_dtable_server_url"]) {
        edits.push({ file: "dtable-api-gateway.conf", format: "ini", section: "dtable-server", key, value: quoted(proxy), create: true });
      }
      for (const key of ["server_address", "inner_dtable_db_url"]) {
        edits.push({ file: "dtable-api-gateway.conf", format: "ini", section: "dtable-db", key, value: quoted(dbUrl), create: true });
      }
      services.add("api-gateway");
    }
  } else if (role === "dtable-db" && style === "6.1") {
    edits.push({ file: "dtable-db.conf", format: "ini", section: "general", key: "host", value: "0.0.0.0" });
    for (const key of ["dtable_server_url", "inner_dtable_server_url"]) {
      edits.push({ file: "dtable-db.conf", format: "ini", section: "dtable cache", key, value: quoted(proxy) });
    }
    services.add("dtable-db");
  } else if (role === "dtable-server" && style === "6.1") {
    edits.push(
      { file: "dtable_server_config.json", format: "json", key: "dtable_web_service_url", value: `${webServiceUrl}/` },
      { file: "dtable_server_config.json", format: "json", key: "dtable_db_service_url", value: `${dbUrl}/` },
    );
    services.add("dtable-server");
  }
  if (style === "6.1" && options.snapshotCleanup !== undefined) {
    edits.push({
      file: "dtable-storage-server.conf",
      format: "ini",
      section: "snapshot",
      key: "enable_cleanup",
      value: options.snapshotCleanup ? "true" : "false",
    });
    services.add("dtable-storage-server");
  }
  // 6.1's dtable-events reads dtable_web_settings.py too; from 6.2 it takes its URLs from the environment
  const reloadFiles = role === "dtable-web" && style === "6.2" ? ["dtable_web_settings.py"] : [];
  return { edits, restart: edits.length > 0, services: [...services], reloadFiles };
}

/** What an admin must know about the config's version before `pulumi up`, for `npm run plan`. */
export function versionNotes(config: ClusterConfig): string[] {
  if (versionStyle(config.seatableVersion) !== "6.2") return [];
  return [
    `SeaTable ${config.seatableVersion} reads SECRET_KEY from the container environment: \`pulumi up\` needs the secret secretKey (${SECRET_KEY_HINT}; then \`pulumi config set --secret secretKey '<value>'\`)`,
    `SeaTable ${config.seatableVersion} no longer reads ${CONF_FILES_UNREAD_FROM_6_2.join(", ")}: \`pulumi up\` renames those it finds under ${CONF_DIR} on each node (to <file>.moved-by-seatable-cluster-<time>) before the node's container changes`,
  ];
}

// ---------------------------------------------------------------- the command

export type EditCommandOptions = {
  /** default CONF_DIR */
  readonly confDir?: string;
  /** how long to wait for the container to create the files; default 600 s */
  readonly timeoutSeconds?: number;
  /** a file must be unchanged this long before it is edited; default 2 s */
  readonly settleSeconds?: number;
  /** the remote Python; default python3 */
  readonly python?: string;
};

/** The header of lib/edit-conf.sh: the edits (no secrets in them) and how edit-conf.py runs them. */
export function editVars(edits: readonly ConfEdit[], options: EditCommandOptions = {}) {
  return {
    CONF_EDITS: JSON.stringify(edits),
    EDIT_CONF_DIR: options.confDir ?? CONF_DIR,
    EDIT_TIMEOUT: options.timeoutSeconds ?? 600,
    EDIT_SETTLE: options.settleSeconds ?? 2,
    PYTHON: options.python ?? "python3",
  };
}

/**
 * The conf edits run once (hostscripts/edit-conf.sh): the script text (read
 * from hostscripts/edit-conf.py by the caller) goes on stdin to `python3 -`.
 */
export function editCommand(edits: readonly ConfEdit[], script: string, options: EditCommandOptions = {}): { command: string; stdin: string } {
  return { command: hostScript(["edit-conf"], editVars(edits, options), ["edit-conf"]), stdin: script };
}
