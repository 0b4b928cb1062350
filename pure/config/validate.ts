// Stack config → one frozen ClusterConfig, or every problem at once.
import { z } from "zod";
import { addressProblem, canonicalAddress, normaliseUuid, versionFromImage } from "./values";
import { checkVersion, minorOf, VersionStyle } from "./versions";
import { formatIssues, keyPath, quote } from "./problems";
import { ENVIRONMENT_SECRETS, environmentProblems } from "./environment";
import { parseRoutingTable, RoutingTable } from "./routing-file";
import {
  ClusterConfig,
  DB_NAME,
  PORTS,
  SECRET_KEYS,
  SecretKey,
  stackConfigSchema,
  WEB_NAME,
} from "./schema";

/** The project's keys of one stack, without the "seatable-cluster:" prefix. */
export type RawStackConfig = {
  readonly values: Readonly<Record<string, unknown>>;
  /** keys whose value is a Pulumi secret (values of those are never read here) */
  readonly secretKeys: ReadonlySet<string>;
  /** what was wrong with the stack file or the keys around the project's (stack-file.ts) */
  readonly problems?: readonly string[];
};

export type ValidateOptions = {
  /**
   * `pulumi up` needs the required secrets and a readable licenseFile; the
   * offline plan command needs no secret and only warns about the license.
   */
  readonly requireSecrets: boolean;
  /** Reads a file named by the config (routing.start.file, licenseFile); paths as written in the config. */
  readonly readFile: (path: string) => string;
};

export type Validated =
  | { readonly ok: true; readonly config: ClusterConfig; readonly startTable?: RoutingTable; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/** The keys a (possibly wrapped) object schema allows at `path`, for "did you mean". */
function knownKeys(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType = stackConfigSchema;
  const unwrap = (s: z.core.$ZodType): z.core.$ZodType => {
    const def = s._zod.def as { type: string; innerType?: z.core.$ZodType };
    return (def.type === "default" || def.type === "optional") && def.innerType ? unwrap(def.innerType) : s;
  };
  for (const part of path) {
    schema = unwrap(schema);
    const def = schema._zod.def as { type: string; shape?: Record<string, z.core.$ZodType>; element?: z.core.$ZodType };
    if (def.type === "object" && def.shape && typeof part === "string" && def.shape[part]) schema = def.shape[part];
    else if (def.type === "array" && def.element) schema = def.element;
    else return [];
  }
  const def = unwrap(schema)._zod.def as { type: string; shape?: Record<string, unknown> };
  const keys = def.type === "object" && def.shape ? Object.keys(def.shape) : [];
  return path.length === 0 ? [...keys, ...Object.keys(SECRET_KEYS), ENVIRONMENT_SECRETS] : keys;
}

/**
 * Pulumi hands every config value to a program as a string; this gives a
 * top-level key's string the type the schema expects (objects arrive as JSON).
 */
export function fromConfigString(key: string, value: string): unknown {
  const shape = stackConfigSchema._zod.def.shape as Record<string, z.core.$ZodType>;
  let schema = shape[key];
  while (schema) {
    const def = schema._zod.def as { type: string; innerType?: z.core.$ZodType };
    if ((def.type === "default" || def.type === "optional") && def.innerType) schema = def.innerType;
    else break;
  }
  const type = (schema?._zod.def as { type?: string } | undefined)?.type;
  try {
    // a value that is not a number stays the string it is, so the problem names what was written
    if (type === "number") return value.trim() === "" || Number.isNaN(Number(value)) ? value : Number(value);
    if (type === "boolean") return value === "true" ? true : value === "false" ? false : value;
    if (type === undefined || type === "string" || type === "enum") return value;
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function secretProblems(raw: RawStackConfig, requireSecrets: boolean, style: VersionStyle | undefined): { problems: string[]; set: SecretKey[] } {
  const problems: string[] = [];
  const set: SecretKey[] = [];
  for (const [key, info] of Object.entries(SECRET_KEYS) as [SecretKey, (typeof SECRET_KEYS)[SecretKey]][]) {
    const present = raw.values[key] !== undefined;
    const command = `pulumi config set --secret ${key} <value>`;
    const how = "how" in info ? ` (${info.how})` : "";
    if (present && !raw.secretKeys.has(key)) {
      problems.push(`${key}: set in plain text, but it is the ${info.what}; keep it out of the stack file and run \`${command}\``);
    } else if (present) {
      set.push(key);
    } else if (requireSecrets && (info.required === true || info.required === style)) {
      problems.push(`${key}: missing; it is the ${info.what}; run \`${command}\`${how}`);
    }
  }
  for (const key of raw.secretKeys) {
    if (!(key in SECRET_KEYS) && key !== ENVIRONMENT_SECRETS) problems.push(`${keyPath([key])}: is a secret, but this setting is not secret; set it in plain text with \`pulumi config set ${keyPath([key])} ...\``);
  }
  return { problems, set };
}

/** environmentSecrets: a secret; its names, or undefined when it is one encrypted value (only `pulumi up` sees them). */
function environmentSecrets(raw: RawStackConfig): { problems: string[]; names: string[] | undefined } {
  const value = raw.values[ENVIRONMENT_SECRETS];
  if (value === undefined) return { problems: [], names: [] };
  if (!raw.secretKeys.has(ENVIRONMENT_SECRETS)) {
    return {
      problems: [`${ENVIRONMENT_SECRETS}: set in plain text; its values are the secrets environment entries name: keep it out of the stack file and set each with \`pulumi config set --secret --path '${ENVIRONMENT_SECRETS}.<name>' <value>\``],
      names: value !== null && typeof value === "object" ? Object.keys(value) : [],
    };
  }
  return { problems: [], names: value !== null && typeof value === "object" ? Object.keys(value) : undefined };
}

/**
 * The SeaTable version (seatableVersion, else the image tag) and whether the
 * program runs it; every given version follows the same rules.
 */
function versionChecks(c: { image: string; seatableVersion?: string }): { version?: string; style?: VersionStyle; problems: string[]; warnings: string[] } {
  const tag = versionFromImage(c.image);
  const [path, version] = c.seatableVersion !== undefined ? ["seatableVersion", c.seatableVersion] : ["image", tag];
  if (version === undefined) {
    return { problems: [`image: the tag of ${quote(c.image)} is not a SeaTable version; set seatableVersion (e.g. "6.2") to say which version it is`], warnings: [] };
  }
  const problems: string[] = [];
  if (c.seatableVersion !== undefined && tag !== undefined && minorOf(tag) !== minorOf(c.seatableVersion)) {
    problems.push(`seatableVersion: ${quote(c.seatableVersion)} contradicts the image tag ${tag}; seatableVersion is for images whose tag is not a version: leave it out`);
  }
  const check = checkVersion(version);
  if ("problem" in check) return { version, problems: [...problems, `${path}: ${check.problem}`], warnings: [] };
  return { version, style: check.style, problems, warnings: check.warning ? [`${path}: ${check.warning}`] : [] };
}

/** Node's read error without its ", open '/absolute/path'": a problem names the file as the config does. */
function readError(e: unknown): string {
  return (e as Error).message.replace(/, \w+ '[^']*'$/, "");
}

/** ssh.privateKeyPath, read as written (relative to the project folder; no `~`). */
function keyFileProblem(path: string, readFile: (path: string) => string): string | undefined {
  try {
    readFile(path);
    return undefined;
  } catch (e) {
    const home = path.startsWith("~") ? "; `~` is not expanded: write the path in full" : "";
    return `ssh.privateKeyPath: cannot read ${quote(path)}: ${readError(e)}${home}; the commands on the hosts log in with this key (or set it with \`pulumi config set --secret sshPrivateKey < key\`)`;
  }
}

/** licenseFile: the Enterprise image does not start without its license. */
function licenseProblem(licenseFile: string | undefined, readFile: (path: string) => string): string | undefined {
  const why = "the SeaTable Enterprise image does not start without its license";
  if (licenseFile === undefined) {
    return `licenseFile: not set; ${why}: set it to the local path of seatable-license.txt (\`pulumi config set licenseFile path/to/seatable-license.txt\`), which is copied to every node`;
  }
  let text: string;
  try {
    text = readFile(licenseFile);
  } catch (e) {
    return `licenseFile: cannot read ${quote(licenseFile)}: ${readError(e)}; ${why}`;
  }
  return text.trim() === "" ? `licenseFile: ${quote(licenseFile)} is empty; ${why}` : undefined;
}

/** Checks that span several keys; `c` already has the schema's shape. */
function crossChecks(c: z.output<typeof stackConfigSchema>): { problems: string[]; warnings: string[]; version: ReturnType<typeof versionChecks> } {
  const problems: string[] = [];
  const warnings: string[] = [];
  const hosts = [
    { path: "hosts.web", name: WEB_NAME, ...c.hosts.web },
    { path: "hosts.db", name: DB_NAME, ...c.hosts.db },
    ...c.hosts.servers.map((s, i) => ({ path: `hosts.servers[${i}]`, ...s })),
  ];
  const seenNames = new Map<string, string>();
  const seenAddresses = new Map<string, string>();
  for (const h of hosts) {
    const nameAt = seenNames.get(h.name);
    if (nameAt) problems.push(`${h.path}.name: "${h.name}" is already the name of ${nameAt}; every host needs its own name`);
    else seenNames.set(h.name, h.path);
    // "fd00::1", "fd00:0::1" and "FD00::1" are one host
    const addressAt = seenAddresses.get(canonicalAddress(h.address));
    if (addressAt) problems.push(`${h.path}.address: "${h.address}" is already the address of ${addressAt}; every node needs its own host`);
    else seenAddresses.set(canonicalAddress(h.address), h.path);
    const problem = addressProblem(h.address);
    if (problem === "not-a-host") {
      problems.push(`${h.path}.address: "${h.address}" is a loopback, unspecified, link-local or multicast address; expected the host's private address`);
    } else if (problem === "public" && !c.allowPublicAddresses) {
      problems.push(`${h.path}.address: "${h.address}" is a public address; expected a private one (10/8, 172.16/12, 192.168/16, fc00::/7), or set allowPublicAddresses: true`);
    } else if (problem === "public") {
      warnings.push(`${h.path}.address: "${h.address}" is public; ports 5000, 7777 and 8000 will be reachable there unless a firewall blocks them`);
    }
    const skip = `${h.path}.ssh.insecureSkipHostKeyCheck`;
    if (h.ssh.hostKey && h.ssh.insecureSkipHostKeyCheck) {
      problems.push(`${skip}: true, but ${h.path}.ssh.hostKey pins a key; keep the key (it is checked) and remove the opt-out`);
    } else if (h.ssh.insecureSkipHostKeyCheck) {
      warnings.push(`${skip}: true: the SSH host key of ${h.name} (${h.address}) is NOT checked; anyone on the path can impersonate it and receive the cluster's secrets`);
    } else if (!h.ssh.hostKey) {
      problems.push(`${h.path}.ssh.hostKey: missing; pin the host's key (\`ssh-keyscan -t ed25519 ${h.address}\`), or set ${skip}: true`);
    }
  }

  const servers = c.hosts.servers.map((s) => s.name);
  const pinned = new Map<string, string>();
  for (const [uuid, server] of Object.entries(c.routing.pins)) {
    const at = `routing.pins.${uuid}`;
    if (!servers.includes(server)) problems.push(`${at}: ${quote(server)} is not a dtable-server in hosts.servers (${servers.join(", ")})`);
    const key = normaliseUuid(uuid);
    const twin = pinned.get(key);
    if (twin !== undefined) problems.push(`${at}: the same base as routing.pins.${twin}; pin each base once`);
    pinned.set(key, uuid);
  }
  const buckets = 16 ** c.routing.bucketHexDigits;
  if (servers.length > buckets) {
    const more = c.routing.bucketHexDigits < 3 ? `; raise routing.bucketHexDigits to ${c.routing.bucketHexDigits + 1} (${16 ** (c.routing.bucketHexDigits + 1)} buckets)` : "";
    problems.push(`hosts.servers: ${servers.length} dtable-servers, but routing.bucketHexDigits ${c.routing.bucketHexDigits} makes ${buckets} buckets, and every dtable-server needs one${more}`);
  }
  const drained = c.hosts.servers.filter((s) => s.drain).map((s) => s.name);
  if (drained.length === servers.length) {
    problems.push("hosts.servers: every dtable-server has drain: true; at least one must keep serving bases");
  }
  for (const [uuid, server] of Object.entries(c.routing.pins)) {
    if (drained.includes(server)) problems.push(`routing.pins.${uuid}: "${server}" has drain: true; pin the base to a server that serves bases, or stop draining ${server}`);
  }
  const nodes = [WEB_NAME, DB_NAME, ...servers];
  if (c.rollout.backup && !nodes.includes(c.rollout.backup.host)) {
    problems.push(`rollout.backup.host: "${c.rollout.backup.host}" is not a host of this stack (${nodes.join(", ")})`);
  }
  c.rollout.evict.forEach((name, i) => {
    if (nodes.includes(name)) {
      problems.push(`rollout.evict[${i}]: "${name}" is still in hosts; evict is only for a dtable-server removed from hosts.servers whose host is dead`);
    }
  });
  if (c.routing.start === "seed" && servers.length < 2) {
    problems.push('routing.start: "seed" is the manual\'s two-server scheme (0-9 on the second dtable-server, a-f on the first); it needs at least two servers in hosts.servers');
  }

  const version = versionChecks(c);
  problems.push(...version.problems);
  warnings.push(...version.warnings);
  if (version.style === "6.2" && c.s3.buckets.avatar === undefined) {
    problems.push(`s3.buckets.avatar: missing; SeaTable ${version.version} requires S3_AVATAR_BUCKET, a publicly readable bucket for avatars`);
  }
  if (c.publicEntry === "caddy" && c.hosts.web.publicAddress === undefined) {
    problems.push("hosts.web.publicAddress: missing; with publicEntry caddy, caddy publishes 80/443 on this address (or set publicEntry: loadBalancer to publish port 80 on the private address for your own load balancer)");
  }
  const webPorts: Record<number, string> = { [PORTS.dtableWeb]: "dtable-web (gunicorn)", [PORTS.http]: "the public entry (http)" };
  if (c.publicEntry === "caddy") webPorts[PORTS.https] = "the public entry (caddy, https)";
  const clash = webPorts[c.proxy.port];
  if (clash) problems.push(`proxy.port: ${c.proxy.port} is already used on dtable-web by ${clash}; choose another (SeaTable expects 5000)`);
  return { problems, warnings, version };
}

export function validateStackConfig(raw: RawStackConfig, options: ValidateOptions): Validated {
  const fileProblems = raw.problems ?? [];
  const plain = Object.fromEntries(Object.entries(raw.values).filter(([k]) => !raw.secretKeys.has(k) && !(k in SECRET_KEYS) && k !== ENVIRONMENT_SECRETS));
  const parsed = stackConfigSchema.safeParse(plain, { reportInput: true });
  if (!parsed.success) {
    // the version decides which secrets are required: read it alone, if it is readable
    const own = stackConfigSchema.pick({ image: true, seatableVersion: true }).safeParse({ image: plain.image, seatableVersion: plain.seatableVersion });
    const style = own.success ? versionChecks(own.data).style : undefined;
    return { ok: false, problems: [...fileProblems, ...formatIssues(parsed.error.issues, "", knownKeys), ...secretProblems(raw, options.requireSecrets, style).problems] };
  }
  const c = parsed.data;
  const cross = crossChecks(c);
  const secrets = secretProblems(raw, options.requireSecrets, cross.version.style);
  const envSecrets = environmentSecrets(raw);
  const hostNames = [WEB_NAME, DB_NAME, ...c.hosts.servers.map((s) => s.name)];
  const problems = [...fileProblems, ...cross.problems, ...secrets.problems, ...envSecrets.problems, ...environmentProblems(c.environment, hostNames, envSecrets.names)];
  const backupSecret = c.rollout.backup?.commandSecret;
  if (backupSecret !== undefined && envSecrets.names !== undefined && !envSecrets.names.includes(backupSecret)) {
    problems.push(`rollout.backup.commandSecret: ${quote(backupSecret)} is not in ${ENVIRONMENT_SECRETS}; run \`pulumi config set --secret --path '${ENVIRONMENT_SECRETS}.${backupSecret}' '<backup command>'\``);
  }
  if (envSecrets.names === undefined) {
    cross.warnings.push(`${ENVIRONMENT_SECRETS}: set as one encrypted value, so plan cannot see which secrets it holds (pulumi up checks them); set each with \`pulumi config set --secret --path '${ENVIRONMENT_SECRETS}.<name>' <value>\` to have them checked here`);
  }
  const license = licenseProblem(c.licenseFile, options.readFile);
  if (license !== undefined) (options.requireSecrets ? problems : cross.warnings).push(license);
  // an up reads the key for the commands on the hosts unless the sshPrivateKey secret is set
  if (options.requireSecrets && c.ssh.privateKeyPath !== undefined && !secrets.set.includes("sshPrivateKey")) {
    const key = keyFileProblem(c.ssh.privateKeyPath, options.readFile);
    if (key !== undefined) problems.push(key);
  }

  const servers = c.hosts.servers.map((s) => s.name);
  let startTable: RoutingTable | undefined;
  const start = c.routing.start;
  if (start !== undefined && start !== "seed" && problems.length === 0) {
    let text: string | undefined;
    try {
      text = options.readFile(start.file);
    } catch (e) {
      problems.push(`routing.start.file: cannot read ${quote(start.file)}: ${readError(e)}`);
    }
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (e) {
        problems.push(`routing.start.file: ${quote(start.file)} is not JSON: ${(e as Error).message}`);
      }
      if (json !== undefined) {
        const read = parseRoutingTable(json, `routing.start.file(${start.file})`, servers);
        if (read.table && read.table.bucketHexDigits > c.routing.bucketHexDigits) {
          problems.push(`routing.start.file: ${quote(start.file)} has ${read.table.bucketHexDigits} hex digits per bucket, more than routing.bucketHexDigits (${c.routing.bucketHexDigits}); fewer digits would merge buckets that live on different servers`);
        }
        problems.push(...read.problems);
        startTable = read.table;
      }
    }
  }
  if (problems.length > 0) return { ok: false, problems };

  const ssh = (s: { user?: string; port?: number; hostKey?: string; insecureSkipHostKeyCheck?: boolean }) =>
    Object.freeze({
      user: s.user ?? c.ssh.user,
      port: s.port ?? c.ssh.port,
      ...(s.hostKey ? { hostKey: s.hostKey } : {}),
      ...(s.insecureSkipHostKeyCheck ? { insecureSkipHostKeyCheck: true as const } : {}),
    });
  const config: ClusterConfig = deepFreeze({
    ...c,
    seatableVersion: cross.version.version as string,
    ssh: c.ssh.privateKeyPath ? { privateKeyPath: c.ssh.privateKeyPath } : {},
    hosts: {
      web: {
        name: WEB_NAME,
        role: "dtable-web" as const,
        address: c.hosts.web.address,
        ssh: ssh(c.hosts.web.ssh),
        ...(c.hosts.web.publicAddress ? { publicAddress: c.hosts.web.publicAddress } : {}),
      },
      db: { name: DB_NAME, role: "dtable-db" as const, address: c.hosts.db.address, ssh: ssh(c.hosts.db.ssh) },
      servers: c.hosts.servers.map((s) => ({ name: s.name, role: "dtable-server" as const, address: s.address, weight: s.weight, drain: s.drain, ssh: ssh(s.ssh) })),
    },
    routing: {
      bucketHexDigits: c.routing.bucketHexDigits,
      pins: Object.fromEntries(Object.entries(c.routing.pins).map(([u, s]) => [normaliseUuid(u), s])),
      ...(c.routing.start !== undefined ? { start: c.routing.start } : {}),
    },
    secretsSet: secrets.set,
    environment: c.environment,
  });
  return { ok: true, config, ...(startTable ? { startTable } : {}), warnings: cross.warnings };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
