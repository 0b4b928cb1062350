import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { SECRET_KEYS, stackConfigSchema } from "../pure/config/schema";
import { fromConfigString, validateStackConfig } from "../pure/config/validate";
import { checkVersion, minorOf } from "../pure/config/versions";
import { configOf, problemsOf, ROOT, stackValues, STACKS, validate } from "./support/stacks";

const one = (problems: readonly string[]) => {
  expect(problems).toHaveLength(1);
  return problems[0];
};

describe("shipped stack files", () => {
  test.each(STACKS)("Pulumi.%s.yaml validates", (stack) => {
    const v = validate(stackValues(stack));
    expect(v.ok ? v.warnings : v.problems).toEqual([]);
  });

  test("dev: 1 web, 1 db, 2 servers; prod: 4 servers with unequal weights and one pin", () => {
    const dev = configOf(stackValues("dev"));
    expect(dev.hosts.servers.map((s) => s.name)).toEqual(["dtable-server", "dtable-server-2"]);
    const prod = configOf(stackValues("prod"));
    expect(prod.hosts.servers.map((s) => s.weight)).toEqual([2, 2, 3, 1]);
    expect(Object.keys(prod.routing.pins)).toHaveLength(1);
  });

  test("the result is typed, defaulted and frozen", () => {
    const c = configOf();
    expect(c.seatableVersion).toBe("6.1.8");
    expect(c.proxy).toEqual({ image: "nginx:1.27.5-alpine", port: 5000, keepalive: 64, workerConnections: 4096, retryAfterSeconds: 10 });
    expect(c.hosts.web).toMatchObject({ name: "dtable-web", role: "dtable-web", ssh: { user: "root", port: 22 } });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.hosts.servers[0].ssh)).toBe(true);
  });

  test("what the program reads from a host: its address, public address, pinned key and SSH login", () => {
    const v = stackValues();
    v.ssh = { user: "deploy", port: 2222, privateKeyPath: "~/.ssh/seatable" };
    v.hosts.db.ssh.port = 22;
    const c = configOf(v);
    expect(c.hosts.web).toEqual({
      name: "dtable-web",
      role: "dtable-web",
      address: "192.0.2.10",
      publicAddress: "203.0.113.10",
      ssh: { user: "deploy", port: 2222, hostKey: v.hosts.web.ssh.hostKey },
    });
    expect(c.hosts.db).toEqual({ name: "dtable-db", role: "dtable-db", address: "192.0.2.11", ssh: { user: "deploy", port: 22, hostKey: v.hosts.db.ssh.hostKey } });
    expect(c.ssh).toEqual({ privateKeyPath: "~/.ssh/seatable" });
    // without a key path, none is made up
    expect(configOf(stackValues()).ssh).toEqual({});
  });

  test("routing.start is kept as written, and absent when not set", () => {
    const v = stackValues();
    expect("start" in configOf(v).routing).toBe(false);
    v.routing.start = { file: "routing.json" };
    const ok = validate(v, [], false, { "routing.json": JSON.stringify({ bucketHexDigits: 1, default: "dtable-server", buckets: Object.fromEntries([..."0123456789abcdef"].map((b) => [b, "dtable-server"])), pins: {} }) });
    expect(ok.ok && ok.config.routing.start).toEqual({ file: "routing.json" });
  });

  test("nothing in the result can be changed afterwards, however deep", () => {
    const v = stackValues();
    v.routing.pins = { "0e4cafe0-0000-4000-8000-00000000000a": "dtable-server-2" };
    v.rollout = { backup: { host: "dtable-db", command: "backup" }, evict: ["dtable-server-3"] };
    const c = configOf(v);
    for (const part of [c.hosts, c.hosts.servers, c.hosts.servers[1], c.routing, c.routing.pins, c.rollout, c.rollout.backup, c.rollout.evict, c.s3.buckets, c.proxy, c.secretsSet]) {
      expect(Object.isFrozen(part)).toBe(true);
    }
  });

  test("the defaults declared in Pulumi.yaml are the schema's", () => {
    const declared = (parse(readFileSync(`${ROOT}/Pulumi.yaml`, "utf8")) as { config: Record<string, { default?: unknown }> }).config;
    const withDefaults = Object.keys(declared).filter((k) => "default" in declared[k]);
    const settings = Object.keys(declared).filter((k) => !(k in SECRET_KEYS));
    const parsed = stackConfigSchema.parse({ ...stackValues(), ...Object.fromEntries(withDefaults.map((k) => [k, undefined])) }) as Record<string, unknown>;
    for (const key of withDefaults) expect([key, parsed[key]]).toEqual([key, declared[key].default]);
    // keys Pulumi.yaml gives no default have none in the schema either
    for (const key of settings.filter((k) => !withDefaults.includes(k))) {
      const without = stackConfigSchema.safeParse({ ...stackValues(), [key]: undefined });
      const schemaDefault = without.success ? (without.data as Record<string, unknown>)[key] : undefined;
      expect([key, schemaDefault]).toEqual([key, undefined]);
    }
  });

  test("Pulumi.yaml declares the required secrets as secrets, so the CLI refuses them in plain text, and requires nothing a stack may leave out", () => {
    const declared = (parse(readFileSync(`${ROOT}/Pulumi.yaml`, "utf8")) as { config: Record<string, { secret?: boolean; default?: unknown }> }).config;
    const secret = Object.keys(declared).filter((k) => declared[k].secret === true);
    const required = Object.entries(SECRET_KEYS).filter(([, s]) => s.required === true).map(([k]) => k);
    expect(secret.sort()).toEqual(required.sort());
    // a default would sit in Pulumi.yaml in plain text
    for (const key of secret) expect([key, "default" in declared[key]]).toEqual([key, false]);
    // the CLI refuses a stack that lacks a declared key without a default: each must be one the program requires
    const withoutDefault = Object.keys(declared).filter((k) => !("default" in declared[k])).sort();
    const v = stackValues();
    for (const key of withoutDefault.filter((k) => !(k in SECRET_KEYS))) {
      const { [key]: _, ...rest } = v;
      void _;
      expect([key, problemsOf(rest, [], true).some((p) => p.startsWith(`${key}:`))]).toEqual([key, true]);
    }
    expect(withoutDefault).toEqual(["adminEmail", "licenseFile", "serverHostname", ...required].sort());
  });

  test("values Pulumi hands over as strings get the schema's types", () => {
    expect(fromConfigString("stopTimeoutSeconds", "600")).toBe(600);
    expect(fromConfigString("allowPublicAddresses", "true")).toBe(true);
    expect(fromConfigString("seatableVersion", "6.2")).toBe("6.2");
    expect(fromConfigString("hosts", '{"web":{"address":"10.0.0.2"}}')).toEqual({ web: { address: "10.0.0.2" } });
    expect(fromConfigString("hosts", "{not json")).toBe("{not json");
  });

  // a value that cannot be the type stays the string written, so the problem shows it
  test.each<[string, string, unknown]>([
    ["stopTimeoutSeconds", "600", 600],
    ["stopTimeoutSeconds", "", ""],
    ["stopTimeoutSeconds", "  ", "  "],
    ["stopTimeoutSeconds", "ten", "ten"],
    ["stopTimeoutSeconds", "true", "true"],
    ["stopTimeoutSeconds", "null", "null"],
    ["allowPublicAddresses", "true", true],
    ["allowPublicAddresses", "false", false],
    ["allowPublicAddresses", "yes", "yes"],
    ["allowPublicAddresses", "1", "1"],
    // strings stay strings, even when they read as JSON
    ["seatableVersion", "6.2", "6.2"],
    ["timeZone", "1", "1"],
    ["image", "null", "null"],
    ["serverHostname", "1", "1"],
    ["publicEntry", "1", "1"],
    ["serverProtocol", '"https"', '"https"'],
    // an unknown key is left as written: its problem is the key
    ["colour", "[1]", "[1]"],
    ["proxy", '{"port":5001}', { port: 5001 }],
    ["routing", '{"bucketHexDigits":1}', { bucketHexDigits: 1 }],
  ])("%s as the string %p is %p", (key, value, expected) => {
    expect(fromConfigString(key, value)).toEqual(expected);
  });
});

describe("each validation rule names the key path, what was found and what is expected", () => {
  test("a missing required setting", () => {
    const v = stackValues();
    delete v.serverHostname;
    expect(one(problemsOf(v))).toBe("serverHostname: missing; expected a string");
  });

  test("an unknown top-level key, with a suggestion", () => {
    const v = stackValues();
    v.serverHostName = "x.example.com";
    expect(one(problemsOf(v))).toMatch(/^serverHostName: unknown key; did you mean "serverHostname"\?/);
  });

  test("an unknown nested key, with a suggestion", () => {
    const v = stackValues();
    v.hosts.servers[1].wieght = 2;
    expect(one(problemsOf(v))).toMatch(/^hosts\.servers\[1\]\.wieght: unknown key; did you mean "weight"\? \(known here: name, address, ssh, weight, drain\)/);
  });

  test("a malformed address", () => {
    const v = stackValues();
    v.hosts.servers[1].address = "10.0.0";
    expect(one(problemsOf(v))).toBe('hosts.servers[1].address: "10.0.0" is not an IPv4 or IPv6 address');
  });

  test("a public address, unless allowed (then a warning)", () => {
    const v = stackValues();
    v.hosts.db.address = "8.8.8.8";
    expect(one(problemsOf(v))).toMatch(/^hosts\.db\.address: "8\.8\.8\.8" is a public address; expected a private one .* or set allowPublicAddresses: true/);
    v.allowPublicAddresses = true;
    const ok = validate(v);
    expect(ok.ok && ok.warnings).toEqual([expect.stringMatching(/^hosts\.db\.address: "8\.8\.8\.8" is public/)]);
  });

  test.each(["127.0.0.1", "0.0.0.0", "::1", "224.0.0.1", "169.254.10.1", "fe80::1"])("%s is not a host's address", (address) => {
    const v = stackValues();
    v.hosts.web.address = address;
    expect(one(problemsOf(v))).toMatch(/^hosts\.web\.address: .* is a loopback, unspecified, link-local or multicast address/);
  });

  test("private IPv4 and IPv6 ranges are accepted", () => {
    const v = stackValues();
    v.hosts.web.address = "10.0.0.2";
    v.hosts.db.address = "fd00::3";
    v.hosts.servers[0].address = "172.16.5.4";
    v.hosts.servers[1].address = "192.168.1.5";
    expect(problemsOf(v)).toEqual([]);
  });

  test("two hosts with one name, and two with one address", () => {
    const v = stackValues();
    v.hosts.servers[1].name = "dtable-server";
    v.hosts.servers[1].address = v.hosts.db.address;
    expect(problemsOf(v)).toEqual([
      'hosts.servers[1].name: "dtable-server" is already the name of hosts.servers[0]; every host needs its own name',
      `hosts.servers[1].address: "${v.hosts.db.address}" is already the address of hosts.db; every node needs its own host`,
    ]);
  });

  test.each(["dtable-web", "dtable-db"])("a dtable-server may not be called %s", (name) => {
    const v = stackValues();
    v.hosts.servers[0].name = name;
    expect(one(problemsOf(v))).toMatch(new RegExp(`^hosts\\.servers\\[0\\]\\.name: "${name}" is reserved`));
  });

  test("a host name that cannot be one", () => {
    const v = stackValues();
    v.hosts.servers[0].name = "Server_1";
    expect(one(problemsOf(v))).toMatch(/^hosts\.servers\[0\]\.name: "Server_1" is not a host name/);
  });

  test("no dtable-server", () => {
    const v = stackValues();
    v.hosts.servers = [];
    expect(one(problemsOf(v))).toBe("hosts.servers: a cluster needs at least one dtable-server");
  });

  test.each([
    [0, "found 0; remove a server instead of giving it weight 0"],
    [-2, "found -2"],
    ["2", 'found "2" (a string)'],
    [1.5, "found 1.5"],
  ])("weight %p", (weight, found) => {
    const v = stackValues();
    v.hosts.servers[0].weight = weight;
    const p = one(problemsOf(v));
    expect(p.startsWith("hosts.servers[0].weight: expected a")).toBe(true);
    expect(p).toContain(found);
  });

  test("pins: malformed UUID, unknown server, the same base twice", () => {
    const v = stackValues("prod");
    v.routing.pins = {
      "ff84e1a1-66e2": "dtable-server",
      "0e4cafe0-0000-4000-8000-00000000000a": "dtable-server-9",
      "0E4CAFE000004000800000000000000A": "dtable-server",
    };
    expect(problemsOf(v)).toEqual([
      'routing.pins.ff84e1a1-66e2: "ff84e1a1-66e2" is not a base UUID (8-4-4-4-12 hex digits, or 32 hex digits)',
    ]);
    delete v.routing.pins["ff84e1a1-66e2"];
    expect(problemsOf(v)).toEqual([
      'routing.pins.0e4cafe0-0000-4000-8000-00000000000a: "dtable-server-9" is not a dtable-server in hosts.servers (dtable-server, dtable-server-2, dtable-server-3, dtable-server-4)',
      "routing.pins.0E4CAFE000004000800000000000000A: the same base as routing.pins.0e4cafe0-0000-4000-8000-00000000000a; pin each base once",
    ]);
  });

  test("pins are kept lower-case and dashed", () => {
    const v = stackValues();
    v.routing.pins = { "0E4CAFE000004000800000000000000A": "dtable-server-2" };
    expect(configOf(v).routing.pins).toEqual({ "0e4cafe0-0000-4000-8000-00000000000a": "dtable-server-2" });
  });

  test.each([0, 4, "2"])("bucketHexDigits %p", (digits) => {
    const v = stackValues();
    v.routing.bucketHexDigits = digits;
    expect(one(problemsOf(v))).toMatch(/^routing\.bucketHexDigits: expected 1, 2 or 3 \(16, 256 or 4096 buckets\), found/);
  });

  describe("a starting table", () => {
    const table = (owner: (b: string) => string, digits = 2) => ({
      bucketHexDigits: digits,
      default: "dtable-server",
      buckets: Object.fromEntries(Array.from({ length: 16 ** digits }, (_, i) => i.toString(16).padStart(digits, "0")).map((b) => [b, owner(b)])),
      pins: {},
    });
    const withStart = (content: unknown) => {
      const v = stackValues();
      v.routing.start = { file: "routing.json" };
      return problemsOf(v, [], false, content === undefined ? {} : { "routing.json": typeof content === "string" ? content : JSON.stringify(content) });
    };

    test("that covers every bucket with known servers is read", () => {
      const v = stackValues();
      v.routing.start = { file: "routing.json" };
      const ok = validate(v, [], false, { "routing.json": JSON.stringify(table(() => "dtable-server-2", 1)) });
      expect(ok.ok && ok.startTable?.buckets.f).toBe("dtable-server-2");
    });
    test("that misses buckets", () => {
      const t = table(() => "dtable-server");
      delete t.buckets["7f"];
      delete t.buckets["80"];
      expect(withStart(t)).toEqual(["routing.start.file(routing.json).buckets: does not cover every bucket; missing 7f, 80"]);
    });
    test("that names an unknown server", () => {
      expect(withStart(table((b) => (b === "aa" ? "dtable-server-7" : "dtable-server")))).toEqual([
        'routing.start.file(routing.json).buckets.aa: names the dtable-server "dtable-server-7", which is not in hosts.servers (dtable-server, dtable-server-2)',
      ]);
    });
    test("with more hex digits than the config", () => {
      expect(one(withStart(table(() => "dtable-server", 3)))).toMatch(/^routing\.start\.file: "routing\.json" has 3 hex digits per bucket, more than routing\.bucketHexDigits \(2\)/);
    });
    test("with as many hex digits as the config is read", () => {
      const v = stackValues();
      v.routing.start = { file: "routing.json" };
      const ok = validate(v, [], false, { "routing.json": JSON.stringify(table(() => "dtable-server-2", 2)) });
      expect(ok.ok && ok.startTable?.buckets["7f"]).toBe("dtable-server-2");
    });
    test("that cannot be read names the file as the config does, without Node's absolute path", () => {
      const v = stackValues();
      v.routing.start = { file: "tables/routing.json" };
      const readFile = () => {
        throw new Error("ENOENT: no such file or directory, open '/home/me/stack/tables/routing.json'");
      };
      const r = validateStackConfig({ values: v, secretKeys: new Set() }, { requireSecrets: false, readFile: (p) => (p === v.licenseFile ? "license" : readFile()) });
      expect(r.ok ? [] : r.problems).toEqual(['routing.start.file: cannot read "tables/routing.json": ENOENT: no such file or directory']);
    });
    test("that is missing or not JSON", () => {
      expect(one(withStart(undefined))).toMatch(/^routing\.start\.file: cannot read "routing\.json"/);
      expect(one(withStart("{"))).toMatch(/^routing\.start\.file: "routing\.json" is not JSON/);
    });
    test("seed needs two servers", () => {
      const v = stackValues();
      v.routing.start = "seed";
      v.hosts.servers = [v.hosts.servers[0]];
      expect(one(problemsOf(v))).toMatch(/^routing\.start: "seed" is the manual's two-server scheme/);
    });
  });

  test("an image tag that is not a version needs seatableVersion", () => {
    const v = stackValues();
    v.image = "registry.example.com/seatable-enterprise:latest";
    expect(one(problemsOf(v))).toBe('image: the tag of "registry.example.com/seatable-enterprise:latest" is not a SeaTable version; set seatableVersion (e.g. "6.2") to say which version it is');
    v.seatableVersion = "6.1";
    expect(configOf(v).seatableVersion).toBe("6.1");
  });

  describe("SeaTable versions: 6.1 and 6.2 run, a later 6.x runs as 6.2 with a warning, the rest is refused with why", () => {
    const outcome = (image: string, seatableVersion?: string) => {
      const v = stackValues();
      v.image = image;
      v.s3.buckets.avatar = "seatable-dev-avatar"; // 6.2 requires it
      if (seatableVersion !== undefined) v.seatableVersion = seatableVersion;
      const r = validate(v);
      return r.ok ? { version: r.config.seatableVersion, warnings: r.warnings } : { problems: r.problems };
    };
    const OLD = /is not supported: up to 6\.0 SeaTable reads S3 only from conf files that also hold the S3 secret key, which this program does not write, so each node's storage server would save bases to its own disk; upgrade the installation to 6\.1 first/;
    const NEW = /is not supported: from 7\.0 the seatable image no longer runs dtable-server \(it moved to its own image, seatable\/dtable-server-js, .*\), so this cluster definition would run no dtable-server at all; use a 6\.1 or 6\.2 image$/;

    test.each(["6.1", "6.1.8", "6.2.0", "6.2.12"])("%s runs without a warning", (tag) => {
      expect(outcome(`seatable/seatable-enterprise:${tag}`)).toEqual({ version: tag, warnings: [] });
      expect(outcome("registry.example.com/seatable:custom", tag)).toEqual({ version: tag, warnings: [] });
    });
    test.each(["6.3.0", "6.10.2"])("%s runs with 6.2's settings, with a warning", (tag) => {
      const minor = tag.split(".").slice(0, 2).join(".");
      expect(outcome(`seatable/seatable-enterprise:${tag}`)).toEqual({
        version: tag,
        warnings: [`image: SeaTable ${tag} is newer than 6.2, the newest version this program knows; its settings follow 6.2: read SeaTable's upgrade notice for ${minor} before deploying it`],
      });
      expect(outcome("registry.example.com/seatable:custom", tag)).toMatchObject({ warnings: [expect.stringMatching(/^seatableVersion: SeaTable .* is newer than 6\.2/)] });
    });
    test.each(["6.0", "6.0.10", "5.3.12", "4.4.9"])("%s is refused: S3 would stay on each node's disk; upgrade to 6.1 first", (tag) => {
      const { problems } = outcome(`seatable/seatable-enterprise:${tag}`) as { problems: string[] };
      expect(one(problems)).toMatch(new RegExp(`^image: SeaTable ${tag.replace(/\./g, "\\.")} ${OLD.source}`));
      expect(one((outcome("registry.example.com/seatable:custom", tag) as { problems: string[] }).problems)).toMatch(new RegExp(`^seatableVersion: SeaTable .* ${OLD.source}`));
    });
    test.each(["7.0", "7.0.1", "8.1.0"])("%s is refused: the seatable image runs no dtable-server any more", (tag) => {
      const { problems } = outcome(`seatable/seatable-enterprise:${tag}`) as { problems: string[] };
      expect(one(problems)).toMatch(new RegExp(`^image: SeaTable ${tag.replace(/\./g, "\\.")} ${NEW.source}`));
      expect(one((outcome("registry.example.com/seatable:custom", tag) as { problems: string[] }).problems)).toMatch(new RegExp(`^seatableVersion: SeaTable .* ${NEW.source}`));
    });
    test.each<[string, string]>([
      ["6.1.8", "6.1"],
      ["6.12", "6.12"],
      ["61.2.0", "61.2"],
    ])("the minor version of %s is %s", (version, minor) => {
      expect(minorOf(version)).toBe(minor);
    });
    test.each(["6", "6.x", "v6.2", "6.2.1.4"])("%p is no version to check", (version) => {
      expect(checkVersion(version)).toEqual({ problem: `"${version}" is not a SeaTable version such as "6.2" or "6.1.8"` });
    });
    test("seatableVersion cannot contradict an image tag that is a version (a 7.0 image stays refused)", () => {
      expect(outcome("seatable/seatable-enterprise:7.0.1", "6.2")).toEqual({
        problems: ['seatableVersion: "6.2" contradicts the image tag 7.0.1; seatableVersion is for images whose tag is not a version: leave it out'],
      });
      expect(outcome("seatable/seatable-enterprise:6.2.12", "6.2")).toEqual({ version: "6.2", warnings: [] });
    });
  });

  describe("SeaTable 6.2", () => {
    const v62 = () => {
      const v = stackValues();
      v.image = "seatable/seatable-enterprise:6.2.12";
      v.s3.buckets.avatar = "seatable-dev-avatar";
      return v;
    };
    const SECRETS = ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"];
    test("s3.buckets.avatar is required (6.1 does without)", () => {
      const v = v62();
      delete v.s3.buckets.avatar;
      expect(problemsOf(v)).toEqual(["s3.buckets.avatar: missing; SeaTable 6.2.12 requires S3_AVATAR_BUCKET, a publicly readable bucket for avatars"]);
      expect(problemsOf(stackValues())).toEqual([]);
    });
    test("pulumi up needs secretKey, and says how to keep 6.1's value; 6.1 does not need it; plan needs no secret", () => {
      const v = v62();
      for (const k of SECRETS) v[k] = "[secret]";
      expect(problemsOf(v, SECRETS, false)).toEqual([]);
      expect(problemsOf(v, SECRETS, true)).toEqual([
        "secretKey: missing; it is the SECRET_KEY of dtable-web and dtable-events, which SeaTable 6.2 reads from the environment (dtable-events derives the key of encrypted automation secrets from it); " +
          "run `pulumi config set --secret secretKey <value>` (moving from 6.1, keep the value dtable-web used so far: on dtable-web, `grep SECRET_KEY /opt/seatable-server/seatable/conf/dtable_web_settings.py`; a new installation: `openssl rand -hex 32`)",
      ]);
      v.secretKey = "[secret]";
      const ok = validate(v, [...SECRETS, "secretKey"], true);
      expect(ok.ok && ok.config.secretsSet).toContain("secretKey");
      const v61 = stackValues();
      for (const k of SECRETS) v61[k] = "[secret]";
      expect(problemsOf(v61, SECRETS, true)).toEqual([]);
    });
    test("the required secret is named even when the rest of the config has problems", () => {
      const v = v62();
      v.hosts.servers[0].weight = 0;
      expect(problemsOf(v, [], true).map((p) => p.split(":")[0])).toEqual(["hosts.servers[0].weight", "mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey", "secretKey"]);
    });
  });

  describe("ssh.privateKeyPath: `pulumi up` refuses a key file it cannot read, unless the sshPrivateKey secret is set", () => {
    const secrets = ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"];
    const up = (path: string, extra: string[] = []) => {
      const v = stackValues();
      for (const k of [...secrets, ...extra]) v[k] = "[secret]";
      v.ssh = { ...v.ssh, privateKeyPath: path };
      return v;
    };
    test("readable: no problem (the file is read at the path as written)", () => {
      expect(problemsOf(up("keys/deploy"), secrets, true, { "keys/deploy": "-----BEGIN OPENSSH PRIVATE KEY-----" })).toEqual([]);
    });
    test.each<[string, string]>([
      ["keys/deploy", 'ssh.privateKeyPath: cannot read "keys/deploy": ENOENT: no such file; the commands on the hosts log in with this key (or set it with `pulumi config set --secret sshPrivateKey < key`)'],
      ["~/.ssh/seatable", 'ssh.privateKeyPath: cannot read "~/.ssh/seatable": ENOENT: no such file; `~` is not expanded: write the path in full; the commands on the hosts log in with this key (or set it with `pulumi config set --secret sshPrivateKey < key`)'],
    ])("unreadable %s: refused, and said how", (path, message) => {
      expect(problemsOf(up(path), secrets, true)).toEqual([message]);
    });
    test("not read when the sshPrivateKey secret is set, nor by the offline plan", () => {
      expect(problemsOf(up("keys/deploy", ["sshPrivateKey"]), [...secrets, "sshPrivateKey"], true)).toEqual([]);
      const plan = validate(up("keys/deploy"), secrets, false);
      expect(plan.ok && plan.warnings).toEqual([]);
    });
  });

  describe("licenseFile: `pulumi up` refuses to deploy without a readable license, plan warns", () => {
    const cases: [string, (v: Record<string, any>) => void, string][] = [
      ["not set", (v) => delete v.licenseFile, "licenseFile: not set; the SeaTable Enterprise image does not start without its license: set it to the local path of seatable-license.txt (`pulumi config set licenseFile path/to/seatable-license.txt`), which is copied to every node"],
      ["missing", (v) => (v.licenseFile = "nowhere/seatable-license.txt"), 'licenseFile: cannot read "nowhere/seatable-license.txt": ENOENT: no such file; the SeaTable Enterprise image does not start without its license'],
      ["empty", (v) => (v.licenseFile = "empty.txt"), 'licenseFile: "empty.txt" is empty; the SeaTable Enterprise image does not start without its license'],
    ];
    test("an unreadable license is named as the config does, without Node's absolute path", () => {
      const v = stackValues();
      v.licenseFile = "licenses/seatable-license.txt";
      const readFile = (): string => {
        throw new Error("EACCES: permission denied, open '/home/me/stack/licenses/seatable-license.txt'");
      };
      const r = validateStackConfig({ values: v, secretKeys: new Set() }, { requireSecrets: false, readFile });
      expect(r.ok && r.warnings).toEqual(['licenseFile: cannot read "licenses/seatable-license.txt": EACCES: permission denied; the SeaTable Enterprise image does not start without its license']);
    });
    test.each(cases)("%s", (_label, change, message) => {
      const v = stackValues();
      const secrets = ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"];
      for (const k of secrets) v[k] = "[secret]";
      expect(problemsOf(v, secrets, true)).toEqual([]);
      change(v);
      expect(problemsOf(v, secrets, true, { "empty.txt": " \n" })).toEqual([message]);
      const plan = validate(v, secrets, false, { "empty.txt": " \n" });
      expect(plan.ok && plan.warnings).toEqual([message]);
    });
  });

  test.each([
    [{ ssh: { port: 70000 } }, "ssh.port: expected a port from 1 to 65535, found 70000"],
    [{ mariadb: { host: "db.example.com", port: 0 } }, "mariadb.port: expected a port from 1 to 65535, found 0"],
    [{ proxy: { port: 8000 } }, "proxy.port: 8000 is already used on dtable-web by dtable-web (gunicorn); choose another (SeaTable expects 5000)"],
    [{ proxy: { port: 443 } }, "proxy.port: 443 is already used on dtable-web by the public entry (caddy, https); choose another (SeaTable expects 5000)"],
    [{ proxy: { port: 80 } }, "proxy.port: 80 is already used on dtable-web by the public entry (http); choose another (SeaTable expects 5000)"],
    [{ publicEntry: "loadBalancer", proxy: { port: 80 } }, "proxy.port: 80 is already used on dtable-web by the public entry (http); choose another (SeaTable expects 5000)"],
  ])("ports out of range or colliding: %p", (patch, expected) => {
    expect(problemsOf({ ...stackValues(), ...patch })).toEqual([expected]);
  });

  test("without caddy, 443 is free on dtable-web for the proxy", () => {
    const v = stackValues();
    v.publicEntry = "loadBalancer";
    v.proxy = { port: 443 };
    expect(configOf(v).proxy.port).toBe(443);
  });

  describe("secrets", () => {
    test("a secret in plain text is refused without repeating it, with the command that sets it", () => {
      const v = stackValues();
      v.mariadbPassword = "hunter2-plain";
      const p = one(problemsOf(v));
      expect(p).toMatch(/^mariadbPassword: set in plain text, .* run `pulumi config set --secret mariadbPassword <value>`$/);
      expect(p).not.toContain("hunter2-plain");
    });
    test("a missing secret says what it is and the command that sets it", () => {
      expect(problemsOf(stackValues(), [], true)[0]).toBe("mariadbPassword: missing; it is the password of the MariaDB user; run `pulumi config set --secret mariadbPassword <value>`");
    });
    test("pulumi up needs the required secrets; plan does not", () => {
      const v = stackValues();
      expect(problemsOf(v, [], false)).toEqual([]);
      expect(problemsOf(v, [], true).map((p) => p.split(":")[0])).toEqual(["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"]);
      for (const k of ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"]) v[k] = "[secret]";
      const ok = validate(v, ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"], true);
      expect(ok.ok && ok.config.secretsSet).toEqual(["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey"]);
    });
  });

  test("a missing host key, unless that host has the loud opt-out; the opt-out is per host", () => {
    const v = stackValues();
    delete v.hosts.servers[1].ssh.hostKey;
    expect(one(problemsOf(v))).toBe(`hosts.servers[1].ssh.hostKey: missing; pin the host's key (\`ssh-keyscan -t ed25519 ${v.hosts.servers[1].address}\`), or set hosts.servers[1].ssh.insecureSkipHostKeyCheck: true`);
    v.hosts.servers[1].ssh.insecureSkipHostKeyCheck = true;
    const ok = validate(v);
    expect(ok.ok && ok.warnings).toEqual([
      `hosts.servers[1].ssh.insecureSkipHostKeyCheck: true: the SSH host key of ${v.hosts.servers[1].name} (${v.hosts.servers[1].address}) is NOT checked; anyone on the path can impersonate it and receive the cluster's secrets`,
    ]);
    expect(ok.ok && [ok.config.hosts.servers[1].ssh, ok.config.hosts.servers[0].ssh.insecureSkipHostKeyCheck]).toEqual([{ user: "root", port: 22, insecureSkipHostKeyCheck: true }, undefined]);
    // another host without its key is still refused
    delete v.hosts.db.ssh.hostKey;
    expect(one(problemsOf(v))).toMatch(/^hosts\.db\.ssh\.hostKey: missing; .* or set hosts\.db\.ssh\.insecureSkipHostKeyCheck: true$/);
  });

  test("a host with a pinned key and the opt-out is refused; so is the old stack-wide opt-out", () => {
    const v = stackValues();
    v.hosts.web.ssh.insecureSkipHostKeyCheck = true;
    expect(one(problemsOf(v))).toBe("hosts.web.ssh.insecureSkipHostKeyCheck: true, but hosts.web.ssh.hostKey pins a key; keep the key (it is checked) and remove the opt-out");
    const w = stackValues();
    w.insecureSkipHostKeyCheck = true;
    expect(one(problemsOf(w))).toMatch(/^insecureSkipHostKeyCheck: the opt-out is per host now: set hosts\.<host>\.ssh\.insecureSkipHostKeyCheck: true on each host/);
  });

  test("a malformed host key", () => {
    const v = stackValues();
    v.hosts.web.ssh.hostKey = "192.0.2.10 ssh-ed25519 AAAA";
    expect(one(problemsOf(v))).toMatch(/^hosts\.web\.ssh\.hostKey: expected a public host key line such as "ssh-ed25519 AAAAC3Nz\.\.\."/);
  });

  test.each<[string, (v: Record<string, any>) => void, string[]]>([
    ["a dtable-server called quarantine", (v) => (v.hosts.servers[1].name = "quarantine"), ['hosts.servers[1].name: "quarantine" is reserved by the proxy; name dtable-servers e.g. "dtable-server-2"']],
    ["a port that is not whole", (v) => (v.ssh.port = 22.5), ["ssh.port: expected a whole port number from 1 to 65535, found 22.5"]],
    ["drain that is not a boolean", (v) => (v.hosts.servers[0].drain = "yes"), ['hosts.servers[0].drain: expected true or false, found "yes" (a string)']],
    ["a drain of null", (v) => (v.hosts.servers[0].drain = null), ["hosts.servers[0].drain: expected true or false, found null"]],
    ["a weight that is a map", (v) => (v.hosts.servers[0].weight = { value: 2 }), ["hosts.servers[0].weight: expected a whole number from 1 to 1000, found an object"]],
    ["a server host name with a space", (v) => (v.serverHostname = "seatable dev.example.com"), ["serverHostname: expected the public host name, e.g. seatable.example.com"]],
    ["a missing section", (v) => delete v.s3, ["s3: missing; expected a section"]],
    ["a missing list", (v) => delete v.hosts.servers, ["hosts.servers: missing; expected an array"]],
  ])("%s", (_what, change, expected) => {
    const v = stackValues();
    change(v);
    expect(problemsOf(v)).toEqual(expected);
  });

  describe("unknown keys name the keys known at that place", () => {
    test.each<[string, (v: Record<string, any>) => void, string | RegExp]>([
      // a section with a default (proxy) and an optional one (rollout.backup)
      ["proxy", (v) => (v.proxy = { prot: 5001 }), 'proxy.prot: unknown key; did you mean "port"? (known here: image, port, keepalive, workerConnections, retryAfterSeconds)'],
      ["rollout.backup", (v) => (v.rollout = { backup: { host: "dtable-db", command: "true", hots: "x" } }), 'rollout.backup.hots: unknown key; did you mean "host"? (known here: host, command, commandSecret)'],
      ["a server's ssh", (v) => (v.hosts.servers[0].ssh.usr = "root"), 'hosts.servers[0].ssh.usr: unknown key; did you mean "user"? (known here: user, port, hostKey, insecureSkipHostKeyCheck)'],
      // a mistyped secret's name is a top-level key too
      ["the top level, near a secret", (v) => (v.mariadbPasword = "x"), /^mariadbPasword: unknown key; did you mean "mariadbPassword"\? \(known here: image, .*\)$/],
      // routing.start is a choice of shapes: no one list of keys to offer
      ["routing.start", (v) => (v.routing.start = { file: "routing.json", fiel: "x" }), "routing.start.fiel: unknown key"],
    ])("%s", (_where, change, expected) => {
      const v = stackValues();
      change(v);
      expect(problemsOf(v)).toEqual([typeof expected === "string" ? expected : expect.stringMatching(expected)]);
    });

    test("at the top level, the known keys include the secrets", () => {
      const v = stackValues();
      v.colour = "blue";
      expect(one(problemsOf(v))).toMatch(/^colour: unknown key \(known here: image, seatableVersion, .*, rollout, environment, mariadbPassword, mariadbRootPassword, redisPassword, .*, secretKey, environmentSecrets\)$/);
    });
  });

  describe("draining, backup, evict and seed name the servers involved", () => {
    test("a drained server is fine while another serves bases", () => {
      const v = stackValues();
      v.hosts.servers[1].drain = true;
      expect(configOf(v).hosts.servers.map((s) => s.drain)).toEqual([false, true]);
    });
    test("every server drained is refused", () => {
      const v = stackValues();
      for (const s of v.hosts.servers) s.drain = true;
      expect(problemsOf(v)).toEqual(["hosts.servers: every dtable-server has drain: true; at least one must keep serving bases"]);
    });
    test("a pin to a drained server is refused; a pin to a serving one is kept", () => {
      const v = stackValues();
      v.hosts.servers[1].drain = true;
      v.routing.pins = { "0e4cafe0-0000-4000-8000-00000000000a": "dtable-server-2", "0e4cafe0-0000-4000-8000-00000000000b": "dtable-server" };
      expect(problemsOf(v)).toEqual([
        'routing.pins.0e4cafe0-0000-4000-8000-00000000000a: "dtable-server-2" has drain: true; pin the base to a server that serves bases, or stop draining dtable-server-2',
      ]);
    });
    test.each(["dtable-web", "dtable-db", "dtable-server-2"])("a backup on %s is accepted", (host) => {
      const v = stackValues();
      v.rollout = { backup: { host, command: "/usr/local/bin/backup" } };
      expect(configOf(v).rollout.backup).toEqual({ host, command: "/usr/local/bin/backup" });
    });
    test("a backup on a host the stack does not have is refused", () => {
      const v = stackValues();
      v.rollout = { backup: { host: "backup-1", command: "/usr/local/bin/backup" } };
      expect(problemsOf(v)).toEqual(['rollout.backup.host: "backup-1" is not a host of this stack (dtable-web, dtable-db, dtable-server, dtable-server-2)']);
    });
    test("evict names only servers no longer in hosts", () => {
      const v = stackValues();
      v.rollout = { evict: ["dtable-server-3", "dtable-server-2", "dtable-db"] };
      expect(problemsOf(v)).toEqual([
        'rollout.evict[1]: "dtable-server-2" is still in hosts; evict is only for a dtable-server removed from hosts.servers whose host is dead',
        'rollout.evict[2]: "dtable-db" is still in hosts; evict is only for a dtable-server removed from hosts.servers whose host is dead',
      ]);
      v.rollout = { evict: ["dtable-server-3"] };
      expect(configOf(v).rollout.evict).toEqual(["dtable-server-3"]);
    });
    test("seed with exactly two servers is accepted", () => {
      const v = stackValues();
      v.routing.start = "seed";
      expect(configOf(v).routing.start).toBe("seed");
    });
  });

  test("every problem is reported at once", () => {
    const v = stackValues();
    v.hosts.servers[0].address = "300.1.1.1";
    v.hosts.servers[1].weight = 0;
    v.proxy = { port: "5000" };
    v.colour = "blue";
    v.jwtPrivateKey = "plain";
    expect(problemsOf(v).map((p) => p.split(":")[0])).toEqual(["hosts.servers[0].address", "hosts.servers[1].weight", "proxy.port", "colour", "jwtPrivateKey"]);
  });
});
