// The whole cluster: one ClusterHost per host, the nodes, the proxy and its rollout.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import type { ClusterConfig, SshTarget } from "../pure/config/schema";
import { FRONTEND_NETWORK, caddyContainer } from "../pure/plan/containers";
import type { ClusterPlan } from "../pure/plan";
import { appliedRouting } from "../pure/plan/applied";
import { rolloutSteps, ServerHost } from "../pure/plan/rollout";
import { ClusterHost } from "./cluster-host";
import { DtableDbNode, DtableServerNode, DtableWebNode } from "./nodes";
import { DtableServerProxy } from "./dtable-server-proxy";
import { containerResource, Secrets } from "./resources";

export type SeaTableClusterArgs = {
  readonly plan: ClusterPlan;
  /** dtable-servers as last deployed (from the applied routing) */
  readonly previousServers: readonly ServerHost[];
  readonly secrets: Secrets;
  readonly sshPrivateKey?: pulumi.Output<string>;
  readonly editScript: string;
  /** differs on every run (verification runs after every `up`) */
  readonly runId: string;
};

export class SeaTableCluster extends pulumi.ComponentResource {
  readonly proxy: DtableServerProxy;
  /** the applied routing, resolved only once the new table is live and verified */
  readonly appliedRouting: pulumi.Output<unknown>;

  constructor(name: string, args: SeaTableClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:SeaTableCluster", name, {}, opts);
    const { plan, secrets } = args;
    const config: ClusterConfig = plan.config;
    const { web, db, servers } = config.hosts;

    const host = (h: { name: string; address: string; ssh: SshTarget }) =>
      new ClusterHost(
        h.name,
        {
          address: h.address,
          ssh: h.ssh,
          ...(args.sshPrivateKey ? { privateKey: args.sshPrivateKey } : {}),
          ...(config.ssh.privateKeyPath ? { privateKeyPath: config.ssh.privateKeyPath } : {}),
        },
        { parent: this },
      );
    const hosts = new Map<string, ClusterHost>();
    for (const h of [web, db, ...servers]) hosts.set(h.name, host(h));
    // a dtable-server that left the config: reachable until its buckets have moved away
    for (const s of args.previousServers) if (!hosts.has(s.name)) hosts.set(s.name, host(s));
    const on = (name: string) => hosts.get(name) as ClusterHost;

    const common = { config, secrets, editScript: args.editScript };
    const webHost = on(web.name);
    const caddy = caddyContainer(config);
    const network = caddy ? new docker.Network(`${web.name}-${FRONTEND_NETWORK}`, { name: FRONTEND_NETWORK }, { parent: this, provider: webHost.provider }) : undefined;
    const webNode = new DtableWebNode(web.name, { ...common, node: web, host: webHost, needs: network ? [network] : [] }, { parent: this });
    if (caddy && network) {
      containerResource(`${web.name}-caddy`, caddy, secrets, { parent: this, provider: webHost.provider, dependsOn: [network, webNode.container] });
    }
    const dbNode = new DtableDbNode(db.name, { ...common, node: db, host: on(db.name) }, { parent: this });
    const serverNodes = servers.map((s) => new DtableServerNode(s.name, { ...common, node: s, host: on(s.name) }, { parent: this }));

    this.proxy = new DtableServerProxy(
      "dtable-server-proxy",
      {
        config,
        provider: webHost.provider,
        steps: rolloutSteps(plan, args.previousServers),
        connection: (name) => on(name).connection,
        nodesReady: [...webNode.ready, ...dbNode.ready, ...serverNodes.flatMap((n) => n.ready)],
        runId: args.runId,
      },
      { parent: this },
    );
    this.appliedRouting = this.proxy.verified.stdout.apply(() => appliedRouting(config, plan.routing));
    this.registerOutputs({});
  }
}
