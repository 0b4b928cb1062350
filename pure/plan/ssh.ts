// How the system `ssh` that Docker runs (docker.Provider with ssh://) reaches
// one host: its options, decided here so they can be run for real in tests.
//
// No file on the deploy machine takes part: the host key is handed to ssh by
// KnownHostsCommand (OpenSSH 8.5 or newer), -F /dev/null leaves out the user's
// and the system's ssh_config (another identity, host alias or shared master),
// and no ControlMaster is used. So nothing sits at a path another local user
// could prepare, nothing needs ~/.ssh, and the options depend on the config
// only: `pulumi refresh` and `pulumi destroy`, which run the provider with the
// options stored in the state and not the program, work from any machine.
import { HOST_KEY_LINE, SshTarget } from "../config/schema";

/** Prints its arguments; an absolute path, as ssh requires for KnownHostsCommand. */
export const ECHO = "/bin/echo";

export type SshIdentity = {
  /** ssh.privateKeyPath; without it ssh offers the agent's keys (and ~/.ssh/id_*) */
  readonly privateKeyPath?: string;
};

/**
 * The ssh options for Docker's connections to one host (`sshOpts`). With a
 * pinned key, ssh accepts exactly that key for this host (%H is the name ssh
 * looks the host up by, `[address]:port` off port 22); with the host's
 * opt-out, no key is checked.
 */
export function sshOptions(name: string, ssh: SshTarget, identity: SshIdentity): string[] {
  const opt = (o: string) => ["-o", o];
  let hostKey: string[];
  if (ssh.hostKey !== undefined) {
    if (!HOST_KEY_LINE.test(ssh.hostKey)) throw new Error(`${name}: the host key ${JSON.stringify(ssh.hostKey.slice(0, 80))} is not a single public key line`);
    hostKey = [...opt("StrictHostKeyChecking=yes"), ...opt(`KnownHostsCommand=${ECHO} %H ${ssh.hostKey}`)];
  } else if (ssh.insecureSkipHostKeyCheck) {
    hostKey = opt("StrictHostKeyChecking=no");
  } else {
    throw new Error(`${name}: no host key to pin and no insecureSkipHostKeyCheck for this host`);
  }
  return [
    "-F", "/dev/null",
    ...opt("BatchMode=yes"),
    ...hostKey,
    // only the key above (or none): no known_hosts file is read or written
    ...opt("UserKnownHostsFile=/dev/null"),
    ...opt("GlobalKnownHostsFile=/dev/null"),
    ...opt("UpdateHostKeys=no"),
    ...(identity.privateKeyPath ? ["-i", identity.privateKeyPath, ...opt("IdentitiesOnly=yes")] : []),
  ];
}
