// The Pulumi program: stack config → plan → resources.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { SECRET_KEYS, SecretKey } from "./pure/config/schema";
import { rawStackConfig } from "./pure/config/stack-file";
import { urlHost } from "./pure/config/values";
import { fromConfigString, validateStackConfig } from "./pure/config/validate";
import { buildPlan } from "./pure/plan";
import { versionNotes } from "./pure/plan/seatable";
import { serverShares } from "./pure/plan/summary";
import { parseAppliedRouting } from "./pure/plan/applied";
import { SeaTableCluster } from "./components/cluster";
import type { Secrets } from "./components/resources";

/**
 * The project's config as the CLI hands it over; secret values are not read
 * here. Pulumi.yaml declares the secret keys `secret: true`, so the CLI itself
 * refuses one set in plain text before the program runs.
 */
function rawConfig() {
  return rawStackConfig(
    Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => {
      const name = key.slice(key.indexOf(":") + 1);
      return { key, value: fromConfigString(name, value), secret: key.startsWith(`${pulumi.getProject()}:`) && name in SECRET_KEYS };
    }),
  );
}

export = async () => {
  const validated = validateStackConfig(rawConfig(), { requireSecrets: true, readFile: (p) => readFileSync(p, "utf8") });
  if (!validated.ok) {
    throw new pulumi.RunError(`the stack config has ${validated.problems.length} problem(s):\n${validated.problems.join("\n")}`);
  }
  for (const warning of validated.warnings) pulumi.log.warn(warning);
  const { config } = validated;

  // The routing applied last lives in this stack's own outputs, written only
  // after a rollout verified (see SeaTableCluster.appliedRouting).
  const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
  const details = await self.getOutputDetails("appliedRouting");
  const applied = parseAppliedRouting(details.value ?? details.secretValue);
  if (applied && applied.table.bucketHexDigits > config.routing.bucketHexDigits) {
    throw new pulumi.RunError(
      `routing.bucketHexDigits: ${config.routing.bucketHexDigits} is fewer than the ${applied.table.bucketHexDigits} of the table applied last; fewer digits would merge buckets that live on different servers`,
    );
  }
  for (const note of versionNotes(config)) pulumi.log.warn(note);
  const plan = buildPlan(config, applied?.table, validated.startTable);

  const pulumiConfig = new pulumi.Config();
  const secrets: Secrets = Object.fromEntries(
    config.secretsSet.filter((k) => k !== "sshPrivateKey").map((k: SecretKey) => [k, pulumiConfig.requireSecret(k)]),
  );
  const sshPrivateKey = config.secretsSet.includes("sshPrivateKey")
    ? pulumiConfig.requireSecret("sshPrivateKey")
    : config.ssh.privateKeyPath
      ? pulumi.secret(readFileSync(config.ssh.privateKeyPath, "utf8"))
      : undefined;

  const cluster = new SeaTableCluster("seatable", {
    plan,
    previousServers: applied?.servers ?? [],
    secrets,
    ...(sshPrivateKey ? { sshPrivateKey } : {}),
    editScript: readFileSync(join(__dirname, "hostscripts", "edit-conf.py"), "utf8"),
    runId: new Date().toISOString(),
  });

  return {
    nodes: [config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => ({ name: h.name, role: h.role, address: h.address })),
    proxyUrl: `http://${urlHost(config.hosts.web.address)}:${config.proxy.port}`,
    routing: serverShares(config, plan.routing).map((s) => ({ server: s.server, weight: s.weight, buckets: s.ranges, share: s.share })),
    routingChange: {
      bucketsMoving: plan.change.bucketMoves.length,
      pinnedBasesMoving: plan.change.pinMoves.length,
      restarted: plan.change.losing,
    },
    appliedRouting: cluster.appliedRouting,
  };
};

