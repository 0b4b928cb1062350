// The routing the program applied last, as it keeps it in the stack's own
// outputs: the table and how to reach each dtable-server it names (so that a
// server removed from the config can still be stopped before its buckets move).
import { z } from "zod";
import { parseRoutingTable, RoutingTable } from "../config/routing-file";
import type { ClusterConfig } from "../config/schema";
import type { ServerHost } from "./rollout";

export type AppliedRouting = { readonly table: RoutingTable; readonly servers: readonly ServerHost[] };

const serverHosts = z.array(
  z.object({
    name: z.string(),
    address: z.string(),
    ssh: z.object({ user: z.string(), port: z.number(), hostKey: z.string().optional(), insecureSkipHostKeyCheck: z.literal(true).optional() }),
  }),
);

/** Reads the stack output back; a value that is not one is an error, never a guess. */
export function parseAppliedRouting(value: unknown): AppliedRouting | undefined {
  if (value === undefined || value === null) return undefined;
  const v = value as { table?: unknown; servers?: unknown };
  const table = parseRoutingTable(v.table, "appliedRouting.table");
  const servers = serverHosts.safeParse(v.servers);
  if (!table.table || !servers.success) {
    throw new Error(
      `appliedRouting (the stack output this program keeps its routing in) is damaged: ${[...table.problems, ...(servers.success ? [] : ["appliedRouting.servers: not a list of servers"])].join("; ")}`,
    );
  }
  return { table: table.table, servers: servers.data };
}

export function appliedRouting(config: ClusterConfig, table: RoutingTable): AppliedRouting {
  return { table, servers: config.hosts.servers.map((s) => ({ name: s.name, address: s.address, ssh: { ...s.ssh } })) };
}
