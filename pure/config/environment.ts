// The admin's own container environment (stack config `environment`): for all
// nodes, per role and per host, secret values from the `environmentSecrets`
// secret. From 6.2 nearly every component setting is an environment variable
// (AD configuration/components/*.md); the program's own variables stay its own
// unless the admin overrides one by name.
import { z } from "zod";
import { quote } from "./problems";

/** The secret config key holding the values environment entries name ({secret: name}). */
export const ENVIRONMENT_SECRETS = "environmentSecrets";

export const ROLES = ["dtable-web", "dtable-db", "dtable-server"] as const;
export type Role = (typeof ROLES)[number];

/** The name of a secret in environmentSecrets, as `pulumi config set --secret --path environmentSecrets.<name>` takes it. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** SeaTable's variables are upper-case; a lower-case name is a typo SeaTable would ignore. */
const VARIABLE = /^[A-Z_][A-Z0-9_]*$/;

const variableName = z.string().regex(VARIABLE, {
  error: (iss) => `${quote(String(iss.input))} is not an environment variable name as SeaTable reads them (upper-case letters, digits and "_", not starting with a digit)`,
});

/** A plain value (numbers and booleans as the admin wrote them, as text) or a secret by name. */
export type EnvironmentValue = string | { readonly secret: string };

const value = z.union(
  [
    z.string(),
    z.number().transform(String),
    z.boolean().transform(String),
    z.strictObject({
      secret: z.string().regex(SECRET_NAME, { error: () => `expected the name of a secret in ${ENVIRONMENT_SECRETS} (letters, digits, "_" and "-")` }),
    }),
  ],
  { error: () => `expected a value (text, a number, true or false) or {secret: <name in ${ENVIRONMENT_SECRETS}>}` },
);

const variables = z.record(variableName, value);

export const environmentSchema = z.strictObject({
  all: variables.default({}),
  "dtable-web": variables.default({}),
  "dtable-db": variables.default({}),
  "dtable-server": variables.default({}),
  /** per host, by its name (dtable-web, dtable-db, or a dtable-server's) */
  hosts: z.record(z.string(), variables).default({}),
  /** variables the program sets that the admin sets instead: plan shows each */
  overrides: z.array(variableName).default([]),
  /** 6.1 settings of the files 6.2 no longer reads that may fall back to 6.2's default (docs/conf-migration.md) */
  acceptDefaults: z.array(z.string().min(1)).default([]),
});

export const EMPTY_ENVIRONMENT = { all: {}, "dtable-web": {}, "dtable-db": {}, "dtable-server": {}, hosts: {}, overrides: [], acceptDefaults: [] };

export type EnvironmentConfig = Readonly<{
  all: Readonly<Record<string, EnvironmentValue>>;
  "dtable-web": Readonly<Record<string, EnvironmentValue>>;
  "dtable-db": Readonly<Record<string, EnvironmentValue>>;
  "dtable-server": Readonly<Record<string, EnvironmentValue>>;
  hosts: Readonly<Record<string, Readonly<Record<string, EnvironmentValue>>>>;
  overrides: readonly string[];
  acceptDefaults: readonly string[];
}>;

/**
 * Variables the program sets, and the config key that sets each: an admin sets
 * the key, or names the variable in environment.overrides. A test holds the
 * list to what the plan layer's containers carry.
 */
export const PROGRAM_VARIABLES: Readonly<Record<string, string>> = {
  SEATABLE_MYSQL_DB_HOST: "mariadb.host",
  SEATABLE_MYSQL_DB_PORT: "mariadb.port",
  SEATABLE_MYSQL_DB_USER: "mariadb.user",
  SEATABLE_MYSQL_DB_PASSWORD: "the secret mariadbPassword",
  INIT_SEATABLE_MYSQL_ROOT_PASSWORD: "the secret mariadbPassword (mariadb.user root)",
  SEATABLE_MYSQL_DB_DTABLE_DB_NAME: "the program (SeaTable's database names)",
  SEATABLE_MYSQL_DB_CCNET_DB_NAME: "the program (SeaTable's database names)",
  SEATABLE_MYSQL_DB_SEAFILE_DB_NAME: "the program (SeaTable's database names)",
  REDIS_HOST: "redis.host",
  REDIS_PORT: "redis.port",
  REDIS_PASSWORD: "the secret redisPassword",
  JWT_PRIVATE_KEY: "the secret jwtPrivateKey",
  SECRET_KEY: "the secret secretKey",
  SEATABLE_SERVER_HOSTNAME: "serverHostname",
  SEATABLE_SERVER_PROTOCOL: "serverProtocol",
  SEATABLE_ADMIN_EMAIL: "adminEmail",
  SEATABLE_ADMIN_PASSWORD: "the secret adminPassword",
  TIME_ZONE: "timeZone",
  REQUESTS_CA_BUNDLE: "the program (the image's CA bundle)",
  STORAGE_TYPE: "the program (a cluster stores in S3)",
  S3_STORAGE_BUCKET: "s3.buckets.storage",
  S3_COMMIT_BUCKET: "s3.buckets.commit",
  S3_FS_BUCKET: "s3.buckets.fs",
  S3_BLOCK_BUCKET: "s3.buckets.block",
  S3_AVATAR_BUCKET: "s3.buckets.avatar",
  S3_KEY_ID: "s3.keyId",
  S3_SECRET_KEY: "the secret s3SecretKey",
  S3_SSE_C_KEY: "the secret s3SseCKey",
  S3_USE_V4_SIGNATURE: "s3.useV4Signature",
  S3_AWS_REGION: "s3.region",
  S3_HOST: "s3.host",
  S3_USE_HTTPS: "s3.useHttps",
  S3_PATH_STYLE_REQUEST: "s3.pathStyleRequest",
  S3_PART_SIZE: "s3.partSize",
};

/**
 * The cluster's wiring: which node runs what, and every component reaching
 * dtable-server through the proxy. Set otherwise, a base could open on two
 * dtable-servers (or none), so no override is taken.
 */
export const WIRING_VARIABLES: Readonly<Record<string, string>> = {
  ENABLE_DTABLE_WEB: "the node's role",
  ENABLE_DTABLE_SERVER: "the node's role",
  ENABLE_DTABLE_DB: "the node's role",
  ENABLE_DTABLE_STORAGE_SERVER: "the node's role",
  ENABLE_SEAFILE_SERVER: "the node's role",
  ENABLE_DTABLE_EVENTS: "the node's role",
  ENABLE_API_GATEWAY: "the node's role",
  SEATABLE_START_MODE: "the node's role (database upgrades run on dtable-web only)",
  INNER_DTABLE_SERVER_URL: "the dtable-server-proxy: every component reaches dtable-server through it",
  INNER_DTABLE_WEB_SERVICE_URL: "the cluster's wiring (http://dtable-web:8000/)",
  INNER_DTABLE_DB_URL: "the cluster's wiring (http://dtable-db:7777)",
  DTABLE_DB_HOST: "the cluster's wiring (dtable-db listens for the other nodes)",
  STORAGE_SERVER_ENABLE_SNAPSHOT_CLEANUP: "exactly one node cleans up snapshots (AD): the dtable-db node",
};

/**
 * Values the image's start script reads as numbers (AD FAQ; seatable-facts.md
 * "Memory", "Watchdog"): checked here, as a wrong one would stop dtable-server.
 */
export const NUMERIC_VARIABLES: Readonly<Record<string, { readonly min: number; readonly max: number; readonly unit: string }>> = {
  // Node's --max-old-space-size, in MB; the start script's default is 8192
  DTABLE_SERVER_MEMORY_SIZE: { min: 512, max: 1_048_576, unit: "MB" },
  // seconds the in-container monitor waits for /ping/ before it kills dtable-server; default 20
  DTABLE_SERVER_PING_TIMEOUT: { min: 5, max: 3600, unit: "seconds" },
};

/** Names of passwords, keys and tokens: their values only as {secret: name}. */
const LOOKS_SECRET = /(PASSWORD|PASSWD|SECRET|TOKEN|_KEY)$/;

/** The start script's default heap (not in the manual; seatable-facts.md); the ping timeout's is 20 s. */
export const DTABLE_SERVER_MEMORY_DEFAULT_MB = 8192;

/** Each place a variable is set, lowest precedence first: all, the role, the host. */
export function environmentLayers(env: EnvironmentConfig, role: Role, host: string): readonly { readonly path: string; readonly values: Readonly<Record<string, EnvironmentValue>> }[] {
  return [
    { path: "environment.all", values: env.all },
    { path: `environment.${role}`, values: env[role] },
    { path: `environment.hosts.${host}`, values: env.hosts[host] ?? {} },
  ];
}

/**
 * Problems of the environment section that need the rest of the config: host
 * names, secrets named, the program's variables, numeric values.
 * `secretNames`: the names environmentSecrets holds, or undefined when they
 * cannot be seen (set as one encrypted value: only `pulumi up` sees them).
 */
export function environmentProblems(env: EnvironmentConfig, hosts: readonly string[], secretNames: readonly string[] | undefined): string[] {
  const problems: string[] = [];
  const sets = new Set<string>();
  for (const host of Object.keys(env.hosts)) {
    if (!hosts.includes(host)) problems.push(`environment.hosts.${host}: ${quote(host)} is not a host of this stack (${hosts.join(", ")})`);
  }
  const places = [
    { path: "environment.all", values: env.all },
    ...ROLES.map((r) => ({ path: `environment.${r}`, values: env[r] })),
    ...Object.entries(env.hosts).map(([h, values]) => ({ path: `environment.hosts.${h}`, values })),
  ];
  for (const { path, values } of places) {
    for (const [name, v] of Object.entries(values)) {
      const at = `${path}.${name}`;
      sets.add(name);
      const wiring = WIRING_VARIABLES[name];
      if (wiring !== undefined) {
        problems.push(`${at}: the program sets ${name} itself, for ${wiring}; it cannot be set here`);
        continue;
      }
      const program = PROGRAM_VARIABLES[name];
      if (program !== undefined && !env.overrides.includes(name)) {
        problems.push(`${at}: the program sets ${name} from ${program}; set that instead, or add ${name} to environment.overrides to set it here`);
      }
      if (typeof v === "object") {
        if (secretNames !== undefined && !secretNames.includes(v.secret)) {
          const have = secretNames.length > 0 ? ` (it holds ${secretNames.join(", ")})` : "";
          problems.push(`${at}: the secret ${quote(v.secret)} is not in ${ENVIRONMENT_SECRETS}${have}; run \`pulumi config set --secret --path '${ENVIRONMENT_SECRETS}.${v.secret}' <value>\``);
        }
        continue;
      }
      if (program?.startsWith("the secret ")) {
        problems.push(`${at}: ${name} carries ${program}; set it as {secret: <name>} (a value in ${ENVIRONMENT_SECRETS}), never in plain text`);
        continue;
      }
      if (LOOKS_SECRET.test(name)) {
        problems.push(`${at}: ${name} looks like a secret, and a plain value would sit in the stack file and the state in clear text; set it as {secret: <name>} (a value in ${ENVIRONMENT_SECRETS})`);
        continue;
      }
      const numeric = NUMERIC_VARIABLES[name];
      if (numeric !== undefined && !(/^\d+$/.test(v) && Number(v) >= numeric.min && Number(v) <= numeric.max)) {
        problems.push(`${at}: expected a whole number of ${numeric.unit} from ${numeric.min} to ${numeric.max}, found ${quote(v)}`);
      }
    }
  }
  env.overrides.forEach((name, i) => {
    if (WIRING_VARIABLES[name] !== undefined) problems.push(`environment.overrides[${i}]: the program sets ${name} for ${WIRING_VARIABLES[name]}; it cannot be overridden`);
    else if (PROGRAM_VARIABLES[name] === undefined) problems.push(`environment.overrides[${i}]: the program does not set ${name}; set it in environment without listing it here`);
    else if (!sets.has(name)) problems.push(`environment.overrides[${i}]: ${name} is set nowhere in environment; remove it from overrides, or set it`);
  });
  return problems;
}
