// The stack config's shape, as one zod schema. Everything a SeaTable cluster needs
// (see ../shared/docs/seatable-facts.md); secret *values* are not part of it: the
// secrets are fixed config keys (SECRET_KEYS) read by the resource layer.
import { z } from "zod";
import { addressProblem, isUuid } from "./values";
import { describe } from "./problems";

/** A number as written (`found 0; …`), anything else with its type (`found "2" (a string)`). */
const found = (input: unknown) => (typeof input === "number" ? String(input) : describe(input));

export const PROJECT = "seatable-cluster";

/** Names fixed by SeaTable's own URLs (http://dtable-web:5000, http://dtable-db:7777). */
export const WEB_NAME = "dtable-web";
export const DB_NAME = "dtable-db";

/** Ports inside the seatable-server container, fixed by SeaTable. */
export const PORTS = { dtableServer: 5000, dtableDb: 7777, dtableWeb: 8000, http: 80, https: 443 } as const;

/**
 * Secret config keys. `required` ones must be set (as secrets) before `pulumi up`;
 * the offline `plan` command needs none of them.
 */
export const SECRET_KEYS = {
  mariadbPassword: { required: true, what: "password of the MariaDB user" },
  redisPassword: { required: false, what: "Redis password, if Redis asks for one" },
  jwtPrivateKey: { required: true, what: "JWT_PRIVATE_KEY shared by all SeaTable nodes (40+ random characters)" },
  adminPassword: { required: true, what: "password of the first SeaTable admin account" },
  s3SecretKey: { required: true, what: "S3 secret access key" },
  s3SseCKey: { required: false, what: "S3 SSE-C encryption key, if the buckets use one" },
  sshPrivateKey: { required: false, what: "SSH private key for all hosts (else ssh.privateKeyPath or the SSH agent)" },
} as const;
export type SecretKey = keyof typeof SECRET_KEYS;

const hostName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, {
    error: (iss) => `${JSON.stringify(iss.input)} is not a host name (lower-case letters, digits and "-", starting with a letter)`,
  })
  .refine((n) => n !== WEB_NAME && n !== DB_NAME, {
    error: (iss) => `${JSON.stringify(iss.input)} is reserved for the ${String(iss.input)} host; name dtable-servers e.g. "dtable-server-2"`,
  })
  // the proxy's marker for buckets that answer 503 (pure/plan/nginx.ts)
  .refine((n) => n !== "quarantine", { error: () => '"quarantine" is reserved by the proxy; name dtable-servers e.g. "dtable-server-2"' });

const port = z
  .number({ error: (iss) => `expected a port number, found ${found(iss.input)}` })
  .int({ error: (iss) => `expected a whole port number from 1 to 65535, found ${found(iss.input)}` })
  .min(1, { error: (iss) => `expected a port from 1 to 65535, found ${found(iss.input)}` })
  .max(65535, { error: (iss) => `expected a port from 1 to 65535, found ${found(iss.input)}` });

/** A node address; whether public ones are allowed is checked in validate.ts (it needs allowPublicAddresses). */
const address = z.string().refine((a) => addressProblem(a) !== "malformed", {
  error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 or IPv6 address`,
});

/** One public host key: its type and base64 blob, nothing ssh or a shell would read more into. */
export const HOST_KEY_LINE = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]+=*$/;

const sshHostKey = z.string().regex(HOST_KEY_LINE, {
  error: () => 'expected a public host key line such as "ssh-ed25519 AAAAC3Nz..." (from `ssh-keyscan -t ed25519 <address>`, without the host name)',
});

const hostSsh = z.strictObject({
  user: z.string().min(1).optional(),
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

export const dtableServerSchema = z.strictObject({ name: hostName, ...host, weight: weight.default(1) });

const uuidKey = z.string().refine(isUuid, {
  error: (iss) => `${JSON.stringify(iss.input)} is not a base UUID (8-4-4-4-12 hex digits, or 32 hex digits)`,
});

const routingStart = z.union(
  [z.literal("seed"), z.strictObject({ file: z.string().min(1) })],
  { error: () => 'expected "seed" (the manual\'s first-character scheme) or {file: path/to/routing.json}' },
);

export const routingSchema = z.strictObject({
  bucketHexDigits: z
    .union([z.literal(1), z.literal(2), z.literal(3)], {
      error: (iss) => `expected 1, 2 or 3 (16, 256 or 4096 buckets), found ${JSON.stringify(iss.input)}`,
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
  image: z.string().regex(/^[^\s:]+(:[^\s:]+)?$/, { error: () => "expected an image reference such as seatable/seatable-enterprise:6.1.8" }).default("seatable/seatable-enterprise:6.1.8"),
  seatableVersion: z
    .string()
    .regex(/^\d+\.\d+(\.\d+)?$/, { error: (iss) => `expected a SeaTable version such as "6.0" or "5.3.12", found ${JSON.stringify(iss.input)}` })
    .optional(),
  serverHostname: z.string().regex(/^[A-Za-z0-9.-]+$/, { error: () => "expected the public host name, e.g. seatable.example.com" }),
  serverProtocol: z.enum(["https", "http"]).default("https"),
  adminEmail: z.email({ error: (iss) => `${JSON.stringify(iss.input)} is not an e-mail address` }),
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
      user: z.string().min(1).default("root"),
      port: port.default(22),
      privateKeyPath: z.string().min(1).optional(),
    })
    .default({ user: "root", port: 22 }),
  hosts: z.strictObject({
    // publicAddress: where caddy publishes 80/443 (publicEntry caddy); every other port stays on address
    web: z.strictObject({ ...host, publicAddress: z.string().refine((a) => addressProblem(a) !== "malformed", { error: (iss) => `${JSON.stringify(iss.input)} is not an IPv4 or IPv6 address` }).optional() }),
    db: z.strictObject(host),
    servers: z.array(dtableServerSchema).min(1, { error: () => "a cluster needs at least one dtable-server" }),
  }),
  mariadb: z.strictObject({ host: z.string().min(1), port: port.default(3306), user: z.string().min(1).default("root") }),
  redis: z.strictObject({ host: z.string().min(1), port: port.default(6379) }),
  s3: s3Schema,
  proxy: z
    .strictObject({
      image: z.string().min(1).default("nginx:1.27.5-alpine"),
      port: port.default(PORTS.dtableServer),
      keepalive: wholeNumber(1, 4096).default(64),
      workerConnections: wholeNumber(256, 65536).default(4096),
      retryAfterSeconds: wholeNumber(1, 3600, " of seconds").default(10),
    })
    .default({ image: "nginx:1.27.5-alpine", port: PORTS.dtableServer, keepalive: 64, workerConnections: 4096, retryAfterSeconds: 10 }),
  routing: routingSchema.default({ bucketHexDigits: 2, pins: {} }),
});

export type StackConfigInput = z.input<typeof stackConfigSchema>;
type Parsed = z.output<typeof stackConfigSchema>;

export type DtableServerHost = { readonly name: string; readonly address: string; readonly weight: number; readonly ssh: SshTarget };
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
  Omit<Parsed, "hosts" | "routing" | "ssh" | "insecureSkipHostKeyCheck"> & {
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
  }
>;

