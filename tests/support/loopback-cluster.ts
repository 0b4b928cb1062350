// A cluster config on this machine's loopback addresses, for the tests that run
// the program's host steps for real in a fake docker world (fake-docker.ts):
// tests/rollout.load.test.ts and tests/rollout.host.test.ts.
import type { ClusterConfig } from "../../pure/config/schema";
import { configOf, stackValues } from "./stacks";

export const serverName = (i: number) => (i === 0 ? "dtable-server" : `dtable-server-${i + 1}`);

// Loopback addresses of their own, away from the proxy test's 127.0.0.x, one block per world.
const NET = `127.${1 + (process.pid % 250)}`;

/** dtable-web, dtable-db and five dtable-servers on loopback addresses of world `world` (0-255). */
export const addressesOf = (world: number) => ({
  web: { name: "dtable-web", address: `${NET}.${world}.9` },
  db: { name: "dtable-db", address: `${NET}.${world}.8` },
  servers: [0, 1, 2, 3, 4].map((i) => ({ name: serverName(i), address: `${NET}.${world}.${10 + i}` })),
});
export type Addresses = ReturnType<typeof addressesOf>;

export type Shape = {
  servers: number;
  maxRestarting?: number;
  image?: string;
  backup?: boolean;
  /** rollout.evict: dtable-servers removed from the config whose host is dead */
  evict?: string[];
};

/**
 * The dev stack with `servers` dtable-servers on the world's loopback addresses.
 * Validation refuses loopback addresses (rightly, for a real cluster), so the
 * validated config is taken as the plain data it is and only the addresses and
 * the proxy's ports are replaced: every name, port and path in the steps is
 * the program's own.
 */
export function clusterConfig(shape: Shape, a: Addresses, proxyPort: number): ClusterConfig {
  const v = stackValues("dev");
  while (v.hosts.servers.length < shape.servers) v.hosts.servers.push({ name: serverName(v.hosts.servers.length), address: `192.0.2.${21 + v.hosts.servers.length}`, ssh: { hostKey: v.hosts.servers[0].ssh.hostKey } });
  v.hosts.servers = v.hosts.servers.slice(0, shape.servers);
  if (shape.image) v.image = shape.image;
  // 6.2 requires the avatar bucket
  if (/:6\.2\./.test(v.image)) v.s3.buckets.avatar = "seatable-dev-avatars";
  v.rollout = {
    maxRestarting: shape.maxRestarting ?? 1,
    // any harmless command, run for real on dtable-db before the first container stops
    ...(shape.backup ? { backup: { host: "dtable-db", command: "date +%s%N > /opt/seatable-compose/backup-done" } } : {}),
    ...(shape.evict ? { evict: shape.evict } : {}),
  };
  const valid = configOf(v);
  const at = (name: string) => [a.web, a.db, ...a.servers].find((h) => h.name === name)!.address;
  return {
    ...valid,
    hosts: {
      web: { ...valid.hosts.web, address: at(valid.hosts.web.name) },
      db: { ...valid.hosts.db, address: at(valid.hosts.db.name) },
      servers: valid.hosts.servers.map((s) => ({ ...s, address: at(s.name) })),
    },
    proxy: { ...valid.proxy, port: proxyPort },
  };
}
