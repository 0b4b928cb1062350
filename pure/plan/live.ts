// What the program reads on dtable-web before it plans (design: "The plan
// starts from what the cluster runs"): the proxy's routing table itself, the
// servers it may route to, whether it runs a quarantine now, the hashes of its
// files and of those this program installed, and the lease. One command, one
// parser, both pure; what the plan makes of it is in start.ts.
import { z } from "zod";
import { parseRoutingTable } from "../config/routing-file";
import { formatIssues } from "../config/problems";
import { PROXY_CONFIG, PROXY_CONTAINER, PROXY_HOSTS, SEATABLE_CONTAINER } from "./containers";
import { hostScript } from "./host-scripts";
import { LiveProxy, PROXY_INSTALLED, PROXY_LEASE, PROXY_PROGRESS, PROXY_QUARANTINE, PROXY_ROUTING, PROXY_SERVERS, PROXY_VERIFIED } from "./rollout";

const CONTENTS = { "routing-file": PROXY_ROUTING, "servers-file": PROXY_SERVERS, "quarantine-file": PROXY_QUARANTINE } as const;
/** A file of the proxy's folder is read up to this size; a larger one is cut off, and its parse then fails. */
export const LIVE_FILE_LIMIT = 1024 * 1024;

/** Docker's container states (`.State.Status`), and its health states. */
const DOCKER_STATUS = ["created", "restarting", "running", "removing", "paused", "exited", "dead"] as const;
const HEALTH = ["starting", "healthy", "unhealthy"] as const;

/** A container as its host's Docker shows it, read before planning (hostscripts/container-state.sh). */
export type ContainerState =
  | { readonly status: "missing" }
  /** docker did not answer: its first line */
  | { readonly status: "unreadable"; readonly reason: string }
  | {
      readonly status: (typeof DOCKER_STATUS)[number];
      readonly startedAt: string;
      readonly image: string;
      /** absent: the container has no health check */
      readonly health?: (typeof HEALTH)[number];
    };

/** The command that reads containers on a host: it changes nothing. */
export const containerReadCommand = (containers: readonly string[]) => hostScript(["container-state"], { CONTAINERS: containers });

const CONTAINER_LINE = new RegExp(
  `^container (\\S+) (?:(missing)|unreadable (.*)|(${DOCKER_STATUS.join("|")}) (\\S+) (\\S+) ?(${HEALTH.join("|")})?)$`,
);

/** One `container …` line, or undefined for any other line. */
function containerLine(line: string): [string, ContainerState] | undefined {
  const m = CONTAINER_LINE.exec(line);
  if (!m) return undefined;
  if (m[2]) return [m[1], { status: "missing" }];
  if (m[3] !== undefined) return [m[1], { status: "unreadable", reason: m[3] }];
  const status = m[4] as (typeof DOCKER_STATUS)[number];
  return [m[1], { status, startedAt: m[5], image: m[6], ...(m[7] ? { health: m[7] as (typeof HEALTH)[number] } : {}) }];
}

/** Parses containerReadCommand's output; anything else is an error that names the host. */
export function parseContainerRead(output: string, host: string): Record<string, ContainerState> {
  const states: Record<string, ContainerState> = {};
  for (const line of output.split("\n").filter((l) => l.trim() !== "")) {
    const parsed = containerLine(line);
    if (!parsed) throw new Error(`reading the containers on ${host}: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
    states[parsed[0]] = parsed[1];
  }
  return states;
}

/** The command run on dtable-web (hostscripts/live-read.sh, then its containers): it changes nothing. */
export const LIVE_READ_COMMAND = hostScript(["live-read", "container-state"], {
  CONTAINERS: [SEATABLE_CONTAINER, PROXY_CONTAINER],
  CONF_FILE: PROXY_CONFIG,
  HOSTS_FILE: PROXY_HOSTS,
  ROUTING_FILE: PROXY_ROUTING,
  SERVERS_FILE: PROXY_SERVERS,
  QUARANTINE_FILE: PROXY_QUARANTINE,
  INSTALLED_FILE: PROXY_INSTALLED,
  LEASE_FILE: PROXY_LEASE,
  PROGRESS_FILE: PROXY_PROGRESS,
  VERIFIED_FILE: PROXY_VERIFIED,
  LIMIT: LIVE_FILE_LIMIT,
});

const uniqueSorted = (a: readonly string[]) => [...new Set(a)].sort();
const quarantineSchema = z.strictObject({
  buckets: z.array(z.string().regex(/^[0-9a-f]{1,3}$/, "expected a bucket: 1 to 3 lower-case hex digits")),
  pins: z.array(z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, "expected a base UUID, lower case and dashed")),
});

/**
 * Parses the command's output. Every file is checked as the config's own
 * values are; anything else is an error that names it, never a guess.
 */
export function parseLiveRead(output: string): LiveProxy {
  const where = (path: string) => `dtable-web:${path}`;
  const problems: string[] = [];
  const live: {
    -readonly [K in keyof LiveProxy]: LiveProxy[K];
  } = {};
  const installed = { conf: [] as string[], hosts: [] as string[] };
  let now: number | undefined;
  let leaseSince: number | undefined;
  let progress: { step: string; at: number; run?: string } | undefined;
  const json = (base64: string, path: string): unknown => {
    try {
      return JSON.parse(Buffer.from(base64, "base64").toString("utf8"));
    } catch {
      problems.push(`${where(path)}: not JSON (cut off, or not written by this program)`);
      return undefined;
    }
  };
  for (const line of output.split("\n").filter((l) => l.trim() !== "")) {
    let m: RegExpExecArray | null;
    if ((m = /^(conf|hosts|routing) ([0-9a-f]{64})$/.exec(line))) live[m[1] as "conf" | "hosts" | "routing"] = m[2];
    else if ((m = /^now (\d{1,12})$/.exec(line))) now = Number(m[1]);
    else if ((m = /^lease-since (\d{1,12})$/.exec(line))) leaseSince = Number(m[1]);
    else if ((m = /^installed (conf|hosts) ([0-9a-f]{64})$/.exec(line))) installed[m[1] as "conf" | "hosts"].push(m[2]);
    else if ((m = /^progress ([a-z0-9-]{1,200}) (\d{1,12})(?: (\S.*))?$/.exec(line))) progress = { step: m[1], at: Number(m[2]), ...(m[3] ? { run: m[3] } : {}) };
    else if ((m = /^(routing-file|servers-file|quarantine-file) ([A-Za-z0-9+/=]*)$/.exec(line))) {
      const path = CONTENTS[m[1] as keyof typeof CONTENTS];
      const value = json(m[2], path);
      if (value === undefined) continue;
      if (m[1] === "routing-file") {
        const parsed = parseRoutingTable(value, where(path));
        if (parsed.table) live.table = parsed.table;
        else problems.push(...parsed.problems);
      } else if (m[1] === "servers-file") {
        // checked against the config's rules for addresses and host keys where the plan starts (start.ts)
        live.servers = value;
      } else {
        const parsed = quarantineSchema.safeParse(value);
        if (parsed.success) live.paused = { buckets: uniqueSorted(parsed.data.buckets), pins: uniqueSorted(parsed.data.pins) };
        else problems.push(...formatIssues(parsed.error.issues, where(path)));
      }
    } else if ((m = /^(lease) (.*)$/.exec(line))) live.lease = m[2];
    else if ((m = /^verified (.*)$/.exec(line))) live.verified = m[1];
    else if (containerLine(line)) {
      const [name, state] = containerLine(line)!;
      live.containers = { ...live.containers, [name]: state };
    } else throw new Error(`reading the proxy's live files on dtable-web: unexpected line ${JSON.stringify(line.slice(0, 80))}`);
  }
  if (problems.length > 0) throw new Error(`reading the proxy's live files on dtable-web:\n${problems.join("\n")}`);
  if (installed.conf.length > 0 || installed.hosts.length > 0) live.installed = installed;
  if (live.lease !== undefined && leaseSince !== undefined && now !== undefined) live.leaseAgeSeconds = Math.max(0, now - leaseSince);
  if (progress && now !== undefined) live.progress = { step: progress.step, agoSeconds: Math.max(0, now - progress.at), ...(progress.run ? { run: progress.run } : {}) };
  return live;
}

/** "2 h 5 min", "40 s": how long ago, for a person. */
export function duration(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days`;
}

/** Who holds the lease, since when, and how far that run got: for the refusal and for `plan`. */
export function describeLease(live: LiveProxy): string {
  const age = live.leaseAgeSeconds !== undefined ? `, taken ${duration(live.leaseAgeSeconds)} ago` : "";
  // the progress of another run (an earlier one, or the file's run removed by hand) says nothing of this lease
  const ours = live.progress && live.progress.run === live.lease;
  const last = ours ? `; the last step it completed on dtable-web: ${live.progress!.step}, ${duration(live.progress!.agoSeconds)} ago` : "; it completed no step on dtable-web";
  return `${live.lease}${age}${last}`;
}
