// `npm run plan`: the plan layer offline. No Pulumi CLI, no hosts, no secrets.
//   npm run plan -- --stack dev
//   npm run plan -- --stack-file path/to/Pulumi.x.yaml [--previous routing.json] [--out DIR]
//   npm run plan -- --stack dev [--previous routing.json] --where <base uuid>
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { validateStackFile } from "../pure/config/stack-file";
import { parseRoutingTable, RoutingTable, routingJson } from "../pure/config/routing-file";
import { buildPlan } from "../pure/plan";
import { changeSummary, graphSummary, routingSummary, stageNotes } from "../pure/plan/summary";
import { renderedFiles } from "../pure/plan/files";
import { offlineGraph } from "../pure/plan/graph";
import { versionNotes } from "../pure/plan/seatable";
import { parseBaseUuid, whereLines } from "../pure/plan/where";

const USAGE = "usage: npm run plan -- (--stack NAME | --stack-file PATH) [--previous routing.json] [--replace-containers] [--out DIR | --where BASE_UUID]";

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

/** The command, in-process: its tests call it as the entry point below does. */
export function plan(argv: string[]): PlanRun {
  const stderr: string[] = [];
  try {
    const stdout = run(argv, stderr);
    return { code: 0, stdout, stderr: stderr.join("") };
  } catch (e) {
    if (!(e instanceof Exit)) throw e;
    return { code: e.code, stdout: "", stderr: [...stderr, ...e.lines.map((l) => `${l}\n`)].join("") };
  }
}

/** Returns what goes to stdout; writes warnings and notes to `stderr`. */
function run(argv: string[], stderr: string[]): string {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        stack: { type: "string" },
        "stack-file": { type: "string" },
        previous: { type: "string" },
        "replace-containers": { type: "boolean" },
        out: { type: "string" },
        where: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }).values;
  } catch (e) {
    fail([(e as Error).message, USAGE], 2);
  }
  if (args.help) return `${USAGE}\n`;
  if ((args.stack === undefined) === (args["stack-file"] === undefined)) fail(["give exactly one of --stack and --stack-file", USAGE], 2);
  if (args.where !== undefined && args.out !== undefined) fail(["--where prints where one base is and writes nothing; give it without --out", USAGE], 2);
  const stackFile = args["stack-file"] ?? resolve(__dirname, "..", `Pulumi.${args.stack}.yaml`);
  const base = args.where === undefined ? undefined : parseBaseUuid(args.where);
  if (base && "problem" in base) fail([base.problem]);

  const validated = validateStackFile(stackFile);
  if (!validated.ok) fail([...validated.problems]);
  const { config } = validated;

  let applied: RoutingTable | undefined;
  if (args.previous !== undefined) {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(args.previous, "utf8"));
    } catch (e) {
      fail([`--previous: cannot read ${args.previous} as JSON: ${(e as Error).message}`]);
    }
    const read = parseRoutingTable(json, `--previous(${args.previous})`);
    if (!read.table) fail(read.problems);
    if (read.table.bucketHexDigits > config.routing.bucketHexDigits) {
      fail([`--previous(${args.previous}).bucketHexDigits: ${read.table.bucketHexDigits} is more than routing.bucketHexDigits (${config.routing.bucketHexDigits}); fewer digits would merge buckets that live on different servers`]);
    }
    applied = read.table;
  }

  const plan = buildPlan(config, applied, validated.startTable);
  for (const warning of validated.warnings) stderr.push(`warning: ${warning}\n`);
  for (const note of versionNotes(config)) stderr.push(`note: ${note}\n`);

  if (base) {
    const lines = applied
      ? whereLines(base.uuid, applied, `--previous ${args.previous}`, plan.routing)
      : whereLines(base.uuid, plan.routing, `the stack's table (${args["stack-file"] ?? `Pulumi.${args.stack}.yaml`})`);
    return `${lines.join("\n")}\n`;
  }

  const out: string[] = [
    `Stack file ${stackFile}`,
    `SeaTable ${config.seatableVersion} (${config.image}); dtable-web ${config.hosts.web.address}, dtable-db ${config.hosts.db.address}, ${config.hosts.servers.length} dtable-server(s)`,
    "",
    ...routingSummary(config, plan.routing),
    "",
  ];
  if (plan.previous) {
    const label = applied ? `--previous ${args.previous}` : config.routing.start === "seed" ? "the seed's hand-built table (routing.start: seed)" : "the starting table (routing.start.file)";
    out.push(...changeSummary(plan.change, label), "");
  } else {
    out.push("First deployment: no table applied before, so nothing moves and nothing is quarantined.", "");
  }
  // the order does not depend on the conf-edit script's text, which plan never prints
  const { graph, changes } = offlineGraph(plan, args["replace-containers"] === true, "");
  if (plan.previous) {
    out.push(
      `Stages (rollout.maxRestarting: ${config.rollout.maxRestarting}${args["replace-containers"] ? "; every container replaced: a new image or environment" : "; containers unchanged"}):`,
      ...stageNotes(graph.stages).map((l) => `  ${l}`),
      "",
    );
  }
  out.push("Order of `pulumi up` (after every image is pulled on every host):", ...graphSummary(graph, changes), "");

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

// Stryker disable all: runs only in a child process (the "as a process" tests), which per-test coverage does not see
if (require.main === module) {
  const result = plan(process.argv.slice(2));
  process.stdout.write(result.stdout);
  process.stderr.write(result.stderr);
  process.exitCode = result.code;
}
// Stryker restore all
