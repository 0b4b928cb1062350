// What the plan makes of each node's memory and conf files (node-facts.ts):
// the heap warning at its exact edge, a leftover seatable-controller.conf
// refused, and a move to 6.2 refused until every changed 6.1 setting is
// carried or accepted, with the lines that do it.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { ClusterConfig } from "../pure/config/schema";
import { CONF_FILES_UNREAD_FROM_6_2 } from "../pure/plan/seatable";
import { CONTAINER_ROOM_MB, CONTROLLER_CONF, factFindings, HostFacts, NodeFacts, parseNodeFacts } from "../pure/plan/node-facts";
import { configOf, stackValues } from "./support/stacks";

const MIB = 1024;
const facts = (memoryMb: number, extra: Partial<NodeFacts> = {}): NodeFacts => ({ memoryKiB: memoryMb * MIB, controllerConf: false, deprecatedConf: { files: {}, problems: [] }, ...extra });
const everyNode = (c: ClusterConfig, f: NodeFacts): HostFacts => Object.fromEntries([c.hosts.web, c.hosts.db, ...c.hosts.servers].map((n) => [n.name, f]));
const v62 = (environment?: Record<string, unknown>) => {
  const v = stackValues("dev");
  return { ...v, image: "seatable/seatable-enterprise:6.2.13", s3: { ...v.s3, buckets: { ...v.s3.buckets, avatar: "avatars" } }, ...(environment ? { environment } : {}) };
};
const EDITED = join(__dirname, "corpus", "conf-6.1", "edited");
const edited = Object.fromEntries(CONF_FILES_UNREAD_FROM_6_2.map((f) => [f, readFileSync(join(EDITED, f), "utf8")]));

describe("dtable-server's heap against the host's memory", () => {
  const config = configOf(stackValues("dev"));

  test("the default heap (8192 MB) and the container's room fit exactly: no warning; one MB less memory: a warning that says what to set", () => {
    expect(factFindings(config, everyNode(config, facts(8192 + CONTAINER_ROOM_MB))).warnings).toEqual([]);
    const short = factFindings(config, { "dtable-server-2": facts(8192 + CONTAINER_ROOM_MB - 1) });
    expect(short.warnings).toEqual([
      "dtable-server-2: dtable-server may grow its heap to 8192 MB (DTABLE_SERVER_MEMORY_SIZE, the start script's default), and the rest of its container needs about 2048 MB more, but the host has 10.0 GiB: when the heap fills, the kernel kills dtable-server and its unsaved bases replay from the operation log. Set environment.hosts.dtable-server-2.DTABLE_SERVER_MEMORY_SIZE to at most 8191, or give the host more memory.",
    ]);
    expect(short.errors).toEqual([]);
  });

  test("the heap comes from the node's environment (host over role); dtable-web and dtable-db run no dtable-server", () => {
    const c = configOf({ ...stackValues("dev"), environment: { "dtable-server": { DTABLE_SERVER_MEMORY_SIZE: "5000" }, hosts: { "dtable-server-2": { DTABLE_SERVER_MEMORY_SIZE: "6000" } } } });
    const small = facts(5000 + CONTAINER_ROOM_MB);
    const r = factFindings(c, everyNode(c, small));
    expect(r.warnings.map((w) => w.slice(0, w.indexOf(":")))).toEqual(["dtable-server-2"]);
    expect(r.warnings[0]).toContain("grow its heap to 6000 MB (DTABLE_SERVER_MEMORY_SIZE)");
    expect(r.lines).toEqual([
      "dtable-web: 6.9 GiB memory",
      "dtable-db: 6.9 GiB memory",
      "dtable-server: 6.9 GiB memory; dtable-server heap up to 5000 MB (DTABLE_SERVER_MEMORY_SIZE)",
      "dtable-server-2: 6.9 GiB memory; dtable-server heap up to 6000 MB (DTABLE_SERVER_MEMORY_SIZE)",
    ]);
  });

  test("memory not read: said so, and no warning; a host not read: a warning, nothing checked", () => {
    const r = factFindings(config, { "dtable-server": { controllerConf: false, deprecatedConf: { files: {}, problems: [] } }, "dtable-server-2": { unreadable: "ssh: connect to host 192.0.2.22 port 22: Connection refused" } });
    expect(r.lines).toEqual(["dtable-server: memory unknown; dtable-server heap up to 8192 MB (DTABLE_SERVER_MEMORY_SIZE)"]);
    expect(r.warnings).toEqual(["dtable-server-2 (192.0.2.22): its memory and conf files could not be read (ssh: connect to host 192.0.2.22 port 22: Connection refused); they are not checked"]);
  });
});

test("a leftover seatable-controller.conf is refused, on any node, with what to do", () => {
  const config = configOf(stackValues("dev"));
  const r = factFindings(config, { "dtable-db": facts(65536, { controllerConf: true }) });
  expect(r.errors).toEqual([
    `dtable-db: ${CONTROLLER_CONF} exists. Older manuals had admins create it; it overrides the role switches (ENABLE_*) this program sets, and the container then skips database upgrades. Move it aside on the host (\`mv ${CONTROLLER_CONF} ${CONTROLLER_CONF}.disabled\`) and run again.`,
  ]);
});

describe("the move from 6.1 to 6.2: every changed setting carried or accepted before anything moves", () => {
  const withFiles = (c: ClusterConfig) => everyNode(c, facts(65536, { deprecatedConf: { files: edited, problems: [] } }));

  test("on 6.1 the files are SeaTable's own: nothing to check", () => {
    const c = configOf(stackValues("dev"));
    expect(factFindings(c, withFiles(c)).errors).toEqual([]);
  });

  test("on 6.2, refused with each setting and the stack config lines; once they are added, nothing is refused", () => {
    const c = configOf(v62());
    const refused = factFindings(c, withFiles(c)).errors;
    expect(refused[0]).toBe(
      "SeaTable 6.2.13 no longer reads these settings of 6.1's conf files, and the move to it would drop them (the manual's 6.2 upgrade notice: they must move to environment variables):",
    );
    expect(refused.some((l) => l.includes("dtable_server_config.json base_writable_limit") && l.includes("BASE_WRITABLE_LIMIT"))).toBe(true);
    const at = refused.indexOf("Add these lines under config: in the stack file, indented as printed (merge them with an environment section it has), then run again; docs/conf-migration.md lists every setting and its variable:");
    expect(at).toBeGreaterThan(0);
    const lines = refused.slice(at + 1).map((l) => l.slice(2));
    const added = (parse(lines.join("\n")) as Record<string, unknown>)["seatable-cluster:environment"] as Record<string, unknown>;
    expect(Object.keys(added)).toEqual(expect.arrayContaining(["dtable-server"]));
    const carried = configOf(v62(added));
    expect(factFindings(carried, withFiles(carried)).errors).toEqual([]);
  });

  test("a file that cannot be read or parsed on the way to 6.2 is refused: its settings are unknown", () => {
    const c = configOf(v62());
    const r = factFindings(c, {
      "dtable-db": facts(65536, { deprecatedConf: { files: { "dtable-db.conf": "[general\nport = 7777\n" }, problems: ["dtable-db: dtable-db.conf exists but cannot be read"] } }),
    });
    expect(r.errors[0]).toBe("dtable-db: dtable-db.conf exists but cannot be read");
    expect(r.errors[1]).toMatch(/^dtable-db: .*dtable-db\.conf/);
  });
});

test("parseNodeFacts: the two lines of node-facts.sh and the files after them; without its controller line it is not this program's read", () => {
  expect(parseNodeFacts("memory-kib 8000000\ncontroller-conf absent\nmissing dtable-db.conf\n", "h")).toEqual({ memoryKiB: 8000000, controllerConf: false, deprecatedConf: { files: {}, problems: [] } });
  expect(parseNodeFacts("controller-conf present\n", "h")).toEqual({ controllerConf: true, deprecatedConf: { files: {}, problems: [] } });
  expect(() => parseNodeFacts("memory-kib 8000000\n", "dtable-db")).toThrow('reading dtable-db: no "controller-conf" line in what it printed');
  expect(parseNodeFacts("controller-conf absent\nhello\n", "h").deprecatedConf.problems).toEqual(['h: unexpected line from the conf read: "hello"']);
});

test("6.2's SECRET_KEY: the old line's hash against the secret's; a mismatch refuses without printing either; 6.1, plan (no secret) or no line: nothing", () => {
  const hash = (s: string) => createHash("sha256").update(s).digest("hex");
  const web = (secretKeySha256?: string) => ({ "dtable-web": facts(65536, secretKeySha256 ? { secretKeySha256 } : {}) });
  const c62 = configOf(v62());
  const refused = factFindings(c62, web(hash("old-key")), hash("new-key")).errors;
  expect(refused).toEqual([
    "dtable-web: the SECRET_KEY in /opt/seatable-server/seatable/conf/dtable_web_settings.py is not the secret secretKey. SeaTable 6.2 takes it from the environment, and dtable-events derives the key of encrypted automation secrets from it: with another value they cannot be read. Set secretKey to the file's value (on dtable-web: `grep SECRET_KEY /opt/seatable-server/seatable/conf/dtable_web_settings.py`, then `pulumi config set --secret secretKey '<value>'`) and run again.",
  ]);
  expect(refused.join("")).not.toContain(hash("old-key"));
  expect(factFindings(c62, web(hash("same")), hash("same")).errors).toEqual([]);
  expect(factFindings(c62, web(hash("old-key")), undefined).errors).toEqual([]);
  expect(factFindings(c62, web(), hash("new-key")).errors).toEqual([]);
  expect(factFindings(configOf(stackValues("dev")), web(hash("old-key")), hash("new-key")).errors).toEqual([]);
  // only dtable-web's file counts
  expect(factFindings(c62, { "dtable-db": facts(65536, { secretKeySha256: hash("old-key") }) }, hash("new-key")).errors).toEqual([]);
});

test("parseNodeFacts takes a fact only from a whole line, and leaves out what was not printed", () => {
  const f = parseNodeFacts(`xcontroller-conf present\ncontroller-conf absent\nmemory-kib 5 more\nsecret-key-sha256 ${"a".repeat(64)} x\n`, "h");
  expect(f.controllerConf).toBe(false);
  expect("memoryKiB" in f).toBe(false);
  expect("secretKeySha256" in f).toBe(false);
  expect(f.deprecatedConf.problems).toHaveLength(3);
  expect("memoryKiB" in parseNodeFacts("controller-conf absent\n", "h")).toBe(false);
});

describe("MariaDB's innodb_snapshot_isolation (read on dtable-web: tests/mariadb.ssh.test.ts runs the read)", () => {
  const config = configOf(stackValues("dev"));
  const at = (node: string, mariadb: NodeFacts["mariadb"]) => factFindings(config, { [node]: facts(65536, mariadb ? { mariadb } : {}) });

  test("parseNodeFacts: each of mariadb.sh's lines, from the whole line only; none printed, none taken", () => {
    const parse = (line: string) => parseNodeFacts(`controller-conf absent\n${line}\n`, "dtable-web");
    expect(parse("mariadb-snapshot-isolation ON 11.8.2-MariaDB-ubu2404").mariadb).toEqual({ snapshotIsolation: "ON", version: "11.8.2-MariaDB-ubu2404" });
    expect(parse("mariadb-snapshot-isolation absent 8.0.36").mariadb).toEqual({ snapshotIsolation: "absent", version: "8.0.36" });
    expect(parse("mariadb-unchecked cannot connect: x").mariadb).toEqual({ unchecked: "cannot connect: x" });
    expect(parse("mariadb-no-container").mariadb).toEqual({ noContainer: true });
    for (const odd of ["mariadb-snapshot-isolation YES 11.8", "mariadb-snapshot-isolation ON ", "xmariadb-no-container", "mariadb-unchecked "]) {
      const f = parse(odd);
      expect("mariadb" in f).toBe(false);
      expect(f.deprecatedConf.problems).toEqual([`dtable-web: unexpected line from the conf read: ${JSON.stringify(odd)}`]);
    }
    expect("mariadb" in parseNodeFacts("controller-conf absent\n", "h")).toBe(false);
  });

  test("ON warns and refuses nothing; OFF and a server without the setting only say so; only dtable-web's read counts", () => {
    expect(at("dtable-web", { snapshotIsolation: "ON", version: "11.8.2-MariaDB" })).toEqual({
      errors: [],
      warnings: [
        'MariaDB 11.8.2-MariaDB at 192.0.2.40:3306 runs with innodb_snapshot_isolation ON: SeaTable\'s writes fail with error 1020 "Record has changed since last read" when two of them meet. Set innodb_snapshot_isolation = OFF under [mariadbd] in the server\'s configuration and restart MariaDB (SeaTable\'s own MariaDB container runs with it off).',
      ],
      lines: ["dtable-web: 64.0 GiB memory", "MariaDB (192.0.2.40:3306): 11.8.2-MariaDB, innodb_snapshot_isolation ON"],
    });
    expect(at("dtable-web", { snapshotIsolation: "OFF", version: "11.8.2-MariaDB" })).toEqual({ errors: [], warnings: [], lines: ["dtable-web: 64.0 GiB memory", "MariaDB (192.0.2.40:3306): 11.8.2-MariaDB, innodb_snapshot_isolation OFF"] });
    expect(at("dtable-web", { snapshotIsolation: "absent", version: "10.5.9-MariaDB" }).lines[1]).toBe("MariaDB (192.0.2.40:3306): 10.5.9-MariaDB, innodb_snapshot_isolation not a setting of this server");
    expect(at("dtable-db", { snapshotIsolation: "ON", version: "11.8.2-MariaDB" })).toEqual({ errors: [], warnings: [], lines: ["dtable-db: 64.0 GiB memory"] });
  });
});
