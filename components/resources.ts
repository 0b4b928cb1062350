// Plan data → provider resources, one to one. No decisions here.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { remote, types } from "@pulumi/command";
import type { SecretKey } from "../pure/config/schema";
import type { ContainerSpec } from "../pure/plan/containers";
import type { HostStep } from "../pure/plan/rollout";

export type Secrets = Readonly<Partial<Record<SecretKey, pulumi.Output<string>>>>;

export function containerResource(
  name: string,
  spec: ContainerSpec,
  secrets: Secrets,
  opts: pulumi.CustomResourceOptions & { provider: docker.Provider },
): docker.Container {
  const plain = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  const secret = Object.entries(spec.secretEnv).map(([variable, key]) => {
    const value = secrets[key];
    if (!value) throw new Error(`${key}: not set; run \`pulumi config set --secret ${key} <value>\``);
    return pulumi.interpolate`${variable}=${value}`;
  });
  return new docker.Container(
    name,
    {
      name: spec.name,
      image: spec.image,
      ...(spec.command ? { command: [...spec.command] } : {}),
      // the whole list is secret as soon as one entry is
      envs: secret.length > 0 ? pulumi.secret(pulumi.all([...plain, ...secret])) : plain,
      ports: spec.ports.map((p) => ({ ip: p.ip, external: p.external, internal: p.internal })),
      volumes: spec.volumes.map((v) => ({ hostPath: v.hostPath, containerPath: v.containerPath, readOnly: v.readOnly })),
      hosts: spec.extraHosts.map((h) => ({ host: h.host, ip: h.ip })),
      labels: Object.entries(spec.labels).map(([label, value]) => ({ label, value })),
      networksAdvanced: spec.networks.map((n) => ({ name: n })),
      stopTimeout: spec.stopTimeoutSeconds,
      // Pulumi's own stop on replace/delete must wait as long as Docker does
      destroyGraceSeconds: spec.stopTimeoutSeconds,
      restart: spec.restart,
      // the provider's default removes a container's volumes with it
      removeVolumes: false,
      logDriver: spec.logDriver,
      logOpts: { ...spec.logOpts },
      ...(spec.healthcheck
        ? {
            healthcheck: {
              tests: ["CMD-SHELL", spec.healthcheck.command],
              interval: spec.healthcheck.interval,
              timeout: spec.healthcheck.timeout,
              retries: spec.healthcheck.retries,
              startPeriod: spec.healthcheck.startPeriod,
            },
            wait: true,
            waitTimeout: spec.healthcheck.waitSeconds,
          }
        : {}),
    },
    opts,
  );
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

/** One run of a step: the hash of its text and of every step it waits for. */
export type Made = { command: remote.Command; hash: string };

export type StepGraphOptions = {
  readonly parent: pulumi.Resource;
  /** what the steps without `after` wait for */
  readonly first?: pulumi.Resource[];
  /** what every step waits for, besides its `after` */
  readonly alsoAfter?: pulumi.Resource[];
  /** steps made by an earlier call, for `after` */
  readonly made?: ReadonlyMap<string, Made>;
  readonly extraTriggers?: pulumi.Input<unknown>[];
  /** differs on every run: the trigger of the steps that run on every `up` */
  readonly runId?: string;
};

/**
 * One remote.Command per step, depending on the steps it waits for (`after`).
 * A step's trigger covers its own text and everything before it, so a change
 * anywhere re-runs the rest, and nothing changed runs nothing, except the steps
 * marked to run on every `up`.
 */
export function stepGraph(
  prefix: string,
  steps: readonly HostStep[],
  connection: (host: string) => types.input.remote.ConnectionArgs,
  options: StepGraphOptions,
): Map<string, Made> {
  const made = new Map<string, Made>(options.made ?? []);
  const result = new Map<string, Made>();
  for (const step of steps) {
    const before = step.after.map((id) => {
      const m = made.get(id);
      if (!m) throw new Error(`step ${step.id} waits for ${id}, which comes later or not at all`);
      return m;
    });
    const hash = sha([...before.map((b) => b.hash), step.host, step.command, step.stdin ?? ""].join("\n"));
    const command = new remote.Command(
      `${prefix}-${step.id}`,
      {
        connection: connection(step.host),
        create: step.command,
        ...(step.stdin !== undefined ? { stdin: step.stdin } : {}),
        triggers: [hash, ...(options.extraTriggers ?? []), ...(step.everyRun ? [options.runId] : [])],
        // the command's own output from the run before is of no use to it
        addPreviousOutputInEnv: false,
      },
      {
        parent: options.parent,
        dependsOn: [...(before.length > 0 ? before.map((b) => b.command) : (options.first ?? [])), ...(options.alsoAfter ?? [])],
      },
    );
    made.set(step.id, { command, hash });
    result.set(step.id, { command, hash });
  }
  return result;
}

/** The commands of a graph, in step order. */
export const commandsOf = (graph: ReadonlyMap<string, Made>) => [...graph.values()].map((m) => m.command);
