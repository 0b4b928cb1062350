// The plan: everything the cluster needs, computed from the config and the
// routing table applied last. Plain data in, plain data out; no Pulumi here.
import type { ClusterConfig } from "../config/schema";
import { computeRoutingTable, routingChange, RoutingChange, RoutingTable, seedTable } from "./routing";

export type ClusterPlan = {
  readonly config: ClusterConfig;
  /** the table the program routes by after this change */
  readonly routing: RoutingTable;
  /** the table it starts from: applied last, or the config's starting table */
  readonly previous?: RoutingTable;
  readonly change: RoutingChange;
};

/**
 * `applied` is the table the program applied last (its own state); without one
 * the config's starting table (seed or routing.json) stands in for it.
 */
export function buildPlan(config: ClusterConfig, applied?: RoutingTable, startTable?: RoutingTable): ClusterPlan {
  const servers = config.hosts.servers;
  const digits = config.routing.bucketHexDigits;
  const previous = applied ?? startTable ?? (config.routing.start === "seed" ? seedTable(servers, digits) : undefined);
  // a drained server keeps its host and container but serves no base
  const serving = servers.filter((s) => !s.drain);
  const routing = computeRoutingTable({ servers: serving, bucketHexDigits: digits, pins: config.routing.pins }, previous);
  return { config, routing, ...(previous ? { previous } : {}), change: routingChange(previous, routing) };
}
