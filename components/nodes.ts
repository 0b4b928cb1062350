// The SeaTable nodes and the proxy: components that own their resources
// (containers, host steps). The cluster makes those resources in the order of
// the plan's graph, with the component as parent; each registers the outputs
// it exposes once they exist.
import * as pulumi from "@pulumi/pulumi";

abstract class ClusterPart extends pulumi.ComponentResource {
  /** registers what the component exposes; called once its resources exist */
  expose(outputs: Record<string, pulumi.Input<unknown>>): void {
    this.registerOutputs(outputs);
  }
}

export class DtableWebNode extends ClusterPart {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableWebNode", name, {}, opts);
  }
}

export class DtableDbNode extends ClusterPart {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableDbNode", name, {}, opts);
  }
}

export class DtableServerNode extends ClusterPart {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableServerNode", name, {}, opts);
  }
}

/** The dtable-server-proxy on dtable-web: its container and the rollout's steps. */
export class DtableServerProxy extends ClusterPart {
  constructor(name: string, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:DtableServerProxy", name, {}, opts);
  }
}
