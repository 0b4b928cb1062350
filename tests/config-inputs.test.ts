// Config values that reach a host (an SSH URL, `docker run`, a known_hosts
// line, the proxy's files) and the stack state read back: each rule, its
// message, and the valid values it must keep accepting.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { describe as describeValue, formatIssues, suggestion } from "../pure/config/problems";
import { LOCAL_HOST_NAMES, stackConfigSchema } from "../pure/config/schema";
import { rawStackConfig, validateStackFile } from "../pure/config/stack-file";
import { parseImageReference, type ImageReference } from "../pure/config/image-reference";
import { addressProblem, urlHost, versionFromImage } from "../pure/config/values";
import { appliedContext, appliedRouting, parseAppliedContainers, parseAppliedRouting } from "../pure/plan/applied";
import { renderProxyHosts } from "../pure/plan/nginx";
import type { ProgramFailure } from "./support/program";
import { configOf, problemsOf, stackValues, validate } from "./support/stacks";

const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

describe("SSH users are login names", () => {
  test.each(["root", "deploy", "svc_seatable", "_ansible", "first.last", "Admin-2", "a".repeat(32)])("%p is accepted", (user) => {
    const v = stackValues();
    v.ssh.user = user;
    v.hosts.servers[1].ssh.user = user;
    expect(problemsOf(v)).toEqual([]);
    expect(configOf(v).hosts.servers[1].ssh.user).toBe(user);
  });

  // each would move the host part of ssh://user@host:port or reach ssh as an option
  test.each(["root@203.0.113.66", "root:x", "a/b", "a#b", "a?b", "a b", "-oProxyCommand=sh", "", "1root", "machine$", "a".repeat(33), "root\n"])(
    "%p is refused, in ssh.user and in a host's ssh.user",
    (user) => {
      const v = stackValues();
      v.ssh.user = user;
      v.hosts.web.ssh.user = user;
      const problem = `${JSON.stringify(user)} is not a login name (letters, digits, "_", "." and "-", starting with a letter or "_", at most 32 characters)`;
      expect(problemsOf(v)).toEqual([`ssh.user: ${problem}`, `hosts.web.ssh.user: ${problem}`]);
    },
  );
});

describe("images are Docker image references", () => {
  test.each([
    ["registry.example.com:5000/seatable/seatable-enterprise:6.1.8", "6.1.8"],
    [`seatable/seatable-enterprise:6.2.3@${DIGEST}`, "6.2.3"],
    [`registry.example.com:5000/seatable/seatable-enterprise:6.1.8@${DIGEST}`, "6.1.8"],
    ["localhost:5000/seatable-enterprise:6.1.8", "6.1.8"],
    ["[fd00::5]:5000/seatable/seatable-enterprise:6.1.8", "6.1.8"],
  ])("%s is accepted; its tag is the SeaTable version", (image, version) => {
    const v = stackValues();
    v.image = image;
    v.s3.buckets.avatar = "seatable-dev-avatar"; // required from 6.2
    v.proxy = { image: image.replace(/seatable\/seatable-enterprise:[\d.]+/, "library/nginx:1.27.5-alpine") };
    expect(problemsOf(v)).toEqual([]);
    expect(configOf(v).seatableVersion).toBe(version);
  });

  test("a digest without a tag needs seatableVersion", () => {
    expect(versionFromImage(`registry.example.com:5000/seatable/seatable-enterprise@${DIGEST}`)).toBeUndefined();
    const v = stackValues();
    v.image = `seatable/seatable-enterprise@${DIGEST}`;
    expect(problemsOf(v)).toEqual([expect.stringMatching(/^image: the tag of .* is not a SeaTable version; set seatableVersion/)]);
    v.seatableVersion = "6.1";
    expect(configOf(v).seatableVersion).toBe("6.1");
  });

  test.each([
    "-h",
    "--help",
    "nginx -t",
    "nginx:1.27.5-alpine -v",
    "nginx:",
    ":1.27",
    "Seatable/Seatable-Enterprise:6.1.8",
    "nginx@sha256:abc",
    `nginx@sha256:${"0123456789ABCDEF".repeat(4)}`,
    `nginx@md5:${"0".repeat(32)}`,
    "nginx:1.27\n",
    `nginx:${"1".repeat(129)}`,
    `${"a".repeat(256)}:1`,
    "a___b:1",
    "a-:1",
  ])("%p is refused, as image and as proxy.image", (image) => {
    const v = stackValues();
    v.image = image;
    v.proxy = { image };
    const problems = problemsOf(v);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^image: ".* is not an image reference; expected \[registry\[:port\]\/\]repository\[:tag\]\[@sha256:<64 hex digits>\]/);
    expect(problems[1]).toMatch(/^proxy\.image: ".* is not an image reference/);
  });
});

describe("the parts of an image reference", () => {
  test.each<[string, ImageReference]>([
    ["nginx", { name: "nginx" }],
    ["nginx:1.27.5-alpine", { name: "nginx", tag: "1.27.5-alpine" }],
    [`seatable/seatable-enterprise@${DIGEST}`, { name: "seatable/seatable-enterprise", digest: DIGEST }],
    [`registry.example.com:5000/seatable/seatable-enterprise:6.1.8@${DIGEST}`, { name: "registry.example.com:5000/seatable/seatable-enterprise", tag: "6.1.8", digest: DIGEST }],
    ["[fd00::5]:5000/seatable:6.2", { name: "[fd00::5]:5000/seatable", tag: "6.2" }],
    // the longest name Docker takes
    [`${"a".repeat(255)}:1`, { name: "a".repeat(255), tag: "1" }],
  ])("%s", (reference, parts) => {
    // exactly these keys: no tag or digest key where the reference has none
    expect(parseImageReference(reference)).toStrictEqual(parts);
  });

  test("a name one character too long is not a reference", () => {
    expect(parseImageReference(`${"a".repeat(256)}:1`)).toBeUndefined();
  });
});

describe("the SeaTable version of an image is its tag when the tag is one", () => {
  test.each<[string, string | undefined]>([
    ["seatable/seatable-enterprise:6.1", "6.1"],
    ["seatable/seatable-enterprise:6.1.8", "6.1.8"],
    ["seatable/seatable-enterprise:6.10", "6.10"],
    ["seatable/seatable-enterprise:10.0.12", "10.0.12"],
    ["seatable/seatable-enterprise:v6.1.8", undefined],
    ["seatable/seatable-enterprise:6.1.8-beta", undefined],
    ["seatable/seatable-enterprise:6", undefined],
    ["seatable/seatable-enterprise:6.1.8.2", undefined],
    ["seatable/seatable-enterprise", undefined],
  ])("%s: %p", (image, version) => {
    expect(versionFromImage(image)).toBe(version);
  });
});

describe("addresses are plain addresses, compared in one spelling", () => {
  test.each([
    ["010.0.0.1", "has a part with a leading zero, which some programs read as octal; write it without"],
    ["10.0.0.01", "has a part with a leading zero, which some programs read as octal; write it without"],
    ["fd00::1%eth0", "has a zone index (%...); expected a node's address without one"],
    ["[fd00::1]", "is in brackets; write the address without them"],
    ["10.0.0.1/24", "has a prefix length; expected one address, without /bits"],
    ["::ffff:10.0.0.1", "is the IPv4 address 10.0.0.1 written as IPv6; write it as 10.0.0.1"],
    ["::ffff:a00:1", "is the IPv4 address 10.0.0.1 written as IPv6; write it as 10.0.0.1"],
    ["::10.0.0.1", "is the IPv4 address 10.0.0.1 written as IPv6; write it as 10.0.0.1"],
    ["10.0.0.1 ", "is not an IPv4 or IPv6 address"],
    // a leading zero inside IPv6 is no octal: the address is just malformed
    ["fd00::10.0.0.01", "is not an IPv4 or IPv6 address"],
    ["::ffff:192.168.10.20", "is the IPv4 address 192.168.10.20 written as IPv6; write it as 192.168.10.20"],
  ])("%p %s", (address, why) => {
    const v = stackValues();
    v.hosts.servers[0].address = address;
    v.hosts.web.publicAddress = address;
    expect(problemsOf(v)).toEqual([`hosts.web.publicAddress: ${JSON.stringify(address)} ${why}`, `hosts.servers[0].address: ${JSON.stringify(address)} ${why}`]);
  });

  test("one IPv6 address written three ways is one host", () => {
    const v = stackValues();
    v.hosts.db.address = "fd00::1";
    v.hosts.servers[0].address = "fd00:0::1";
    v.hosts.servers[1].address = "FD00:0000:0:0::0001";
    expect(problemsOf(v)).toEqual([
      'hosts.servers[0].address: "fd00:0::1" is already the address of hosts.db; every node needs its own host',
      'hosts.servers[1].address: "FD00:0000:0:0::0001" is already the address of hosts.db; every node needs its own host',
    ]);
  });

  test("a leading zero in an IPv6 group is not an octal part", () => {
    const v = stackValues();
    v.hosts.servers[0].address = "fd00::01";
    v.hosts.servers[1].address = "0100::1";
    v.allowPublicAddresses = true;
    const ok = validate(v);
    expect(ok.ok && ok.warnings).toEqual([expect.stringMatching(/^hosts\.servers\[1\]\.address: "0100::1" is public/)]);
  });

  test("addresses go into URLs with IPv6 in brackets", () => {
    expect(urlHost("fd00::1")).toBe("[fd00::1]");
    expect(urlHost("10.0.0.1")).toBe("10.0.0.1");
  });

  test("IPv6 in mixed notation is an address (and only the IPv4-mapped forms are refused)", () => {
    const v = stackValues();
    v.hosts.servers[0].address = "fd00::10.0.0.1";
    expect(problemsOf(v)).toEqual([]);
  });

  // Just inside and just outside every range the program treats as private,
  // and every range it refuses outright: a widened or narrowed range fails here.
  test.each([
    ["9.255.255.255", "public"],
    ["10.0.0.0", undefined],
    ["10.255.255.255", undefined],
    ["11.0.0.0", "public"],
    ["100.63.255.255", "public"],
    ["100.64.0.0", undefined],
    ["100.127.255.255", undefined],
    ["100.128.0.0", "public"],
    ["172.15.255.255", "public"],
    ["172.16.0.0", undefined],
    ["172.31.255.255", undefined],
    ["172.32.0.0", "public"],
    ["192.167.255.255", "public"],
    ["192.168.0.0", undefined],
    ["192.168.255.255", undefined],
    ["192.169.0.0", "public"],
    ["192.0.1.255", "public"],
    ["192.0.2.0", undefined],
    ["192.0.2.255", undefined],
    ["192.0.3.0", "public"],
    ["198.51.99.255", "public"],
    ["198.51.100.0", undefined],
    ["198.51.100.255", undefined],
    ["198.51.101.0", "public"],
    ["203.0.112.255", "public"],
    ["203.0.113.0", undefined],
    ["203.0.113.255", undefined],
    ["203.0.114.0", "public"],
    ["fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "public"],
    ["fc00::", undefined],
    ["fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", undefined],
    ["fe00::", "public"],
    ["2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "public"],
    ["2001:db8::", undefined],
    ["2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", undefined],
    ["2001:db9::", "public"],
    ["0.255.255.255", "not-a-host"],
    ["1.0.0.0", "public"],
    ["126.255.255.255", "public"],
    ["127.0.0.0", "not-a-host"],
    ["127.255.255.255", "not-a-host"],
    ["128.0.0.0", "public"],
    ["169.253.255.255", "public"],
    ["169.254.0.0", "not-a-host"],
    ["169.254.255.255", "not-a-host"],
    ["169.255.0.0", "public"],
    ["223.255.255.255", "public"],
    ["224.0.0.0", "not-a-host"],
    ["255.255.255.255", "not-a-host"],
    ["::", "not-a-host"],
    ["::1", "not-a-host"],
    ["::2", "public"],
    ["fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "public"],
    ["fe80::", "not-a-host"],
    ["febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "not-a-host"],
    ["fec0::", "public"],
    ["feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "public"],
    ["ff00::", "not-a-host"],
    ["10.0.0", "malformed"],
    ["[fd00::1]", "malformed"],
  ])("%s: %p", (address, problem) => {
    expect(addressProblem(address)).toBe(problem);
  });
});

describe("names the proxy's and the containers' hosts files already define", () => {
  // read from the real renderer: a name it starts writing must be refused too
  const written = renderProxyHosts([])
    .split("\n")
    .filter((l) => l.trim() !== "" && !l.startsWith("#"))
    .flatMap((l) => l.trim().split(/\s+/).slice(1));

  test("every name the proxy's hosts file writes is reserved", () => {
    expect(written.length).toBeGreaterThan(0);
    expect(LOCAL_HOST_NAMES).toEqual(expect.arrayContaining(written));
  });

  test.each([...new Set([...written, ...LOCAL_HOST_NAMES])])("%s is refused as a dtable-server name", (name) => {
    const v = stackValues();
    v.hosts.servers[1].name = name;
    expect(problemsOf(v)).toEqual([
      `hosts.servers[1].name: ${JSON.stringify(name)} is already defined in the containers' hosts files (${LOCAL_HOST_NAMES.join(", ")}); name dtable-servers e.g. "dtable-server-2"`,
    ]);
  });

  test("names that merely start like one are fine", () => {
    const v = stackValues();
    v.hosts.servers[1].name = "localhost-2";
    expect(problemsOf(v)).toEqual([]);
  });
});

describe("the stack file's shape", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "stack-shape-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const config = () => Object.fromEntries(Object.entries(stackValues()).map(([k, v]) => [`seatable-cluster:${k}`, v]));
  const problemsOfFile = (doc: unknown) => {
    const path = join(dir, "Pulumi.test.yaml");
    writeFileSync(path, stringify(doc));
    const v = validateStackFile(path);
    return v.ok ? [] : v.problems;
  };

  test("the shipped shape passes, with the other keys a stack file may hold", () => {
    expect(problemsOfFile({ secretsprovider: "passphrase", encryptionsalt: "v1:abc", config: { ...config(), "docker:host": "unix:///x" } })).toEqual([]);
  });

  test("a list instead of a map says so, and only that", () => {
    expect(problemsOfFile(Object.entries(config()).map(([k, v]) => ({ [k]: v })))).toEqual([
      'config: missing; the stack file holds a list, expected a map with a "config:" section',
    ]);
    expect(problemsOfFile({ config: Object.entries(config()).map(([k, v]) => ({ [k]: v })) })).toEqual([
      'config: expected a map of settings ("seatable-cluster:<key>: <value>"), found a list',
    ]);
  });

  test("a setting outside config: is named, not dropped", () => {
    expect(problemsOfFile({ config: config(), "seatable-cluster:stopTimeoutSeconds": 900, stopTimeoutSeconds: 900 })).toEqual([
      'seatable-cluster:stopTimeoutSeconds: outside "config:", where nothing reads it; indent it under config: (the top level of a stack file holds only config, environment, secretsprovider, encryptedkey, encryptionsalt)',
      'stopTimeoutSeconds: outside "config:", where nothing reads it; indent it under config: (the top level of a stack file holds only config, environment, secretsprovider, encryptedkey, encryptionsalt)',
    ]);
  });

  test("one setting written with and without the namespace", () => {
    expect(problemsOfFile({ config: { ...config(), image: "seatable/seatable-enterprise:6.1.9" } })).toEqual([
      'image: set twice, as "seatable-cluster:image" and as "image"; keep one',
    ]);
  });

  test.each(["seatable-clustr", "Seatable-Cluster", "seatable", "seatablecluster", "seatable-cluster-prod"])("a near miss of the namespace: %s", (namespace) => {
    expect(problemsOfFile({ config: { ...config(), [`${namespace}:stopTimeoutSeconds`]: 900 } })).toEqual([
      `${namespace}:stopTimeoutSeconds: the namespace ${JSON.stringify(namespace)} is not this project's, so nothing reads this setting; write "seatable-cluster:stopTimeoutSeconds"`,
    ]);
  });

  test("a stack file that holds one value instead of a map", () => {
    expect(problemsOfFile("seatable-cluster")).toEqual(['config: missing; the stack file holds "seatable-cluster" (a string), expected a map with a "config:" section']);
  });

  test("a setting left empty is null, and said so", () => {
    expect(problemsOfFile({ config: { ...config(), "seatable-cluster:seatableVersion": null } })).toEqual(["seatableVersion: expected a string, found null"]);
  });

  test("a problem of the file does not hide those of the settings", () => {
    expect(problemsOfFile({ config: { ...config(), "seatable-cluster:stopTimeoutSeconds": 5 }, stray: 1 })).toEqual([
      'stray: outside "config:", where nothing reads it; indent it under config: (the top level of a stack file holds only config, environment, secretsprovider, encryptedkey, encryptionsalt)',
      "stopTimeoutSeconds: expected a whole number of seconds from 30 to 3600, found 5",
    ]);
  });

  // `pulumi config set stopTimeoutSeconds 600` writes the string "600"
  test.each(["seatable-cluster:stopTimeoutSeconds", "stopTimeoutSeconds"])("a number written as a string under %s is the number", (key) => {
    const path = join(dir, "Pulumi.test.yaml");
    const { "seatable-cluster:stopTimeoutSeconds": _, ...rest } = { ...config(), "seatable-cluster:stopTimeoutSeconds": 0 };
    void _;
    writeFileSync(path, stringify({ config: { ...rest, [key]: "600" } }));
    const v = validateStackFile(path);
    expect(v.ok ? v.config.stopTimeoutSeconds : v.problems).toBe(600);
  });

  test("only a map of exactly {secure: ...} is a secret", () => {
    expect(problemsOfFile({ config: { ...config(), "seatable-cluster:mariadbPassword": { secure: "v1:AAAA" } } })).toEqual([]);
    expect(problemsOfFile({ config: { ...config(), "seatable-cluster:mariadbPassword": { secure: "v1:AAAA", note: "x" } } })).toEqual([
      "mariadbPassword: set in plain text, but it is the password of the MariaDB user; keep it out of the stack file and run `pulumi config set --secret mariadbPassword <value>`",
    ]);
  });

  test("a secret's value is never passed on, only that it is set", () => {
    const raw = rawStackConfig([
      { key: "seatable-cluster:mariadbPassword", value: { secure: "v1:AAAA" }, secret: true },
      { key: "seatable-cluster:timeZone", value: "Europe/Berlin", secret: false },
    ]);
    expect(raw).toEqual({ values: { mariadbPassword: "[secret]", timeZone: "Europe/Berlin" }, secretKeys: new Set(["mariadbPassword"]) });
  });

  test("a namespace close to the project's name is a near miss even without the word seatable", () => {
    expect(problemsOfFile({ config: { ...config(), "seatbale-cluster:stopTimeoutSeconds": 900 } })).toEqual([
      'seatbale-cluster:stopTimeoutSeconds: the namespace "seatbale-cluster" is not this project\'s, so nothing reads this setting; write "seatable-cluster:stopTimeoutSeconds"',
    ]);
  });

  test("a stack file that cannot be read, or is not YAML, is named with its path", () => {
    const missing = join(dir, "Pulumi.missing.yaml");
    const v = validateStackFile(missing);
    expect(v.ok ? [] : v.problems).toEqual([`${missing}: cannot read the stack file: ENOENT: no such file or directory, open '${missing}'`]);
    const path = join(dir, "Pulumi.test.yaml");
    writeFileSync(path, "config:\n\tseatable-cluster:image: nginx\n");
    const w = validateStackFile(path);
    // the parser's first line, without the excerpt it draws below it
    expect(w.ok ? [] : w.problems).toEqual([`${path}: not valid YAML: Tabs are not allowed as indentation at line 2, column 1:`]);
  });

  test("other namespaces are not ours and pass (the program reads its keys the same way)", () => {
    const raw = rawStackConfig(["docker:host", "command:x", "pulumi:template", "aws:region"].map((key) => ({ key, value: "x", secret: false })));
    expect(raw).toEqual({ values: {}, secretKeys: new Set() });
    const near = rawStackConfig([{ key: "seatable-clustr:image", value: "x", secret: false }]);
    expect(near.problems).toEqual([expect.stringMatching(/^seatable-clustr:image: the namespace "seatable-clustr" is not this project's/)]);
  });
});

describe("a huge value is echoed only in part", () => {
  const huge = "x".repeat(100000);
  const cut = `"${"x".repeat(60)}"… (100000 characters)`;

  test("in every kind of problem", () => {
    const v = stackValues();
    v.image = huge;
    v.adminEmail = huge;
    v.seatableVersion = huge;
    v.ssh.user = huge;
    v.hosts.web.address = huge;
    v.hosts.servers[1].name = huge;
    v.routing.bucketHexDigits = huge;
    v.routing.pins = { [huge]: "dtable-server" };
    v.publicEntry = huge;
    v[huge] = 1;
    const problems = problemsOf(v);
    expect(problems).toHaveLength(10);
    // the longest fixed text is the list of known keys
    for (const p of problems) expect([p.length < 500, p]).toEqual([true, p]);
    expect(problems.filter((p) => p.includes(cut))).toHaveLength(9);
    expect(problems).toContainEqual(expect.stringMatching(/^x{60}…: unknown key/));
  });

  test.each<[number, string]>([
    [60, `"${"x".repeat(60)}"`],
    [61, `"${"x".repeat(60)}"… (61 characters)`],
  ])("a value of %p characters is echoed as %s", (length, echoed) => {
    const v = stackValues();
    v.adminEmail = "x".repeat(length);
    expect(problemsOf(v)).toEqual([`adminEmail: ${echoed} is not an e-mail address`]);
  });

  test.each<[number, string]>([
    [60, "x".repeat(60)],
    [61, `${"x".repeat(60)}…`],
  ])("a key of %p characters is named as %s", (length, named) => {
    const v = stackValues();
    v.proxy = { ["x".repeat(length)]: 1 };
    expect(problemsOf(v)).toEqual([`proxy.${named}: unknown key (known here: image, port, keepalive, workerConnections, retryAfterSeconds)`]);
  });

  test("in the problems found after the schema", () => {
    const v = stackValues();
    v.routing.pins = { "0e4cafe0-0000-4000-8000-00000000000a": huge };
    v.routing.start = { file: huge };
    v[huge] = "[secret]";
    const problems = problemsOf(v, [huge]);
    expect(problems).toEqual([
      `routing.pins.0e4cafe0-0000-4000-8000-00000000000a: ${cut} is not a dtable-server in hosts.servers (dtable-server, dtable-server-2)`,
      `${"x".repeat(60)}…: is a secret, but this setting is not secret; set it in plain text with \`pulumi config set ${"x".repeat(60)}… ...\``,
    ]);
  });
});

describe("the applied routing read back from the stack's state", () => {
  const applied = () => JSON.parse(JSON.stringify(appliedRouting(configOf(), { bucketHexDigits: 1, default: "dtable-server", buckets: Object.fromEntries([..."0123456789abcdef"].map((b) => [b, "dtable-server"])), pins: {} }, { conf: "a".repeat(64), hosts: "b".repeat(64) }, ["dtable-server-proxy-verify"])));
  const damaged = (change: (a: ReturnType<typeof applied>) => void) => {
    const a = applied();
    change(a);
    return () => parseAppliedRouting(a, appliedContext(configOf()));
  };

  test("as the program writes it, it is read back unchanged", () => {
    expect(parseAppliedRouting(applied(), appliedContext(configOf()))).toEqual(applied());
  });

  test.each<[string, (a: ReturnType<typeof applied>) => void, RegExp]>([
    ["a line break in a host key", (a) => (a.servers[1].ssh.hostKey += "\n* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAttacker"), /^appliedRouting\.servers\[1\]\.ssh\.hostKey: expected a public host key line/m],
    ["an SSH user that moves the host", (a) => (a.servers[0].ssh.user = "root@203.0.113.66"), /^appliedRouting\.servers\[0\]\.ssh\.user: "root@203\.0\.113\.66" is not a login name/m],
    ["a port out of range", (a) => (a.servers[0].ssh.port = 0), /^appliedRouting\.servers\[0\]\.ssh\.port: expected a port from 1 to 65535, found 0/m],
    ["an address with a zone", (a) => (a.servers[1].address = "fd00::1%eth0"), /^appliedRouting\.servers\[1\]\.address: "fd00::1%eth0" has a zone index/m],
    ["a name the hosts file defines", (a) => (a.servers[1].name = "localhost"), /^appliedRouting\.servers\[1\]\.name: "localhost" is already defined/m],
    ["a server name that would break nginx-proxy.conf", (a) => (a.table.buckets.f = "x; include /etc/passwd"), /^appliedRouting\.table\.buckets\.f: "x; include \/etc\/passwd" is not a host name/m],
    ["an unknown key", (a) => (a.servers[0].extra = 1), /^appliedRouting\.servers\[0\]\.extra: unknown key/m],
    ["servers that are not a list", (a) => (a.servers = "x"), /^appliedRouting\.servers: expected a list of servers/m],
    ["a proxy hash with a line after it", (a) => (a.proxy.conf += "\nrm -rf /"), /^appliedRouting\.proxy\.conf: /m],
    ["a proxy hash with text before it", (a) => (a.proxy.hosts = `x${a.proxy.hosts}`), /^appliedRouting\.proxy\.hosts: /m],
    ["a rollout step name with a shell word after it", (a) => (a.rolloutSteps[0] += "; reboot"), /^appliedRouting\.rolloutSteps\[0\]: /m],
    ["a rollout step name with text before it", (a) => (a.rolloutSteps[0] = `$(reboot)${a.rolloutSteps[0]}`), /^appliedRouting\.rolloutSteps\[0\]: /m],
  ])("%s is refused, naming the key", (_what, change, message) => {
    expect(damaged(change)).toThrow(/^appliedRouting \(the stack output this program keeps its routing in\) is damaged:\n/);
    expect(damaged(change)).toThrow(message);
  });

  test("a table and servers both damaged: every problem named, one a line", () => {
    expect(
      damaged((a) => {
        a.table.buckets.f = "x; y";
        a.servers[0].ssh.port = 0;
        a.proxy.conf = "short";
      }),
    ).toThrow(/^appliedRouting \(.*\) is damaged:\nappliedRouting\.table\.buckets\.f: .*\nappliedRouting\.servers\[0\]\.ssh\.port: .*\nappliedRouting\.proxy\.conf: [^\n]*$/);
  });

  test("one part damaged: that problem alone", () => {
    expect(damaged((a) => (a.proxy.conf = "short"))).toThrow(/^appliedRouting \(.*\) is damaged:\nappliedRouting\.proxy\.conf: [^\n]*$/);
    expect(damaged((a) => (a.servers[0].ssh.port = 0))).toThrow(/^appliedRouting \(.*\) is damaged:\nappliedRouting\.servers\[0\]\.ssh\.port: [^\n]*$/);
  });

  test("no output yet (the first up): nothing applied", () => {
    const context = appliedContext(configOf());
    expect(parseAppliedRouting(undefined, context)).toBeUndefined();
    expect(parseAppliedRouting(null, context)).toBeUndefined();
    expect(() => parseAppliedRouting({}, context)).toThrow(/is damaged/);
  });
});

describe("the containers recorded in the stack's state (appliedContainers)", () => {
  const digest = "c".repeat(64);
  test("as the program writes them, read back unchanged; none before the first up", () => {
    expect(parseAppliedContainers({ "dtable-web": digest, "dtable-server-2": digest })).toEqual({ "dtable-web": digest, "dtable-server-2": digest });
    expect(parseAppliedContainers(undefined)).toBeUndefined();
    expect(parseAppliedContainers(null)).toBeUndefined();
  });
  test.each<[string, unknown]>([
    ["a digest that is not sha256", { "dtable-web": "c".repeat(63) }],
    ["a digest with a line after it", { "dtable-web": `${digest}\nx` }],
    ["a host name with a shell word before it", { "x;dtable-web": digest }],
    ["a host name that does not start with a letter", { "-dtable-web": digest }],
    ["a host name with a shell word after it", { "dtable-web;x": digest }],
    ["a host name longer than a DNS label", { [`d${"x".repeat(63)}`]: digest }],
    ["not an object", "dtable-web"],
  ])("%s is refused", (_what, value) => {
    expect(() => parseAppliedContainers(value)).toThrow("appliedContainers (the stack output that records each node's container) is damaged: expected host name → sha256");
  });
});

test("the program refuses damaged state before it registers anything", async () => {
  // loaded here: the rest of this file runs without Pulumi (a mutation run loads it per mutant)
  const { runProgram } = await import("./support/program");
  const c = configOf();
  const table = { bucketHexDigits: 1 as const, default: "dtable-server", buckets: Object.fromEntries([..."0123456789abcdef"].map((b) => [b, "dtable-server"])), pins: {} };
  const applied = appliedRouting(c, table, { conf: "a".repeat(64), hosts: "b".repeat(64) }, ["dtable-server-proxy-verify"]);
  const damaged = { ...applied, servers: [{ ...applied.servers[0], ssh: { ...applied.servers[0].ssh, hostKey: `${applied.servers[0].ssh.hostKey}\n* ${applied.servers[0].ssh.hostKey}` } }] };
  const failure = await runProgram(stackValues(), { applied: damaged }).catch((e: ProgramFailure) => e);
  expect(failure).toBeInstanceOf(Error);
  expect((failure as ProgramFailure).message).toMatch(/^appliedRouting \(the stack output this program keeps its routing in\) is damaged:\nappliedRouting\.servers\[0\]\.ssh\.hostKey: expected a public host key line/);
  expect((failure as ProgramFailure).registered).toEqual([]);
});

test("ssh.privateKeyPath without the sshPrivateKey secret: docker's ssh offers only that file, the commands log in with its text, kept secret", async () => {
  const { runProgram, SECRET_SIG, SECRET_VALUES } = await import("./support/program");
  const dir = mkdtempSync(join(tmpdir(), "key-"));
  try {
    const path = join(dir, "deploy_ed25519");
    const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nfrom-the-key-file-Tq8w1\n-----END OPENSSH PRIVATE KEY-----\n";
    writeFileSync(path, key);
    const v = stackValues();
    v.ssh = { ...v.ssh, privateKeyPath: path };
    const secrets: Record<string, string> = { ...SECRET_VALUES };
    delete secrets.sshPrivateKey;
    const run = await runProgram(v, { secrets });
    const providers = run.byType("pulumi:providers:docker");
    expect(providers.length).toBe(2 + v.hosts.servers.length);
    for (const p of providers) expect([p.name, (JSON.parse(p.inputs.sshOpts as string) as string[]).slice(-4)]).toEqual([p.name, ["-i", path, "-o", "IdentitiesOnly=yes"]]);
    const commands = run.byType("command:remote:Command");
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) {
      const connection = c.inputs.connection as Record<string, unknown> & { value: { privateKey: string } };
      expect([c.name, SECRET_SIG in connection, connection.value.privateKey]).toEqual([c.name, true, key]);
    }
    expect(JSON.stringify(run.resources.map((r) => ({ ...r, inputs: { ...r.inputs, connection: undefined } })))).not.toContain("from-the-key-file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the program refuses fewer bucket digits than the table applied last, before it registers anything", async () => {
  const { runProgram } = await import("./support/program");
  const c = configOf();
  expect(c.routing.bucketHexDigits).toBe(2);
  const hex = (n: number) => n.toString(16).padStart(3, "0");
  const table = { bucketHexDigits: 3 as const, default: "dtable-server", buckets: Object.fromEntries(Array.from({ length: 4096 }, (_, i) => [hex(i), "dtable-server"])), pins: {} };
  const applied = appliedRouting(c, table, { conf: "a".repeat(64), hosts: "b".repeat(64) }, ["dtable-server-proxy-verify"]);
  const failure = await runProgram(stackValues(), { applied }).catch((e: ProgramFailure) => e);
  expect((failure as ProgramFailure).message).toBe(
    "routing.bucketHexDigits: 2 is fewer than the 3 of the table the stack recorded; fewer digits would merge buckets that live on different servers",
  );
  expect((failure as ProgramFailure).registered).toEqual([]);
  // the same number of digits is no refusal
  const same = appliedRouting(c, { ...table, bucketHexDigits: 2, buckets: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [hex(i).slice(1), "dtable-server"])) }, { conf: "a".repeat(64), hosts: "b".repeat(64) }, ["dtable-server-proxy-verify"]);
  await expect(runProgram(stackValues(), { applied: same })).resolves.toBeDefined();
});


describe("the words a problem uses for what was found", () => {
  test.each<[unknown, string]>([
    [undefined, "nothing"],
    [null, "null"],
    [[1, 2], "a list"],
    [{ port: 1 }, "an object"],
    ["2", '"2" (a string)'],
    [1.5, "1.5 (a number)"],
    [true, "true (a boolean)"],
  ])("%p is %s", (input, words) => {
    expect(describeValue(input)).toBe(words);
  });

  test.each<[string, string[], string]>([
    ["prot", ["image", "port"], '; did you mean "port"?'],
    ["PORT", ["image", "port"], '; did you mean "port"?'],
    ["bukcetHexDigts", ["bucketHexDigits", "pins", "start"], '; did you mean "bucketHexDigits"?'],
    ["colour", ["image", "port"], ""],
    ["anything", [], ""],
  ])("a mistyped %p among %p: %p", (key, known, words) => {
    expect(suggestion(key, known)).toBe(words);
  });

  test("without a prefix or a list of known keys, a line is the key path and the problem alone", () => {
    const parsed = stackConfigSchema.safeParse({ ...stackValues(), colour: "blue", proxy: { port: 0 } }, { reportInput: true });
    expect(parsed.success ? [] : formatIssues(parsed.error.issues)).toEqual(["proxy.port: expected a port from 1 to 65535, found 0", "colour: unknown key"]);
    expect(parsed.success ? [] : formatIssues(parsed.error.issues, "stack")).toEqual(["stack.proxy.port: expected a port from 1 to 65535, found 0", "stack.colour: unknown key"]);
  });
});
