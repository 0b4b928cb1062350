// The read of the conf files SeaTable 6.2 no longer reads
// (hostscripts/deprecated-conf.sh) and the node read around it (node-facts.sh), run for real: the system ssh against a real
// sshd on 127.0.0.1, the corpus in a temporary conf dir given in the header.
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { changedSettings, deprecatedConfReadCommand, DeprecatedFile, parseDeprecatedConfRead } from "../pure/plan/conf-migration";
import { CONF_FILES_UNREAD_FROM_6_2 } from "../pure/plan/seatable";
import { nodeFactsCommand, parseNodeFacts } from "../pure/plan/node-facts";
import { runOverSsh, Sshd, startSshd, stopSshd } from "./support/sshd";
import { nodeSteps } from "../pure/plan/node-steps";
import { scriptVars } from "./support/host-script";
import { configOf, stackValues } from "./support/stacks";

const to62 = () => {
  const v = stackValues("dev");
  return { ...v, image: "seatable/seatable-enterprise:6.2.13", s3: { ...v.s3, buckets: { ...v.s3.buckets, avatar: "avatars" } } };
};

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
    const r = await runOverSsh(sshd as Sshd, nodeFactsCommand({ confDir: conf }));
    expect([r.status, r.stderr]).toEqual([0, ""]);
    return parseNodeFacts(r.stdout, "dtable-server-2");
  };
  const facts = await run();
  const kib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
  expect(facts).toEqual({ memoryKiB: kib, controllerConf: false, deprecatedConf: { files: { "dtable_server_config.json": corpusText("dtable_server_config.json") }, problems: [] } });
  writeFileSync(join(conf, "seatable-controller.conf"), "[SEATABLE]\nENABLE_DTABLE_DB = true\n");
  expect((await run()).controllerConf).toBe(true);
}, 30000);

describe("SECRET_KEY on the way to 6.2: compared by its hash, then its line removed as SeaTable's migration does", () => {
  const KEY = "8f0c2b6a1d9e4f3a7b5c0d2e1f4a6b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6";
  const settings = (line: string) => `# -*- coding: utf-8 -*-\n${line}\n\nDATABASES = {'default': {'ENGINE': 'django.db.backends.mysql'}}\nINNER_DTABLE_SERVER_URL = 'http://dtable-web:5000/'\n`;

  test("the node read gives the sha256 of the value, in either quotes; none without the line; the value never", async () => {
    for (const line of [`SECRET_KEY = "${KEY}"`, `SECRET_KEY='${KEY}'`]) {
      writeFileSync(join(conf, "dtable_web_settings.py"), settings(line));
      const r = await runOverSsh(sshd as Sshd, nodeFactsCommand({ confDir: conf }));
      expect(r.stdout).not.toContain(KEY);
      expect(parseNodeFacts(r.stdout, "dtable-web").secretKeySha256).toBe(createHash("sha256").update(KEY).digest("hex"));
    }
    writeFileSync(join(conf, "dtable_web_settings.py"), settings("# SECRET_KEY moved to the environment"));
    const r = await runOverSsh(sshd as Sshd, nodeFactsCommand({ confDir: conf }));
    expect(parseNodeFacts(r.stdout, "dtable-web").secretKeySha256).toBeUndefined();
  }, 30000);

  test("the secret-key step removes the line, keeps the file before beside it with its owner and mode, and then has nothing to do", async () => {
    const file = join(conf, "dtable_web_settings.py");
    writeFileSync(file, settings(`SECRET_KEY = "${KEY}"`), { mode: 0o640 });
    const step = nodeSteps(configOf(to62()), configOf(to62()).hosts.web, "EDIT").before.find((s) => s.id === "secret-key")!;
    const command = step.command.replace(scriptVars(step.command).SETTINGS, file);
    const first = await runOverSsh(sshd as Sshd, command);
    expect([first.status, first.stderr]).toEqual([0, ""]);
    expect(readFileSync(file, "utf8")).toBe(settings(`SECRET_KEY = "${KEY}"`).replace(`SECRET_KEY = "${KEY}"\n`, ""));
    const kept = readdirSync(conf).filter((f) => f.startsWith("dtable_web_settings.py.before-seatable-cluster-"));
    expect(kept).toHaveLength(1);
    expect(readFileSync(join(conf, kept[0]), "utf8")).toBe(settings(`SECRET_KEY = "${KEY}"`));
    expect(statSync(file).mode & 0o777).toBe(0o640);
    expect(first.stdout).not.toContain(KEY);
    const again = await runOverSsh(sshd as Sshd, command);
    expect([again.status, again.stdout.trim()]).toEqual([0, `no SECRET_KEY line in ${file}`]);
  }, 30000);
});
