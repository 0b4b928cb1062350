// The whole `up` as one ordered graph (clusterGraph) over plain plans, without
// Pulumi: what runs before what, and when an `up` has nothing to do.
import { routingJson } from "../pure/config/routing-file";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { CADDY_IMAGE, PROXY_CONTAINER } from "../pure/plan/containers";
import { ClusterGraph, clusterGraph, GraphInput, GraphNode, imagesOf, offlineGraph } from "../pure/plan/graph";
import { leaseCheck, LiveProxy, proxyFiles, sha256 } from "../pure/plan/rollout";
import type { ContainerChange } from "../pure/plan/stages";
import { scriptVars } from "./support/host-script";
import { configOf, stackValues, withServers } from "./support/stacks";

const RUN = { stack: "organization/seatable-cluster/prod", id: "run-1" };
const planOf = (values: Record<string, any>, applied?: ClusterPlan) => buildPlan(configOf(values), applied?.routing);
const nodeNames = (plan: ClusterPlan) => [plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers].map((h) => h.name);
const all = (plan: ClusterPlan, change: ContainerChange) => Object.fromEntries(nodeNames(plan).map((n) => [n, change]));
const graphOf = (plan: ClusterPlan, over: Partial<GraphInput> = {}) =>
  clusterGraph({ plan, previousServers: plan.config.hosts.servers, containers: all(plan, "same"), run: RUN, editScript: "EDIT", ...over });
/** the live files of a proxy that runs exactly what `plan` installs */
const liveOf = (plan: ClusterPlan): LiveProxy => {
  const f = proxyFiles(plan);
  return { conf: sha256(f.conf), hosts: sha256(f.hosts), routing: sha256(routingJson(plan.routing)) };
};

/** whether `a` comes before `b` through the graph's `after` edges */
function before(graph: ClusterGraph, a: string, b: string): boolean {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  expect([a, byId.has(a), b, byId.has(b)]).toEqual([a, true, b, true]);
  const seen = new Set<string>();
  const visit = (id: string): boolean => {
    if (id === a) return true;
    if (seen.has(id)) return false;
    seen.add(id);
    const n = byId.get(id)!;
    return n.kind !== "pull" && n.after.some(visit);
  };
  return visit(b);
}
const ids = (g: ClusterGraph, kind: string) => g.nodes.filter((n) => n.kind === kind).map((n) => n.id);

describe("a first deployment", () => {
  const plan = { ...planOf(withServers(3)), previous: undefined };
  const graph = () => graphOf(plan, { containers: all(plan, "create") });

  test("every image is pulled on its host; caddy only where it is the public entry", () => {
    const g = graph();
    expect(g.nodes.filter((n) => n.kind === "pull")).toEqual([
      ...nodeNames(plan).map((h) => ({ kind: "pull", id: `${h}-image-seatable`, host: h, image: plan.config.image })),
      { kind: "pull", id: "dtable-web-image-proxy", host: "dtable-web", image: "nginx:1.27.5-alpine" },
    ]);
    const dev = configOf(stackValues("dev"));
    expect(imagesOf(dev).filter((i) => i.what === "caddy")).toEqual(dev.publicEntry === "caddy" && dev.hosts.web.publicAddress ? [{ host: "dtable-web", image: CADDY_IMAGE, what: "caddy" }] : []);
  });

  test("the lease first; dtable-web ready, then dtable-db, then the dtable-servers; then the switch, the proxy and verify", () => {
    const g = graph();
    expect(g.quiet).toBe(false);
    const claims = ["dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3"].map((h) => `dtable-server-proxy-claim-${h}`);
    expect(g.rolloutNames).toEqual(["dtable-server-proxy-lease", ...claims, "dtable-server-proxy-switch", "dtable-server-proxy-verify"]);
    // every node's own steps check this run's lease (dtable-web) or its claim on the host, and come after that claim
    for (const n of g.nodes.filter((x) => x.kind === "step" && x.owner !== "dtable-server-proxy")) {
      const step = n.kind === "step" ? n.step : undefined;
      // the check comes first, with this run's lease line, on dtable-web the lease and elsewhere the claim
      expect([n.id, step!.command.startsWith(leaseCheck(step!.host, "dtable-web", RUN, n.id))]).toEqual([n.id, true]);
      expect([n.id, scriptVars(step!.command).ON_WEB]).toEqual([n.id, step!.host === "dtable-web" ? "yes" : "no"]);
      if (step!.host !== "dtable-web") expect([n.id, before(g, `dtable-server-proxy-claim-${step!.host}`, n.id)]).toEqual([n.id, true]);
    }
    for (const n of g.nodes.filter((n) => n.kind !== "pull" && n.id !== "dtable-server-proxy-lease")) expect([n.id, before(g, "dtable-server-proxy-lease", n.id)]).toEqual([n.id, true]);
    for (const c of ids(g, "container")) for (const p of ids(g, "pull")) expect([c, p, (g.nodes.find((n) => n.id === c) as { after: readonly string[] }).after.includes(p)]).toEqual([c, p, true]);
    expect(before(g, "dtable-web-conf-edits", "container-dtable-db")).toBe(true);
    expect(before(g, "dtable-web-prepare", "container-dtable-web")).toBe(true);
    for (const s of ["dtable-server", "dtable-server-2", "dtable-server-3"]) {
      expect(before(g, "dtable-db-conf-edits", `container-${s}`)).toBe(true);
      expect(before(g, `${s}-conf-edits`, "dtable-server-proxy-switch")).toBe(true);
      expect(before(g, `container-${s}`, `${s}-conf-edits`)).toBe(true);
    }
    expect(before(g, "dtable-server-proxy-switch", "dtable-server-proxy")).toBe(true);
    expect(before(g, "dtable-server-proxy", "dtable-server-proxy-verify")).toBe(true);
    expect(g.nodes.filter((n) => n.kind === "proxy")).toHaveLength(1);
  });
});

test("every node's license is copied once its prepare step made the folder, before its container, and waits for all its container waits for", () => {
  const first = { ...planOf(withServers(3)), previous: undefined };
  const four = planOf(withServers(4));
  const v = withServers(4);
  v.image = "seatable/seatable-enterprise:6.1.9";
  const staged = planOf(v, four);
  for (const [plan, containers] of [
    [first, all(first, "create")],
    [staged, all(staged, "replace")],
  ] as const) {
    const g = graphOf(plan, { containers });
    for (const h of nodeNames(plan)) {
      const license = g.nodes.find((n) => n.id === `${h}-license`);
      const container = g.nodes.find((n) => n.id === `container-${h}`) as Extract<GraphNode, { kind: "container" }>;
      expect(license).toEqual({ kind: "license", id: `${h}-license`, host: h, after: container.after.filter((a) => a !== `${h}-license`) });
      expect(container.after).toContain(`${h}-license`);
      expect(before(g, `${h}-prepare`, `${h}-license`)).toBe(true);
    }
    expect(ids(g, "license")).toHaveLength(nodeNames(plan).length);
  }
  // a staged dtable-server gets it inside its stage (nothing on it changes before its quarantine)
  const g = graphOf(staged, { containers: all(staged, "replace") });
  const [st] = g.stages.stages;
  expect(before(g, `dtable-server-proxy-stage-${st.index}-quarantine`, `${st.servers[0].name}-license`)).toBe(true);
});

const proxyRunning = (image: string) => ({ status: "running" as const, startedAt: "2026-12-01T10:00:00Z", image, health: "healthy" as const });

describe("an up with nothing to change", () => {
  const four = planOf(withServers(4));
  const again = planOf(withServers(4), four);

  // what the last verified up recorded of its node steps
  const recordedNodeSteps = graphOf(again).nodeSteps;

  test("is quiet: no rollout step, the proxy container stays after every node, each node step kept as it is", () => {
    const g = graphOf(again, { live: liveOf(again), recordedNodeSteps });
    expect(g.quiet).toBe(true);
    const nodeSteps = g.nodes.filter((n) => n.kind === "step");
    expect(nodeSteps.length).toBeGreaterThan(0);
    for (const n of nodeSteps) expect([n.id, n.kind === "step" && n.kept, n.kind === "step" && n.step.command.includes("does not hold the lease")]).toEqual([n.id, true, false]);
    expect(g.rolloutNames).toEqual([]);
    expect(g.nodes.filter((n) => n.kind === "step" && n.owner === "dtable-server-proxy")).toEqual([]);
    const proxy = g.nodes.find((n) => n.kind === "proxy")!;
    expect(proxy).toEqual({ kind: "proxy", id: "dtable-server-proxy", after: ["dtable-web-conf-edits", "dtable-db-conf-edits", ...again.config.hosts.servers.map((s) => `${s.name}-running`)] });
    // nothing before a node's first step: no lease to wait for
    expect((g.nodes.find((n) => n.id === "dtable-web-prepare") as { after: readonly string[] }).after).toEqual([]);
  });

  test("is not quiet when a live file differs, a lease is held, nothing was deployed, a container changes or the table changes", () => {
    const live = liveOf(again);
    expect(graphOf(again, { live, recordedNodeSteps }).quiet).toBe(true);
    for (const [why, input] of [
      ["a node step changed (a new conf edit, say)", { live, recordedNodeSteps: { ...recordedNodeSteps, "dtable-db-prepare": "0".repeat(64) } }],
      ["no node steps recorded (an earlier version of this program)", { live }],
      ["a quarantine is live", { live: { ...live, paused: { buckets: ["00"], pins: [] } }, recordedNodeSteps }],
      ["an evicted server answers again", { live, recordedNodeSteps, fences: [{ name: "dtable-server-9", address: "10.0.1.99", ssh: { user: "root", port: 22 } }] }],
      ["config differs", { live: { ...live, conf: "0".repeat(64) } }],
      ["hosts differ", { live: { ...live, hosts: "0".repeat(64) } }],
      ["table differs", { live: { ...live, routing: "0".repeat(64) } }],
      ["lease held", { live: { ...live, lease: "stack=x run=y" } }],
      ["never deployed", { live: undefined }],
      ["a container is replaced", { live, containers: { ...all(again, "same"), "dtable-db": "replace" as const } }],
      ["a dtable-server's container is unhealthy", { live, recordedNodeSteps, unwell: { "dtable-server-2": "its seatable-server container is unhealthy on its host" } }],
      ["the proxy's image changes", { live: { ...live, containers: { [PROXY_CONTAINER]: proxyRunning("nginx:1.26.0-alpine") } }, recordedNodeSteps }],
      ["the proxy container is stopped", { live: { ...live, containers: { [PROXY_CONTAINER]: { ...proxyRunning(again.config.proxy.image), status: "exited" as const } } }, recordedNodeSteps }],
    ] as const) {
      expect([why, graphOf(again, input).quiet]).toEqual([why, false]);
    }
    expect(graphOf({ ...again, previous: undefined }, { live }).quiet).toBe(false);
    // the proxy read running the config's image: still quiet
    expect(graphOf(again, { live: { ...live, containers: { [PROXY_CONTAINER]: proxyRunning(again.config.proxy.image) } }, recordedNodeSteps }).quiet).toBe(true);
    // the table moves although the proxy's files are those of the new table (an earlier up stopped after its switch)
    const five = planOf(withServers(5), four);
    expect(graphOf({ ...five, previous: { ...five.routing, default: "dtable-server-5" } }, { live: liveOf(five) }).quiet).toBe(false);
  });
});

describe("a new image (every container replaced), with a backup", () => {
  const four = planOf(withServers(4));
  const v = withServers(4);
  v.image = "seatable/seatable-enterprise:6.1.9";
  v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };
  const plan = planOf(v, four);
  const graph = () => graphOf(plan, { containers: all(plan, "replace") });

  test("the backup runs after the pulls and before any container or node step", () => {
    const g = graph();
    for (const p of ids(g, "pull")) expect(before(g, p, "dtable-server-proxy-backup")).toBe(true);
    for (const c of ids(g, "container")) expect(before(g, "dtable-server-proxy-backup", c)).toBe(true);
    expect((g.nodes.find((n) => n.id === "dtable-web-prepare") as { after: readonly string[] }).after).toEqual(["dtable-server-proxy-backup"]);
  });

  test("each dtable-server's container is replaced inside its own stage: after its quarantine, before its switch", () => {
    const g = graph();
    expect(g.stages.stages).toHaveLength(4);
    for (const st of g.stages.stages) {
      const [s] = st.servers;
      const k = `dtable-server-proxy-stage-${st.index}`;
      expect(before(g, `${k}-quarantine`, `container-${s.name}`)).toBe(true);
      expect(before(g, `${s.name}-conf-edits`, `${k}-switch`)).toBe(true);
      expect(before(g, "container-dtable-db", `${k}-quarantine`)).toBe(true);
      if (st.index > 1) expect(before(g, `dtable-server-proxy-stage-${st.index - 1}-verify`, `container-${s.name}`)).toBe(true);
    }
    // the proxy container comes with the last switch, and the last verify waits for it
    const proxy = g.nodes.find((n) => n.kind === "proxy")!;
    expect(proxy.after).toEqual(["dtable-server-proxy-stage-4-switch"]);
    expect(before(g, "dtable-server-proxy", "dtable-server-proxy-stage-4-verify")).toBe(true);
  });
});

test("scale-out: the new server is up before the first stage moves buckets to it", () => {
  const four = planOf(withServers(4));
  const five = planOf(withServers(5), four);
  const g = graphOf(five, { containers: { ...all(five, "same"), "dtable-server-5": "create" } });
  expect(before(g, "dtable-server-5-conf-edits", "dtable-server-proxy-stage-1-quarantine")).toBe(true);
  expect(before(g, "dtable-server-proxy-stage-1-verify", "dtable-server-proxy-stage-2-quarantine")).toBe(true);
  expect(g.rolloutNames[0]).toBe("dtable-server-proxy-lease");
});

describe("npm run plan's graph (no stack state)", () => {
  test("new servers are created, the others stay, or are replaced for a new image; a server that left is stopped", () => {
    const four = planOf(withServers(4));
    const { changes } = offlineGraph(planOf(withServers(5), four), false, "EDIT");
    expect(changes).toEqual({ ...all(four, "same"), "dtable-server-5": "create" });
    expect(offlineGraph(planOf(withServers(4), four), true, "EDIT").changes).toEqual(all(four, "replace"));
    const shrink = offlineGraph(planOf(withServers(3), four), false, "EDIT");
    expect(shrink.graph.stages.stages.flatMap((s) => s.servers).filter((s) => s.action === "stop")).toEqual([{ name: "dtable-server-4", action: "stop", why: "it leaves the cluster" }]);
    const first = offlineGraph({ ...four, previous: undefined }, false, "EDIT");
    expect(first.changes).toEqual(all(four, "create"));
  });
});

test("the live quarantine's servers lead the stages: a scale-out cut short in its last stage resumes there", () => {
  const four = planOf(withServers(4));
  const five = planOf(withServers(5), four);
  const plain = graphOf(five, { live: liveOf(four) });
  const last = plain.stages.stages[plain.stages.stages.length - 1];
  const paused = { buckets: [...last.paused.buckets], pins: [...last.paused.pins] };
  const resumed = graphOf(five, { live: { ...liveOf(four), paused } });
  expect(resumed.stages.stages[0].servers.map((s) => s.name)).toEqual(last.servers.map((s) => s.name));
  expect(resumed.stages.stages).toHaveLength(plain.stages.stages.length);
});

test("every dtable-server is shown running before any stage: a container Pulumi leaves stopped (its spec unchanged) is started, and the first quarantine waits for it", () => {
  const four = planOf(withServers(4));
  const five = planOf(withServers(5), four);
  const g = graphOf(five);
  for (const s of five.config.hosts.servers) {
    const n = g.nodes.find((x) => x.id === `${s.name}-running`);
    expect([s.name, n?.kind === "step" && n.step.command.includes('docker start "$CONTAINER"') && scriptVars(n.step.command).CONTAINER === "seatable-server"]).toEqual([s.name, true]);
    expect(before(g, `container-${s.name}`, `${s.name}-running`)).toBe(true);
  }
  // servers outside the stages: before the first quarantine
  const staged = new Set(g.stages.stages.flatMap((st) => st.servers.map((x) => x.name)));
  for (const s of five.config.hosts.servers.filter((x) => !staged.has(x.name))) expect(before(g, `${s.name}-running`, "dtable-server-proxy-stage-1-quarantine")).toBe(true);
});

describe("a new proxy image: a change of its own", () => {
  const four = planOf(withServers(4));
  const again = planOf(withServers(4), four);
  const v = withServers(4);
  v.proxy = { ...v.proxy, image: "nginx:1.28.0-alpine" };
  const newImage = planOf(v, four);
  const live = { ...liveOf(newImage), containers: { [PROXY_CONTAINER]: proxyRunning(again.config.proxy.image) } };
  const g = graphOf(newImage, { live, recordedNodeSteps: graphOf(newImage).nodeSteps });

  test("lease, the new image pulled, its switch tests the live config in the new image, then the container is replaced, then verify", () => {
    expect(g.quiet).toBe(false);
    expect(g.stages.stages).toEqual([]);
    const ids = g.nodes.map((n) => n.id);
    const sw = g.nodes.find((n) => n.id === "dtable-server-proxy-switch")!;
    expect(sw.kind === "step" && scriptVars(sw.step.command).IMAGE).toBe("nginx:1.28.0-alpine");
    expect(before(g, "dtable-server-proxy-lease", "dtable-server-proxy-switch")).toBe(true);
    expect(before(g, "dtable-web-image-proxy", "dtable-server-proxy-switch")).toBe(true);
    expect(before(g, "dtable-server-proxy-switch", "dtable-server-proxy")).toBe(true);
    expect(before(g, "dtable-server-proxy", "dtable-server-proxy-verify")).toBe(true);
    // no quarantine: no base moves and no dtable-server restarts
    expect(ids.filter((id) => /quarantine|restart/.test(id))).toEqual([]);
  });
});

test("a dtable-server whose container is unhealthy or stopped on its host is restarted inside its own stage", () => {
  const four = planOf(withServers(4));
  const again = planOf(withServers(4), four);
  const why = "its seatable-server container is exited on its host";
  const g = graphOf(again, { live: liveOf(again), unwell: { "dtable-server-3": why } });
  expect(g.stages.stages.map((st) => st.servers)).toEqual([[{ name: "dtable-server-3", action: "restart", why: `${why}: restarted inside its quarantine` }]]);
  expect([...g.stages.stages[0].paused.buckets].sort()).toEqual(Object.keys(again.routing.buckets).filter((b) => again.routing.buckets[b] === "dtable-server-3").sort());
  expect(before(g, "dtable-server-proxy-stage-1-quarantine", "dtable-server-proxy-stage-1-restart-dtable-server-3")).toBe(true);
  expect(before(g, "dtable-server-proxy-stage-1-restart-dtable-server-3", "dtable-server-proxy-stage-1-switch")).toBe(true);
  // its node's `running` step does not wait for the /ping/ a hung server never gives: its stage's restart does
  const running = (graph: ClusterGraph, host: string) => graph.nodes.find((n) => n.id === `${host}-running`) as Extract<GraphNode, { kind: "step" }>;
  expect(scriptVars(running(g, "dtable-server-3").step.command).WAIT_PING).toBe("no");
  expect(scriptVars(running(g, "dtable-server-2").step.command).WAIT_PING).toBe("yes");
  // recorded as the host keeps it: the next up, all well, is quiet
  expect(g.nodeSteps).toEqual(graphOf(again).nodeSteps);
  // a server whose container changes anyway is replaced in its stage, as before
  const replaced = graphOf(again, { live: liveOf(again), unwell: { "dtable-server-3": why }, containers: { ...all(again, "same"), "dtable-server-3": "replace" } });
  expect(replaced.stages.stages.map((st) => st.servers.map((s) => s.action))).toEqual([["replace"]]);
});

test("a stopped server that a later stage gives buckets is restarted first: every bucket moves to a server that runs", () => {
  const four = planOf(withServers(4));
  const five = planOf(withServers(5), four);
  const why = "its seatable-server container is exited on its host";
  // the four servers give buckets to dtable-server-5, whose container is stopped
  const g = graphOf(five, { live: liveOf(five), unwell: { "dtable-server-5": why } });
  expect(g.stages.stages.map((st) => st.servers.map((s) => `${s.name} ${s.action}`))).toEqual([
    ["dtable-server-5 restart"],
    ["dtable-server restart"],
    ["dtable-server-2 restart"],
    ["dtable-server-3 restart"],
    ["dtable-server-4 restart"],
  ]);
  // its restart (and so its /ping/) comes before the first switch that moves a bucket to it
  const first = g.stages.stages.findIndex((st) => st.bucketMoves.some((m) => m.to === "dtable-server-5"));
  expect(first).toBeGreaterThan(0);
  expect(before(g, "dtable-server-proxy-stage-1-restart-dtable-server-5", `dtable-server-proxy-stage-${first + 1}-switch`)).toBe(true);
});
