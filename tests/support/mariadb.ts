// A real MariaDB (Debian's mariadbd) on 127.0.0.1 for a test: its own data
// folder, system tables from Debian's SQL and one user with a password, made
// by `mariadbd --bootstrap`; started with the options a test gives
// (innodb_snapshot_isolation ON or OFF) and stopped with its process group.
// And the docker of dtable-web for the MariaDB read, a stand-in for a
// seatable-server container this machine cannot run.
import { execFileSync } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProcessGroup, spawnGroup } from "./process-group";
import { canConnect, freePort } from "./nginx";

const MARIADBD = "/usr/sbin/mariadbd";
const SYSTEM_TABLES = "/usr/share/mysql/mysql_system_tables.sql";
// small enough for a test: 16 MB of buffer pool, 4 MB redo log
const SMALL = ["--no-defaults", "--user=root", "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=4M"];

export type Mariadb = { readonly port: number; readonly user: string; readonly password: string; readonly dir: string; group?: ProcessGroup };

const sqlString = (s: string) => `'${s.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;

/** A data folder with the system tables and `user` (any host) with `password`. */
export function bootstrapMariadb(user: string, password: string): Mariadb {
  const dir = mkdtempSync(join(tmpdir(), "mariadb-"));
  mkdirSync(join(dir, "data"));
  // the bootstrap takes one statement per line of its own; CREATE USER needs the grant tables loaded
  const sql = [
    "CREATE DATABASE IF NOT EXISTS mysql;",
    "USE mysql;",
    readFileSync(SYSTEM_TABLES, "utf8"),
    `INSERT INTO global_priv (Host, User, Priv) VALUES ('%', ${sqlString(user)}, JSON_OBJECT('access', 0, 'plugin', 'mysql_native_password', 'authentication_string', PASSWORD(${sqlString(password)})));`,
    "",
  ].join("\n");
  execFileSync(MARIADBD, [...SMALL, "--bootstrap", `--datadir=${join(dir, "data")}`], { input: sql, timeout: 60_000, stdio: ["pipe", "ignore", "pipe"] });
  return { port: 0, user, password, dir };
}

/** Starts the server on 127.0.0.1 and a free port; resolves once it accepts connections (at most 30 s). */
export async function startMariadb(db: Mariadb, options: readonly string[]): Promise<Mariadb> {
  const port = await freePort();
  const log = openSync(join(db.dir, "mariadbd.log"), "a");
  let group: ProcessGroup;
  try {
    group = spawnGroup(MARIADBD, [...SMALL, `--datadir=${join(db.dir, "data")}`, "--bind-address=127.0.0.1", `--port=${port}`, `--socket=${join(db.dir, "sock")}`, `--pid-file=${join(db.dir, "pid")}`, "--skip-name-resolve", ...options], log, "mariadbd", 15_000);
  } finally {
    closeSync(log);
  }
  const started = Date.now();
  while (!(await canConnect(port))) {
    if (group.hasExited() || Date.now() - started > 30_000) {
      await group.stop();
      throw new Error(`mariadbd did not listen on 127.0.0.1:${port}\n${readFileSync(join(db.dir, "mariadbd.log"), "utf8").slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { ...db, port, group };
}

export async function stopMariadb(db: Mariadb | undefined): Promise<void> {
  await db?.group?.stop();
}

export function removeMariadb(db: Mariadb | undefined): void {
  if (db) rmSync(db.dir, { recursive: true, force: true });
}

/**
 * `DIR/docker`, what hostscripts/mariadb.sh asks of dtable-web's docker:
 * `docker inspect -f '{{.State.Running}}' seatable-server` prints true or
 * false (a missing container: exit 1, an empty line, Docker's error), and
 * `docker exec -i seatable-server CMD -` runs CMD (from /usr/bin or /bin) on
 * the stdin it is given with the container's environment and nothing else.
 * docker-contract.test.ts holds both to the real dockerd. The container is
 * what setStandinContainer last wrote.
 */
export function writeDockerStandin(dir: string): void {
  const script = `#!/bin/sh
dir=$(dirname "$0")
case "$*" in
  "inspect -f {{.State.Running}} seatable-server")
    state=$(cat "$dir/running")
    if [ "$state" = missing ]; then echo; echo "Error: No such object: seatable-server" >&2; exit 1; fi
    echo "$state" ;;
  "exec -i seatable-server "*" -")
    [ "$#" = 5 ] || { echo "docker stand-in: unsupported: docker $*" >&2; exit 125; }
    exec env -i PATH=/usr/bin:/bin PYTHONPATH="$dir/hide" sh -c 'set -a; . "$1"; set +a; exec "$2" -' sh "$dir/env" "$4" ;;
  *) echo "docker stand-in: unsupported: docker $*" >&2; exit 125 ;;
esac
`;
  writeFileSync(join(dir, "docker"), script);
  chmodSync(join(dir, "docker"), 0o755);
}

/** The stand-in's seatable-server: running, stopped or missing; its environment; the Python modules its python3 cannot import. */
export function setStandinContainer(dir: string, o: { running: "true" | "false" | "missing"; env: Readonly<Record<string, string>>; hide: readonly string[] }): void {
  const quote = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
  writeFileSync(join(dir, "running"), o.running);
  writeFileSync(join(dir, "env"), Object.entries(o.env).map(([k, v]) => `${k}=${quote(v)}\n`).join(""));
  rmSync(join(dir, "hide"), { recursive: true, force: true });
  mkdirSync(join(dir, "hide"));
  for (const m of o.hide) writeFileSync(join(dir, "hide", `${m}.py`), `raise ImportError("${m} is not in this image")\n`);
}
