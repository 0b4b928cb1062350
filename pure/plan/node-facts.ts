// What the plan checks on each node before anything changes, besides its
// containers (host-containers.ts): the host's memory against dtable-server's
// heap, a leftover seatable-controller.conf, on the way to 6.2 the settings
// of the conf files 6.2 no longer reads (conf-migration.ts), and, from
// dtable-web's container, MariaDB's innodb_snapshot_isolation.
import { DTABLE_SERVER_MEMORY_DEFAULT_MB } from "../config/environment";
import type { ClusterConfig, NodeHost } from "../config/schema";
import { changedSettings, deprecatedConfReadCommand, DeprecatedConfRead, migrationProblems, NodeSettings, parseDeprecatedConfRead } from "./conf-migration";
import { SEATABLE_CONTAINER, seatableEnvironment } from "./containers";
import { hostScript, scriptText } from "./host-scripts";
import { CONF_DIR, versionStyle, WEB_SETTINGS } from "./seatable";

export type NodeFacts = {
  /** MemTotal; absent when /proc/meminfo could not be read */
  readonly memoryKiB?: number;
  readonly controllerConf: boolean;
  /** sha256 of the SECRET_KEY value in dtable_web_settings.py; absent when the file has none */
  readonly secretKeySha256?: string;
  /** the conf files 6.2 no longer reads, as found */
  readonly deprecatedConf: DeprecatedConfRead;
  /** MariaDB as dtable-web's container reaches it (read on dtable-web only) */
  readonly mariadb?: MariadbRead;
};

/** hostscripts/mariadb.sh's line: innodb_snapshot_isolation and the server's version, or why it was not read. */
export type MariadbRead = { readonly snapshotIsolation: "ON" | "OFF" | "absent"; readonly version: string } | { readonly unchecked: string } | { readonly noContainer: true };

/** Each node's facts, or why they could not be read. */
export type HostFacts = Readonly<Record<string, NodeFacts | { readonly unreadable: string }>>;

export const CONTROLLER_CONF = `${CONF_DIR}/seatable-controller.conf`;

/**
 * What a dtable-server container needs besides dtable-server's heap: its
 * storage server, nginx, the monitor, Node's memory outside the heap. Our
 * choice (the manual gives none): 2 GiB.
 */
export const CONTAINER_ROOM_MB = 2048;

/**
 * The read-only command (hostscripts/node-facts.sh, then deprecated-conf.sh);
 * `mariadb`: then hostscripts/mariadb.sh, for dtable-web. All nodes share one
 * MariaDB, and dtable-web's first start creates SeaTable's databases in it.
 */
export function nodeFactsCommand(options: { readonly confDir?: string; readonly mariadb?: boolean } = {}): string {
  const confDir = options.confDir ?? CONF_DIR;
  const mariadb = options.mariadb ? `\n${hostScript(["mariadb"], { CONTAINER: SEATABLE_CONTAINER, MARIADB_CHECK: scriptText("mariadb-check.py") })}` : "";
  return `${hostScript(["node-facts"], { CONF_DIR: confDir })}\n${deprecatedConfReadCommand(confDir)}${mariadb}`;
}

/** Parses nodeFactsCommand's output; a line of neither script is an error that names the host. */
export function parseNodeFacts(output: string, host: string): NodeFacts {
  let memoryKiB: number | undefined;
  let controllerConf: boolean | undefined;
  let secretKeySha256: string | undefined;
  let mariadb: MariadbRead | undefined;
  const rest: string[] = [];
  for (const line of output.split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = /^memory-kib (\d{1,15})$/.exec(line))) memoryKiB = Number(m[1]);
    else if ((m = /^controller-conf (present|absent)$/.exec(line))) controllerConf = m[1] === "present";
    else if ((m = /^secret-key-sha256 ([0-9a-f]{64})$/.exec(line))) secretKeySha256 = m[1];
    else if (line === "secret-key absent") continue;
    else if ((m = /^mariadb-snapshot-isolation (ON|OFF|absent) (\S.*)$/.exec(line))) mariadb = { snapshotIsolation: m[1] as "ON" | "OFF" | "absent", version: m[2] };
    else if ((m = /^mariadb-unchecked (\S.*)$/.exec(line))) mariadb = { unchecked: m[1] };
    else if (line === "mariadb-no-container") mariadb = { noContainer: true };
    else rest.push(line);
  }
  if (controllerConf === undefined) throw new Error(`reading ${host}: no "controller-conf" line in what it printed`);
  return { ...(memoryKiB !== undefined ? { memoryKiB } : {}), controllerConf, ...(secretKeySha256 !== undefined ? { secretKeySha256 } : {}), deprecatedConf: parseDeprecatedConfRead(rest.join("\n"), host), ...(mariadb ? { mariadb } : {}) };
}

export type FactFindings = {
  /** what stops an `up` before anything changes */
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  /** one line per node, for `plan --live` and `up`'s log */
  readonly lines: readonly string[];
};

const gib = (kib: number) => `${(kib / 1024 / 1024).toFixed(1)} GiB`;

/** The heap a node's dtable-server gets: its DTABLE_SERVER_MEMORY_SIZE, or the start script's default. */
export function dtableServerHeapMb(config: ClusterConfig, host: NodeHost): number {
  const set = seatableEnvironment(config, host).env.DTABLE_SERVER_MEMORY_SIZE;
  return set !== undefined ? Number(set) : DTABLE_SERVER_MEMORY_DEFAULT_MB;
}

/**
 * MariaDB 11.6.2 and newer turn innodb_snapshot_isolation on by default, and
 * SeaTable's writes then fail with error 1020 ("Record has changed since last
 * read"); SeaTable's own MariaDB container turns it off. A warning, not a
 * refusal: the program cannot change the database, and an `up` (a drain, a
 * new server) must stay possible while the admin does.
 */
function mariadbFindings(config: ClusterConfig, read: MariadbRead, lines: string[], warnings: string[]): void {
  const at = `${config.mariadb.host}:${config.mariadb.port}`;
  if ("noContainer" in read) lines.push(`MariaDB (${at}): not checked yet; ${SEATABLE_CONTAINER} does not run on ${config.hosts.web.name}`);
  else if ("unchecked" in read) {
    lines.push(`MariaDB (${at}): not checked (${read.unchecked})`);
    warnings.push(`${config.hosts.web.name}: MariaDB's innodb_snapshot_isolation could not be checked from its ${SEATABLE_CONTAINER} (${read.unchecked}). Check it on the database server: SELECT @@GLOBAL.innodb_snapshot_isolation; must give 0.`);
  } else {
    lines.push(`MariaDB (${at}): ${read.version}, innodb_snapshot_isolation ${read.snapshotIsolation === "absent" ? "not a setting of this server" : read.snapshotIsolation}`);
    if (read.snapshotIsolation === "ON") {
      warnings.push(
        `MariaDB ${read.version} at ${at} runs with innodb_snapshot_isolation ON: SeaTable's writes fail with error 1020 "Record has changed since last read" when two of them meet. Set innodb_snapshot_isolation = OFF under [mariadbd] in the server's configuration and restart MariaDB (SeaTable's own MariaDB container runs with it off).`,
      );
    }
  }
}

/**
 * `secretKeySha256`: the sha256 of the secret secretKey (`pulumi up` has it;
 * the offline plan has none, and compares nothing).
 */
export function factFindings(config: ClusterConfig, facts: HostFacts, secretKeySha256?: string): FactFindings {
  const errors: string[] = [];
  const warnings: string[] = [];
  const lines: string[] = [];
  const nodes: NodeHost[] = [config.hosts.web, config.hosts.db, ...config.hosts.servers];
  const to62 = versionStyle(config.seatableVersion) === "6.2";
  const settings: NodeSettings[] = [];
  for (const node of nodes) {
    const read = facts[node.name];
    if (read === undefined) continue;
    if ("unreadable" in read) {
      warnings.push(`${node.name} (${node.address}): its memory and conf files could not be read (${read.unreadable}); they are not checked`);
      continue;
    }
    if (read.controllerConf) {
      errors.push(
        `${node.name}: ${CONTROLLER_CONF} exists. Older manuals had admins create it; it overrides the role switches (ENABLE_*) this program sets, and the container then skips database upgrades. Move it aside on the host (\`mv ${CONTROLLER_CONF} ${CONTROLLER_CONF}.disabled\`) and run again.`,
      );
    }
    const memory = read.memoryKiB !== undefined ? `${gib(read.memoryKiB)} memory` : "memory unknown";
    if (node.role === "dtable-server") {
      const heap = dtableServerHeapMb(config, node);
      lines.push(`${node.name}: ${memory}; dtable-server heap up to ${heap} MB (DTABLE_SERVER_MEMORY_SIZE)`);
      if (read.memoryKiB !== undefined && (heap + CONTAINER_ROOM_MB) * 1024 > read.memoryKiB) {
        warnings.push(
          `${node.name}: dtable-server may grow its heap to ${heap} MB (DTABLE_SERVER_MEMORY_SIZE${heap === DTABLE_SERVER_MEMORY_DEFAULT_MB ? ", the start script's default" : ""}), and the rest of its container needs about ${CONTAINER_ROOM_MB} MB more, but the host has ${gib(read.memoryKiB)}: when the heap fills, the kernel kills dtable-server and its unsaved bases replay from the operation log. Set environment.hosts.${node.name}.DTABLE_SERVER_MEMORY_SIZE to at most ${Math.max(0, Math.floor(read.memoryKiB / 1024) - CONTAINER_ROOM_MB)}, or give the host more memory.`,
        );
      }
    } else {
      lines.push(`${node.name}: ${memory}`);
    }
    if (node.role === "dtable-web" && read.mariadb) mariadbFindings(config, read.mariadb, lines, warnings);
    if (to62 && node.role === "dtable-web" && read.secretKeySha256 !== undefined && secretKeySha256 !== undefined && read.secretKeySha256 !== secretKeySha256) {
      // compared as hashes: neither value is printed
      errors.push(
        `${node.name}: the SECRET_KEY in ${WEB_SETTINGS} is not the secret secretKey. SeaTable 6.2 takes it from the environment, and dtable-events derives the key of encrypted automation secrets from it: with another value they cannot be read. Set secretKey to the file's value (on dtable-web: \`grep SECRET_KEY ${WEB_SETTINGS}\`, then \`pulumi config set --secret secretKey '<value>'\`) and run again.`,
      );
    }
    if (to62) {
      errors.push(...read.deprecatedConf.problems);
      const changed = changedSettings(read.deprecatedConf.files);
      errors.push(...changed.problems.map((p) => `${node.name}: ${p}`));
      settings.push({ host: node.name, role: node.role, settings: changed.settings });
    }
  }
  if (settings.length > 0) {
    const environmentOf = (host: string) => {
      const e = seatableEnvironment(config, nodes.find((n) => n.name === host)!);
      return { ...e.env, ...Object.fromEntries(Object.keys(e.secretEnv).map((k) => [k, "[secret]"])) };
    };
    const migration = migrationProblems(settings, environmentOf, config.environment.acceptDefaults);
    if (migration.problems.length > 0) {
      errors.push(
        `SeaTable ${config.seatableVersion} no longer reads these settings of 6.1's conf files, and the move to it would drop them (the manual's 6.2 upgrade notice: they must move to environment variables):`,
        ...migration.problems.map((p) => `  ${p}`),
        "Add these lines under config: in the stack file, indented as printed (merge them with an environment section it has), then run again; docs/conf-migration.md lists every setting and its variable:",
        ...migration.lines.map((l) => `  ${l}`),
      );
    }
  }
  return { errors, warnings, lines };
}
