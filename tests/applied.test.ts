// The routing and servers read back from the stack's state (appliedRouting) and
// from files on a host (servers.json): the state may not allow more than the
// config does. Each refusal with its exact line, every problem at once.
import { appliedContext, AppliedContext, appliedRouting, parseAppliedRouting, parseServerList, parseServersAndEvicted } from "../pure/plan/applied";
import type { ServerHost } from "../pure/plan/rollout";
import type { RoutingTable } from "../pure/config/routing-file";
import { configOf, stackValues } from "./support/stacks";

const HEAD = "appliedRouting (the stack output this program keeps its routing in) is damaged:";
const PROXY = { conf: "a".repeat(64), hosts: "b".repeat(64) };
const STEPS = ["dtable-server-proxy-verify"];
const UUID = "0e4cafe0-0000-4000-8000-00000000000a";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPyEPKtpu1qvSAdg9lnb0sRrZ8zVggiKOUrAZ1obzs6E";
const LOOPBACK = "is a loopback, unspecified, link-local or multicast address; expected the host's private address";
const PUBLIC = "is a public address; expected a private one (10/8, 172.16/12, 192.168/16, fc00::/7), or set allowPublicAddresses: true";
const NOT_IN_SERVERS = "which is not in appliedRouting.servers (dtable-server, dtable-server-2)";

/** 0-7 on dtable-server, 8-f on dtable-server-2 (the dev stack's two servers). */
const TABLE: RoutingTable = {
  bucketHexDigits: 1,
  default: "dtable-server",
  buckets: Object.fromEntries([..."0123456789abcdef"].map((b, i) => [b, i < 8 ? "dtable-server" : "dtable-server-2"])),
  pins: {},
};

const dead = (name = "dtable-server-3", address = "192.0.2.23"): ServerHost => ({ name, address, ssh: { user: "root", port: 22, hostKey: KEY } });

/** The dev stack's record as the stack keeps it (plain JSON), to damage. */
const record = (evicted: readonly ServerHost[] = []): Record<string, any> => JSON.parse(JSON.stringify(appliedRouting(configOf(), TABLE, PROXY, STEPS, { evicted })));

/** The problem lines of reading `value` back ([] when it is read). */
function problems(value: unknown, context: AppliedContext = appliedContext(configOf())): string[] {
  try {
    parseAppliedRouting(value, context);
    return [];
  } catch (e) {
    const [head, ...lines] = (e as Error).message.split("\n");
    expect(head).toBe(HEAD);
    return lines;
  }
}

const damaged = (change: (a: Record<string, any>) => void, evicted: readonly ServerHost[] = []) => {
  const a = record(evicted);
  change(a);
  return problems(a);
};

describe("what the config refuses, the record read back refuses too", () => {
  test.each<[string, (a: Record<string, any>) => void, string]>([
    ["127.0.0.1 (loopback)", (a) => (a.servers[1].address = "127.0.0.1"), `appliedRouting.servers[1].address: "127.0.0.1" ${LOOPBACK}`],
    // all of 127/8 is loopback, not only .1
    ["127.3.2.1 (loopback)", (a) => (a.servers[1].address = "127.3.2.1"), `appliedRouting.servers[1].address: "127.3.2.1" ${LOOPBACK}`],
    ["::1 (IPv6 loopback)", (a) => (a.servers[1].address = "::1"), `appliedRouting.servers[1].address: "::1" ${LOOPBACK}`],
    ["0:0::1 (IPv6 loopback written long)", (a) => (a.servers[1].address = "0:0::1"), `appliedRouting.servers[1].address: "0:0::1" ${LOOPBACK}`],
    ["0.0.0.0 (unspecified)", (a) => (a.servers[0].address = "0.0.0.0"), `appliedRouting.servers[0].address: "0.0.0.0" ${LOOPBACK}`],
    ["fe80::1 (link-local)", (a) => (a.servers[0].address = "fe80::1"), `appliedRouting.servers[0].address: "fe80::1" ${LOOPBACK}`],
    ["a public IPv4 address", (a) => (a.servers[1].address = "8.8.8.8"), `appliedRouting.servers[1].address: "8.8.8.8" ${PUBLIC}`],
    ["a public IPv6 address", (a) => (a.servers[1].address = "2a00:1450::1"), `appliedRouting.servers[1].address: "2a00:1450::1" ${PUBLIC}`],
    [
      "the host-key opt-out the config does not set",
      (a) => (a.servers[1].ssh = { user: "root", port: 22, insecureSkipHostKeyCheck: true }),
      'appliedRouting.servers[1].ssh.insecureSkipHostKeyCheck: true, but the config does not set insecureSkipHostKeyCheck for a host named "dtable-server-2"; the state may not turn off a host key check the config keeps on',
    ],
    [
      "the opt-out beside a pinned key",
      (a) => (a.servers[1].ssh.insecureSkipHostKeyCheck = true),
      "appliedRouting.servers[1].ssh.insecureSkipHostKeyCheck: true, but appliedRouting.servers[1].ssh.hostKey pins a key; a server has one or the other",
    ],
    [
      "neither a key nor the opt-out",
      (a) => delete a.servers[1].ssh.hostKey,
      "appliedRouting.servers[1].ssh.hostKey: missing, and no insecureSkipHostKeyCheck; the host's key could not be checked",
    ],
    [
      "a name twice",
      (a) => a.servers.push({ ...a.servers[1], address: "192.0.2.23" }),
      'appliedRouting.servers[2].name: "dtable-server-2" is already the name of appliedRouting.servers[1]; every host needs its own name',
    ],
    [
      "an address twice",
      (a) => a.servers.push({ ...a.servers[1], name: "dtable-server-3" }),
      'appliedRouting.servers[2].address: "192.0.2.22" is already the address of appliedRouting.servers[1]; every node needs its own host',
    ],
    [
      // compared as the config compares them: one host, however it is written
      "an IPv6 address twice, written another way",
      (a) => {
        a.servers[1].address = "fc00::1";
        a.servers.push({ ...a.servers[1], name: "dtable-server-3", address: "FC00:0::0001" });
      },
      'appliedRouting.servers[2].address: "FC00:0::0001" is already the address of appliedRouting.servers[1]; every node needs its own host',
    ],
    ["a bucket on a server not in the list", (a) => (a.table.buckets.e = "dtable-server-9"), `appliedRouting.table.buckets: bucket e names the dtable-server "dtable-server-9", ${NOT_IN_SERVERS}`],
    [
      "buckets on a server not in the list, in one line",
      (a) => (a.table.buckets.f = a.table.buckets.e = "dtable-server-9"),
      `appliedRouting.table.buckets: buckets e, f name the dtable-server "dtable-server-9", ${NOT_IN_SERVERS}`,
    ],
    ["a default server not in the list", (a) => (a.table.default = "dtable-server-9"), `appliedRouting.table.default: names the dtable-server "dtable-server-9", ${NOT_IN_SERVERS}`],
    ["a pin on a server not in the list", (a) => (a.table.pins[UUID] = "dtable-server-9"), `appliedRouting.table.pins.${UUID}: names the dtable-server "dtable-server-9", ${NOT_IN_SERVERS}`],
    [
      "a server the table names, left out of the list",
      (a) => a.servers.pop(),
      'appliedRouting.table.buckets: buckets 8, 9, a, b, c, d, e, f name the dtable-server "dtable-server-2", which is not in appliedRouting.servers (dtable-server)',
    ],
  ])("%s is refused", (_what, change, line) => {
    expect(damaged(change)).toEqual([line]);
  });

  test("many buckets on a missing server: the first eight and the count", () => {
    const hex = (n: number) => n.toString(16).padStart(2, "0");
    const a = record();
    a.table = { bucketHexDigits: 2, default: "dtable-server", buckets: Object.fromEntries(Array.from({ length: 256 }, (_, i) => [hex(i), i < 128 ? "dtable-server" : "dtable-server-7"])), pins: {} };
    expect(problems(a)).toEqual([`appliedRouting.table.buckets: buckets 80, 81, 82, 83, 84, 85, 86, 87, … (128 in all) name the dtable-server "dtable-server-7", ${NOT_IN_SERVERS}`]);
  });

  test("every problem at once, one a line, in the record's order", () => {
    expect(
      damaged(
        (a) => {
          a.table.buckets.f = "dtable-server-9";
          a.servers[0].address = "127.0.0.1";
          a.servers[1].ssh = { user: "root", port: 0, insecureSkipHostKeyCheck: true };
          a.servers.push({ ...a.servers[0], name: "dtable-server-2", address: "8.8.8.8" });
          a.evicted[0].address = "::1";
          a.evicted.push({ ...a.evicted[0], name: "dtable-server", address: "192.0.2.24" });
          a.proxy.conf = "short";
        },
        [dead()],
      ),
    ).toEqual([
      `appliedRouting.servers[0].address: "127.0.0.1" ${LOOPBACK}`,
      "appliedRouting.servers[1].ssh.port: expected a port from 1 to 65535, found 0",
      'appliedRouting.servers[1].ssh.insecureSkipHostKeyCheck: true, but the config does not set insecureSkipHostKeyCheck for a host named "dtable-server-2"; the state may not turn off a host key check the config keeps on',
      `appliedRouting.servers[2].address: "8.8.8.8" ${PUBLIC}`,
      'appliedRouting.servers[2].name: "dtable-server-2" is already the name of appliedRouting.servers[1]; every host needs its own name',
      `appliedRouting.evicted[0].address: "::1" ${LOOPBACK}`,
      'appliedRouting.evicted[1].name: "dtable-server" is already the name of appliedRouting.servers[0]; a server is deployed or evicted, not both',
      // the table's problems come after the servers' (it is checked against them)
      `appliedRouting.table.buckets: bucket f names the dtable-server "dtable-server-9", ${NOT_IN_SERVERS}`,
      "appliedRouting.proxy.conf: Invalid string: must match pattern /^[0-9a-f]{64}$/",
    ]);
  });
});

describe("what the config allows, the record may hold", () => {
  test("the host-key opt-out the config sets for that host", () => {
    const v = stackValues();
    v.hosts.servers[1].ssh = { insecureSkipHostKeyCheck: true };
    const config = configOf(v);
    const written = JSON.parse(JSON.stringify(appliedRouting(config, TABLE, PROXY, STEPS)));
    expect(written.servers[1].ssh).toEqual({ user: "root", port: 22, insecureSkipHostKeyCheck: true });
    expect(parseAppliedRouting(written, appliedContext(config))).toEqual(written);
    // the config's opt-out for one host is not one for another
    const other = structuredClone(written);
    other.servers[0].ssh = { user: "root", port: 22, insecureSkipHostKeyCheck: true };
    expect(problems(other, appliedContext(config))).toEqual([
      'appliedRouting.servers[0].ssh.insecureSkipHostKeyCheck: true, but the config does not set insecureSkipHostKeyCheck for a host named "dtable-server"; the state may not turn off a host key check the config keeps on',
    ]);
  });

  test("public addresses, where the config allows them", () => {
    const v = stackValues();
    v.allowPublicAddresses = true;
    v.hosts.servers[1].address = "2a00:1450::22";
    const config = configOf(v);
    const written = JSON.parse(JSON.stringify(appliedRouting(config, TABLE, PROXY, STEPS, { evicted: [dead("dtable-server-3", "8.8.8.8")] })));
    expect(parseAppliedRouting(written, appliedContext(config))).toEqual(written);
    expect(problems(written)).toEqual([`appliedRouting.servers[1].address: "2a00:1450::22" ${PUBLIC}`, `appliedRouting.evicted[0].address: "8.8.8.8" ${PUBLIC}`]);
  });

  test("the context of a config: its allowPublicAddresses and the names of the hosts that opt out", () => {
    const v = stackValues();
    v.hosts.web.ssh = { insecureSkipHostKeyCheck: true };
    v.hosts.servers[1].ssh = { insecureSkipHostKeyCheck: true };
    expect(appliedContext(configOf(v))).toEqual({ allowPublicAddresses: false, insecureHosts: new Set(["dtable-web", "dtable-server-2"]) });
    v.allowPublicAddresses = true;
    expect(appliedContext(configOf(v)).allowPublicAddresses).toBe(true);
    expect(appliedContext(configOf()).insecureHosts).toEqual(new Set());
  });

  test("loopback addresses where a test says so; their form and uniqueness are still checked", () => {
    const context = { ...appliedContext(configOf()), acceptAddress: (address: string) => address.startsWith("127.") };
    const a = record();
    a.servers[0].address = "127.1.0.10";
    a.servers[1].address = "127.1.0.11";
    expect(parseAppliedRouting(a, context)).toEqual(a);
    a.servers[1].address = "127.1.0.10";
    expect(problems(a, context)).toEqual(['appliedRouting.servers[1].address: "127.1.0.10" is already the address of appliedRouting.servers[0]; every node needs its own host']);
    a.servers[1].address = "127.1.0.11%lo";
    expect(problems(a, context)).toEqual(['appliedRouting.servers[1].address: "127.1.0.11%lo" has a zone index (%...); expected a node\'s address without one']);
    // only what it accepts
    a.servers[1].address = "::1";
    expect(problems(a, context)).toEqual([`appliedRouting.servers[1].address: "::1" ${LOOPBACK}`]);
  });

  test("a server the table does not name (drained, or newly added)", () => {
    const a = record();
    a.table.buckets = Object.fromEntries(Object.keys(a.table.buckets).map((b) => [b, "dtable-server"]));
    expect(parseAppliedRouting(a, appliedContext(configOf()))).toEqual(a);
  });
});

describe("the evicted servers of the record", () => {
  test("written and read back unchanged; evicted servers need not be in the table", () => {
    const written = appliedRouting(configOf(), TABLE, PROXY, STEPS, { evicted: [dead(), dead("dtable-server-4", "fd00::24")] });
    expect(written.evicted).toEqual([dead(), dead("dtable-server-4", "fd00::24")]);
    const stored = JSON.parse(JSON.stringify(written));
    expect(parseAppliedRouting(stored, appliedContext(configOf()))).toEqual(written);
  });

  test("none: no key, written or read back", () => {
    expect("evicted" in appliedRouting(configOf(), TABLE, PROXY, STEPS)).toBe(false);
    expect("evicted" in appliedRouting(configOf(), TABLE, PROXY, STEPS, { evicted: [] })).toBe(false);
    const read = parseAppliedRouting({ ...record(), evicted: [] }, appliedContext(configOf()));
    expect(read && "evicted" in read).toBe(false);
  });

  test("one the config deploys again, by name or on its host, is no longer evicted", () => {
    const written = appliedRouting(configOf(), TABLE, PROXY, STEPS, { evicted: [dead("dtable-server-2", "192.0.2.32"), dead("dtable-server-5", "192.0.2.21"), dead()] });
    expect(written.evicted).toEqual([dead()]);
    expect(parseAppliedRouting(JSON.parse(JSON.stringify(written)), appliedContext(configOf()))).toEqual(written);
  });

  test.each<[string, (a: Record<string, any>) => void, string]>([
    [
      "a name also in servers",
      (a) => (a.evicted[0].name = "dtable-server-2"),
      'appliedRouting.evicted[0].name: "dtable-server-2" is already the name of appliedRouting.servers[1]; a server is deployed or evicted, not both',
    ],
    [
      "the host of a server, written another way",
      (a) => {
        a.servers[1].address = "fd00::22";
        a.evicted[0].address = "fd00:0:0::22";
      },
      'appliedRouting.evicted[0].address: "fd00:0:0::22" is already the address of appliedRouting.servers[1]; every node needs its own host',
    ],
    [
      "a name twice among them",
      (a) => a.evicted.push({ ...a.evicted[0], address: "192.0.2.24" }),
      'appliedRouting.evicted[1].name: "dtable-server-3" is already the name of appliedRouting.evicted[0]; every host needs its own name',
    ],
    ["a loopback address", (a) => (a.evicted[0].address = "127.0.0.2"), `appliedRouting.evicted[0].address: "127.0.0.2" ${LOOPBACK}`],
    [
      "the host-key opt-out the config does not set",
      (a) => (a.evicted[0].ssh = { user: "root", port: 22, insecureSkipHostKeyCheck: true }),
      'appliedRouting.evicted[0].ssh.insecureSkipHostKeyCheck: true, but the config does not set insecureSkipHostKeyCheck for a host named "dtable-server-3"; the state may not turn off a host key check the config keeps on',
    ],
    ["an unknown key", (a) => (a.evicted[0].since = "yesterday"), "appliedRouting.evicted[0].since: unknown key"],
    ["not a list", (a) => (a.evicted = "dtable-server-3"), 'appliedRouting.evicted: expected a list of servers, found "dtable-server-3" (a string)'],
    // an evicted server is not one the proxy may route to
    ["one the table names", (a) => (a.table.buckets.f = "dtable-server-3"), `appliedRouting.table.buckets: bucket f names the dtable-server "dtable-server-3", ${NOT_IN_SERVERS}`],
  ])("%s is refused", (_what, change, line) => {
    expect(damaged(change, [dead()])).toEqual([line]);
  });
});

describe("a list of servers read back from a host (servers.json)", () => {
  const where = "dtable-web:/opt/seatable-compose/proxy/servers.json";
  const context = appliedContext(configOf());
  const servers = () => JSON.parse(JSON.stringify(configOf().hosts.servers.map((s) => ({ name: s.name, address: s.address, ssh: s.ssh }))));

  test("as written, read back unchanged", () => {
    expect(parseServerList(servers(), `${where}.servers`, context)).toEqual({ servers: servers(), problems: [] });
    expect(parseServerList([], `${where}.servers`, context)).toEqual({ servers: [], problems: [] });
  });

  test("every problem of every server at once, prefixed with the key path given", () => {
    const list = servers();
    list[1] = { ...list[0], address: "fd00::1", ssh: { ...list[0].ssh, port: 0 } };
    list.push({ ...list[0], name: "dtable-server-3", address: "FD00:0::1" }, "dtable-server-4", { ...list[0], name: "dtable-server-5", address: "127.0.0.5" });
    expect(parseServerList(list, `${where}.servers`, context)).toEqual({
      problems: [
        `${where}.servers[1].ssh.port: expected a port from 1 to 65535, found 0`,
        `${where}.servers[3]: expected an object, found "dtable-server-4" (a string)`,
        `${where}.servers[4].address: "127.0.0.5" ${LOOPBACK}`,
        `${where}.servers[1].name: "dtable-server" is already the name of ${where}.servers[0]; every host needs its own name`,
        `${where}.servers[2].address: "FD00:0::1" is already the address of ${where}.servers[1]; every node needs its own host`,
      ],
    });
  });

  test.each<[unknown, string]>([
    [undefined, "missing; expected a list of servers"],
    [null, "expected a list of servers, found null"],
    [{ "dtable-server": "192.0.2.21" }, "expected a list of servers, found an object"],
  ])("%p is not a list", (value, words) => {
    expect(parseServerList(value, "servers.json", context)).toEqual({ problems: [`servers.json: ${words}`] });
  });

  test("with its evicted servers: a missing list is none, a name in both is refused", () => {
    expect(parseServersAndEvicted(servers(), undefined, "servers.json", context)).toEqual({ servers: servers(), evicted: [], problems: [] });
    expect(parseServersAndEvicted(servers(), [dead()], "servers.json", context)).toEqual({ servers: servers(), evicted: [dead()], problems: [] });
    expect(parseServersAndEvicted(servers(), [dead("dtable-server", "192.0.2.23")], "servers.json", context)).toEqual({
      problems: ['servers.json.evicted[0].name: "dtable-server" is already the name of servers.json.servers[0]; a server is deployed or evicted, not both'],
    });
  });
});
