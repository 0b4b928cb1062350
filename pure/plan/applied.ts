// The routing the program applied last, as it keeps it in the stack's own
// outputs: the table and how to reach each dtable-server it names (so that a
// server removed from the config can still be stopped before its buckets move).
import { z } from "zod";
import { parseRoutingTable, RoutingTable } from "../config/routing-file";
import { address, hostName, loginName, port, sshHostKey, type ClusterConfig } from "../config/schema";
import { formatIssues } from "../config/problems";
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

// The state is read back as input: every value that reaches a host (a name in
// the proxy's files, an address and user in an SSH URL, a known_hosts line)
// passes the stack config's own rules first.
const serverHost = z.strictObject({
  name: hostName,
  address,
  ssh: z.strictObject({ user: loginName, port, hostKey: sshHostKey.optional(), insecureSkipHostKeyCheck: z.literal(true).optional() }),
});
const serverHosts = z.array(serverHost, { error: () => "expected a list of servers" });

/** Reads the stack output back; a value that is not one is an error, never a guess. */
export function parseAppliedRouting(value: unknown): AppliedRouting | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value as { table?: unknown; servers?: unknown };
  const table = parseRoutingTable(v.table, "appliedRouting.table");
  const servers = serverHosts.safeParse(v.servers, { reportInput: true });
  const extras = recordExtras.safeParse(v);
  if (!table.table || !servers.success || !extras.success) {
    const problems = [
      ...table.problems,
      ...(servers.success ? [] : formatIssues(servers.error.issues, "appliedRouting.servers")),
      ...(extras.success ? [] : formatIssues(extras.error.issues, "appliedRouting")),
    ];
    throw new Error(`appliedRouting (the stack output this program keeps its routing in) is damaged:\n${problems.join("\n")}`);
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
