// One host: its SSH connection (for @pulumi/command) and its docker.Provider
// (Docker over SSH), both with the host key pinned.
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import type { types } from "@pulumi/command";
import { urlHost } from "../pure/config/values";

export type ClusterHostArgs = {
  readonly address: string;
  readonly user: string;
  readonly port: number;
  readonly hostKey?: string;
  /** the SSH key's text, as a secret; without it the SSH agent */
  readonly privateKey?: pulumi.Input<string>;
  readonly privateKeyPath?: string;
  /** generated known_hosts holding every pinned host key */
  readonly knownHostsPath: string;
  /** the loud opt-out: no host key checks */
  readonly insecureSkipHostKeyCheck: boolean;
};

export class ClusterHost extends pulumi.ComponentResource {
  readonly connection: types.input.remote.ConnectionArgs;
  readonly provider: docker.Provider;

  constructor(name: string, args: ClusterHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("seatable:cluster:ClusterHost", name, {}, opts);
    this.connection = {
      host: args.address,
      port: args.port,
      user: args.user,
      ...(args.hostKey ? { hostKey: args.hostKey } : {}),
      // without a key the provider uses SSH_AUTH_SOCK itself; as an input the
      // socket path (new each login) would re-run every command
      ...(args.privateKey ? { privateKey: pulumi.secret(args.privateKey) } : {}),
      dialErrorLimit: 3,
    };
    const hostKeyOptions = args.insecureSkipHostKeyCheck
      ? ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
      : ["-o", "StrictHostKeyChecking=yes", "-o", `UserKnownHostsFile=${args.knownHostsPath}`];
    this.provider = new docker.Provider(
      `${name}-docker`,
      {
        host: `ssh://${args.user}@${urlHost(args.address)}:${args.port}`,
        sshOpts: [
          ...hostKeyOptions,
          // one SSH connection for the many parallel Docker calls (sshd's MaxStartups)
          "-o", "ControlMaster=auto",
          "-o", "ControlPath=~/.ssh/seatable-cluster-%C",
          "-o", "ControlPersist=120",
          ...(args.privateKeyPath ? ["-i", args.privateKeyPath] : []),
        ],
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
