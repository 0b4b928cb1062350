// `pulumi up` in the fake docker world (fake-docker.ts): what index.ts does
// around the graph (read the proxy's live files, refuse a held lease, decide
// which containers change, build the graph, record the applied routing only
// once verified), and what the Pulumi engine does with the graph's nodes:
//   pull       nothing (the images are "there")
//   license    the stack's license file copied to the node's seatable folder
//   step       the command, for real (FakeDocker.runStep)
//   container  as the Docker provider: created when missing; when its spec
//              changed, replaced delete-before-replace (docker stop -t N:
//              SIGTERM, SIGKILL after the timeout, scaled down; then the new
//              one, waited for as `wait: true` does); else left alone
//   proxy      started if it does not run
// At the end, containers the graph no longer has are deleted.
// Nodes run once everything in their `after` is done, side by side; after a
// failure (or at `stopAfter`, an interrupted up) nothing new starts, as
// Pulumi stops scheduling.
import { copyFileSync, readFileSync } from "fs";
import * as path from "path";
import type { ClusterConfig } from "../../pure/config/schema";
import { AppliedContainers, appliedContext, AppliedRouting, appliedRouting } from "../../pure/plan/applied";
import { containerChanges, containerDigest } from "../../pure/plan/changes";
import { LICENSE_PATH, SEATABLE_CONTAINER, SEATABLE_DIR, seatableContainer, SNAPSHOT_CLEANUP_ROLE } from "../../pure/plan/containers";
import { ClusterGraph, clusterGraph, GraphNode } from "../../pure/plan/graph";
import { buildPlan, ClusterPlan } from "../../pure/plan/index";
import { containerReadCommand, LIVE_READ_COMMAND, parseContainerRead, parseLiveRead } from "../../pure/plan/live";
import { containerFindings } from "../../pure/plan/host-containers";
import { confEdits } from "../../pure/plan/seatable";
import { evictedAfter, leaseLine, proxyFiles, Run, ServerHost, sha256 } from "../../pure/plan/rollout";
import { evictAnswers, startingPoint } from "../../pure/plan/start";
import type { FakeDocker } from "./fake-docker";
import { ROOT } from "./stacks";

export const EDIT_SCRIPT = readFileSync(path.join(ROOT, "hostscripts", "edit-conf.py"), "utf8");

/** The conf files a node's container writes on its first start: those its conf edits wait for (as node-steps.ts asks for them). */
export function firstStartConfFiles(config: ClusterConfig, host: string): string[] {
  const node = [config.hosts.web, config.hosts.db, ...config.hosts.servers].find((h) => h.name === host);
  return node ? [...new Set(confEdits(config, node.role, { snapshotCleanup: node.role === SNAPSHOT_CLEANUP_ROLE }).edits.filter((e) => !e.create).map((e) => e.file))] : [];
}

export type NodeTiming = { readonly id: string; readonly kind: GraphNode["kind"]; readonly start: number; readonly end: number; readonly what: string };

export type GraphRun = {
  readonly failed?: { readonly id: string; readonly code: number; readonly stdout: string; readonly stderr: string };
  readonly interrupted: boolean;
  readonly done: readonly string[];
  readonly timings: readonly NodeTiming[];
};

export type GraphOptions = {
  /** interrupt the up once this node is done (as a Ctrl-C or a lost connection would) */
  readonly stopAfter?: string;
  readonly stepTimeoutMs: number;
};

const healthTimeoutMs = 20_000;

/** Runs a graph's nodes as the Pulumi engine would (see the top of this file). */
export async function runGraph(world: FakeDocker, graph: ClusterGraph, config: ClusterConfig, options: GraphOptions): Promise<GraphRun> {
  const nodes = graph.nodes;
  const done = new Set<string>();
  const started = new Set<string>();
  const timings: NodeTiming[] = [];
  let failed: GraphRun["failed"];
  let interrupted = false;
  const running = new Map<string, Promise<void>>();

  const execute = async (node: GraphNode): Promise<string> => {
    if (node.kind === "pull") return "pulled";
    if (node.kind === "license") {
      // what the CopyToRemote does: the stack's license file on the node's host
      if (config.licenseFile === undefined) throw new Error("graph-runner: a cluster config without licenseFile");
      copyFileSync(config.licenseFile, path.join(world.seatableDir(node.host), path.relative(SEATABLE_DIR, LICENSE_PATH)));
      return "copied";
    }
    if (node.kind === "proxy") {
      await world.startProxy(config.proxy.image);
      return "running";
    }
    if (node.kind === "container") {
      const host = [config.hosts.web, config.hosts.db, ...config.hosts.servers].find((h) => h.name === node.host)!;
      const digest = containerDigest(seatableContainer(config, host), {});
      const current = world.containerDigest(node.host);
      if (current === digest) return "same";
      if (current !== undefined) await world.deleteContainer(node.host, config.stopTimeoutSeconds);
      await world.createContainer(node.host, digest, config.image);
      await world.waitHealthy(node.host, healthTimeoutMs);
      return current === undefined ? "created" : "replaced";
    }
    // a quiet up leaves the last up's steps as they are: Pulumi does not run them
    if (node.kept) return "kept";
    const r = await world.runStep(node.step, options.stepTimeoutMs);
    if (r.code !== 0) failed ??= { id: node.id, code: r.code, stdout: r.stdout, stderr: r.stderr };
    return r.code === 0 ? "ran" : "failed";
  };

  for (;;) {
    if (!failed && !interrupted) {
      for (const node of nodes) {
        const after = node.kind === "pull" ? [] : node.after;
        if (started.has(node.id) || !after.every((a) => done.has(a))) continue;
        started.add(node.id);
        const start = performance.now();
        running.set(
          node.id,
          execute(node).then((what) => {
            timings.push({ id: node.id, kind: node.kind, start, end: performance.now(), what });
            running.delete(node.id);
            if (what === "failed") return;
            done.add(node.id);
            if (node.id === options.stopAfter) interrupted = true;
          }),
        );
      }
    }
    if (running.size === 0) break;
    await Promise.race(running.values());
  }
  // at the end of an up, Pulumi deletes what the program no longer declares: a server that left
  if (!failed && !interrupted) {
    const declared = new Set(nodes.flatMap((x) => (x.kind === "container" ? [x.host] : [])));
    // a dead host's resources were removed from the state by hand (README): Pulumi does not reach it
    for (const host of world.containerHosts().filter((h) => !declared.has(h) && world.reachable(h))) await world.deleteContainer(host, config.stopTimeoutSeconds);
  }
  return { ...(failed ? { failed } : {}), interrupted, done: [...done], timings };
}

/** What the stack's state keeps between two ups: the applied routing and the containers' digests. */
export type StackState = { applied?: AppliedRouting; containers?: AppliedContainers };

/** An up, planned: what index.ts does before it registers anything. */
export type PreparedUp = {
  readonly run: Run;
  readonly plan: ClusterPlan;
  readonly graph: ClusterGraph;
  /** the up stops here: the starting point's errors (another run's lease, a foreign file, an evicted server that answers) */
  readonly refused?: string;
  /** what index.ts logs as warnings */
  readonly warnings: readonly string[];
  /** writes the stack outputs, as a verified up does */
  record(): void;
};

let runs = 0;

/** The world's hosts are on loopback: the config's rules for addresses are the test's to relax, as loopback-cluster.ts does for the config. */
const loopback = (config: ClusterConfig) => ({ ...appliedContext(config), acceptAddress: (a: string) => a.startsWith("127.") });

/**
 * Reads the live files on dtable-web, starts from what the proxy runs (the
 * record in `state` only as a cross-check) and builds this up's graph, as index.ts does.
 */
export async function prepareUp(world: FakeDocker, state: StackState, config: ClusterConfig, run: Run = { stack: "organization/seatable-cluster/load", id: `run-${++runs}` }): Promise<PreparedUp> {
  const read = await world.runStep({ host: config.hosts.web.name, command: LIVE_READ_COMMAND });
  if (read.code !== 0) throw new Error(`reading the live files failed: ${read.stderr}`);
  const live = parseLiveRead(read.stdout);
  const start = startingPoint(config, live, state.applied, run, loopback(config));
  const plan = buildPlan(config, start.previous);
  const errors = [...(start.lease ? [start.lease] : []), ...start.errors];
  const warnings = [...start.warnings];
  for (const s of start.evicting) if (world.reachable(s.name)) errors.push(evictAnswers(s));
  const fences: ServerHost[] = [];
  for (const e of start.evicted) if (world.reachable(e.name)) fences.push(e);
  const containers = containerChanges(config, start.previous ? { servers: start.previousServers } : undefined, start.recordCurrent ? state.containers : undefined, {});
  // what runs on each host, as index.ts reads it (io/hosts.ts readNodeContainers) once nothing refused the up: dtable-web's with the live read
  const reads = await Promise.all(
    (errors.length > 0 ? [] : [config.hosts.db, ...config.hosts.servers]).map(async (h) => {
      const r = await world.runStep({ host: h.name, command: containerReadCommand([SEATABLE_CONTAINER]) });
      return [h.name, r.code === 0 ? { containers: parseContainerRead(r.stdout, h.name) } : { unreadable: r.stderr.trim() }] as const;
    }),
  );
  const found = containerFindings(config, { ...(live.containers ? { [config.hosts.web.name]: { containers: live.containers } } : {}), ...Object.fromEntries(reads) }, containers.changes, live);
  errors.push(...found.errors);
  warnings.push(...found.warnings);
  const graph = clusterGraph({
    plan,
    previousServers: start.previousServers,
    containers: containers.changes,
    live,
    ...(state.applied?.proxy ? { recorded: state.applied.proxy } : {}),
    run,
    editScript: EDIT_SCRIPT,
    evicted: start.evicted,
    fences,
    ...(state.applied?.nodeSteps ? { recordedNodeSteps: state.applied.nodeSteps } : {}),
    unwell: found.unwell,
  });
  const record = () => {
    const files = proxyFiles(plan);
    const evicted = evictedAfter({ stages: graph.stages, previousServers: start.previousServers, evicted: start.evicted, fences });
    state.applied = appliedRouting(config, plan.routing, { conf: sha256(files.conf), hosts: sha256(files.hosts) }, graph.quiet ? (state.applied?.rolloutSteps ?? []) : graph.rolloutNames, {
      evicted,
      nodeSteps: graph.nodeSteps,
      // a quiet up verifies nothing: the proxy still names the run that did
      ...(graph.quiet ? (state.applied?.verifiedBy ? { verifiedBy: state.applied.verifiedBy } : {}) : { verifiedBy: leaseLine(run) }),
    });
    state.containers = containers.digests;
  };
  return { run, plan, graph, record, warnings, ...(errors.length > 0 ? { refused: errors.join("\n") } : {}) };
}

export type UpResult = GraphRun & { readonly prepared: PreparedUp };

/** One `pulumi up` of `config` from `state`, which is updated once the up is verified (as the stack outputs are). */
export async function up(world: FakeDocker, state: StackState, config: ClusterConfig, options: GraphOptions): Promise<UpResult> {
  const prepared = await prepareUp(world, state, config);
  if (prepared.refused) return { prepared, interrupted: false, done: [], timings: [] };
  const result = await runGraph(world, prepared.graph, config, options);
  if (!result.failed && !result.interrupted) prepared.record();
  return { ...result, prepared };
}
