// Plan data → provider resources, one to one. No decisions here.
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { remote, types } from "@pulumi/command";
import type { SecretRef } from "../pure/config/schema";
import type { ContainerSpec } from "../pure/plan/containers";
import type { HostStep } from "../pure/plan/rollout";

export type Secrets = Readonly<Partial<Record<SecretRef, pulumi.Output<string>>>>;

/** Beyond Docker's own stop timeout and health wait, so that Pulumi never gives up first. */
const MARGIN_SECONDS = 300;

/**
 * Every input goes in the form the provider reads back (docs/engine-contract.md),
 * or the next `up` shows a change: ports in the provider's order (by container
 * port), durations as Go prints them (the spec's), no IPv6 extra_hosts (the spec mounts a hosts file instead).
 */
const byInternalPort = (a: { internal: number }, b: { internal: number }) => a.internal - b.internal;

export function containerResource(
  name: string,
  spec: ContainerSpec,
  secrets: Secrets,
  opts: pulumi.CustomResourceOptions & { provider: docker.Provider },
): docker.Container {
  const unreadable = spec.extraHosts.filter((h) => h.ip.includes(":"));
  if (unreadable.length > 0) throw new Error(`internal: ${spec.name}: extra_hosts ${unreadable.map((h) => `${h.host}:${h.ip}`).join(", ")} would be read back as another address`);
  const plain = Object.entries(spec.env).map(([k, v]) => `${k}=${v}`);
  const secret = Object.entries(spec.secretEnv).map(([variable, key]) => {
    const value = secrets[key];
    if (!value) throw new Error(`${key}: not set; run \`pulumi config set --secret ${key.includes(".") ? `--path '${key}'` : key} <value>\``);
    return pulumi.interpolate`${variable}=${value}`;
  });
  const stop = spec.stopTimeoutSeconds;
  const create = (spec.healthcheck?.waitSeconds ?? 0) + MARGIN_SECONDS;
  return new docker.Container(
    name,
    {
      name: spec.name,
      image: spec.image,
      ...(spec.command ? { command: [...spec.command] } : {}),
      // the whole list is secret as soon as one entry is
      envs: secret.length > 0 ? pulumi.secret(pulumi.all([...plain, ...secret])) : plain,
      ports: [...spec.ports].sort(byInternalPort).map((p) => ({ ip: p.ip, external: p.external, internal: p.internal })),
      volumes: spec.volumes.map((v) => ({ hostPath: v.hostPath, containerPath: v.containerPath, readOnly: v.readOnly })),
      hosts: spec.extraHosts.map((h) => ({ host: h.host, ip: h.ip })),
      labels: Object.entries(spec.labels).map(([label, value]) => ({ label, value })),
      networksAdvanced: spec.networks.map((n) => ({ name: n })),
      stopTimeout: stop,
      // Pulumi's own stop on replace/delete must wait as long as Docker does
      destroyGraceSeconds: stop,
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
    {
      // a container's name is fixed: the old one must go before the new one starts
      deleteBeforeReplace: true,
      // the provider's update leaves a running container's health check as it was
      replaceOnChanges: ["healthcheck"],
      customTimeouts: { create: `${create}s`, update: `${create}s`, delete: `${stop + MARGIN_SECONDS}s` },
      ...opts,
    },
  );
}

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

/** The trigger of a step: its own text and those of the steps it waits for, so that a change anywhere re-runs the rest. */
export const stepHash = (step: HostStep, before: readonly string[]) => sha([...before, step.host, step.command, step.stdin ?? ""].join("\n"));

export function stepCommand(
  name: string,
  step: HostStep,
  connection: types.input.remote.ConnectionArgs,
  triggers: pulumi.Input<unknown>[],
  secrets: Secrets,
  opts: pulumi.CustomResourceOptions,
): remote.Command {
  const secretStdin = step.secretStdin !== undefined ? secrets[step.secretStdin] : undefined;
  if (step.secretStdin !== undefined && !secretStdin) throw new Error(`${step.secretStdin}: not set; run \`pulumi config set --secret --path '${step.secretStdin}' <value>\``);
  return new remote.Command(
    name,
    {
      connection,
      create: step.command,
      ...(step.stdin !== undefined ? { stdin: step.stdin } : {}),
      ...(secretStdin ? { stdin: pulumi.secret(secretStdin) } : {}),
      triggers,
      // the command's own output from the run before is of no use to it
      addPreviousOutputInEnv: false,
    },
    opts,
  );
}

/** Inputs a kept resource must not be diffed on: it stays exactly as the last `up` left it. */
const COMMAND_INPUTS = ["connection", "create", "stdin", "triggers", "addPreviousOutputInEnv"];

/** A rollout step of the last `up`, kept as it is by an `up` that changes nothing (it does not run). */
export function keptCommand(name: string, connection: types.input.remote.ConnectionArgs, opts: pulumi.CustomResourceOptions): remote.Command {
  return new remote.Command(name, { connection, create: "true" }, { ...opts, ignoreChanges: COMMAND_INPUTS });
}
