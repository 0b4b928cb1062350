// MariaDB's innodb_snapshot_isolation, read as `pulumi up` and `plan --live`
// read dtable-web before they plan: dtable-web's node read (node-facts.sh,
// then mariadb.sh) through the system ssh and a real sshd, hostscripts/mariadb-check.py
// run by Debian's python3 with the drivers SeaTable's components bring
// (MySQLdb, PyMySQL), against a real mariadbd on 127.0.0.1.
//
// dtable-web's docker is a stand-in here (no SeaTable image to run; see
// writeDockerStandin), held to the real dockerd in docker-contract.test.ts.
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { factFindings, MariadbRead, nodeFactsCommand, parseNodeFacts } from "../pure/plan/node-facts";
import { bootstrapMariadb, Mariadb, removeMariadb, setStandinContainer, startMariadb, stopMariadb, writeDockerStandin } from "./support/mariadb";
import { runOverSsh, Sshd, startSshd, stopSshd } from "./support/sshd";
import { configOf, stackValues } from "./support/stacks";

const USER = "seatable";
// quotes and a space: the password travels only in the container's environment
const PASSWORD = `it's "a" pass`;

let sshd: Sshd | undefined;
let db: Mariadb;
let dir: string;

/** The stand-in's container: running or not, its environment, the drivers its python3 may not import. */
function container(o: { running: "true" | "false" | "missing"; password?: string; port?: number; hide?: readonly ("MySQLdb" | "pymysql")[] }) {
  setStandinContainer(dir, {
    running: o.running,
    env: { SEATABLE_MYSQL_DB_HOST: "127.0.0.1", SEATABLE_MYSQL_DB_PORT: String(o.port ?? db.port), SEATABLE_MYSQL_DB_USER: USER, SEATABLE_MYSQL_DB_PASSWORD: o.password ?? PASSWORD },
    hide: o.hide ?? [],
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mariadb-read-"));
  writeDockerStandin(dir);
  mkdirSync(join(dir, "conf"));
  sshd = await startSshd();
  db = bootstrapMariadb(USER, PASSWORD);
}, 60000);

afterAll(async () => {
  await stopMariadb(db);
  await stopSshd(sshd);
  removeMariadb(db);
  rmSync(dir, { recursive: true, force: true });
});

/** dtable-web's node read over ssh, its MariaDB part as parsed, and how long it took. */
async function readWeb(): Promise<{ mariadb: MariadbRead | undefined; stdout: string; ms: number }> {
  const r = await runOverSsh(sshd as Sshd, `PATH='${dir}':$PATH; export PATH\n${nodeFactsCommand({ confDir: join(dir, "conf"), mariadb: true })}`);
  expect([r.status, r.stderr]).toEqual([0, ""]);
  return { mariadb: parseNodeFacts(r.stdout, "dtable-web").mariadb, stdout: r.stdout, ms: r.ms };
}

const config = configOf(stackValues("dev"));
const findingsOf = (mariadb: MariadbRead | undefined) => factFindings(config, { "dtable-web": { controllerConf: false, deprecatedConf: { files: {}, problems: [] }, ...(mariadb ? { mariadb } : {}) } });

describe("innodb_snapshot_isolation ON (MariaDB 11.6.2's default)", () => {
  beforeAll(async () => {
    db = await startMariadb(db, ["--innodb-snapshot-isolation=ON"]);
  }, 60000);
  afterAll(async () => {
    await stopMariadb(db);
  }, 30000);

  test("read through MySQLdb (Django's driver): ON with the server's version; the plan warns with what to set", async () => {
    container({ running: "true" });
    const { mariadb } = await readWeb();
    expect(mariadb).toEqual({ snapshotIsolation: "ON", version: expect.stringMatching(/^10\.11\.\d+-MariaDB/) });
    const f = findingsOf(mariadb);
    expect(f.errors).toEqual([]);
    expect(f.warnings).toEqual([expect.stringMatching(/^MariaDB 10\.11\.\d+-MariaDB\S* at 192\.0\.2\.40:3306 runs with innodb_snapshot_isolation ON: SeaTable's writes fail with error 1020 .*Set innodb_snapshot_isolation = OFF under \[mariadbd\]/)]);
  }, 60000);

  test("read through PyMySQL when the image has no MySQLdb: the same", async () => {
    container({ running: "true", hide: ["MySQLdb"] });
    expect((await readWeb()).mariadb).toEqual({ snapshotIsolation: "ON", version: expect.stringMatching(/^10\.11\./) });
  }, 60000);

  test("a wrong password: not checked, the server's refusal said, a warning to check it by hand; no password printed", async () => {
    container({ running: "true", password: "not-it" });
    const { mariadb, stdout } = await readWeb();
    expect(mariadb).toEqual({ unchecked: expect.stringMatching(/^cannot connect to 127\.0\.0\.1:\d+ as seatable: .*Access denied for user 'seatable'/) });
    expect(stdout).not.toContain("not-it");
    expect(stdout).not.toContain(PASSWORD);
    expect(findingsOf(mariadb).warnings).toEqual([expect.stringMatching(/^dtable-web: MariaDB's innodb_snapshot_isolation could not be checked from its seatable-server \(cannot connect .*\)\. Check it on the database server: SELECT @@GLOBAL\.innodb_snapshot_isolation; must give 0\.$/)]);
  }, 60000);

  test("no driver in the image: not checked, and said why", async () => {
    container({ running: "true", hide: ["MySQLdb", "pymysql"] });
    expect((await readWeb()).mariadb).toEqual({ unchecked: "neither MySQLdb nor PyMySQL is installed in the container" });
  }, 60000);

  test("seatable-server stopped or not there yet (a first up): not checked yet, and no warning", async () => {
    for (const running of ["false", "missing"] as const) {
      container({ running });
      const { mariadb } = await readWeb();
      expect(mariadb).toEqual({ noContainer: true });
      expect(findingsOf(mariadb)).toEqual({ errors: [], warnings: [], lines: ["dtable-web: memory unknown", "MariaDB (192.0.2.40:3306): not checked yet; seatable-server does not run on dtable-web"] });
    }
  }, 60000);
});

describe("innodb_snapshot_isolation OFF (as SeaTable's own MariaDB runs)", () => {
  let port: number;
  beforeAll(async () => {
    db = await startMariadb(db, ["--innodb-snapshot-isolation=OFF"]);
    port = db.port;
  }, 60000);

  test("OFF: no warning, the line says the version and the setting", async () => {
    container({ running: "true" });
    const { mariadb } = await readWeb();
    expect(mariadb).toEqual({ snapshotIsolation: "OFF", version: expect.stringMatching(/^10\.11\./) });
    const f = findingsOf(mariadb);
    expect(f.warnings).toEqual([]);
    expect(f.lines[1]).toMatch(/^MariaDB \(192\.0\.2\.40:3306\): 10\.11\.\d+-MariaDB\S*, innodb_snapshot_isolation OFF$/);
  }, 60000);

  test("a server that accepts and never answers: not checked, well within the read's 20 s", async () => {
    const held: Socket[] = [];
    const silent = createServer((socket) => void held.push(socket));
    const silentPort = await new Promise<number>((resolve) => silent.listen(0, "127.0.0.1", () => resolve((silent.address() as { port: number }).port)));
    try {
      container({ running: "true", port: silentPort });
      const { mariadb, ms } = await readWeb();
      expect(mariadb).toEqual({ unchecked: expect.stringMatching(/^cannot connect to 127\.0\.0\.1:\d+ as seatable: .*(timed out|Lost connection)/) });
      expect(ms).toBeLessThan(15_000);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  }, 60000);

  test("MariaDB down: not checked, within the read's 20 s", async () => {
    await stopMariadb(db);
    container({ running: "true", port });
    const { mariadb, ms } = await readWeb();
    expect(mariadb).toEqual({ unchecked: expect.stringMatching(/^cannot connect to 127\.0\.0\.1:\d+ as seatable: .*Can't connect/) });
    expect(ms).toBeLessThan(20_000);
  }, 60000);
});
