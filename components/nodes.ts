// The SeaTable nodes: a seatable-server container in its role, the files it
// needs before it starts and the conf edits after.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { remote } from "@pulumi/command";
import type { ClusterConfig, NodeHost } from "../pure/config/schema";
import { LICENSE_PATH, seatableContainer } from "../pure/plan/containers";
import { nodeSteps } from "../pure/plan/node-steps";
import { ClusterHost } from "./cluster-host";
import { commandsOf, containerResource, Secrets, stepGraph } from "./resources";

export type SeatableNodeArgs = {
  readonly config: ClusterConfig;
  readonly node: NodeHost;
  readonly host: ClusterHost;
  readonly secrets: Secrets;
  readonly editScript: string;
  /** resources this node's container needs first (the web node: the proxy network) */
  readonly needs?: pulumi.Resource[];
};

abstract class SeatableNode extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** done when the container runs with its conf edits applied */
  readonly ready: pulumi.Resource[];

  protected constructor(type: string, name: string, args: SeatableNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
    const { config, node, host } = args;
    const steps = nodeSteps(config, node, args.editScript);
    const connection = () => host.connection;
    const before = commandsOf(stepGraph(name, steps.before, connection, { parent: this, first: [host] }));
    const license = config.licenseFile
      ? [
          new remote.CopyToRemote(
            `${name}-license`,
            { connection: host.connection, source: new pulumi.asset.FileAsset(config.licenseFile), remotePath: LICENSE_PATH },
            { parent: this, dependsOn: before },
          ),
        ]
      : [];
    this.container = containerResource(`${name}-seatable-server`, seatableContainer(config, node), args.secrets, {
      parent: this,
      provider: host.provider,
      dependsOn: [...before, ...license, ...(args.needs ?? [])],
    });
    const after = commandsOf(stepGraph(name, steps.after, connection, { parent: this, first: [this.container], extraTriggers: [this.container.id] }));
    this.ready = [this.container, ...after];
    this.registerOutputs({ containerId: this.container.id });
  }
}

export class DtableWebNode extends SeatableNode {
  constructor(name: string, args: SeatableNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableWebNode", name, args, opts);
  }
}

export class DtableDbNode extends SeatableNode {
  constructor(name: string, args: SeatableNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableDbNode", name, args, opts);
  }
}

export class DtableServerNode extends SeatableNode {
  constructor(name: string, args: SeatableNodeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableServerNode", name, args, opts);
  }
}
