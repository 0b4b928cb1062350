// What the containers on the hosts mean for this `up` (design: "The plan
// starts from what the cluster runs"): read on every node before planning
// (live.ts), never assumed from the stack's record. A dtable-server whose
// container is stopped or unhealthy goes into a stage and restarts inside its
// quarantine; Pulumi alone would leave it as it is ("updated", a no-op).
import type { ClusterConfig } from "../config/schema";
import { PROXY_CONTAINER, SEATABLE_CONTAINER } from "./containers";
import type { ContainerState } from "./live";
import type { LiveProxy } from "./rollout";
import type { ContainerChange } from "./stages";

/** Each node's containers as read on its host, or why they could not be read. */
export type HostContainers = Readonly<Record<string, { readonly containers: Readonly<Record<string, ContainerState>> } | { readonly unreadable: string }>>;

export type ContainerFindings = {
  /** dtable-servers to restart inside their stage, and why */
  readonly unwell: Readonly<Record<string, string>>;
  /** what stops an `up` before anything changes */
  readonly errors: readonly string[];
  readonly warnings: readonly string[];
  /** one line per container, for `plan --live` and `up`'s log */
  readonly lines: readonly string[];
};

/** "running, healthy, started 2026-12-07T10:00:00Z": a container for a person. */
export function describeContainer(state: ContainerState): string {
  if (state.status === "missing") return "missing";
  if (state.status === "unreadable") return `could not be read (${state.reason})`;
  return [state.status, ...(state.health ? [state.health] : []), `image ${state.image}`, `started ${state.startedAt}`].join(", ");
}

/** Why a container needs a restart, or undefined if it runs and is not unhealthy (a health check still starting is waited for). */
function ailment(state: Extract<ContainerState, { startedAt: string }>): string | undefined {
  if (state.status !== "running") return `its ${SEATABLE_CONTAINER} container is ${state.status} on its host`;
  return state.health === "unhealthy" ? `its ${SEATABLE_CONTAINER} container is unhealthy on its host` : undefined;
}

/**
 * `reads`: each node's containers (dtable-web's come with the live read);
 * `changes`: what the plan does with each node's container. A container the
 * stack has but the host lacks is refused: Pulumi would not create it without
 * a refresh, and an `up` would fail half-way.
 */
export function containerFindings(config: ClusterConfig, reads: HostContainers, changes: Readonly<Record<string, ContainerChange>>, live: LiveProxy | undefined): ContainerFindings {
  const unwell: Record<string, string> = {};
  const errors: string[] = [];
  const warnings: string[] = [];
  const lines: string[] = [];
  const { web, db, servers } = config.hosts;
  const refresh = (host: string, container: string) =>
    `${host}: the ${container} container is missing on the host, although the stack has it. Pulumi does not see that without a refresh: run \`pulumi refresh\`, then \`pulumi up\` creates it${container === SEATABLE_CONTAINER && servers.some((s) => s.name === host) ? " (it holds no base: nothing is lost)" : ""}.`;
  for (const node of [web, db, ...servers]) {
    const read = reads[node.name];
    if (read === undefined) continue;
    if ("unreadable" in read) {
      warnings.push(`${node.name} (${node.address}): its containers could not be read (${read.unreadable}); the plan takes them as running`);
      lines.push(`${node.name}: ${SEATABLE_CONTAINER} could not be read`);
      continue;
    }
    const state = read.containers[SEATABLE_CONTAINER];
    if (state === undefined) continue;
    lines.push(`${node.name}: ${SEATABLE_CONTAINER} ${describeContainer(state)}`);
    if (state.status === "missing") {
      if (changes[node.name] !== "create") errors.push(refresh(node.name, SEATABLE_CONTAINER));
      continue;
    }
    if (state.status === "unreadable") {
      warnings.push(`${node.name}: docker did not answer (${state.reason}); pulumi up cannot change this host until it does`);
      continue;
    }
    const why = ailment(state);
    if (why === undefined) continue;
    if (node.role === "dtable-server") unwell[node.name] = why;
    // no base lives on dtable-web or dtable-db: nothing to stage, but the admin must know
    else warnings.push(`${node.name} (${node.role}): ${why}; pulumi up does not restart it. Look at \`docker logs ${SEATABLE_CONTAINER}\` there, and \`docker restart ${SEATABLE_CONTAINER}\` once the cause is fixed.`);
  }
  const proxy = live?.containers?.[PROXY_CONTAINER];
  if (proxy !== undefined) {
    lines.push(`${web.name}: ${PROXY_CONTAINER} ${describeContainer(proxy)}`);
    if (proxy.status === "missing" && live?.conf !== undefined) errors.push(refresh(web.name, PROXY_CONTAINER));
    else if (proxy.status !== "missing" && proxy.status !== "unreadable" && proxy.status !== "running")
      warnings.push(`${web.name}: the ${PROXY_CONTAINER} container is ${proxy.status}: no base reaches any dtable-server. This up starts it in its switch step.`);
    else if (proxy.status === "running" && proxy.health === "unhealthy") warnings.push(`${web.name}: the ${PROXY_CONTAINER} container is unhealthy; look at \`docker logs ${PROXY_CONTAINER}\` there`);
  }
  return { unwell, errors, warnings, lines };
}

/** The image the proxy container runs now, if it was read: a different one in the config is a change of its own. */
export const liveProxyImage = (live: LiveProxy | undefined): string | undefined => {
  const proxy = live?.containers?.[PROXY_CONTAINER];
  return proxy && proxy.status !== "missing" && proxy.status !== "unreadable" ? proxy.image : undefined;
};
