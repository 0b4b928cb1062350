// Program scale (issue 6, part 3): the whole Pulumi program under mocks
// (tests/support/program.ts runProgram) for N dtable-servers, each evaluation
// in a child process of its own so that time and peak memory are its alone.
import * as path from "path";
import { childFigures, fixed, log, median, Section, table, Target, thousands } from "./util";

const SIZES = [2, 8, 32, 128];
const REPEATS = 3;
const MARK = "PROGRAM_BENCH ";
const CHILD = path.join(__dirname, "program-child.ts");
/** Growth of the marginal CPU cost per resource (last interval vs the one before) still called linear. */
const LINEAR_GROWTH = 1.5;

type Sample = { servers: number; resources: number; ms: number; cpuMs: number; maxRssKiB: number; rssBeforeKiB: number; heapUsedKiB: number; wallMs: number };

async function runChild(servers: number): Promise<Sample> {
  const started = Date.now();
  const figures = await childFigures<Omit<Sample, "wallMs">>(CHILD, [String(servers)], MARK);
  return { ...figures, wallMs: Date.now() - started };
}

type Result = { servers: number; resources: number; ms: number; cpuMs: number; wallMs: number; maxRssMiB: number; heapMiB: number; runs: number[] };

/** (y[i+1] − y[i]) / (resources[i+1] − resources[i]) */
const marginal = (results: Result[], y: (r: Result) => number) => results.slice(1).map((r, i) => (y(r) - y(results[i])) / (r.resources - results[i].resources));

export async function programBench(): Promise<Section> {
  const started = Date.now();
  const results: Result[] = [];
  for (const servers of SIZES) {
    const samples: Sample[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const s = await runChild(servers);
      log(`program: ${servers} servers, run ${i + 1}: ${s.resources} resources, ${s.ms.toFixed(0)} ms (CPU ${s.cpuMs.toFixed(0)} ms), max RSS ${(s.maxRssKiB / 1024).toFixed(0)} MiB`);
      samples.push(s);
    }
    const counts = new Set(samples.map((s) => s.resources));
    if (counts.size !== 1) throw new Error(`the program registered different numbers of resources for ${servers} servers: ${[...counts]}`);
    results.push({
      servers,
      resources: samples[0].resources,
      ms: median(samples.map((s) => s.ms)),
      cpuMs: median(samples.map((s) => s.cpuMs)),
      wallMs: median(samples.map((s) => s.wallMs)),
      maxRssMiB: Math.max(...samples.map((s) => s.maxRssKiB)) / 1024,
      heapMiB: median(samples.map((s) => s.heapUsedKiB)) / 1024,
      runs: samples.map((s) => s.ms),
    });
  }

  // resources = a + b·N: is it exact?
  const first = results[0];
  const last = results[results.length - 1];
  const perServer = (last.resources - first.resources) / (last.servers - first.servers);
  const fixedPart = first.resources - perServer * first.servers;
  const exactLine = results.every((r) => Math.abs(fixedPart + perServer * r.servers - r.resources) < 1e-9);
  const cpuMarginal = marginal(results, (r) => r.cpuMs);
  const msMarginal = marginal(results, (r) => r.ms);
  const rssMarginal = marginal(results, (r) => r.maxRssMiB * 1024);
  const growth = cpuMarginal[cpuMarginal.length - 1] / cpuMarginal[cpuMarginal.length - 2];
  const timeLinear = growth <= LINEAR_GROWTH;
  const interval = (i: number) => `${results[i].servers} → ${results[i + 1].servers}`;

  const rows = results.map((r, i) => [
    r.servers,
    r.resources,
    thousands(r.ms),
    r.runs.map((x) => thousands(x)).join(", "),
    thousands(r.cpuMs),
    fixed(r.cpuMs / r.resources, 1),
    i === 0 ? "–" : fixed(cpuMarginal[i - 1], 1),
    thousands(r.wallMs),
    fixed(r.maxRssMiB, 0),
    i === 0 ? "–" : fixed(rssMarginal[i - 1], 0),
    fixed(r.heapMiB, 0),
  ]);
  const markdown = [
    `The dev stack with N dtable-servers (distinct addresses, otherwise the dev values), evaluated by \`runProgram\` (tests/support/program.ts: the whole program under \`pulumi.runtime.setMocks\`, recording every registration). ` +
      `Each evaluation runs in a child process of its own (\`bench/program-child.ts\`), ${REPEATS} times per N; figures are medians. ` +
      `"time" is \`runProgram\` alone, wall-clock; "CPU" is the process's CPU time (user + system) during \`runProgram\`, which other jobs on the machine disturb less than wall-clock time; "wall" is the child from spawn to exit (ts-node start-up included). ` +
      `Peak memory is \`process.resourceUsage().maxRSS\` (largest of the runs), heap is \`process.memoryUsage().heapUsed\` at the end. "marginal" is the cost per resource added since the previous N.`,
    "",
    table(["servers", "resources", "time (ms)", "runs (ms)", "CPU (ms)", "CPU ms / resource", "marginal CPU ms / resource", "wall (ms)", "peak RSS (MiB)", "marginal KiB RSS / resource", "heap used (MiB)"], rows),
    "",
    `- Resources: ${exactLine ? "exactly" : "not exactly"} ${fixed(fixedPart, 0)} + ${fixed(perServer, 2)}·N` +
      (exactLine ? `, linear: ${fixed(perServer, 0)} resources per server.` : ` between N=${first.servers} and N=${last.servers}; the counts are ${results.map((r) => `${r.servers}: ${r.resources}`).join(", ")}.`),
    `- Time: marginal CPU per added resource ${cpuMarginal.map((m, i) => `${fixed(m, 1)} ms (${interval(i)})`).join(", ")}; wall-clock ${msMarginal.map((m, i) => `${fixed(m, 1)} ms (${interval(i)})`).join(", ")}. ` +
      `The last interval's marginal CPU cost is ${fixed(growth, 2)}× the one before, so evaluation time is ` +
      (timeLinear
        ? `roughly linear in the number of resources (growth ≤ ${LINEAR_GROWTH}×); the fixed part (Node, ts-node, the SDK, the mocks) dominates at small N.`
        : `growing faster than linearly: each added resource costs more the more there are (growth > ${LINEAR_GROWTH}×). At N=${last.servers} the whole evaluation still takes ${fixed(last.ms / 1000, 1)} s.`),
    `- Peak memory: ${fixed(first.maxRssMiB, 0)} MiB at N=${first.servers}, then ${rssMarginal.map((m, i) => `${fixed(m, 0)} KiB (${interval(i)})`).join(", ")} per added resource.`,
    "",
    `Part time: ${fixed((Date.now() - started) / 1000, 0)} s.`,
  ].join("\n");
  const targets: Target[] = [
    { name: "program: resources vs servers", target: "linear (stated, no target given)", measured: exactLine ? `${fixed(fixedPart, 0)} + ${fixed(perServer, 0)}·N` : "not linear", met: exactLine },
    {
      name: "program: CPU time vs resources",
      target: `linear (stated; marginal cost growth ≤ ${LINEAR_GROWTH}×)`,
      measured: `${fixed(growth, 2)}× (${interval(results.length - 2)} vs ${interval(results.length - 3)})`,
      met: timeLinear,
    },
  ];
  return { title: "Program scale", markdown, targets };
}
