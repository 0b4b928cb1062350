// The routing the program applied last, as it keeps it in the stack's own
// outputs: the table and how to reach each dtable-server it names (so that a
// server removed from the config can still be stopped before its buckets move).
import { z } from "zod";
import { parseRoutingTable, RoutingTable } from "../config/routing-file";
import type { ClusterConfig } from "../config/schema";
import type { ServerHost } from "./rollout";

export type AppliedRouting = {
  readonly table: RoutingTable;
  readonly servers: readonly ServerHost[];
  /** sha256 of the proxy's config and hosts file the verified `up` installed */
  readonly proxy?: { readonly conf: string; readonly hosts: string };
  /** resource names of that `up`'s rollout steps: an `up` with nothing to change keeps them as they are */
  readonly rolloutSteps?: readonly string[];
};

const sha = z.string().regex(/^[0-9a-f]{64}$/);
const recordExtras = z.object({
  proxy: z.object({ conf: sha, hosts: sha }).optional(),
  rolloutSteps: z.array(z.string().regex(/^[a-z0-9-]{1,200}$/)).optional(),
});

/** Each node's container spec as last verified (sha256 over spec and secret values): kept as a secret output. */
export type AppliedContainers = Readonly<Record<string, string>>;

export function parseAppliedContainers(value: unknown): AppliedContainers | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = z.record(z.string().regex(/^[a-z][a-z0-9-]{0,62}$/), sha).safeParse(value);
  if (!parsed.success) throw new Error("appliedContainers (the stack output that records each node's container) is damaged: expected host name → sha256");
  return parsed.data;
}

const serverHosts = z.array(
  z.object({
    name: z.string(),
    address: z.string(),
    ssh: z.object({ user: z.string(), port: z.number(), hostKey: z.string().optional() }),
  }),
);

/** Reads the stack output back; a value that is not one is an error, never a guess. */
export function parseAppliedRouting(value: unknown): AppliedRouting | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value as { table?: unknown; servers?: unknown };
  const table = parseRoutingTable(v.table, "appliedRouting.table");
  const servers = serverHosts.safeParse(v.servers);
  const extras = recordExtras.safeParse(v);
  if (!table.table || !servers.success || !extras.success) {
    throw new Error(
      `appliedRouting (the stack output this program keeps its routing in) is damaged: ${[
        ...table.problems,
        ...(servers.success ? [] : ["appliedRouting.servers: not a list of servers"]),
        ...(extras.success ? [] : ["appliedRouting.proxy / rolloutSteps: not hashes and resource names"]),
      ].join("; ")}`,
    );
  }
  return {
    table: table.table,
    servers: servers.data,
    ...(extras.data.proxy ? { proxy: extras.data.proxy } : {}),
    ...(extras.data.rolloutSteps ? { rolloutSteps: extras.data.rolloutSteps } : {}),
  };
}

export function appliedRouting(config: ClusterConfig, table: RoutingTable, proxy: { conf: string; hosts: string }, rolloutSteps: readonly string[]): AppliedRouting {
  return { table, servers: config.hosts.servers.map((s) => ({ name: s.name, address: s.address, ssh: { ...s.ssh } })), proxy, rolloutSteps: [...rolloutSteps] };
}

/** known_hosts lines for every pinned host key ([address]:port when not 22). */
export function knownHosts(hosts: readonly { address: string; ssh: { port: number; hostKey?: string } }[]): string {
  const lines = hosts
    .filter((h) => h.ssh.hostKey)
    .map((h) => `${h.ssh.port === 22 ? h.address : `[${h.address}]:${h.ssh.port}`} ${h.ssh.hostKey}`);
  return `${[...new Set(lines)].join("\n")}\n`;
}
