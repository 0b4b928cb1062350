// The read of the conf files SeaTable 6.2 no longer reads
// (hostscripts/deprecated-conf.sh) and the node read around it (node-facts.sh), run for real: the system ssh against a real
// sshd on 127.0.0.1, the corpus in a temporary conf dir given in the header.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { changedSettings, deprecatedConfReadCommand, DeprecatedFile, parseDeprecatedConfRead } from "../pure/plan/conf-migration";
import { CONF_FILES_UNREAD_FROM_6_2 } from "../pure/plan/seatable";
import { nodeFactsCommand, parseNodeFacts } from "../pure/plan/node-facts";
import { runOverSsh, Sshd, startSshd, stopSshd } from "./support/sshd";

let sshd: Sshd | undefined;
let conf: string;

beforeAll(async () => {
  sshd = await startSshd();
}, 30000);

afterAll(async () => {
  await stopSshd(sshd);
});

beforeEach(() => {
  conf = mkdtempSync(join(tmpdir(), "deprecated-conf-"));
});

afterEach(() => {
  rmSync(conf, { recursive: true, force: true });
});

const CORPUS = join(__dirname, "corpus", "conf-6.1", "edited");
const corpusText = (f: DeprecatedFile) => readFileSync(join(CORPUS, f), "utf8");

async function read(limit?: number) {
  const r = await runOverSsh(sshd as Sshd, deprecatedConfReadCommand(conf, limit));
  expect([r.status, r.stderr]).toEqual([0, ""]);
  return parseDeprecatedConfRead(r.stdout, "dtable-web");
}

test("the five files come back byte for byte, and give the same findings as read locally", async () => {
  for (const f of CONF_FILES_UNREAD_FROM_6_2) writeFileSync(join(conf, f), corpusText(f));
  const before = Object.fromEntries(CONF_FILES_UNREAD_FROM_6_2.map((f) => [f, statSync(join(conf, f)).mtimeMs]));
  const { files, problems } = await read();
  expect(problems).toEqual([]);
  expect(files).toEqual(Object.fromEntries(CONF_FILES_UNREAD_FROM_6_2.map((f) => [f, corpusText(f)])));
  expect(changedSettings(files)).toEqual(changedSettings(Object.fromEntries(CONF_FILES_UNREAD_FROM_6_2.map((f) => [f, corpusText(f)]))));
  expect(changedSettings(files).settings.map((s) => s.variable)).toContain("BASE_WRITABLE_LIMIT");
  // read-only
  expect(Object.fromEntries(CONF_FILES_UNREAD_FROM_6_2.map((f) => [f, statSync(join(conf, f)).mtimeMs]))).toEqual(before);
}, 30000);

test("a missing file is no file, an empty one has no settings, one over the limit is a problem and not a guess", async () => {
  writeFileSync(join(conf, "dtable-events.conf"), "");
  writeFileSync(join(conf, "dtable-db.conf"), corpusText("dtable-db.conf"));
  const big = corpusText("dtable_server_config.json").replace("{", `{\n    "padding": "${"x".repeat(2000)}",`);
  writeFileSync(join(conf, "dtable_server_config.json"), big);
  const { files, problems } = await read(1024);
  expect(files).toEqual({ "dtable-events.conf": "", "dtable-db.conf": corpusText("dtable-db.conf") });
  expect(problems).toEqual([`dtable-web: dtable_server_config.json has ${Buffer.byteLength(big)} bytes, more than the 1024 read: its settings are unknown; check it by hand`]);
  expect(changedSettings(files).settings.map((s) => s.id)).toEqual(["dtable-db.conf:[dtable cache]total_cache_size"]);
}, 30000);

test("a conf dir without any of the files reads as nothing to migrate", async () => {
  expect(await read()).toEqual({ files: {}, problems: [] });
}, 30000);

test("the node read (memory, seatable-controller.conf, then the five files) over ssh: what factFindings is given", async () => {
  writeFileSync(join(conf, "dtable_server_config.json"), corpusText("dtable_server_config.json"));
  const run = async () => {
    const r = await runOverSsh(sshd as Sshd, nodeFactsCommand(conf));
    expect([r.status, r.stderr]).toEqual([0, ""]);
    return parseNodeFacts(r.stdout, "dtable-server-2");
  };
  const facts = await run();
  const kib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
  expect(facts).toEqual({ memoryKiB: kib, controllerConf: false, deprecatedConf: { files: { "dtable_server_config.json": corpusText("dtable_server_config.json") }, problems: [] } });
  writeFileSync(join(conf, "seatable-controller.conf"), "[SEATABLE]\nENABLE_DTABLE_DB = true\n");
  expect((await run()).controllerConf).toBe(true);
}, 30000);
