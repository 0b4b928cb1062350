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
import { CADDY_IMAGE, caddyContainer } from "./containers";
import type { ClusterPlan } from "./index";
import { nodeSteps } from "./node-steps";
import { containerId, HostStep, LiveProxy, proxyFiles, rolloutSteps, Run, ServerHost, sha256 } from "./rollout";
import { ContainerChange, planStages, StagePlan } from "./stages";

export const PROXY = "dtable-server-proxy";

export type GraphNode =
  /** docker.RemoteImage on a host: every image is pulled before any container stops */
  | { readonly kind: "pull"; readonly id: string; readonly host: string; readonly image: string }
  /** remote.Command; `owner` is the component it belongs to: a host name, or the proxy */
  | { readonly kind: "step"; readonly id: string; readonly owner: string; readonly step: HostStep; readonly after: readonly string[] }
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
};

/** Every image a host runs, to pull before anything stops. */
export function imagesOf(config: ClusterConfig): { host: string; image: string; what: string }[] {
  const { web, db, servers } = config.hosts;
  return [
    ...[web, db, ...servers].map((h) => ({ host: h.name, image: config.image, what: "seatable" })),
    { host: web.name, image: config.proxy.image, what: "proxy" },
    ...(caddyContainer(config) ? [{ host: web.name, image: CADDY_IMAGE, what: "caddy" }] : []),
  ];
}

/** Whether the proxy already runs exactly what this `up` would install, and nothing else changes. */
function isQuiet(input: GraphInput, stages: StagePlan): boolean {
  const { plan, live } = input;
  if (!plan.previous || !live || live.lease !== undefined) return false;
  if (stages.stages.length > 0 || Object.values(input.containers).some((c) => c !== "same")) return false;
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
  });
  const quiet = isQuiet(input, stages);
  const nodes: GraphNode[] = [];
  const pulls = imagesOf(config).map((i) => ({ kind: "pull" as const, id: `${i.host}-image-${i.what}`, host: i.host, image: i.image }));
  nodes.push(...pulls);

  const nodesChanging = [web, db, ...servers].some((h) => ["replace", "unknown"].includes(input.containers[h.name]));
  const rollout = quiet ? [] : rolloutSteps({ plan, stages, previousServers: input.previousServers, recorded: input.recorded, run: input.run, nodesChanging });
  const proxyId = (id: string) => `${PROXY}-${id}`;
  const ready = new Map<string, string>();
  let readyAll: string[] = [];
  const gate = rollout.some((s) => s.id === "backup") ? [proxyId("backup")] : rollout.length > 0 ? [proxyId("lease")] : [];
  const stageOf = new Map(stages.stages.flatMap((st) => st.servers.map((s) => [s.name, `stage-${st.index}`] as const)));

  const resolve = (a: string): string[] => {
    if (a === "pulled") return pulls.map((p) => p.id);
    if (a === "ready-all") return readyAll;
    if (a === "proxy") return [PROXY];
    if (a.startsWith("ready-")) return [ready.get(a.slice("ready-".length))!];
    return [proxyId(a)];
  };
  const pushStep = (step: HostStep) => nodes.push({ kind: "step", id: proxyId(step.id), owner: PROXY, step, after: step.after.flatMap(resolve) });
  // nothing changes before the lease (and the backup)
  const first = rollout.filter((s) => s.id === "lease" || s.id === "backup");
  first.forEach(pushStep);

  // each node: its steps before the container, the container, its steps after
  const addNode = (host: NodeHost, containerAfter: readonly string[]) => {
    const steps = nodeSteps(config, host, input.editScript);
    const named = (s: HostStep) => `${host.name}-${s.id}`;
    const resolve = (s: HostStep, first: readonly string[]) => (s.after.length > 0 ? s.after.map((a) => `${host.name}-${a}`) : first);
    for (const s of steps.before) nodes.push({ kind: "step", id: named(s), owner: host.name, step: s, after: resolve(s, gate) });
    const beforeLast = steps.before.length > 0 ? [named(steps.before[steps.before.length - 1])] : [];
    const container = containerId(host.name);
    const waits = [...beforeLast, ...gate, ...pulls.map((p) => p.id), ...containerAfter];
    // the license goes on the host once the node's own steps made its folder,
    // and no sooner than the container could change: nothing changes before the lease
    const license = `${host.name}-license`;
    nodes.push({ kind: "license", id: license, host: host.name, after: waits });
    nodes.push({ kind: "container", id: container, host: host.name, after: [...waits, license] });
    for (const s of steps.after) nodes.push({ kind: "step", id: named(s), owner: host.name, step: s, after: resolve(s, [container]) });
    ready.set(host.name, steps.after.length > 0 ? named(steps.after[steps.after.length - 1]) : container);
  };
  // dtable-web first (it runs the database migrations) and healthy, then dtable-db
  addNode(web, []);
  addNode(db, [ready.get(web.name)!]);
  const unstaged = servers.filter((s) => !stageOf.has(s.name));
  for (const s of unstaged) addNode(s, [ready.get(db.name)!]);
  readyAll = [web, db, ...unstaged].map((h) => ready.get(h.name)!);

  const staged = servers.filter((s) => stageOf.has(s.name));
  for (const step of rollout.filter((s) => !first.includes(s))) {
    // a staged server's container (and conf edits) go in right after its stage's quarantine
    if (step.id.endsWith("-switch")) {
      for (const s of staged.filter((x) => `${stageOf.get(x.name)}-switch` === step.id)) addNode(s, [proxyId(`${stageOf.get(s.name)}-quarantine`)]);
    }
    if (step.id.endsWith("-verify") || step.id === "verify") {
      const switchId = proxyId(step.id === "verify" ? "switch" : step.id.replace(/-verify$/, "-switch"));
      if (step.after.includes("proxy")) nodes.push({ kind: "proxy", id: PROXY, after: [switchId] });
    }
    pushStep(step);
  }
  // no rollout: the proxy container stays as it is
  if (rollout.length === 0) nodes.push({ kind: "proxy", id: PROXY, after: readyAll });
  return { nodes, stages, quiet, rolloutNames: rollout.map((s) => proxyId(s.id)) };
}

/**
 * The graph as `npm run plan` shows it, without the stack's state: every node
 * existed if there is a table before; `replaceContainers` plans a change of
 * image or environment (every seatable-server container replaced).
 */
export function offlineGraph(plan: ClusterPlan, replaceContainers: boolean, editScript: string): { graph: ClusterGraph; changes: Record<string, ContainerChange> } {
  const { web, db, servers } = plan.config.hosts;
  const existing = new Set(plan.previous ? [web.name, db.name, ...Object.values(plan.previous.buckets), ...Object.values(plan.previous.pins), plan.previous.default] : []);
  const changes = Object.fromEntries([web, db, ...servers].map((n): [string, ContainerChange] => [n.name, !existing.has(n.name) ? "create" : replaceContainers ? "replace" : "same"]));
  // servers the table names that left the config: their addresses are in the stack, not here
  const previousServers = [...existing].filter((n) => n !== web.name && n !== db.name).map((name) => servers.find((s) => s.name === name) ?? { name, address: "0.0.0.0", ssh: { user: "root", port: 22 } });
  const graph = clusterGraph({ plan, previousServers, containers: changes, run: { stack: "(this stack)", id: "(this run)" }, editScript });
  return { graph, changes };
}
