// The whole `up` as one ordered graph of plain data: image pulls, each node's
// host steps, license and container, the rollout's steps and the proxy container. The
// resource layer makes one resource per node, with `dependsOn` = `after`.
//
// Why the order holds with the Docker provider: a container is replaced by
// deleting it first, and Pulumi then also replaces what depends on it through
// an input (pulumi/pulumi#2167). Here a container depends on other resources
// through `dependsOn` only, never through an input, so replacing one never
// cascades into another; ordering comes from `dependsOn`, which makes Pulumi
// register (and so replace) a container only after the steps before it ran.
import { routingJson } from "../config/routing-file";
import type { ClusterConfig, NodeHost } from "../config/schema";
import { CADDY_IMAGE, caddyContainer, PROXY_CONTAINER } from "./containers";
import { liveProxyImage } from "./host-containers";
import type { ClusterPlan } from "./index";
import { nodeSteps } from "./node-steps";
import { containerId, HostStep, leaseCheck, LiveProxy, proxyFiles, rolloutSteps, Run, ServerHost, sha256 } from "./rollout";
import { ContainerChange, planStages, StagePlan } from "./stages";

export const PROXY = "dtable-server-proxy";

export type GraphNode =
  /** docker.RemoteImage on a host: every image is pulled before any container stops */
  | { readonly kind: "pull"; readonly id: string; readonly host: string; readonly image: string }
  /** remote.Command; `owner` is the component it belongs to: a host name, or the proxy; `kept`: left as the last `up` left it (a quiet `up`) */
  | { readonly kind: "step"; readonly id: string; readonly owner: string; readonly step: HostStep; readonly after: readonly string[]; readonly kept?: true }
  /** remote.CopyToRemote of the license file to a node's host: the Enterprise image does not start without it */
  | { readonly kind: "license"; readonly id: string; readonly host: string; readonly after: readonly string[] }
  /** a node's seatable-server container */
  | { readonly kind: "container"; readonly id: string; readonly host: string; readonly after: readonly string[] }
  /** the dtable-server-proxy container */
  | { readonly kind: "proxy"; readonly id: string; readonly after: readonly string[] };

export type ClusterGraph = {
  readonly nodes: readonly GraphNode[];
  readonly stages: StagePlan;
  /** nothing to change: the rollout steps of the last `up` stay as they are (no steps of this run) */
  readonly quiet: boolean;
  /** the rollout steps' resource names (for the stack's record) */
  readonly rolloutNames: readonly string[];
  /** each node step's sha256 apart from its lease check (for the stack's record) */
  readonly nodeSteps: Readonly<Record<string, string>>;
};

export type GraphInput = {
  readonly plan: ClusterPlan;
  readonly previousServers: readonly ServerHost[];
  readonly containers: Readonly<Record<string, ContainerChange>>;
  /** what the proxy runs now; undefined before it was ever deployed */
  readonly live?: LiveProxy;
  /** hashes recorded with the applied table */
  readonly recorded?: { readonly conf: string; readonly hosts: string };
  readonly run: Run;
  readonly editScript: string;
  /** dtable-servers evicted as dead by earlier ups (kept on record until fenced) */
  readonly evicted?: readonly ServerHost[];
  /** evicted servers that answer again: fenced before anything else */
  readonly fences?: readonly ServerHost[];
  /** the node steps' hashes the last verified `up` recorded */
  readonly recordedNodeSteps?: Readonly<Record<string, string>>;
  /** dtable-servers whose container is stopped or unhealthy on their host, and why (host-containers.ts) */
  readonly unwell?: Readonly<Record<string, string>>;
};

/** The servers whose buckets or pinned bases the live quarantine pauses, in the table the plan starts from. */
function pausedOwners(plan: ClusterPlan, live: LiveProxy | undefined): string[] {
  const previous = plan.previous;
  if (!previous || !live?.paused) return [];
  const owners = [
    ...live.paused.buckets.flatMap((b) => (previous.buckets[b] !== undefined ? [previous.buckets[b]] : [])),
    ...live.paused.pins.map((u) => previous.pins[u] ?? previous.buckets[u.slice(0, previous.bucketHexDigits)]),
  ];
  return [...new Set(owners)];
}

/** Every image a host runs, to pull before anything stops. */
export function imagesOf(config: ClusterConfig): { host: string; image: string; what: string }[] {
  const { web, db, servers } = config.hosts;
  return [
    ...[web, db, ...servers].map((h) => ({ host: h.name, image: config.image, what: "seatable" })),
    { host: web.name, image: config.proxy.image, what: "proxy" },
    ...(caddyContainer(config) ? [{ host: web.name, image: CADDY_IMAGE, what: "caddy" }] : []),
  ];
}

/** A node step as it runs apart from its lease check: what decides whether it must run again. */
const nodeStepHash = (step: HostStep) => sha256([step.host, step.command, step.stdin ?? ""].join("\n"));

const sameRecord = (a: Readonly<Record<string, string>> | undefined, b: Readonly<Record<string, string>>) =>
  a !== undefined && Object.keys(a).length === Object.keys(b).length && Object.entries(b).every(([k, v]) => a[k] === v);

/** Whether the proxy already runs exactly what this `up` would install, and nothing else changes. */
function isQuiet(input: GraphInput, stages: StagePlan, nodeSteps: Readonly<Record<string, string>>): boolean {
  const { plan, live } = input;
  if (!plan.previous || !live || live.lease !== undefined || live.paused !== undefined || (input.fences ?? []).length > 0) return false;
  // a node step that changed runs, and only inside a change's lease
  if (!sameRecord(input.recordedNodeSteps, nodeSteps)) return false;
  if (stages.stages.length > 0 || Object.values(input.containers).some((c) => c !== "same")) return false;
  // a new proxy image is replaced inside a change: its switch tests the config in it (nginx -t), and verify follows
  const proxy = live.containers?.[PROXY_CONTAINER];
  if (proxy !== undefined && (liveProxyImage(live) !== plan.config.proxy.image || proxy.status !== "running")) return false;
  const files = proxyFiles(plan);
  return (
    routingJson(plan.previous) === routingJson(plan.routing) &&
    live.conf === sha256(files.conf) &&
    live.hosts === sha256(files.hosts) &&
    live.routing === sha256(routingJson(plan.routing))
  );
}

export function clusterGraph(input: GraphInput): ClusterGraph {
  const { plan } = input;
  const { config } = plan;
  const { web, db, servers } = config.hosts;
  const stages = planStages({
    plan,
    previousServers: input.previousServers,
    containers: input.containers,
    maxRestarting: config.rollout.maxRestarting,
    evict: config.rollout.evict,
    resume: pausedOwners(plan, input.live),
    ...(input.unwell ? { unwell: input.unwell } : {}),
  });
  const stepsOf = new Map([web, db, ...servers].map((h) => [h.name, nodeSteps(config, h, input.editScript, { restartedInStage: input.unwell?.[h.name] !== undefined })] as const));
  // recorded as a host keeps them: a server restarted in its stage has its `running` step skip the wait this once only,
  // and the next up must not take that for a change
  const steady = [web, db, ...servers].map((h) => [h.name, nodeSteps(config, h, input.editScript)] as const);
  const nodeStepHashes = Object.fromEntries(steady.flatMap(([host, st]) => [...st.before, ...st.after].map((s) => [`${host}-${s.id}`, nodeStepHash(s)] as const)));
  const quiet = isQuiet(input, stages, nodeStepHashes);
  const nodes: GraphNode[] = [];
  const pulls = imagesOf(config).map((i) => ({ kind: "pull" as const, id: `${i.host}-image-${i.what}`, host: i.host, image: i.image }));
  nodes.push(...pulls);

  const nodesChanging = [web, db, ...servers].some((h) => ["replace", "unknown"].includes(input.containers[h.name]));
  const rollout = quiet
    ? []
    : rolloutSteps({
        plan,
        stages,
        previousServers: input.previousServers,
        recorded: input.recorded,
        run: input.run,
        nodesChanging,
        evicted: input.evicted ?? [],
        fences: input.fences ?? [],
        // every node's own steps change its host too
        claims: [db, ...servers].map((h) => h.name),
      });
  const proxyId = (id: string) => `${PROXY}-${id}`;
  const ready = new Map<string, string>();
  let readyAll: string[] = [];
  // what opens a change: the lease, fences, each host's claim and the backup; nothing changes before them
  const opening = rollout.filter((s) => s.id === "lease" || s.id === "backup" || s.id.startsWith("fence-") || s.id.startsWith("claim-"));
  const gate = rollout.some((s) => s.id === "backup") ? [proxyId("backup")] : opening.filter((s) => !s.id.startsWith("claim-")).map((s) => proxyId(s.id));
  const stageOf = new Map(stages.stages.flatMap((st) => st.servers.map((s) => [s.name, `stage-${st.index}`] as const)));

  const resolve = (a: string): string[] => {
    if (a === "pulled") return pulls.map((p) => p.id);
    if (a === "ready-all") return readyAll;
    if (a === "proxy") return [PROXY];
    if (a.startsWith("ready-")) return [ready.get(a.slice("ready-".length))!];
    return [proxyId(a)];
  };
  const pushStep = (step: HostStep) => nodes.push({ kind: "step", id: proxyId(step.id), owner: PROXY, step, after: step.after.flatMap(resolve) });
  opening.forEach(pushStep);

  // each node: its steps before the container, the container, its steps after
  const addNode = (host: NodeHost, containerAfter: readonly string[]) => {
    const planned = stepsOf.get(host.name)!;
    // in a change, each checks this run's lease (its claim on the host); in a quiet up each stays as the last up left it
    const checked = (s: HostStep): HostStep => (quiet ? s : { ...s, command: [leaseCheck(s.host, web.name, input.run, `${host.name}-${s.id}`), s.command].join("\n") });
    const steps = { before: planned.before.map(checked), after: planned.after.map(checked) };
    const kept = quiet ? { kept: true as const } : {};
    const named = (s: HostStep) => `${host.name}-${s.id}`;
    const claim = host.name !== web.name && rollout.length > 0 ? [proxyId(`claim-${host.name}`)] : [];
    const resolve = (s: HostStep, first: readonly string[]) => (s.after.length > 0 ? s.after.map((a) => `${host.name}-${a}`) : first);
    for (const s of steps.before) nodes.push({ kind: "step", id: named(s), owner: host.name, step: s, after: resolve(s, [...gate, ...claim]), ...kept });
    const beforeLast = steps.before.length > 0 ? [named(steps.before[steps.before.length - 1])] : [];
    const container = containerId(host.name);
    const waits = [...beforeLast, ...gate, ...pulls.map((p) => p.id), ...containerAfter];
    // the license goes on the host once the node's own steps made its folder,
    // and no sooner than the container could change: nothing changes before the lease
    const license = `${host.name}-license`;
    nodes.push({ kind: "license", id: license, host: host.name, after: waits });
    nodes.push({ kind: "container", id: container, host: host.name, after: [...waits, license] });
    for (const s of steps.after) nodes.push({ kind: "step", id: named(s), owner: host.name, step: s, after: resolve(s, [container]), ...kept });
    ready.set(host.name, steps.after.length > 0 ? named(steps.after[steps.after.length - 1]) : container);
  };
  // dtable-web first (it runs the database migrations) and healthy, then dtable-db
  addNode(web, []);
  addNode(db, [ready.get(web.name)!]);
  const unstaged = servers.filter((s) => !stageOf.has(s.name));
  for (const s of unstaged) addNode(s, [ready.get(db.name)!]);
  readyAll = [web, db, ...unstaged].map((h) => ready.get(h.name)!);

  const staged = servers.filter((s) => stageOf.has(s.name));
  const added = new Set<string>();
  // a staged server's container (and conf edits) go in right after its stage's quarantine, and after its mark where it has one
  const addStaged = (s: NodeHost) => {
    if (added.has(s.name)) return;
    added.add(s.name);
    const stage = stageOf.get(s.name)!;
    const mark = rollout.find((r) => r.id === `${stage}-mark-${s.name}`);
    addNode(s, [proxyId(mark ? mark.id : `${stage}-quarantine`)]);
  };
  for (const step of rollout.filter((s) => !opening.includes(s))) {
    for (const a of step.after) if (a.startsWith("ready-")) staged.filter((x) => `ready-${x.name}` === a).forEach(addStaged);
    if (step.id.endsWith("-switch")) staged.filter((x) => `${stageOf.get(x.name)}-switch` === step.id).forEach(addStaged);
    if (step.id.endsWith("-verify") || step.id === "verify") {
      const switchId = proxyId(step.id === "verify" ? "switch" : step.id.replace(/-verify$/, "-switch"));
      if (step.after.includes("proxy")) nodes.push({ kind: "proxy", id: PROXY, after: [switchId] });
    }
    pushStep(step);
  }
  // no rollout: the proxy container stays as it is
  if (rollout.length === 0) nodes.push({ kind: "proxy", id: PROXY, after: readyAll });
  return { nodes, stages, quiet, rolloutNames: rollout.map((s) => proxyId(s.id)), nodeSteps: nodeStepHashes };
}

/**
 * The graph as `npm run plan` shows it, without the stack's state: every node
 * existed if there is a table before; `replaceContainers` plans a change of
 * image or environment (every seatable-server container replaced).
 */
export function offlineGraph(
  plan: ClusterPlan,
  replaceContainers: boolean,
  editScript: string,
  unwell?: Readonly<Record<string, string>>,
): { graph: ClusterGraph; changes: Record<string, ContainerChange> } {
  const { web, db, servers } = plan.config.hosts;
  const existing = existingNodes(plan);
  const changes = offlineChanges(plan, replaceContainers);
  // servers the table names that left the config: their addresses are in the stack, not here
  const previousServers = [...existing].filter((n) => n !== web.name && n !== db.name).map((name) => servers.find((s) => s.name === name) ?? { name, address: "0.0.0.0", ssh: { user: "root", port: 22 } });
  const graph = clusterGraph({ plan, previousServers, containers: changes, run: { stack: "(this stack)", id: "(this run)" }, editScript, ...(unwell ? { unwell } : {}) });
  return { graph, changes };
}

/** The nodes that exist if there is a table before: dtable-web, dtable-db and every server the table names. */
function existingNodes(plan: ClusterPlan): Set<string> {
  const { web, db } = plan.config.hosts;
  return new Set(plan.previous ? [web.name, db.name, ...Object.values(plan.previous.buckets), ...Object.values(plan.previous.pins), plan.previous.default] : []);
}

/** What `npm run plan` takes Pulumi to do with each node's container: create a new one, replace every one (`replaceContainers`), or nothing. */
export function offlineChanges(plan: ClusterPlan, replaceContainers: boolean): Record<string, ContainerChange> {
  const { web, db, servers } = plan.config.hosts;
  const existing = existingNodes(plan);
  return Object.fromEntries([web, db, ...servers].map((n): [string, ContainerChange] => [n.name, !existing.has(n.name) ? "create" : replaceContainers ? "replace" : "same"]));
}
