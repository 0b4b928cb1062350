// What Pulumi will do with each node's container in this `up`, decided from
// the digests the last verified `up` recorded: the stages need to know which
// dtable-servers go down before Pulumi replaces anything.
import type { ClusterConfig, NodeHost, SecretRef } from "../config/schema";
import type { AppliedContainers } from "./applied";
import { ContainerSpec, seatableContainer } from "./containers";
import { sha256 } from "./rollout";
import type { ContainerChange } from "./stages";

/**
 * sha256 over everything Pulumi sends for the container, secret values
 * included (a new MariaDB password replaces the container too). It is kept
 * only as a secret stack output.
 */
export function containerDigest(spec: ContainerSpec, secretValues: Readonly<Partial<Record<SecretRef, string>>>): string {
  const secrets = Object.entries(spec.secretEnv).map(([variable, key]) => [variable, secretValues[key] ?? ""]);
  return sha256(JSON.stringify({ spec, secrets }));
}

export type ContainerChanges = {
  readonly changes: Readonly<Record<string, ContainerChange>>;
  /** this `up`'s digests, recorded once it is verified */
  readonly digests: Readonly<Record<string, string>>;
};

/**
 * `deployed` is what runs now: the servers the proxy may route to (start.ts;
 * undefined: nothing was deployed); `recorded` the container digests of the
 * last verified `up` (undefined for a cluster
 * deployed by an earlier version of this program: every existing container
 * then counts as `unknown`, and goes down inside a quarantine in case Pulumi
 * replaces it).
 */
export function containerChanges(
  config: ClusterConfig,
  deployed: { readonly servers: readonly { readonly name: string }[] } | undefined,
  recorded: AppliedContainers | undefined,
  secretValues: Readonly<Partial<Record<SecretRef, string>>>,
): ContainerChanges {
  const nodes: NodeHost[] = [config.hosts.web, config.hosts.db, ...config.hosts.servers];
  const digests = Object.fromEntries(nodes.map((n) => [n.name, containerDigest(seatableContainer(config, n), secretValues)]));
  const existed = (n: NodeHost) => deployed !== undefined && (n.role !== "dtable-server" || deployed.servers.some((s) => s.name === n.name));
  const changes = Object.fromEntries(
    nodes.map((n): [string, ContainerChange] => {
      if (!existed(n)) return [n.name, "create"];
      const before = recorded?.[n.name];
      return [n.name, before === undefined ? "unknown" : before === digests[n.name] ? "same" : "replace"];
    }),
  );
  return { changes, digests };
}
