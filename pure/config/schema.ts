// The stack config's shape, as one zod schema. Everything a SeaTable cluster needs
// (see ../shared/docs/seatable-facts.md); secret *values* are not part of it: the
// secrets are fixed config keys (SECRET_KEYS) read by the resource layer.
import { z } from "zod";
import { addressFormProblem, isUuid } from "./values";
import { describe, quote } from "./problems";
import { parseImageReference } from "./image-reference";
import { EMPTY_ENVIRONMENT, ENVIRONMENT_SECRETS, environmentSchema, EnvironmentConfig } from "./environment";

/** A number as written (`found 0; …`), anything else with its type (`found "2" (a string)`). */
const found = (input: unknown) => (typeof input === "number" ? String(input) : describe(input));
/** A value a problem starts with: a string quoted (and cut when long), anything else as `found` says. */
const echo = (input: unknown) => (typeof input === "string" ? quote(input) : found(input));

export const PROJECT = "seatable-cluster";

/** Names fixed by SeaTable's own URLs (http://dtable-web:5000, http://dtable-db:7777). */
export const WEB_NAME = "dtable-web";
export const DB_NAME = "dtable-db";

/** Ports inside the seatable-server container, fixed by SeaTable. */
export const PORTS = { dtableServer: 5000, dtableDb: 7777, dtableWeb: 8000, http: 80, https: 443 } as const;

/** Where a 6.1 installation keeps the SECRET_KEY that 6.2 takes from the environment (AD, REL's migrate_6.1_6.2.sh). */
export const SECRET_KEY_HINT =
  "moving from 6.1, keep the value dtable-web used so far: on dtable-web, `grep SECRET_KEY /opt/seatable-server/seatable/conf/dtable_web_settings.py`; a new installation: `openssl rand -hex 32`";

/**
 * Secret config keys. `required` ones (`"6.2"`: from SeaTable 6.2) must be set
 * (as secrets) before `pulumi up`; the offline `plan` command needs none of them.
 */
export const SECRET_KEYS = {
  mariadbPassword: { required: true, what: "password of the MariaDB user" },
  mariadbRootPassword: {
    required: false,
    what: "password of MariaDB's root user, which SeaTable's first start on dtable-web uses to create its databases and user (only when mariadb.user is not root; without it, create them yourself)",
  },
  redisPassword: { required: false, what: "Redis password, if Redis asks for one" },
  jwtPrivateKey: { required: true, what: "JWT_PRIVATE_KEY shared by all SeaTable nodes (40+ random characters)" },
  adminPassword: { required: true, what: "password of the first SeaTable admin account" },
  s3SecretKey: { required: true, what: "S3 secret access key" },
  s3SseCKey: { required: false, what: "S3 SSE-C encryption key, if the buckets use one" },
  sshPrivateKey: { required: false, what: "SSH private key for all hosts (else ssh.privateKeyPath or the SSH agent)" },
  secretKey: {
    required: "6.2",
    what: "SECRET_KEY of dtable-web and dtable-events, which SeaTable 6.2 reads from the environment (dtable-events derives the key of encrypted automation secrets from it)",
    how: SECRET_KEY_HINT,
  },
} satisfies Record<string, { required: boolean | "6.2"; what: string; how?: string }>;
export type SecretKey = keyof typeof SECRET_KEYS;
/** Where a secret environment value comes from: a secret config key, or a name in environmentSecrets. */
export type SecretRef = SecretKey | `${typeof ENVIRONMENT_SECRETS}.${string}`;

/**
 * Names every container's hosts file already defines: the proxy's own
 * (renderProxyHosts, pure/plan/nginx.ts) and the one Docker writes for the
 * SeaTable containers. A dtable-server of that name would not be the one reached.
 */
export const LOCAL_HOST_NAMES = ["localhost", "ip6-localhost", "ip6-loopback", "ip6-localnet", "ip6-mcastprefix", "ip6-allnodes", "ip6-allrouters"];

export const hostName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, {
    error: (iss) => `${echo(iss.input)} is not a host name (lower-case letters, digits and "-", starting with a letter)`,
  })
  .refine((n) => n !== WEB_NAME && n !== DB_NAME, {
    error: (iss) => `${echo(iss.input)} is reserved for the ${String(iss.input)} host; name dtable-servers e.g. "dtable-server-2"`,
  })
  // the proxy's marker for buckets that answer 503 (pure/plan/nginx.ts)
  .refine((n) => n !== "quarantine", { error: () => '"quarantine" is reserved by the proxy; name dtable-servers e.g. "dtable-server-2"' })
  .refine((n) => !LOCAL_HOST_NAMES.includes(n), {
    error: (iss) => `${echo(iss.input)} is already defined in the containers' hosts files (${LOCAL_HOST_NAMES.join(", ")}); name dtable-servers e.g. "dtable-server-2"`,
  });

export const port = z
  .number({ error: (iss) => `expected a port number, found ${found(iss.input)}` })
  .int({ error: (iss) => `expected a whole port number from 1 to 65535, found ${found(iss.input)}` })
  .min(1, { error: (iss) => `expected a port from 1 to 65535, found ${found(iss.input)}` })
  .max(65535, { error: (iss) => `expected a port from 1 to 65535, found ${found(iss.input)}` });

/** A node address; whether public ones are allowed is checked in validate.ts (it needs allowPublicAddresses). */
export const address = z.string().refine((a) => addressFormProblem(a) === undefined, {
  error: (iss) => `${echo(iss.input)} ${addressFormProblem(String(iss.input)) ?? ""}`,
});

/**
 * A login name as useradd takes it. It becomes the user of ssh://user@host:port
 * (Docker) and of ssh: "@", ":", "/", "#", "?" or a space would move the host
 * part, a leading "-" would be an option. No trailing "$" (Samba machine accounts do not log in).
 */
export const loginName = z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/i, {
  error: (iss) => `${echo(iss.input)} is not a login name (letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters)`,
});

/** An image reference as Docker reads it (a registry port, a tag, a digest); anything else would reach `docker run` as something else. */
const imageReference = z.string().refine((r) => parseImageReference(r) !== undefined, {
  error: (iss) =>
    `${echo(iss.input)} is not an image reference; expected [registry[:port]/]repository[:tag][@sha256:<64 hex digits>], lower-case repository, e.g. "seatable/seatable-enterprise:6.1.8"`,
});

/** One public host key: its type and base64 blob, nothing ssh or a shell would read more into. */
export const HOST_KEY_LINE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*$/;

export const sshHostKey = z.string().regex(HOST_KEY_LINE, {
  error: () => 'expected a public host key line such as "ssh-ed25519 AAAAC3Nz..." (from `ssh-keyscan -t ed25519 <address>`, without the host name)',
});

const hostSsh = z.strictObject({
  user: loginName.optional(),
  port: port.optional(),
  hostKey: sshHostKey.optional(),
  /** the loud opt-out for this host only: its SSH host key is not checked */
  insecureSkipHostKeyCheck: z.boolean().optional(),
});

const host = {
  address,
  ssh: hostSsh.default({}),
};

const weight = z
  .number({ error: (iss) => `expected a whole number from 1 to 1000, found ${found(iss.input)}` })
  .int({ error: (iss) => `expected a whole number from 1 to 1000, found ${found(iss.input)}` })
  .min(1, { error: (iss) => `expected a whole number from 1 to 1000, found ${found(iss.input)}; remove a server instead of giving it weight 0` })
  .max(1000, { error: (iss) => `expected a whole number from 1 to 1000, found ${found(iss.input)}` });

/** A whole number in [min, max] whose problem says so, not zod's "Too small: expected number to be >=30". */
const wholeNumber = (min: number, max: number, unit = "") => {
  const expected = (iss: { input?: unknown }) => `expected a whole number${unit} from ${min} to ${max}, found ${found(iss.input)}`;
  return z.number({ error: expected }).int({ error: expected }).min(min, { error: expected }).max(max, { error: expected });
};

export const dtableServerSchema = z.strictObject({
  name: hostName,
  ...host,
  weight: weight.default(1),
  // maintenance: every bucket and pin moves away (staged), the host and container stay
  drain: z.boolean({ error: (iss) => `expected true or false, found ${found(iss.input)}` }).default(false),
});

export const rolloutSchema = z.strictObject({
  maxRestarting: wholeNumber(1, 64).default(1),
  // runs on the named host before the first container of a change stops; a failure stops the change.
  // command, or commandSecret: the name of a value in environmentSecrets (a command with credentials), sent on stdin
  backup: z
    .strictObject({ host: z.string().min(1), command: z.string().min(1).optional(), commandSecret: z.string().min(1).optional() })
    .refine((b) => (b.command === undefined) !== (b.commandSecret === undefined), {
      error: () => "expected either command (the backup command) or commandSecret (the name of a value in environmentSecrets holding it), not both or neither",
    })
    .optional(),
  // a SeaTable version change runs only after a backup (AD: no rollback); the reason an admin skips it, written down
  versionChangeWithoutBackup: z.string().min(1).optional(),
  // dtable-servers removed from hosts.servers whose host is dead: their buckets move without an unload
  evict: z.array(z.string().min(1)).default([]),
});

const uuidKey = z.string().refine(isUuid, {
  error: (iss) => `${echo(iss.input)} is not a base UUID (8-4-4-4-12 hex digits, or 32 hex digits)`,
});

const routingStart = z.union(
  [z.literal("seed"), z.strictObject({ file: z.string().min(1) })],
  { error: () => 'expected "seed" (the manual\'s first-character scheme) or {file: path/to/routing.json}' },
);

export const routingSchema = z.strictObject({
  bucketHexDigits: z
    .union([z.literal(1), z.literal(2), z.literal(3)], {
      error: (iss) => `expected 1, 2 or 3 (16, 256 or 4096 buckets), found ${found(iss.input)}`,
    })
    .default(2),
  pins: z.record(uuidKey, z.string()).default({}),
  start: routingStart.optional(),
});

export const s3Schema = z.strictObject({
  host: z.string().min(1).optional(),
  region: z.string().min(1).default("us-east-1"),
  keyId: z.string().min(1),
  useHttps: z.boolean().default(true),
  pathStyleRequest: z.boolean().default(false),
  useV4Signature: z.boolean().default(true),
  partSize: z.number().int().positive().optional(),
  buckets: z.strictObject({
    storage: z.string().min(1),
    commit: z.string().min(1),
    fs: z.string().min(1),
    block: z.string().min(1),
    avatar: z.string().min(1).optional(),
  }),
});

/**
 * Defaults here must equal those declared in Pulumi.yaml (a test checks): the
 * Pulumi CLI applies Pulumi.yaml's, the plan command and the mocks apply these.
 */
export const stackConfigSchema = z.strictObject({
  image: imageReference.default("seatable/seatable-enterprise:6.1.8"),
  seatableVersion: z
    .string()
    .regex(/^\d+\.\d+(\.\d+)?$/, { error: (iss) => `expected a SeaTable version such as "6.2" or "6.1.8", found ${echo(iss.input)}` })
    .optional(),
  serverHostname: z.string().regex(/^[A-Za-z0-9.-]+$/, { error: () => "expected the public host name, e.g. seatable.example.com" }),
  serverProtocol: z.enum(["https", "http"]).default("https"),
  adminEmail: z.email({ error: (iss) => `${echo(iss.input)} is not an e-mail address` }),
  timeZone: z.string().min(1).default("Etc/UTC"),
  publicEntry: z.enum(["caddy", "loadBalancer"]).default("caddy"),
  licenseFile: z.string().min(1).optional(),
  stopTimeoutSeconds: wholeNumber(30, 3600, " of seconds").default(300),
  allowPublicAddresses: z.boolean().default(false),
  // replaced by the per-host hosts.*.ssh.insecureSkipHostKeyCheck: a stack-wide
  // switch would also leave unchecked every host added later
  insecureSkipHostKeyCheck: z
    .never({ error: () => "the opt-out is per host now: set hosts.<host>.ssh.insecureSkipHostKeyCheck: true on each host whose key you cannot pin (hosts.web, hosts.db, hosts.servers[i])" })
    .optional(),
  ssh: z
    .strictObject({
      user: loginName.default("root"),
      port: port.default(22),
      privateKeyPath: z.string().min(1).optional(),
    })
    .default({ user: "root", port: 22 }),
  hosts: z.strictObject({
    // publicAddress: where caddy publishes 80/443 (publicEntry caddy); every other port stays on address
    web: z.strictObject({ ...host, publicAddress: address.optional() }),
    db: z.strictObject(host),
    servers: z.array(dtableServerSchema).min(1, { error: () => "a cluster needs at least one dtable-server" }),
  }),
  mariadb: z.strictObject({ host: z.string().min(1), port: port.default(3306), user: z.string().min(1).default("root") }),
  redis: z.strictObject({ host: z.string().min(1), port: port.default(6379) }),
  s3: s3Schema,
  proxy: z
    .strictObject({
      image: imageReference.default("nginx:1.27.5-alpine"),
      port: port.default(PORTS.dtableServer),
      keepalive: wholeNumber(1, 4096).default(64),
      workerConnections: wholeNumber(256, 65536).default(4096),
      retryAfterSeconds: wholeNumber(1, 3600, " of seconds").default(10),
    })
    .default({ image: "nginx:1.27.5-alpine", port: PORTS.dtableServer, keepalive: 64, workerConnections: 4096, retryAfterSeconds: 10 }),
  routing: routingSchema.default({ bucketHexDigits: 2, pins: {} }),
  rollout: rolloutSchema.default({ maxRestarting: 1, evict: [] }),
  environment: environmentSchema.default(EMPTY_ENVIRONMENT),
});

export type StackConfigInput = z.input<typeof stackConfigSchema>;
type Parsed = z.output<typeof stackConfigSchema>;

export type DtableServerHost = { readonly name: string; readonly address: string; readonly weight: number; readonly drain: boolean; readonly ssh: SshTarget };
export type NodeHost = {
  readonly name: string;
  readonly role: "dtable-web" | "dtable-db" | "dtable-server";
  readonly address: string;
  readonly ssh: SshTarget;
  /** dtable-web with publicEntry caddy only */
  readonly publicAddress?: string;
};
/** Validated: a host has its hostKey pinned, or insecureSkipHostKeyCheck, never both. */
export type SshTarget = { readonly user: string; readonly port: number; readonly hostKey?: string; readonly insecureSkipHostKeyCheck?: true };

/** The validated, frozen cluster config every later layer works from. */
export type ClusterConfig = Readonly<
  Omit<Parsed, "hosts" | "routing" | "ssh" | "insecureSkipHostKeyCheck" | "environment"> & {
    seatableVersion: string;
    ssh: Readonly<{ privateKeyPath?: string }>;
    hosts: Readonly<{ web: NodeHost; db: NodeHost; servers: readonly (DtableServerHost & NodeHost)[] }>;
    routing: Readonly<{
      bucketHexDigits: 1 | 2 | 3;
      /** lower-case dashed UUID → dtable-server name */
      pins: Readonly<Record<string, string>>;
      start?: "seed" | { readonly file: string };
    }>;
    /** Which secret keys the stack sets (values never enter the plan). */
    secretsSet: readonly SecretKey[];
    environment: EnvironmentConfig;
  }
>;

