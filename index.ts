// The Pulumi program: stack config → plan → resources.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { SECRET_KEYS, SecretKey, SecretRef } from "./pure/config/schema";
import { ENVIRONMENT_SECRETS } from "./pure/config/environment";
import { rawStackConfig } from "./pure/config/stack-file";
import { urlHost } from "./pure/config/values";
import { fromConfigString, validateStackConfig } from "./pure/config/validate";
import { buildPlan } from "./pure/plan";
import { serverShares } from "./pure/plan/summary";
import { appliedContext, appliedRouting, parseAppliedContainers, parseAppliedRouting } from "./pure/plan/applied";
import { containerChanges } from "./pure/plan/changes";
import { clusterGraph } from "./pure/plan/graph";
import { evictedAfter, leaseLine, proxyFiles, sha256 } from "./pure/plan/rollout";
import { evictAnswers, evictedWarning, startingPoint } from "./pure/plan/start";
import { containerFindings } from "./pure/plan/host-containers";
import { stageNotes } from "./pure/plan/summary";
import { PROGRAM_OUTPUT, programRecordProblem } from "./pure/plan/program-version";
import { ownStackReference, READ_STACK_OUTPUTS } from "./pure/plan/stack-reference";
import { SeaTableCluster } from "./components/cluster";
import type { Secrets } from "./components/resources";
import { hostAccess, readNodeContainers, readNodeFacts, readProxy } from "./io/hosts";
import { factFindings } from "./pure/plan/node-facts";
import { versionFindings } from "./pure/plan/version-change";

// Whether a key was set with --secret. Pulumi.yaml declares the required
// secrets `secret: true`, so the CLI refuses those in plain text; the optional
// ones cannot be declared (a declared key without a default is required), so
// the program asks the SDK, which knows (the CLI passes the list) but exports
// it only internally; the mocks' setAllConfig fills the same list.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { isConfigSecret } = require("@pulumi/pulumi/runtime/config") as { isConfigSecret(key: string): boolean };

/** The project's config as the CLI hands it over; secret values are not read here. */
function rawConfig() {
  return rawStackConfig(
    Object.entries(pulumi.runtime.allConfig()).map(([key, value]) => ({
      key,
      value: fromConfigString(key.slice(key.indexOf(":") + 1), value),
      secret: isConfigSecret(key),
    })),
  );
}

/** environmentSecrets' values by name ({} when unset), as the CLI hands them over: JSON. */
function environmentSecretValues(): Record<string, string> {
  const text = pulumi.runtime.allConfig()[`${pulumi.getProject()}:${ENVIRONMENT_SECRETS}`];
  if (text === undefined) return {};
  return Object.fromEntries(Object.entries(JSON.parse(text) as Record<string, unknown>).map(([name, v]) => [name, asText(v)]));
}

/** A config value as the container gets it: text as it is, a number or boolean as written. */
const asText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** Secret values, to tell whether a container changes (they only enter a digest kept as a secret). */
function secretValues(): Partial<Record<SecretRef, string>> {
  const all = pulumi.runtime.allConfig();
  return {
    ...Object.fromEntries(Object.keys(SECRET_KEYS).flatMap((k) => (all[`${pulumi.getProject()}:${k}`] !== undefined ? [[k, all[`${pulumi.getProject()}:${k}`]]] : []))),
    ...Object.fromEntries(Object.entries(environmentSecretValues()).map(([name, v]) => [`${ENVIRONMENT_SECRETS}.${name}`, v])),
  };
}

/** This program's name and version (package.json), recorded with the stack's state. */
const PROGRAM = JSON.parse(readFileSync(join(__dirname, "package.json"), "utf8")) as { name: string; version: string };

export = async () => {
  const validated = validateStackConfig(rawConfig(), { requireSecrets: true, readFile: (p) => readFileSync(p, "utf8") });
  if (!validated.ok) {
    throw new pulumi.RunError(`the stack config has ${validated.problems.length} problem(s):\n${validated.problems.join("\n")}`);
  }
  for (const warning of validated.warnings) pulumi.log.warn(warning);
  const { config } = validated;
  const stack = `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`;

  // The stack's own record of the last verified up: a cross-check of what the proxy runs, and the containers' digests.
  const context = appliedContext(config);
  // read under the full name, or the bare stack name on a self-managed backend in Pulumi's legacy layout; each
  // name is tried with an invoke first (its error comes back here; a StackReference's failed read fails the update)
  const own = await ownStackReference({ organization: pulumi.getOrganization(), project: pulumi.getProject(), stack: pulumi.getStack() }, (name) =>
    pulumi.runtime.invoke(READ_STACK_OUTPUTS, { name }).then(() => undefined, (e: unknown) => (e instanceof Error ? e.message : String(e))),
  );
  if ("refuse" in own) throw new pulumi.RunError(own.refuse);
  if (own.warning) pulumi.log.warn(own.warning);
  const self = new pulumi.StackReference(own.name);
  // a state a newer version of this program wrote is refused before anything of it is read
  const recorded = await self.getOutputDetails(PROGRAM_OUTPUT);
  const versionProblem = programRecordProblem(recorded.value ?? recorded.secretValue, PROGRAM);
  if (versionProblem) throw new pulumi.RunError(versionProblem);
  const details = await self.getOutputDetails("appliedRouting");
  const applied = parseAppliedRouting(details.value ?? details.secretValue, context);
  const containersDetails = await self.getOutputDetails("appliedContainers");
  const appliedContainers = parseAppliedContainers(containersDetails.secretValue ?? containersDetails.value);

  // The plan starts from what the proxy on dtable-web runs.
  const run = { stack, id: `${new Date().toISOString()}-${randomBytes(3).toString("hex")}` };
  const live = await readProxy(config);
  const start = startingPoint(config, live, applied, run, context);
  const refusals = [...(start.lease ? [start.lease] : []), ...start.errors];
  if (refusals.length > 0) throw new pulumi.RunError(refusals.join("\n"));
  for (const warning of start.warnings) pulumi.log.warn(warning);
  const plan = buildPlan(config, start.previous, validated.startTable);

  const pulumiConfig = new pulumi.Config();
  const secrets: Secrets = Object.fromEntries([
    ...config.secretsSet.filter((k) => k !== "sshPrivateKey").map((k: SecretKey) => [k, pulumiConfig.requireSecret(k)]),
    // each name's value, kept secret (the names are validated against the decrypted map above)
    ...Object.keys(environmentSecretValues()).map((name) => [`${ENVIRONMENT_SECRETS}.${name}`, pulumiConfig.requireSecretObject<Record<string, string>>(ENVIRONMENT_SECRETS).apply((m) => asText(m[name]))]),
  ]);
  const sshPrivateKey = config.secretsSet.includes("sshPrivateKey")
    ? pulumiConfig.requireSecret("sshPrivateKey")
    : config.ssh.privateKeyPath
      ? pulumi.secret(readFileSync(config.ssh.privateKeyPath, "utf8"))
      : undefined;

  // Evicted servers are checked where they run: one that answers SSH is not dead (refused before anything
  // moves); one evicted earlier that answers again is fenced first; dtable-web checks port 5000 on the host.
  for (const s of start.evicting) if (await hostAccess().reachable(s)) throw new pulumi.RunError(evictAnswers(s));
  const fences = [];
  for (const e of start.evicted) {
    if (await hostAccess().reachable(e)) fences.push(e);
    else pulumi.log.warn(evictedWarning(e));
  }
  const secretsNow = secretValues();
  const containers = containerChanges(config, start.previous ? { servers: start.previousServers } : undefined, start.recordCurrent ? appliedContainers : undefined, secretsNow);
  // what runs on each host: a stopped or unhealthy dtable-server goes into a stage
  // and each host's memory and conf files: a leftover seatable-controller.conf, 6.1 settings a move to 6.2 would drop
  const [reads, factReads] = await Promise.all([readNodeContainers(config, live), readNodeFacts(config)]);
  const found = containerFindings(config, reads, containers.changes, live);
  const secretKey = secretsNow.secretKey;
  const facts = factFindings(config, factReads, secretKey !== undefined ? sha256(secretKey) : undefined);
  // a version change from what the nodes run: never down, never without a backup (or a reason)
  const version = versionFindings(config, reads);
  const checks = [found, facts, version];
  if (checks.some((c) => c.errors.length > 0)) throw new pulumi.RunError(checks.flatMap((c) => c.errors).join("\n"));
  for (const line of checks.flatMap((c) => c.lines)) pulumi.log.info(line);
  for (const warning of checks.flatMap((c) => c.warnings)) pulumi.log.warn(warning);
  const graph = clusterGraph({
    plan,
    previousServers: start.previousServers,
    containers: containers.changes,
    live,
    ...(applied?.proxy ? { recorded: applied.proxy } : {}),
    run,
    editScript: readFileSync(join(__dirname, "hostscripts", "edit-conf.py"), "utf8"),
    evicted: start.evicted,
    fences,
    ...(applied?.nodeSteps ? { recordedNodeSteps: applied.nodeSteps } : {}),
    unwell: found.unwell,
  });
  if (graph.stages.stages.length > 0) for (const note of stageNotes(graph.stages)) pulumi.log.info(note);

  // A server the change must stop or restart has to answer; a dead one that left the config can be evicted.
  const everyServer = [...config.hosts.servers, ...start.previousServers];
  for (const stage of graph.stages.stages) {
    for (const s of stage.servers.filter((x) => x.action !== "evict")) {
      const h = everyServer.find((x) => x.name === s.name)!;
      if (!(await hostAccess().reachable(h))) {
        throw new pulumi.RunError(
          s.action === "stop"
            ? `${s.name} (${h.address}:${h.ssh.port}) does not answer, and this up must stop it before its buckets move. If its host is dead, add it to rollout.evict: its buckets then move once dtable-web too finds its port 5000 closed, and what it had not saved is lost (the operation log keeps acknowledged writes only as far as SeaTable replays it).`
            : `${s.name} (${h.address}:${h.ssh.port}) does not answer, and this up must ${s.action} it. Bring the host back; if it is dead, remove it from hosts.servers and add it to rollout.evict.`,
        );
      }
    }
  }

  const cluster = new SeaTableCluster("seatable", {
    config,
    graph,
    previousServers: start.previousServers,
    fences,
    keptSteps: applied?.rolloutSteps ?? [],
    secrets,
    ...(sshPrivateKey ? { sshPrivateKey } : {}),
  });

  const files = proxyFiles(plan);
  const evicted = evictedAfter({ stages: graph.stages, previousServers: start.previousServers, evicted: start.evicted, fences });
  const record = appliedRouting(config, plan.routing, { conf: sha256(files.conf), hosts: sha256(files.hosts) }, graph.quiet ? (applied?.rolloutSteps ?? []) : graph.rolloutNames, {
      evicted,
      nodeSteps: graph.nodeSteps,
      // a quiet up verifies nothing: the proxy still names the run that did
      ...(graph.quiet ? (applied?.verifiedBy ? { verifiedBy: applied.verifiedBy } : {}) : { verifiedBy: leaseLine(run) }),
    });
  return {
    [PROGRAM_OUTPUT]: { name: PROGRAM.name, version: PROGRAM.version },
    nodes: [config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => ({ name: h.name, role: h.role, address: h.address })),
    proxyUrl: `http://${urlHost(config.hosts.web.address)}:${config.proxy.port}`,
    routing: serverShares(config, plan.routing).map((s) => ({ server: s.server, weight: s.weight, buckets: s.ranges, share: s.share })),
    routingChange: {
      bucketsMoving: plan.change.bucketMoves.length,
      pinnedBasesMoving: plan.change.pinMoves.length,
      stages: graph.stages.stages.map((st) => ({ servers: st.servers.map((s) => `${s.name} (${s.action})`), bucketsPaused: st.paused.buckets.length, pinsPaused: st.paused.pins.length })),
      largestPausedShare: graph.stages.largestPausedShare,
    },
    // recorded only once the change is live and verified: a failed up is redone from the last verified state
    appliedRouting: cluster.verified.apply(() => record),
    appliedContainers: pulumi.secret(cluster.verified.apply(() => containers.digests)),
  };
};
