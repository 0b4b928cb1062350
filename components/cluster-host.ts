// One host: its SSH connection (for @pulumi/command) and its docker.Provider
// (Docker over the system ssh), both checking the host's pinned key unless the
// host opted out (hosts.*.ssh.insecureSkipHostKeyCheck).
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import type { types } from "@pulumi/command";
import type { SshTarget } from "../pure/config/schema";
import { urlHost } from "../pure/config/values";
import { sshOptions } from "../pure/plan/ssh";

export type ClusterHostArgs = {
  readonly address: string;
  readonly ssh: SshTarget;
  /** the SSH key's text, as a secret; without it the SSH agent */
  readonly privateKey?: pulumi.Input<string>;
  readonly privateKeyPath?: string;
};

export class ClusterHost extends pulumi.ComponentResource {
  readonly connection: types.input.remote.ConnectionArgs;
  readonly provider: docker.Provider;

  constructor(name: string, args: ClusterHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:ClusterHost", name, {}, opts);
    const { ssh } = args;
    this.connection = {
      host: args.address,
      port: ssh.port,
      user: ssh.user,
      ...(ssh.hostKey ? { hostKey: ssh.hostKey } : {}),
      // without a key the provider uses SSH_AUTH_SOCK itself; as an input the
      // socket path (new each login) would re-run every command
      ...(args.privateKey ? { privateKey: pulumi.secret(args.privateKey) } : {}),
      dialErrorLimit: 3,
    };
    this.provider = new docker.Provider(
      `${name}-docker`,
      {
        host: `ssh://${ssh.user}@${urlHost(args.address)}:${ssh.port}`,
        sshOpts: sshOptions(name, ssh, args.privateKeyPath ? { privateKeyPath: args.privateKeyPath } : {}),
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
