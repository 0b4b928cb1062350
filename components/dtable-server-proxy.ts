// The dtable-server-proxy on dtable-web: the nginx container and the ordered
// commands that put a routing table live (upload, nginx -t, reload; with a
// quarantine and unload first when buckets change server), then verification.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { remote, types } from "@pulumi/command";
import type { ClusterConfig } from "../pure/config/schema";
import { proxyContainer } from "../pure/plan/containers";
import type { HostStep } from "../pure/plan/rollout";
import { commandsOf, containerResource, stepGraph } from "./resources";

export type DtableServerProxyArgs = {
  readonly config: ClusterConfig;
  readonly provider: docker.Provider;
  readonly steps: readonly HostStep[];
  readonly connection: (host: string) => types.input.remote.ConnectionArgs;
  /** every node ready (containers up, conf edited) before traffic moves */
  readonly nodesReady: pulumi.Resource[];
  /** differs on every run: verification runs after every `up`, changed or not */
  readonly runId: string;
};

export class DtableServerProxy extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** the verification command; done when the table is live and checked */
  readonly verified: remote.Command;

  constructor(name: string, args: DtableServerProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableServerProxy", name, {}, opts);
    const { steps } = args;
    // Up to the switch's reload: the container starts on the first deployment
    // only once its config is in place; after that it is never replaced by routing.
    const toSwitch = stepGraph(name, steps.filter((s) => !s.needsProxy), args.connection, { parent: this, first: args.nodesReady, runId: args.runId });
    this.container = containerResource(`${name}-container`, proxyContainer(args.config), {}, {
      parent: this,
      provider: args.provider,
      dependsOn: commandsOf(toSwitch),
    });
    const verify = stepGraph(name, steps.filter((s) => s.needsProxy), args.connection, {
      parent: this,
      made: toSwitch,
      alsoAfter: [this.container, ...args.nodesReady],
      runId: args.runId,
    });
    this.verified = verify.get("verify")!.command;
    this.registerOutputs({});
  }
}
