// `npm run status`: how the cluster is doing now. Read-only: it reads over SSH,
// with the stack's own settings and pinned host keys, what `pulumi up` reads
// before it plans (io/hosts.ts: the proxy's live files and containers on
// dtable-web, each node's seatable-server), and asks on dtable-web each
// dtable-server's /ping/ and the proxy's status page. The judging is in
// pure/plan/status.ts.
//   npm run status -- --stack prod [--json]
//   npm run status -- --stack-file path/to/Pulumi.x.yaml [--json]
// Exit status: 0 all well, 1 something needs the admin (it says what),
// 2 the cluster could not be read (or the arguments or the stack file are wrong).
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { validateStackFile } from "../pure/config/stack-file";
import type { ClusterConfig } from "../pure/config/schema";
import { readNodeContainers, readProxy, readWebProbes, sshAnswers } from "../io/hosts";
import type { LiveProxy } from "../pure/plan/rollout";
import { evictedServers, probeTargets, statusJson, statusReport, statusText, statusUnreadable, StatusReads, unreadableText } from "../pure/plan/status";

const USAGE = "usage: npm run status -- (--stack NAME | --stack-file PATH) [--json]";

const OPTIONS = {
  stack: { type: "string" },
  "stack-file": { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** What a run of the command printed, and its exit status. */
export type StatusRun = { readonly code: number; readonly stdout: string; readonly stderr: string };

/** The arguments and the stack file, checked before anything is read. */
export type StatusSetUp =
  | { readonly help: true }
  | { readonly problems: readonly string[]; readonly json: boolean; readonly stack: string }
  | { readonly config: ClusterConfig; readonly json: boolean; readonly stack: string };

/** Parses the arguments and validates the stack file as `plan` does (Pulumi.<stack>.yaml beside the program). */
export function statusSetUp(argv: string[]): StatusSetUp {
  let args: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>>["values"];
  try {
    args = parseArgs({ args: argv, options: OPTIONS, strict: true }).values;
  } catch (e) {
    return { problems: [(e as Error).message, USAGE], json: argv.includes("--json"), stack: "status" };
  }
  const json = args.json === true;
  if (args.help) return { help: true };
  if ((args.stack === undefined) === (args["stack-file"] === undefined)) return { problems: ["give exactly one of --stack and --stack-file", USAGE], json, stack: "status" };
  const stackFile = args["stack-file"] ?? resolve(__dirname, "..", `Pulumi.${args.stack}.yaml`);
  const stack = args.stack !== undefined ? `stack ${args.stack}` : `stack file ${stackFile}`;
  const validated = validateStackFile(stackFile);
  if (!validated.ok) return { problems: validated.problems, json, stack };
  return { config: validated.config, json, stack };
}

/** Exit 2: the command could not read what it reports on; with --json the document says so too. */
function unreadable(stack: string, json: boolean, lines: readonly string[]): StatusRun {
  const u = statusUnreadable(stack, lines.join("\n"));
  return { code: 2, stdout: json ? statusJson(u) : "", stderr: json ? `${lines.join("\n")}\n` : unreadableText(u) };
}

/** The reads besides the proxy's: each node's containers, what dtable-web sees, and whether evicted servers answer SSH; side by side. */
async function readRest(config: ClusterConfig, live: LiveProxy): Promise<StatusReads> {
  const [containers, probes, evictedSsh] = await Promise.all([
    readNodeContainers(config, live),
    readWebProbes(config, probeTargets(config, live)).catch((e: Error) => ({ unreadable: e.message })),
    sshAnswers(evictedServers(config, live)),
  ]);
  return { live, containers, probes, evictedSsh };
}

/** The command as the entry point runs it. */
export async function statusCommand(argv: string[]): Promise<StatusRun> {
  const setUp = statusSetUp(argv);
  if ("help" in setUp) return { code: 0, stdout: `${USAGE}\n`, stderr: "" };
  if ("problems" in setUp) return unreadable(setUp.stack, setUp.json, setUp.problems);
  const { config, json, stack } = setUp;
  let live: LiveProxy;
  try {
    live = await readProxy(config);
  } catch (e) {
    // dtable-web is where the cluster's state lives: without it nothing can be judged
    return unreadable(stack, json, [(e as Error).message]);
  }
  const report = statusReport(config, stack, await readRest(config, live));
  return { code: report.code, stdout: json ? statusJson(report) : statusText(report), stderr: "" };
}

// Stryker disable all: runs only in a child process (the loopback tests), which per-test coverage does not see
if (require.main === module) {
  void statusCommand(process.argv.slice(2)).then((result) => {
    process.stderr.write(result.stderr);
    process.stdout.write(result.stdout);
    process.exitCode = result.code;
  });
}
// Stryker restore all
