// The rollout's host steps over plain plans (no Pulumi): their order, the
// files each installs, what each checks, and which run they belong to.
import { allBuckets, routingJson } from "../pure/config/routing-file";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { leaseCheck, proxyFiles, probePath, probeUuid, rolloutSteps, sha256, serverProbes, HostStep } from "../pure/plan/rollout";
import { bucketOf, ownerOf, refineTable, RoutingTable } from "../pure/plan/routing";
import { renderProxyHosts } from "../pure/plan/nginx";
import { ContainerChange, planStages } from "../pure/plan/stages";
import { scriptLines, scriptVars } from "./support/host-script";
import { configOf, withServers } from "./support/stacks";

const RUN = { stack: "organization/seatable-cluster/prod", id: "run-1" };
const planOf = (values: Record<string, any>, applied?: ClusterPlan) => buildPlan(configOf(values), applied?.routing);
const same = (plan: ClusterPlan): Record<string, ContainerChange> => Object.fromEntries([plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers].map((h) => [h.name, "same"]));

function stepsOf(plan: ClusterPlan, opts: { previous?: ClusterPlan; containers?: Record<string, ContainerChange>; nodesChanging?: boolean; run?: typeof RUN; recorded?: { conf: string; hosts: string } } = {}) {
  const previousServers = (opts.previous ?? plan).config.hosts.servers;
  const stages = planStages({ plan, previousServers, containers: { ...same(plan), ...opts.containers }, maxRestarting: plan.config.rollout.maxRestarting, evict: plan.config.rollout.evict });
  const steps = rolloutSteps({ plan, stages, previousServers, run: opts.run ?? RUN, nodesChanging: opts.nodesChanging ?? false, recorded: opts.recorded });
  const byId = (id: string) => steps.find((s) => s.id === id)!;
  return { stages, steps, byId, order: steps.map((s) => `${s.id} <- ${s.after.join(",") || "-"} @${s.host}`) };
}

const four = planOf(withServers(4));
const five = planOf(withServers(5), four);
/** the hashes a guard accepts for the proxy's config or hosts file */
const guardHashes = (step: HostStep, file: "conf" | "hosts") => scriptLines(step.command, file === "conf" ? "ALLOWED_CONF" : "ALLOWED_HOSTS");
const CONF = "conf";
const HOSTS = "hosts";

describe("without stages", () => {
  test("lease, then the switch once every node is ready, then verify with the proxy container; the lease is released at the end", () => {
    const { order, byId } = stepsOf(planOf(withServers(4), four));
    expect(order).toEqual(["lease <- - @dtable-web", "switch <- ready-all,lease @dtable-web", "verify <- switch,proxy @dtable-web"]);
    expect(scriptVars(byId("verify").command).RELEASE).toBe("yes");
    expect(scriptVars(byId("switch").command).ROUTING_JSON).toBe(routingJson(four.routing));
  });

  test("the backup runs after the lease and the pulls when a container changes, and gates the switch; not otherwise", () => {
    const v = withServers(4);
    v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };
    const plan = planOf(v, four);
    expect(stepsOf(plan).steps.map((s) => s.id)).toEqual(["lease", "switch", "verify"]);
    const { order, byId } = stepsOf(plan, { nodesChanging: true });
    expect(order).toEqual([
      "lease <- - @dtable-web",
      "claim-dtable-db <- lease @dtable-db",
      "backup <- lease,claim-dtable-db,pulled @dtable-db",
      "switch <- ready-all,backup @dtable-web",
      "verify <- switch,proxy @dtable-web",
    ]);
    // the backup runs only while this run holds dtable-db's claim
    expect(byId("backup").command).toBe(`${leaseCheck("dtable-db", "dtable-web", RUN, "backup")}\n/usr/local/bin/backup-seatable`);
    expect(scriptVars(byId("backup").command)).toMatchObject({ ON_WEB: "no", WHAT: "backup", LEASE: `stack=${RUN.stack} run=${RUN.id}` });
    expect(scriptVars(byId("claim-dtable-db").command)).toMatchObject({ LEASE: `stack=${RUN.stack} run=${RUN.id}`, HOST_LEASE_FILE: "/opt/seatable-compose/seatable-cluster.lease" });
    // with stages, the backup comes before the first quarantine
    const v5 = withServers(5);
    v5.rollout = v.rollout;
    const staged = stepsOf(planOf(v5, four));
    expect(staged.byId("backup").after).toEqual(["lease", "claim-dtable-db", "pulled"]);
    expect(staged.byId("stage-1-quarantine").after).toEqual(["ready-all", "backup"]);
  });
});

describe("scale-out 4 → 5", () => {
  const scaled = () => stepsOf(five);

  test("per stage: quarantine → restart → switch → verify, each stage after the one before; the last verify waits for the proxy", () => {
    const { steps, order } = scaled();
    const servers = ["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"];
    expect(order).toEqual([
      "lease <- - @dtable-web",
      // every host a step will change is claimed right after the lease
      ...servers.map((s) => `claim-${s} <- lease @${s}`),
      ...servers.flatMap((s, i) => {
        const k = `stage-${i + 1}`;
        return [
          `${k}-quarantine <- ${i === 0 ? "ready-all" : `stage-${i}-verify`},lease,${servers.map((x) => `claim-${x}`).join(",")} @dtable-web`,
          // after its own node's steps, which may restart or start it too
          `${k}-restart-${s} <- ${k}-quarantine,claim-${s},ready-${s} @${s}`,
          `${k}-switch <- ${k}-quarantine,${k}-restart-${s} @dtable-web`,
          `${k}-verify <- ${k}-switch${i === 3 ? ",proxy" : ""} @dtable-web`,
        ];
      }),
    ]);
    // only the last verify releases the lease, and names its run as the last verified one; the lease step removes that name
    expect(steps.filter((s) => scriptVars(s.command).RELEASE === "yes").map((s) => s.id)).toEqual(["stage-4-verify"]);
    expect(steps.filter((s) => s.command.includes('rm -f "$VERIFIED_FILE"')).map((s) => s.id)).toEqual(["lease"]);
    expect(scriptVars(steps[0].command).VERIFIED_FILE).toBe("/opt/seatable-compose/dtable-server-proxy/verified");
  });

  test("a restart waits up to stopTimeoutSeconds for the save, then for /ping/, and names this run (a new run gives a new command)", () => {
    const { byId } = scaled();
    const restart = byId("stage-1-restart-dtable-server");
    expect(scriptVars(restart.command)).toMatchObject({ STOP_TIMEOUT: "600", CONTAINER: "seatable-server", SERVER: "dtable-server", STEP: "stage-1-restart-dtable-server", DTABLE_SERVER_PORT: "5000", LEASE: `stack=${RUN.stack} run=${RUN.id}` });
    expect(restart.command).toContain('holds_claim "$STEP"\ndocker restart -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null\nwait_ping "$SERVER"');
    expect(restart.title).toBe("restart dtable-server so that it drops every base it holds (its buckets answer 503 meanwhile), and wait for /ping/");
    const next = stepsOf(five, { run: { ...RUN, id: "run-2" } });
    expect(next.byId("stage-1-restart-dtable-server").command).not.toBe(restart.command);
  });

  test("a quarantine installs the table before the stage with its server's buckets answering 503, and checks one of them", () => {
    const { byId, stages } = scaled();
    const q = byId("stage-1-quarantine");
    const paused = stages.stages[0].paused.buckets;
    // each paused bucket's map entry (the config also maps the quarantine's own name, once)
    expect((q.stdin!.match(/^ {4}[0-9a-f]{2} quarantine;$/gm) ?? []).length).toBe(paused.length);
    expect(scriptLines(q.command, "EXPECT")).toEqual([`${probePath(probeUuid(stages.stages[0].before, paused[0]))} quarantine - 503`]);
    expect(JSON.parse(scriptVars(q.command).PAUSED_JSON)).toEqual(stages.stages[0].paused);
    expect(q.title).toBe(`stage 1: quarantine ${paused.length} bucket(s) and 0 pinned base(s) (503 with Retry-After) for dtable-server (restart: it gives up buckets or pinned bases)`);
    // the pinned base's server: its pin is paused too (the dashed and the 32-hex form)
    const q3 = byId("stage-3-quarantine");
    expect((q3.stdin!.match(/^ {4}[0-9a-f-]+ quarantine;$/gm) ?? []).length).toBe(stages.stages[2].paused.buckets.length + 2);
  });

  test("each switch installs the stage's table and checks that every server gets its bases from its own address", () => {
    const { byId, stages } = scaled();
    const sw = byId("stage-1-switch");
    const probes = serverProbes(stages.stages[0].after);
    expect(probes.map((p) => p.server).sort()).toEqual(["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4", "dtable-server-5"]);
    const addresses = Object.fromEntries(five.config.hosts.servers.map((s) => [s.name, s.address]));
    expect(scriptLines(sw.command, "EXPECT")).toEqual(probes.map((p) => `${probePath(p.uuid)} ${p.server} ${addresses[p.server]}:5000 *`));
    expect(scriptVars(sw.command).ROUTING_JSON).toBe(routingJson(stages.stages[0].after));
    expect(scriptVars(sw.command).PAUSED_JSON).toBe("");
    const last = byId("stage-4-switch");
    expect(last.stdin).toBe(proxyFiles(five).conf);
  });

  test("a verify checks every server directly, dtable-web, the default and each server's bases through the proxy, and fails on any", () => {
    const { byId, stages } = scaled();
    const v = byId("stage-2-verify");
    expect(scriptLines(v.command, "SERVERS")).toEqual(five.config.hosts.servers.map((s) => `${s.name} ${s.address}:5000`));
    expect(scriptVars(v.command).WEB_PING).toBe("http://198.51.100.10:8000/api2/ping/");
    const after = stages.stages[1].after;
    const addresses = Object.fromEntries(five.config.hosts.servers.map((s) => [s.name, s.address]));
    expect(scriptVars(v.command)).toMatchObject({ DEFAULT_SERVER: after.default, DEFAULT_UPSTREAM: `${addresses[after.default]}:5000`, RELEASE: "no", STEP: "stage-2-verify" });
    expect(scriptLines(v.command, "PROBES")).toEqual(serverProbes(after).map((p) => `${p.server} ${p.uuid} ${probePath(p.uuid)} ${addresses[p.server]}:5000`));
    expect(scriptVars(v.command).CONF_SHA).toBe(sha256(byId("stage-2-switch").stdin!));
  });

  test("every proxy step refuses live files that are neither recorded nor this run's; the lease step accepts exactly those", () => {
    const { byId } = scaled();
    const recorded = { conf: "a".repeat(64), hosts: "b".repeat(64) };
    const run = stepsOf(five, { recorded });
    const proxySteps = run.steps.filter((s) => s.stdin !== undefined);
    const own = [...new Set(proxySteps.map((s) => sha256(s.stdin!)))];
    for (const s of [run.byId("lease"), ...proxySteps]) {
      expect(guardHashes(s, CONF).sort()).toEqual([recorded.conf, ...own].sort());
      // no server leaves: the hosts file during the stages is the final one
      expect(guardHashes(s, HOSTS)).toEqual([recorded.hosts, sha256(proxyFiles(five).hosts)]);
      expect(scriptVars(s.command).ALLOWED_ROUTING).toBe("");
    }
    // without a record, this run's own files only
    expect(guardHashes(byId("lease"), CONF).sort()).toEqual(own.sort());
  });

  test("every step but the lease checks that this run holds the lease", () => {
    const { steps } = scaled();
    for (const s of steps.filter((x) => x.host === "dtable-web" && x.id !== "lease"))
      expect([s.id, scriptVars(s.command).LEASE, s.command.includes('\nholds_lease "$STEP"\n'), scriptVars(s.command).STEP]).toEqual([s.id, `stack=${RUN.stack} run=${RUN.id}`, true, s.id]);
  });
});

test("a server planned as replaced: marked once its quarantine is live, and its switch waits until the host shows it started since (restarted there if Pulumi did not)", () => {
  const plan = planOf(withServers(4), four);
  const { order, byId } = stepsOf(plan, { containers: { "dtable-server-2": "replace" } });
  expect(order).toEqual([
    "lease <- - @dtable-web",
    "claim-dtable-server-2 <- lease @dtable-server-2",
    "stage-1-quarantine <- ready-all,lease,claim-dtable-server-2 @dtable-web",
    "stage-1-mark-dtable-server-2 <- stage-1-quarantine,claim-dtable-server-2 @dtable-server-2",
    "stage-1-restarted-dtable-server-2 <- ready-dtable-server-2 @dtable-server-2",
    "stage-1-switch <- stage-1-quarantine,stage-1-restarted-dtable-server-2 @dtable-web",
    "stage-1-verify <- stage-1-switch,proxy @dtable-web",
  ]);
  const check = byId("stage-1-restarted-dtable-server-2").command;
  for (const id of ["stage-1-restarted-dtable-server-2", "stage-1-mark-dtable-server-2"])
    expect(scriptVars(byId(id).command)).toMatchObject({ STEP: id, SERVER: "dtable-server-2", CONTAINER: "seatable-server", BEFORE_STAGE_FILE: "/opt/seatable-compose/seatable-cluster.before-stage" });
  // a restart inside the quarantine waits as long for the save as any other
  expect(scriptVars(check).STOP_TIMEOUT).toBe("600");
  expect(check).toContain('now=$(docker inspect -f \'{{.Id}} {{.State.StartedAt}}\' "$CONTAINER")');
});

test("a scale-in: the guard accepts the recorded files and exactly the config and hosts files this run installs", () => {
  const recorded = { conf: "a".repeat(64), hosts: "b".repeat(64) };
  const plan = planOf(withServers(4), five);
  const { steps, byId } = stepsOf(plan, { previous: planOf(withServers(5)), recorded });
  const proxySteps = steps.filter((s) => s.stdin !== undefined);
  const conf = [recorded.conf, ...new Set(proxySteps.map((s) => sha256(s.stdin!)))].sort();
  // the hosts file keeps the leaving server's address until the last switch
  const hosts = [...new Set(proxySteps.map((s) => scriptVars(s.command).HOSTS_TEXT))];
  expect(hosts).toEqual([renderProxyHosts(planOf(withServers(5)).config.hosts.servers), proxyFiles(plan).hosts]);
  for (const s of [byId("lease"), ...proxySteps]) {
    expect([s.id, guardHashes(s, CONF).sort()]).toEqual([s.id, conf]);
    expect([s.id, guardHashes(s, HOSTS)]).toEqual([s.id, [recorded.hosts, sha256(renderProxyHosts(planOf(withServers(5)).config.hosts.servers)), sha256(proxyFiles(plan).hosts)]]);
  }
});

test("a server that leaves is stopped on its own host, last, and the proxy's hosts file keeps its address until the end", () => {
  const plan = planOf(withServers(4), five);
  const { byId, steps } = stepsOf(plan, { previous: planOf(withServers(5)) });
  const stop = steps.find((s) => /-stop-/.test(s.id))!;
  expect(stop.id).toMatch(/^stage-\d+-stop-dtable-server-5$/);
  expect(stop.host).toBe("dtable-server-5");
  expect(scriptVars(stop.command)).toMatchObject({ STOP_TIMEOUT: "600", CONTAINER: "seatable-server", SERVER: "dtable-server-5" });
  expect(stop.command).toContain('docker stop -t "$STOP_TIMEOUT" "$CONTAINER" >/dev/null');
  expect(stop.command).not.toContain("wait_ping");
  expect(stop.title).toBe("stop dtable-server-5: it leaves the cluster (its buckets answer 503 meanwhile)");
  const k = stop.id.replace(/-stop-.*/, "");
  expect(scriptVars(byId(`${k}-quarantine`).command).HOSTS_TEXT).toContain("dtable-server-5");
  expect(scriptLines(byId(`${k}-verify`).command, "SERVERS").join("\n")).not.toContain("dtable-server-5");
});

describe("the probes: a base UUID the proxy must send to the server it is for", () => {
  const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  // dtable-server-3 owns no bucket, only a pinned base; a base in dtable-server's first bucket is pinned elsewhere
  const FIRST = "00000000-0000-0000-0000-000000000000";
  const PINNED = "f0000000-0000-0000-0000-000000000000";
  const table: RoutingTable = {
    bucketHexDigits: 1,
    default: "dtable-server",
    buckets: Object.fromEntries([..."0123456789abcdef"].map((b) => [b, /[0-7]/.test(b) ? "dtable-server" : "dtable-server-2"])),
    pins: { [FIRST]: "dtable-server-2", [PINNED]: "dtable-server-3" },
  };

  test("a probe of a bucket is a well-formed UUID of that bucket, and never a pinned base", () => {
    for (const t of [four.routing, refineTable(four.routing, 3), table]) {
      // every bucket of 1 and 2 hex digits, every 17th of 3
      for (const b of allBuckets(t.bucketHexDigits).filter((_, i) => t.bucketHexDigits < 3 || i % 17 === 0)) {
        const uuid = probeUuid(t, b);
        expect([b, UUID.test(uuid), bucketOf(uuid, t.bucketHexDigits), uuid in t.pins]).toEqual([b, true, b, false]);
      }
    }
    // the first UUID of bucket 0 is pinned: the next one
    expect(probeUuid(table, "0")).toBe("00000000-0000-0000-0000-000000000001");
  });

  test("one probe per server that owns something: a base of one of its buckets, else its pinned base; the proxy's table sends each to its server", () => {
    const probes = serverProbes(table);
    expect(probes.map((p) => p.server)).toEqual(["dtable-server", "dtable-server-2", "dtable-server-3"]);
    for (const p of probes) expect([p.server, UUID.test(p.uuid), ownerOf(table, p.uuid)]).toEqual([p.server, true, p.server]);
    expect(probes.find((p) => p.server === "dtable-server-3")!.uuid).toBe(PINNED);
    for (const p of serverProbes(five.routing)) expect([p.server, ownerOf(five.routing, p.uuid), p.uuid in five.routing.pins]).toEqual([p.server, p.server, false]);
    // a default server that owns nothing gets no probe (requests without a base are checked on their own)
    expect(serverProbes({ ...table, default: "dtable-server-4" }).map((p) => p.server)).toEqual(["dtable-server", "dtable-server-2", "dtable-server-3"]);
  });

  test("a stage that pauses only a pinned base (its server's weight gets it no bucket) checks the quarantine with that base", () => {
    const PIN = "ff84e1a1-66e2-4c2d-9b1e-0a7d5e3c2f10";
    const pinned = (server: string) => {
      const v = withServers(4);
      v.routing.bucketHexDigits = 1;
      v.hosts.servers.forEach((h: { weight?: number }, i: number) => (h.weight = i === 3 ? 1 : 100));
      v.routing.pins = { [PIN]: server };
      return v;
    };
    const { stages, byId } = stepsOf(planOf(pinned("dtable-server-3"), planOf(pinned("dtable-server-4"))));
    expect(stages.stages.map((s) => [s.servers.map((x) => x.name), s.paused])).toEqual([[["dtable-server-4"], { buckets: [], pins: [PIN] }]]);
    expect(scriptLines(byId("stage-1-quarantine").command, "EXPECT")).toEqual([`/ping/?dtable_uuid=${PIN} quarantine - 503`]);
  });
});

test("the titles pulumi shows for the switch, verify and backup steps", () => {
  const v = withServers(4);
  v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };
  const still = stepsOf(planOf(v, four), { nodesChanging: true });
  expect(still.steps.map((s) => [s.id, s.title]).slice(1)).toEqual([
    ["claim-dtable-db", "claim dtable-db for this change (the lease on dtable-web is this run's): every later step on it checks the claim"],
    ["backup", "back up before the first container stops (rollout.backup on dtable-db); a failure stops the change"],
    ["switch", "put the proxy's config, hosts file and table in place (reload only if they changed)"],
    ["verify", "verify: every server answers, the proxy runs the new config and sends each server's buckets to it; release the lease"],
  ]);
  const { byId } = stepsOf(five);
  expect([1, 4].map((k) => [byId(`stage-${k}-switch`).title, byId(`stage-${k}-verify`).title])).toEqual([
    ["stage 1: reload the proxy with the table after this stage", "verify: every server answers, the proxy runs the new config and sends each server's buckets to it"],
    ["stage 4: reload the proxy with the table after this stage (the new table)", "verify: every server answers, the proxy runs the new config and sends each server's buckets to it; release the lease"],
  ]);
});

test("an evicted server (its host is dead) is neither stopped nor waited for: its stage's switch follows the quarantine", () => {
  const v = withServers(4);
  v.rollout = { evict: ["dtable-server-5"] };
  const { steps, order } = stepsOf(planOf(v, five), { previous: planOf(withServers(5)) });
  expect(steps.filter((s) => s.id.includes("dtable-server-5"))).toEqual([]);
  const k = order.find((o) => /-switch <- /.test(o) && !/restart|ready/.test(o));
  expect(k).toMatch(/^stage-\d+-switch <- stage-\d+-quarantine @dtable-web$/);
});
