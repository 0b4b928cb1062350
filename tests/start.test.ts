// Where a change starts (pure/plan/start.ts): from what the proxy runs, with
// the stack's record only as a cross-check. Plain data in, plain data out.
import { appliedContext, appliedRouting } from "../pure/plan/applied";
import { buildPlan } from "../pure/plan";
import { evictAnswers, startingPoint } from "../pure/plan/start";
import type { LiveProxy } from "../pure/plan/rollout";
import { configOf, withServers } from "./support/stacks";

const A = "a".repeat(64);
const B = "b".repeat(64);
const RUN = { stack: "organization/seatable-cluster/prod", id: "run-2" };
const four = configOf(withServers(4));
const five = configOf(withServers(5));
const reach = (c: typeof four) => c.hosts.servers.map((s) => ({ name: s.name, address: s.address, ssh: { ...s.ssh } }));
const context = appliedContext(five);
const tableOf = (c: typeof four, previous?: ReturnType<typeof buildPlan>["routing"]) => buildPlan(c, previous).routing;

describe("the table a change starts from", () => {
  const t4 = tableOf(four);
  const t5 = tableOf(five, t4);

  test("is the proxy's routing.json, not the stack's record; a record that differs is reported, never used", () => {
    const record = appliedRouting(four, t4, { conf: A, hosts: B }, []);
    const live: LiveProxy = { conf: A, hosts: B, table: t5, servers: { servers: reach(five), evicted: [] } };
    const start = startingPoint(five, live, record, RUN, context);
    expect(start.errors).toEqual([]);
    expect([start.from, start.previous]).toEqual(["proxy", t5]);
    expect(start.previousServers.map((s) => s.name)).toEqual(five.hosts.servers.map((s) => s.name));
    expect(start.warnings).toEqual([
      expect.stringMatching(/^the stack's record of the routing differs from what the proxy runs \(\d+ bucket\(s\), 0 pinned base\(s\) on another server\): .*older than the cluster.*This up starts from what the proxy runs; the record is only a cross-check\.$/),
    ]);
    // the same table: nothing to report
    expect(startingPoint(five, { ...live, table: t4 }, record, RUN, context).warnings).toEqual([]);
  });

  test("a proxy set up by a program before this one (no routing.json): the record's table and servers; nothing at all: the config's", () => {
    const record = appliedRouting(four, t4, { conf: A, hosts: B }, []);
    const start = startingPoint(five, { conf: A, hosts: B }, record, RUN, context);
    expect([start.from, start.previous, start.previousServers]).toEqual(["record", t4, reach(four)]);
    const none = startingPoint(five, {}, undefined, RUN, context);
    expect([none.from, none.previous, none.previousServers, none.errors]).toEqual(["config", undefined, [], []]);
  });

  test("a quarantine that is live now is reported: the up ends it", () => {
    const start = startingPoint(five, { table: t5, servers: { servers: reach(five), evicted: [] }, paused: { buckets: ["00", "01"], pins: [] } }, undefined, RUN, context);
    expect(start.warnings).toEqual([
      "the proxy runs a quarantine now: 2 bucket(s) and 0 pinned base(s) answer 503 (an up stopped between a quarantine and its switch). This up starts from the table beside it and ends the quarantine.",
    ]);
  });
});

describe("what stops an up before it plans", () => {
  const t4 = tableOf(four);
  const servers = { servers: reach(four), evicted: [] };

  test("a lease: whose, how old, how far its run got, and to run up again after removing it (no file to put back)", () => {
    const start = startingPoint(four, { table: t4, servers, lease: `stack=${RUN.stack} run=run-1`, leaseAgeSeconds: 400, progress: { step: "stage-2-switch", agoSeconds: 300, run: `stack=${RUN.stack} run=run-1` } }, undefined, RUN, context);
    // apart from the errors: `plan` only reports it
    expect(start.errors).toEqual([]);
    expect([start.lease]).toEqual([
      `dtable-web: /opt/seatable-compose/dtable-server-proxy/lease is held (stack=${RUN.stack} run=run-1, taken 6 min ago; the last step it completed on dtable-web: stage-2-switch, 5 min ago): ` +
        "a change is in progress, or an earlier pulumi up stopped before its verification. If no pulumi up of this stack is running, remove the lease on dtable-web " +
        "(rm /opt/seatable-compose/dtable-server-proxy/lease) and run pulumi up again: it starts from what the proxy runs, whichever step the stopped one reached.",
    ]);
    expect(start.lease).not.toMatch(/put back/i);
    expect(startingPoint(four, { table: t4, servers, lease: "stack=other run=x" }, undefined, RUN, context).lease).toContain("If no pulumi up of that stack is running");
  });

  test("fewer bucket digits than the table the proxy runs (or the record, where the proxy has none): refused, naming which", () => {
    const v = withServers(4);
    v.routing = { bucketHexDigits: 3 };
    const t3 = tableOf(configOf(v));
    expect(startingPoint(four, { table: t3, servers }, undefined, RUN, context).errors).toEqual([
      "routing.bucketHexDigits: 2 is fewer than the 3 of the table the proxy on dtable-web runs; fewer digits would merge buckets that live on different servers",
    ]);
    expect(startingPoint(configOf(v), { table: t4, servers }, undefined, RUN, context).errors).toEqual([]);
  });

  test("a live config or hosts file this program did not install is refused; one it installed or the stack recorded is not", () => {
    const record = appliedRouting(four, t4, { conf: A, hosts: B }, []);
    const C = "c".repeat(64);
    expect(startingPoint(four, { conf: A, hosts: B, table: t4, servers }, record, RUN, context).errors).toEqual([]);
    expect(startingPoint(four, { conf: C, hosts: B, table: t4, servers, installed: { conf: [C], hosts: [B] } }, record, RUN, context).errors).toEqual([]);
    const edited = startingPoint(four, { conf: C, hosts: C, table: t4, servers, installed: { conf: [A], hosts: [B] } }, record, RUN, context).errors;
    expect(edited).toEqual([
      expect.stringMatching(/^dtable-web: the proxy's config \(\/opt\/seatable-compose\/dtable-server-proxy\/nginx-proxy\.conf\) is not one this program installed .*edited by hand.*Nothing was changed\./),
      expect.stringMatching(/^dtable-web: the proxy's hosts file \(\/opt\/seatable-compose\/dtable-server-proxy\/hosts\) is not one this program installed/),
    ]);
    expect(edited.join()).not.toMatch(/put back/i);
    // nothing known to compare with (a first deployment over files of unknown origin is the lease step's to judge)
    expect(startingPoint(four, { conf: C }, undefined, RUN, context).errors).toEqual([]);
  });

  test("a server the proxy routes to that nobody can reach: refused, naming both ways out; an evicted one without an address: refused", () => {
    const three = configOf(withServers(3));
    const start = startingPoint(three, { table: t4, servers: { servers: reach(three), evicted: [] } }, undefined, RUN, context);
    expect(start.errors).toEqual([
      `dtable-web: the proxy sends bases to "dtable-server-4", which is not in hosts.servers, and neither the proxy's /opt/seatable-compose/dtable-server-proxy/servers.json nor the stack says how to reach it to stop it before its buckets move: add it back to hosts.servers, or, if its host is dead, add it to rollout.evict.`,
    ]);
    const v = withServers(3);
    v.rollout = { evict: ["dtable-server-4"] };
    expect(startingPoint(configOf(v), { table: t4, servers: { servers: reach(three), evicted: [] } }, undefined, RUN, context).errors).toEqual([
      `rollout.evict: the proxy sends bases to "dtable-server-4", but neither the proxy's /opt/seatable-compose/dtable-server-proxy/servers.json nor the stack says where it runs, so it cannot be shown to be down. Nothing was changed.`,
    ]);
    // known from servers.json: it leaves by the plan (stopped first)
    expect(startingPoint(three, { table: t4, servers }, undefined, RUN, context).errors).toEqual([]);
  });

  test("a server's address changed under the same name: refused with the two ups that do it safely (servers.json or the record)", () => {
    const v = withServers(4);
    v.hosts.servers[1].address = "10.0.9.9";
    const moved = configOf(v);
    const old = four.hosts.servers[1].address;
    const expected = [
      `hosts.servers[1].address: dtable-server-2 runs at ${old} (as the proxy and the stack know it), not 10.0.9.9; its container there may still hold bases. ` +
        `Change it in two ups: remove dtable-server-2 from hosts.servers (pulumi up stops it at ${old} and moves its buckets away), then add it with address 10.0.9.9; or give the server at 10.0.9.9 a new name in one up.`,
    ];
    expect(startingPoint(moved, { table: t4, servers }, undefined, RUN, context).errors).toEqual(expected);
    expect(startingPoint(moved, {}, appliedRouting(four, t4, { conf: A, hosts: B }, []), RUN, context).errors).toEqual(expected);
  });

  test("servers.json is read by the config's rules: a loopback address in it is refused, naming the file", () => {
    const bad = { servers: [{ ...reach(four)[0], address: "127.0.0.1" }, ...reach(four).slice(1)], evicted: [] };
    expect(startingPoint(four, { table: t4, servers: bad }, undefined, RUN, context).errors).toEqual([expect.stringMatching(/^dtable-web:\/opt\/seatable-compose\/dtable-server-proxy\/servers\.json\.servers\[0\]\.address: /)]);
  });

  test("evicted servers: from servers.json and the record together, except one the config deploys again", () => {
    const ssh = { ...four.hosts.servers[0].ssh };
    const gone = { name: "dtable-server-9", address: "10.0.1.99", ssh };
    const also = { name: "dtable-server-8", address: "10.0.1.98", ssh };
    const record = appliedRouting(four, t4, { conf: A, hosts: B }, [], { evicted: [also] });
    const start = startingPoint(four, { table: t4, servers: { servers: reach(four), evicted: [gone] } }, record, RUN, context);
    expect(start.errors).toEqual([]);
    expect(start.evicted.map((e) => e.name)).toEqual(["dtable-server-9", "dtable-server-8"]);
    // deployed again under its name: no longer evicted
    const back = configOf({ ...withServers(4), hosts: { ...withServers(4).hosts, servers: [...withServers(4).hosts.servers, { name: "dtable-server-9", address: "10.0.1.99", ssh: { hostKey: ssh.hostKey } }] } });
    expect(startingPoint(back, { table: t4, servers: { servers: reach(four), evicted: [gone] } }, undefined, RUN, context).evicted).toEqual([]);
  });
});

describe("the details an admin reads", () => {
  const t4 = tableOf(four);
  const servers = { servers: reach(four), evicted: [] };
  const record = appliedRouting(four, t4, { conf: A, hosts: B }, []);

  test("servers.json that is not an object with its two lists is refused, naming the file", () => {
    for (const value of [[], null, "x", 3]) {
      expect([value, startingPoint(four, { table: t4, servers: value }, undefined, RUN, context).errors]).toEqual([
        value,
        ['dtable-web:/opt/seatable-compose/dtable-server-proxy/servers.json: expected an object with "servers" and "evicted"'],
      ]);
    }
    // no evicted list: none
    expect(startingPoint(four, { table: t4, servers: { servers: reach(four) } }, undefined, RUN, context).errors).toEqual([]);
  });

  test("a live config that differs from the record is called a stopped up only when the program installed it and it is there", () => {
    const C = "c".repeat(64);
    const converge = /is not the one this stack recorded, but one this program installed/;
    expect(startingPoint(four, { conf: C, hosts: B, table: t4, servers, installed: { conf: [C], hosts: [B] } }, record, RUN, context).warnings).toEqual([expect.stringMatching(converge)]);
    expect(startingPoint(four, { hosts: B, table: t4, servers, installed: { conf: [C], hosts: [B] } }, record, RUN, context).warnings).toEqual([]);
    expect(startingPoint(four, { conf: A, hosts: B, table: t4, servers }, record, RUN, context).warnings).toEqual([]);
    // a foreign file is an error, not a stopped up
    const foreign = startingPoint(four, { conf: C, hosts: B, table: t4, servers, installed: { conf: [A], hosts: [B] } }, record, RUN, context);
    expect([foreign.errors.length, foreign.warnings]).toEqual([1, []]);
  });

  test("a record that differs only in a pin or the default server is reported, saying which", () => {
    const pinned = { ...t4, pins: { "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10": "dtable-server-2" } };
    expect(startingPoint(four, { table: pinned, servers }, record, RUN, context).warnings).toEqual([expect.stringMatching(/^the stack's record of the routing differs from what the proxy runs \(0 bucket\(s\), 1 pinned base\(s\) on another server\)/)]);
    const otherDefault = { ...t4, default: "dtable-server-3" };
    expect(startingPoint(four, { table: otherDefault, servers }, record, RUN, context).warnings).toEqual([expect.stringMatching(/\(0 bucket\(s\), 0 pinned base\(s\), the default server on another server\)/)]);
  });
});

describe("whether the record's container digests describe the hosts", () => {
  const t4 = tableOf(four);
  const servers = { servers: reach(four), evicted: [] };
  const line = `stack=${RUN.stack} run=run-1`;
  const record = appliedRouting(four, t4, { conf: A, hosts: B }, [], { verifiedBy: line });

  test("only while the proxy's last verified run is the one that wrote the record, and no run holds the lease", () => {
    const live = { conf: A, hosts: B, table: t4, servers, verified: line };
    expect(startingPoint(four, live, record, RUN, context).recordCurrent).toBe(true);
    // a run took the lease since (and stopped, or still runs): the hosts may differ from the record
    expect(startingPoint(four, { ...live, verified: undefined }, record, RUN, context).recordCurrent).toBe(false);
    expect(startingPoint(four, { ...live, lease: "stack=x run=y" }, record, RUN, context).recordCurrent).toBe(false);
    // a later run verified, but the state is older (restored, or the engine died before saving it)
    expect(startingPoint(four, { ...live, verified: `stack=${RUN.stack} run=run-9` }, record, RUN, context).recordCurrent).toBe(false);
    // a record of an earlier version of this program names no run
    expect(startingPoint(four, live, appliedRouting(four, t4, { conf: A, hosts: B }, []), RUN, context).recordCurrent).toBe(false);
    expect(startingPoint(four, live, undefined, RUN, context).recordCurrent).toBe(false);
  });
});

test("the servers an up evicts: in rollout.evict, known to the proxy, not in hosts.servers; their refusal when SSH answers says the way out", () => {
  const t4 = tableOf(four);
  const v = withServers(3);
  v.rollout = { evict: ["dtable-server-4", "dtable-server-9"] };
  const start = startingPoint(configOf(v), { table: t4, servers: { servers: reach(four), evicted: [] } }, undefined, RUN, context);
  expect(start.evicting.map((s) => s.name)).toEqual(["dtable-server-4"]);
  expect(evictAnswers(start.evicting[0])).toBe(
    `rollout.evict: dtable-server-4 (${four.hosts.servers[3].address}:22) answers SSH, so it is not dead and may hold bases. Nothing was changed. Remove it from rollout.evict (and from hosts.servers): pulumi up then stops it before its buckets move.`,
  );
  // not evicted while the config still deploys it
  expect(startingPoint(four, { table: t4, servers: { servers: reach(four), evicted: [] } }, undefined, RUN, context).evicting).toEqual([]);
});
