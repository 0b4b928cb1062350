// The whole cluster: one ClusterHost per host, the nodes and the proxy, and
// every resource of the plan's graph in its order (pure/plan/graph.ts).
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { remote } from "@pulumi/command";
import type { ClusterConfig, NodeHost, SshTarget } from "../pure/config/schema";
import { FRONTEND_NETWORK, LICENSE_PATH, caddyContainer, proxyContainer, seatableContainer } from "../pure/plan/containers";
import type { ClusterGraph } from "../pure/plan/graph";
import { PROXY } from "../pure/plan/graph";
import type { ServerHost } from "../pure/plan/rollout";
import { ClusterHost } from "./cluster-host";
import { DtableDbNode, DtableServerNode, DtableServerProxy, DtableWebNode } from "./nodes";
import { containerResource, keptCommand, Secrets, stepCommand, stepHash } from "./resources";

export type SeaTableClusterArgs = {
  readonly config: ClusterConfig;
  readonly graph: ClusterGraph;
  /** dtable-servers as last deployed (from the applied routing) */
  readonly previousServers: readonly ServerHost[];
  /** evicted servers that answer again: the fence steps run on them */
  readonly fences?: readonly ServerHost[];
  /** rollout steps of the last `up`, kept as they are when nothing changes */
  readonly keptSteps: readonly string[];
  readonly secrets: Secrets;
  readonly sshPrivateKey?: pulumi.Output<string>;
};

export class SeaTableCluster extends pulumi.ComponentResource {
  /** resolves once the change is live and verified (at once when there is none) */
  readonly verified: pulumi.Output<unknown>;

  constructor(name: string, args: SeaTableClusterArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:SeaTableCluster", name, {}, opts);
    const { config, graph, secrets } = args;
    // validateStackConfig refuses an up without a readable licenseFile
    const licenseFile = config.licenseFile;
    if (licenseFile === undefined) throw new Error("internal: an up without licenseFile");
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
    for (const s of args.previousServers) if (!hosts.has(s.name) && !config.rollout.evict.includes(s.name)) hosts.set(s.name, host(s));
    for (const s of args.fences ?? []) if (!hosts.has(s.name)) hosts.set(s.name, host(s));
    const on = (name: string) => hosts.get(name) as ClusterHost;

    const nodes = new Map<string, { node: NodeHost; component: DtableWebNode | DtableDbNode | DtableServerNode }>([
      [web.name, { node: web, component: new DtableWebNode(web.name, { parent: this }) }],
      [db.name, { node: db, component: new DtableDbNode(db.name, { parent: this }) }],
      ...servers.map((s) => [s.name, { node: s, component: new DtableServerNode(s.name, { parent: this }) }] as const),
    ]);
    const proxy = new DtableServerProxy(PROXY, { parent: this });
    const webHost = on(web.name);

    const caddy = caddyContainer(config);
    // caddy and dtable-web's nginx share this network: it exists before dtable-web's container
    const network = caddy ? new docker.Network(`${web.name}-${FRONTEND_NETWORK}`, { name: FRONTEND_NETWORK }, { parent: this, provider: webHost.provider }) : undefined;

    const made = new Map<string, pulumi.CustomResource>();
    const hashes = new Map<string, string>();
    const containers = new Map<string, docker.Container>();
    let proxyContainerResource: docker.Container | undefined;
    for (const node of graph.nodes) {
      const dependsOn = node.kind === "pull" ? [] : node.after.map((id) => {
        const r = made.get(id);
        if (!r) throw new Error(`internal: ${node.id} waits for ${id}, which comes later or not at all`);
        return r;
      });
      if (node.kind === "pull") {
        made.set(node.id, new docker.RemoteImage(node.id, { name: node.image, keepLocally: true }, { parent: on(node.host), provider: on(node.host).provider }));
      } else if (node.kind === "container") {
        const { node: n, component } = nodes.get(node.host)!;
        const needs = n.role === "dtable-web" && network ? [network] : [];
        const c = containerResource(`${n.name}-seatable-server`, seatableContainer(config, n), secrets, { parent: component, provider: on(n.name).provider, dependsOn: [...dependsOn, ...needs] });
        containers.set(n.name, c);
        made.set(node.id, c);
      } else if (node.kind === "license") {
        const { component } = nodes.get(node.host)!;
        const copy = { connection: on(node.host).connection, source: new pulumi.asset.FileAsset(licenseFile), remotePath: LICENSE_PATH };
        made.set(node.id, new remote.CopyToRemote(node.id, copy, { parent: component, dependsOn }));
      } else if (node.kind === "proxy") {
        proxyContainerResource = containerResource(`${PROXY}-container`, proxyContainer(config), {}, { parent: proxy, provider: webHost.provider, dependsOn });
        made.set(node.id, proxyContainerResource);
      } else {
        // a node's own steps before it (never the rollout's, which are new on every change)
        const before = node.after.filter((id) => graph.nodes.some((n) => n.id === id && n.kind === "step" && n.owner === node.owner)).map((id) => hashes.get(id)!);
        const hash = stepHash(node.step, before);
        // a node's steps after its container run again for a new container
        const container = node.owner === PROXY ? undefined : containers.get(node.owner);
        const triggers = [hash, ...(container && node.after.includes(`container-${node.owner}`) ? [container.id] : [])];
        const parent = node.owner === PROXY ? proxy : nodes.get(node.owner)!.component;
        made.set(node.id, node.kept ? keptCommand(node.id, on(node.step.host).connection, { parent, dependsOn }) : stepCommand(node.id, node.step, on(node.step.host).connection, triggers, secrets, { parent, dependsOn }));
        hashes.set(node.id, hash);
      }
    }
    // nothing changes: the last up's rollout steps stay in the stack untouched
    if (graph.quiet) for (const name of args.keptSteps) keptCommand(name, webHost.connection, { parent: proxy });

    if (caddy && network) {
      containerResource(`${web.name}-caddy`, caddy, secrets, { parent: this, provider: webHost.provider, dependsOn: [network, containers.get(web.name)!] });
    }
    for (const { node, component } of nodes.values()) component.expose({ containerId: containers.get(node.name)!.id });
    proxy.expose({ containerId: proxyContainerResource!.id });

    const last = graph.rolloutNames[graph.rolloutNames.length - 1];
    this.verified = last ? (made.get(last) as pulumi.CustomResource & { stdout: pulumi.Output<string> }).stdout : pulumi.output("unchanged");
    this.registerOutputs({ verified: this.verified });
  }
}
