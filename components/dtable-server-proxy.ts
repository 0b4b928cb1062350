// The dtable-server-proxy on dtable-web: the nginx container and the ordered
// commands that put a routing table live (upload, nginx -t, reload; with a
// quarantine and unload first when buckets change server), then verification.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { remote, types } from "@pulumi/command";
import type { ClusterConfig } from "../pure/config/schema";
import { proxyContainer } from "../pure/plan/containers";
import type { HostStep } from "../pure/plan/rollout";
import { containerResource, stepChain } from "./resources";

export type DtableServerProxyArgs = {
  readonly config: ClusterConfig;
  readonly provider: docker.Provider;
  readonly steps: readonly HostStep[];
  readonly connection: (host: string) => types.input.remote.ConnectionArgs;
  /** every node ready (containers up, conf edited) before traffic moves */
  readonly nodesReady: pulumi.Resource[];
};

export class DtableServerProxy extends pulumi.ComponentResource {
  readonly container: docker.Container;
  readonly steps: remote.Command[];
  /** the verification command; done when the table is live and checked */
  readonly verified: remote.Command;

  constructor(name: string, args: DtableServerProxyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableServerProxy", name, {}, opts);
    const { steps } = args;
    const verifyAt = steps.findIndex((s) => s.id === "verify");
    // Up to the switch's reload: the container starts on the first deployment
    // only once its config is in place; after that it is never replaced by routing.
    const toSwitch = stepChain(name, steps.slice(0, verifyAt), args.connection, { parent: this, dependsOn: args.nodesReady });
    this.container = containerResource(`${name}-container`, proxyContainer(args.config), {}, {
      parent: this,
      provider: args.provider,
      dependsOn: toSwitch,
    });
    // verify again whenever anything before it ran, or a container was replaced
    const [verify] = stepChain(name, steps.slice(verifyAt), args.connection, { parent: this, dependsOn: [...toSwitch, this.container, ...args.nodesReady] }, [
      ...toSwitch.map((c) => c.triggers),
      this.container.id,
      ...args.nodesReady.filter((r): r is docker.Container => r instanceof docker.Container).map((c) => c.id),
    ]);
    this.steps = [...toSwitch, verify];
    this.verified = verify;
    this.registerOutputs({});
  }
}
