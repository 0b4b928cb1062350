// `npm run plan`: the plan layer. No Pulumi CLI and no secrets; offline unless
// --live, which reads what the proxy on dtable-web runs over SSH (as `pulumi up`
// starts from it) and changes nothing there.
//   npm run plan -- --stack dev
//   npm run plan -- --stack-file path/to/Pulumi.x.yaml [--live | --previous routing.json] [--out DIR]
//   npm run plan -- --stack dev [--live | --previous routing.json] --where <base uuid>
//   npm run plan -- --stack dev [--live | --previous routing.json] --suggest [--log FILE | --since 24h]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { validateStackFile } from "../pure/config/stack-file";
import type { Validated } from "../pure/config/validate";
import { parseRoutingTable, RoutingTable, routingJson } from "../pure/config/routing-file";
import { buildPlan } from "../pure/plan";
import { changeSummary, graphSummary, routingSummary, stageNotes } from "../pure/plan/summary";
import { renderedFiles } from "../pure/plan/files";
import { offlineChanges, offlineGraph } from "../pure/plan/graph";
import { containerFindings, HostContainers } from "../pure/plan/host-containers";
import { versionNotes } from "../pure/plan/seatable";
import { seatableEnvironment } from "../pure/plan/containers";
import { environmentLines } from "../pure/plan/environment";
import { parseBaseUuid, whereLines } from "../pure/plan/where";
import type { ClusterConfig } from "../pure/config/schema";
import type { LiveProxy } from "../pure/plan/rollout";
import { appliedContext } from "../pure/plan/applied";
import { describeLease } from "../pure/plan/live";
import { evictedWarning, startingPoint } from "../pure/plan/start";
import { readNodeContainers, readNodeFacts, readProxy } from "../io/hosts";
import { factFindings, HostFacts } from "../pure/plan/node-facts";
import { versionFindings } from "../pure/plan/version-change";
import { dockerSince, LoadAggregator } from "../pure/plan/access-log";
import { configChangeYaml, STACK_TABLE, stackKeys, suggest, suggestionLines } from "../pure/plan/suggest";
import { PROXY_CONTAINER } from "../pure/plan/containers";
import { LogReadError, readLogFile, readProxyLog, Streamed } from "../io/access-log";

const USAGE =
  "usage: npm run plan -- (--stack NAME | --stack-file PATH) [--live | --previous routing.json] [--replace-containers] [--out DIR | --where BASE_UUID | --suggest [--log FILE|- | --since 24h]]";

/** How far back --suggest reads the proxy's log on dtable-web without --since: a day holds the day's peaks. */
const DEFAULT_SINCE = "24h";

/** What a run of the command printed, and its exit status. */
export type PlanRun = { readonly code: number; readonly stdout: string; readonly stderr: string };

/** Ends the run with `lines` on stderr; `plan` turns it into the exit status. */
class Exit extends Error {
  constructor(
    readonly lines: string[],
    readonly code: number,
  ) {
    super(lines.join("\n"));
  }
}

function fail(lines: string[], code = 1): never {
  throw new Exit(lines, code);
}

const OPTIONS = {
  stack: { type: "string" },
  "stack-file": { type: "string" },
  live: { type: "boolean" },
  previous: { type: "string" },
  "replace-containers": { type: "boolean" },
  out: { type: "string" },
  where: { type: "string" },
  suggest: { type: "boolean" },
  log: { type: "string" },
  since: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

type Args = ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; strict: true }>>["values"];

/** A run whose usage and stack file are valid: what it plans from is still to be read. */
type Ready =
  | { readonly help: true }
  | {
      readonly help?: false;
      readonly args: Args;
      readonly stackFile: string;
      readonly validated: Extract<Validated, { ok: true }>;
      readonly base?: { readonly uuid: string };
      /** --suggest: docker logs' --since, as it is sent */
      readonly since?: string;
    };

/** Runs `body`; an Exit it throws becomes the exit status, its lines after what `body` wrote to stderr. */
function capture(body: (stderr: string[]) => string): PlanRun {
  const stderr: string[] = [];
  try {
    const stdout = body(stderr);
    return { code: 0, stdout, stderr: stderr.join("") };
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    return { code: e.code, stdout: "", stderr: [...stderr, ...e.lines.map((l) => `${l}\n`)].join("") };
  }
}

/**
 * The command, in-process: its tests call it as the entry point below does.
 * With --live, `live` is what the proxy on dtable-web runs, as planCommand
 * reads it (the tests hand in their own).
 */
export function plan(argv: string[], live?: LiveProxy, containers?: HostContainers, facts?: HostFacts): PlanRun {
  return capture((stderr) => run(setUp(argv), live, stderr, containers, facts));
}

/** The command as the entry point runs it: with --live, it first reads what the proxy on dtable-web runs. */
export async function planCommand(argv: string[]): Promise<PlanRun> {
  let ready: Ready;
  try {
    ready = setUp(argv);
  } catch (e) {
    return capture(() => {
      throw e;
    });
  }
  if (!ready.help && ready.args.suggest === true) return suggestCommand(ready);
  if (ready.help || ready.args.live !== true) return capture((stderr) => run(ready, undefined, stderr));
  let live: LiveProxy;
  try {
    live = await readProxy(ready.validated.config);
  } catch (e) {
    // the host could not be read (SSH, or files there that are not this program's): nothing to plan from
    return { code: 2, stdout: "", stderr: `${(e as Error).message}\n` };
  }
  // each node's containers (not for --where, which says where a base is); a host that does not answer is reported in the plan
  const [containers, facts] = ready.base ? [] : await Promise.all([readNodeContainers(ready.validated.config, live), readNodeFacts(ready.validated.config)]);
  return capture((stderr) => run(ready, live, stderr, containers, facts));
}


/**
 * --suggest: the table the cluster runs (--live, --previous, or the stack's
 * own), the proxy's access log streamed through the aggregator (--log FILE or
 * stdin, else `docker logs` on dtable-web over SSH), then the candidates and
 * the stack config change (pure/plan/suggest.ts).
 */
async function suggestCommand(ready: Extract<Ready, { help?: false }>): Promise<PlanRun> {
  const { args, validated, stackFile } = ready;
  const { config } = validated;
  const web = config.hosts.web;
  let live: LiveProxy | undefined;
  if (args.live) {
    try {
      live = await readProxy(config);
    } catch (e) {
      return { code: 2, stdout: "", stderr: `${(e as Error).message}\n` };
    }
  }
  const early: string[] = [];
  let applied: { table: RoutingTable; label: string };
  try {
    applied = suggestStart(ready, live, early);
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    return { code: e.code, stdout: "", stderr: [...early, ...e.lines.map((l) => `${l}\n`)].join("") };
  }

  // the pins of both tables are counted exactly: their figures decide what a bucket carries without them
  const aggregator = new LoadAggregator({ tracked: [...Object.keys(applied.table.pins), ...Object.keys(config.routing.pins)] });
  const add = (line: string) => aggregator.add(line);
  let source: string;
  let streamed: Streamed & { stderrLines?: number };
  try {
    if (args.log !== undefined) {
      source = args.log === "-" ? "--log - (stdin)" : `--log ${args.log}`;
      streamed = await readLogFile(args.log, add);
    } else {
      source = `the log of ${PROXY_CONTAINER} on ${web.name} (${web.address}) since ${args.since ?? DEFAULT_SINCE} ago (docker logs)`;
      streamed = await readProxyLog(config, ready.since!, add);
    }
  } catch (e) {
    if (e instanceof LogReadError) return { code: 2, stdout: "", stderr: [...early, `${e.message}\n`].join("") };
    return { code: 1, stdout: "", stderr: [...early, `--log: cannot read ${args.log}: ${(e as Error).message}\n`].join("") };
  }

  return capture((stderr) => {
    stderr.push(...early);
    for (const warning of validated.warnings) stderr.push(`warning: ${warning}\n`);
    if (streamed.overlong > 0) stderr.push(`note: ${streamed.overlong} line(s) longer than 64 KiB were cut there (no access-log line is that long)\n`);
    if (streamed.stderrLines) source += `; ${streamed.stderrLines} line(s) on the container's stderr (nginx's own messages) not read`;
    const sample = aggregator.sample();
    const input = { config, applied: applied.table, appliedLabel: applied.label, sample };
    const suggestion = suggest(input);
    for (const warning of suggestion.warnings) stderr.push(`warning: ${warning}\n`);
    const out = [
      `Stack file ${stackFile}`,
      `SeaTable ${config.seatableVersion} (${config.image}); dtable-web ${web.address}, dtable-db ${config.hosts.db.address}, ${config.hosts.servers.length} dtable-server(s)`,
      "",
      ...suggestionLines(suggestion, input, source),
    ];
    if (suggestion.verdict.kind === "proposed") {
      const stack = args.stack !== undefined ? `--stack ${args.stack}` : `--stack-file ${args["stack-file"]}`;
      const from = args.live ? " --live" : args.previous !== undefined ? ` --previous ${args.previous}` : "";
      out.push(
        `The change (${suggestion.verdict.chosen.id}) for ${stackFile}: replace these keys under config: with`,
        ...configChangeYaml(suggestion.verdict.chosen, stackKeys(readFileSync(stackFile, "utf8")), suggestion.totalLoad),
        `then review it with \`npm run plan -- ${stack}${from}\` and make it with \`pulumi up\`.`,
        "",
      );
    }
    return `${out.join("\n")}\n`;
  });
}

/** The table --suggest models the load on and plans every move from: what the cluster runs, as far as plan knows. */
function suggestStart(ready: Extract<Ready, { help?: false }>, live: LiveProxy | undefined, stderr: string[]): { table: RoutingTable; label: string } {
  const { args, validated } = ready;
  const { config } = validated;
  const web = config.hosts.web;
  const stackTable = { table: buildPlan(config, undefined, validated.startTable).routing, label: STACK_TABLE };
  if (live) {
    const table = fromLive(config, live, stderr);
    return table ? { table, label: `the proxy's routing.json on ${web.name} (${web.address})` } : stackTable;
  }
  if (args.previous !== undefined) return { table: previousFile(args.previous, config), label: `--previous ${args.previous}` };
  stderr.push("note: --suggest takes the cluster to run the stack's table; --live (or --previous) plans from the table it runs\n");
  return stackTable;
}

/** Usage and the stack file, checked before anything is read; throws Exit. */
function setUp(argv: string[]): Ready {
  let args: Args;
  try {
    args = parseArgs({ args: argv, options: OPTIONS, strict: true }).values;
  } catch (e) {
    fail([(e as Error).message, USAGE], 2);
  }
  if (args.help) return { help: true };
  if ((args.stack === undefined) === (args["stack-file"] === undefined)) fail(["give exactly one of --stack and --stack-file", USAGE], 2);
  if (args.live && args.previous !== undefined) fail(["give --live or --previous, not both: --live plans from the table the proxy on dtable-web runs, --previous from a file", USAGE], 2);
  if (args.where !== undefined && args.out !== undefined) fail(["--where prints where one base is and writes nothing; give it without --out", USAGE], 2);
  const stackFile = args["stack-file"] ?? resolve(__dirname, "..", `Pulumi.${args.stack}.yaml`);
  const base = args.where === undefined ? undefined : parseBaseUuid(args.where);
  if (base && "problem" in base) fail([base.problem]);
  const since = suggestUsage(args);

  const validated = validateStackFile(stackFile);
  if (!validated.ok) fail([...validated.problems]);
  return { args, stackFile, validated, ...(base ? { base } : {}), ...(since !== undefined ? { since } : {}) };
}

/** --suggest's flags, checked with the others; the --since docker logs is sent (undefined with --log or without --suggest). */
function suggestUsage(args: Args): string | undefined {
  if (!args.suggest) {
    for (const flag of ["log", "since"] as const) if (args[flag] !== undefined) fail([`--${flag} goes with --suggest, which reads the proxy's access log; without it, plan reads no log`, USAGE], 2);
    return undefined;
  }
  for (const flag of ["where", "out", "replace-containers"] as const) {
    if (args[flag] !== undefined) fail([`--suggest proposes a change of weights and pins and writes nothing; give it without --${flag}`, USAGE], 2);
  }
  if (args.log !== undefined && args.since !== undefined) {
    fail([`--since picks the window of \`docker logs\` on dtable-web; --log ${args.log} is read whole (cut it to the window first), so give one of them`, USAGE], 2);
  }
  if (args.log === "") fail(["--log: empty; give a file, or - for stdin", USAGE], 2);
  if (args.log !== undefined) return undefined;
  const since = dockerSince(args.since ?? DEFAULT_SINCE);
  if ("problem" in since) fail([since.problem, USAGE], 2);
  return since.value;
}

// startingPoint names the run only in its refusal of a held lease, which plan reports as a warning of its own
const PLAN_RUN = { stack: "(this stack)", id: "(this plan)" };

/**
 * Where `pulumi up` would start from what the proxy runs (start.ts), for a
 * command that changes nothing: the starting point's errors end the run as
 * config problems do and its warnings are printed; a held lease, which `up`
 * refuses, is only a warning here.
 */
function fromLive(config: ClusterConfig, live: LiveProxy, stderr: string[]): RoutingTable | undefined {
  const web = config.hosts.web;
  const start = startingPoint(config, live, undefined, PLAN_RUN, appliedContext(config));
  if (live.lease !== undefined) stderr.push(`warning: ${web.name}: a change holds the lease: ${describeLease(live)}; pulumi up refuses to start while it is held\n`);
  for (const warning of start.warnings) stderr.push(`warning: ${warning}\n`);
  // plan does not try the hosts: as far as it knows, an evicted server has not answered again
  for (const e of start.evicted) stderr.push(`warning: ${evictedWarning(e)}\n`);
  if (start.errors.length > 0) fail([...start.errors]);
  if (!start.previous) stderr.push(`note: ${web.name} (${web.address}): the proxy runs no routing.json yet, so the plan starts as a first deployment does\n`);
  return start.previous;
}

/** The table in `--previous FILE`; throws Exit when it cannot be planned from. */
function previousFile(path: string, config: ClusterConfig): RoutingTable {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    fail([`--previous: cannot read ${path} as JSON: ${(e as Error).message}`]);
  }
  const read = parseRoutingTable(json, `--previous(${path})`);
  if (!read.table) fail(read.problems);
  if (read.table.bucketHexDigits > config.routing.bucketHexDigits) {
    fail([`--previous(${path}).bucketHexDigits: ${read.table.bucketHexDigits} is more than routing.bucketHexDigits (${config.routing.bucketHexDigits}); fewer digits would merge buckets that live on different servers`]);
  }
  return read.table;
}

/** Returns what goes to stdout; writes warnings and notes to `stderr`. */
function run(ready: Ready, live: LiveProxy | undefined, stderr: string[], containers?: HostContainers, facts?: HostFacts): string {
  if (ready.help) return `${USAGE}\n`;
  const { args, stackFile, validated, base } = ready;
  if (args.suggest) fail(["--suggest streams the proxy's access log: planCommand runs it (as the command line does)"], 2);
  const { config } = validated;
  const web = config.hosts.web;

  let applied: RoutingTable | undefined;
  let appliedLabel = "";
  if (args.live) {
    if (!live) throw new Error("internal: --live plans from what the proxy runs; planCommand reads it, plan(argv, live) is handed it");
    applied = fromLive(config, live, stderr);
    appliedLabel = `the proxy's routing.json on ${web.name} (${web.address})`;
  } else if (args.previous !== undefined) {
    applied = previousFile(args.previous, config);
    appliedLabel = `--previous ${args.previous}`;
  }

  const plan = buildPlan(config, applied, validated.startTable);
  // what runs on each host (--live): a stopped or unhealthy dtable-server goes into a stage, as in `pulumi up`
  const found = containers ? containerFindings(config, containers, offlineChanges(plan, args["replace-containers"] === true), live) : undefined;
  // each host's memory and conf files (--live): what `pulumi up` refuses, plan ends with too
  const checked = facts ? factFindings(config, facts) : undefined;
  const version = containers ? versionFindings(config, containers) : undefined;
  const checks = [found, checked, version].filter((c) => c !== undefined);
  for (const warning of checks.flatMap((c) => c.warnings)) stderr.push(`warning: ${warning}\n`);
  if (checks.some((c) => c.errors.length > 0)) fail(checks.flatMap((c) => c.errors));
  for (const warning of validated.warnings) stderr.push(`warning: ${warning}\n`);
  for (const note of versionNotes(config)) stderr.push(`note: ${note}\n`);

  if (base) {
    const lines = applied
      ? whereLines(base.uuid, applied, appliedLabel, plan.routing)
      : whereLines(base.uuid, plan.routing, `the stack's table (${args["stack-file"] ?? `Pulumi.${args.stack}.yaml`})`);
    return `${lines.join("\n")}\n`;
  }

  const out: string[] = [
    `Stack file ${stackFile}`,
    `SeaTable ${config.seatableVersion} (${config.image}); dtable-web ${config.hosts.web.address}, dtable-db ${config.hosts.db.address}, ${config.hosts.servers.length} dtable-server(s)`,
    "",
    ...routingSummary(config, plan.routing),
    "",
    ...(found ? ["Containers, as read on the hosts:", ...found.lines.map((l) => `  ${l}`), ""] : []),
    ...(checked ? ["Hosts, as read:", ...checked.lines.map((l) => `  ${l}`), ""] : []),
    ...(version && version.lines.length > 0 ? [...version.lines, ""] : []),
  ];
  if (plan.previous) {
    const label = applied ? appliedLabel : config.routing.start === "seed" ? "the seed's hand-built table (routing.start: seed)" : "the starting table (routing.start.file)";
    out.push(...changeSummary(plan.change, label), "");
  } else {
    out.push("First deployment: no table applied before, so nothing moves and nothing is quarantined.", "");
  }
  // the order does not depend on the conf-edit script's text, which plan never prints
  const { graph, changes } = offlineGraph(plan, args["replace-containers"] === true, "", found?.unwell);
  if (plan.previous) {
    out.push(
      `Stages (rollout.maxRestarting: ${config.rollout.maxRestarting}${args["replace-containers"] ? "; every container replaced: a new image or environment" : "; containers unchanged"}):`,
      ...stageNotes(graph.stages).map((l) => `  ${l}`),
      "",
    );
  }
  out.push("Order of `pulumi up` (after every image is pulled on every host):", ...graphSummary(graph, changes), "");
  out.push(...environmentSection(config));

  if (args.out !== undefined) {
    const files = [{ path: "routing.json", content: routingJson(plan.routing) }, ...renderedFiles(plan).map((f) => ({ path: join(f.host, f.path), content: f.content }))];
    for (const f of files) {
      const target = join(args.out, f.path);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, f.content);
      out.push(`wrote ${target}`);
    }
  }
  return `${out.join("\n")}\n`;
}

/**
 * Each node's seatable-server environment, secret values masked; nodes whose
 * environment is the same share one block (the dtable-servers, as a rule).
 */
function environmentSection(config: ClusterConfig): string[] {
  const blocks = new Map<string, string[]>();
  for (const node of [config.hosts.web, config.hosts.db, ...config.hosts.servers]) {
    const text = environmentLines(seatableEnvironment(config, node)).join("\n");
    blocks.set(text, [...(blocks.get(text) ?? []), node.name]);
  }
  return [
    "Environment of seatable-server (secret values masked; marked: set by the stack's environment):",
    ...[...blocks].flatMap(([text, names]) => [`  ${names.join(", ")}:`, ...text.split("\n").map((l) => `    ${l}`)]),
    "",
  ];
}

// Stryker disable all: runs only in a child process (the "as a process" tests), which per-test coverage does not see
if (require.main === module) {
  void planCommand(process.argv.slice(2)).then((result) => {
    // the warnings (a held lease, a quarantine) before the summary they qualify
    process.stderr.write(result.stderr);
    process.stdout.write(result.stdout);
    process.exitCode = result.code;
  });
}
// Stryker restore all
