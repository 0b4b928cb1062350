// What the program reads on dtable-web before it plans (design: "The proxy's
// live files are the truth on the host"): the hashes of the proxy's config,
// hosts file and table, and the lease. One command, one parser, both pure.
import { PROXY_CONFIG, PROXY_HOSTS } from "./containers";
import { LiveProxy, PROXY_LEASE, PROXY_ROUTING } from "./rollout";

const FILES = { conf: PROXY_CONFIG, hosts: PROXY_HOSTS, routing: PROXY_ROUTING } as const;

/** The command run on dtable-web: it changes nothing. */
export const LIVE_READ_COMMAND = [
  "set -eu",
  ...Object.entries(FILES).map(([key, path]) => `if [ -e ${path} ]; then echo "${key} $(sha256sum < ${path} | cut -c1-64)"; fi`),
  `if [ -e ${PROXY_LEASE} ]; then printf 'lease %s\\n' "$(head -c 300 ${PROXY_LEASE} | tr -d '\\n')"; fi`,
].join("\n");

/** Parses the command's output; anything else is an error, never a guess. */
export function parseLiveRead(output: string): LiveProxy {
  const live: { conf?: string; hosts?: string; routing?: string; lease?: string } = {};
  for (const line of output.split("\n").filter((l) => l.trim() !== "")) {
    const m = /^(conf|hosts|routing) ([0-9a-f]{64})$/.exec(line) ?? /^(lease) (.*)$/.exec(line);
    if (!m) throw new Error(`reading the proxy's live files on dtable-web: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    live[m[1] as keyof LiveProxy] = m[2];
  }
  return live;
}

/** Problems to report before anything runs: another run's lease, and files that differ from what this stack recorded. */
export function liveFindings(live: LiveProxy, recorded: { conf: string; hosts: string } | undefined, run: { stack: string }): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (live.lease !== undefined) {
    errors.push(
      `dtable-web: ${PROXY_LEASE} is held (${live.lease}): a change is in progress, or an earlier pulumi up stopped before its verification. ` +
        `If no pulumi up of ${live.lease.includes(`stack=${run.stack} `) ? "this stack" : "that stack"} is running, check the proxy (npm run plan, pulumi preview), remove the lease on dtable-web (rm ${PROXY_LEASE}) and run pulumi up again.`,
    );
  }
  if (recorded && live.conf !== undefined && live.conf !== recorded.conf) {
    warnings.push(`dtable-web: the proxy's config (${PROXY_CONFIG}) is not the one this stack recorded: an earlier pulumi up stopped half-way, or it was edited by hand. This up converges it if it is one of its own stages' files, and refuses otherwise.`);
  }
  if (recorded && live.hosts !== undefined && live.hosts !== recorded.hosts) {
    warnings.push(`dtable-web: the proxy's hosts file (${PROXY_HOSTS}) is not the one this stack recorded.`);
  }
  return { errors, warnings };
}
