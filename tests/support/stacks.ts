// The shipped stack files as test fixtures.
import { readFileSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { join } from "node:path";
import { rawFromStackYaml } from "../../pure/config/stack-file";
import { RawStackConfig, validateStackConfig, Validated } from "../../pure/config/validate";
import type { ClusterConfig } from "../../pure/config/schema";

export const ROOT = join(__dirname, "..", "..");
export const STACKS = ["dev", "prod"] as const;
export const stackPath = (stack: string) => join(ROOT, `Pulumi.${stack}.yaml`);

/** A stand-in license (no license ships with the program; the shipped stacks name one beside them). */
export const TEST_LICENSE = join(__dirname, "seatable-license.txt");

/** A fresh, mutable copy of a shipped stack's values, licenseFile pointing at TEST_LICENSE. */
export function stackValues(stack: (typeof STACKS)[number] = "dev"): Record<string, any> {
  const values = structuredClone(rawFromStackYaml(readFileSync(stackPath(stack), "utf8")).values) as Record<string, any>;
  return { ...values, licenseFile: TEST_LICENSE };
}

/** prod with `n` dtable-servers (more are added at 10.0.1.x), pins only to servers that remain */
export function withServers(n: number): Record<string, any> {
  const v = stackValues("prod");
  const key = v.hosts.servers[0].ssh.hostKey;
  while (v.hosts.servers.length < n) v.hosts.servers.push({ name: `dtable-server-${v.hosts.servers.length + 1}`, address: `10.0.1.${20 + v.hosts.servers.length}`, ssh: { hostKey: key } });
  v.hosts.servers = v.hosts.servers.slice(0, n);
  const names = v.hosts.servers.map((s: { name: string }) => s.name);
  v.routing.pins = Object.fromEntries(Object.entries(v.routing.pins).filter(([, s]) => names.includes(s as string)));
  return v;
}

/** dev on private IPv6 addresses (fd00::/8), one written the long way round, caddy on a documentation-range address */
export function ipv6Values(): Record<string, any> {
  const v = stackValues("dev");
  v.hosts.web.address = "fd00:5ea:7ab1::10";
  v.hosts.web.publicAddress = "2001:db8::10";
  v.hosts.db.address = "FD00:5EA:7AB1:0:0:0:0:11";
  v.hosts.servers[0].address = "fd00:5ea:7ab1::21";
  v.hosts.servers[1].address = "fd00:5ea:7ab1::22";
  return v;
}

export function validate(values: Record<string, unknown>, secretKeys: string[] = [], requireSecrets = false, files: Record<string, string> = {}): Validated {
  const raw: RawStackConfig = { values, secretKeys: new Set(secretKeys) };
  return validateStackConfig(raw, {
    requireSecrets,
    readFile: (p) => {
      if (p in files) return files[p];
      if (p === TEST_LICENSE) return readFileSync(p, "utf8");
      throw new Error("ENOENT: no such file");
    },
  });
}

export function problemsOf(values: Record<string, unknown>, secretKeys: string[] = [], requireSecrets = false, files: Record<string, string> = {}): readonly string[] {
  const v = validate(values, secretKeys, requireSecrets, files);
  return v.ok ? [] : v.problems;
}

export function configOf(values: Record<string, unknown> = stackValues()): ClusterConfig {
  const v = validate(values);
  if (!v.ok) throw new Error(v.problems.join("\n"));
  return v.config;
}

/** Writes `values` as Pulumi.test.yaml in `dir`, the way a user's stack file holds them. */
export function writeStackFile(dir: string, values: Record<string, unknown>): string {
  const path = join(dir, "Pulumi.test.yaml");
  writeFileSync(path, stringify({ config: Object.fromEntries(Object.entries(values).map(([k, v]) => [`seatable-cluster:${k}`, v])) }));
  return path;
}
