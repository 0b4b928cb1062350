// `npm run bench`: runs every benchmark and writes docs/benchmarks.md (design,
// "Tests": benchmarks are scripts that print figures, not timed tests).
//   node -r ts-node/register/transpile-only bench/run.ts [proxy] [routing] [program]
// With part names, runs only those and prints them without writing the file.
import { mkdirSync, readFileSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { programBench } from "./program";
import { proxyBench } from "./proxy";
import { proxyCostBench } from "./proxy-cost";
import { routingBench } from "./routing";
import { suggestBench } from "./suggest";
import { log, Section, table, versionOf } from "./util";

const ROOT = path.join(__dirname, "..");
const OUT = path.join(ROOT, "docs", "benchmarks.md");
// The proxy part: CPU instructions per request (callgrind, exact), then wrk on shared cores (noisier).
const PARTS: Record<string, () => Promise<Section[]> | Section[]> = {
  proxy: async () => [await proxyCostBench(), await proxyBench()],
  routing: () => [routingBench()],
  program: async () => [await programBench()],
  // plan --suggest: 10 million generated log lines through the aggregator, in a child process
  suggest: async () => [await suggestBench()],
};

function machine(): string[] {
  const cpus = os.cpus();
  const debian = (() => {
    try {
      return `Debian ${readFileSync("/etc/debian_version", "utf8").trim()}`;
    } catch {
      return "not Debian";
    }
  })();
  const pulumiVersion = (JSON.parse(readFileSync(path.join(ROOT, "node_modules", "@pulumi", "pulumi", "package.json"), "utf8")) as { version: string }).version;
  return [
    `- Machine: ${cpus.length} cores (${cpus[0]?.model ?? "unknown CPU"}), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, ${debian}, Linux ${os.release()} ${os.arch()}.`,
    `- Versions: Node.js ${process.version}; ${versionOf("/usr/sbin/nginx", ["-v"])}; ${versionOf("wrk", ["-v"]).replace(/\s*Copyright.*$/, "")}; ${versionOf("valgrind", ["--version"])}; ${versionOf("strace", ["-V"])}; @pulumi/pulumi ${pulumiVersion}.`,
  ];
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  for (const w of wanted) if (!(w in PARTS)) throw new Error(`unknown part ${w}; parts: ${Object.keys(PARTS).join(", ")}`);
  const names = wanted.length > 0 ? wanted : Object.keys(PARTS);
  const started = Date.now();
  const date = new Date();
  const sections: Section[] = [];
  for (const name of names) {
    log(`${name} …`);
    const t = Date.now();
    sections.push(...(await PARTS[name]()));
    log(`${name} done in ${((Date.now() - t) / 1000).toFixed(0)} s`);
  }
  const targets = sections.flatMap((s) => s.targets);
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  const text = [
    "# Benchmarks",
    "",
    `Written by \`npm run bench\` (bench/run.ts) on ${date.toISOString().replace(/\.\d+Z$/, "Z")}; every figure below comes from that run, which took ${minutes} min. Rerunning overwrites this file.`,
    "",
    ...machine(),
    `- Rerun: \`npm ci && npm run bench\`, as root (nginx runs in a private mount namespace through \`unshare\`, as in the tests) with Debian's \`nginx-light\`, \`wrk\`, \`valgrind\` and \`strace\` installed (\`apt-get install -y nginx-light wrk valgrind strace\`). ` +
      "Parts alone, printed but not written here: `node -r ts-node/register/transpile-only bench/run.ts proxy` (or `routing`, `program`, `suggest`).",
    "",
    "## Targets",
    "",
    table(
      ["what", "target", "measured", "met"],
      targets.map((t) => [t.name, t.target, t.measured, t.met ? "yes" : "**no**"]),
    ),
    "",
    ...sections.flatMap((s) => [`## ${s.title}`, "", s.markdown.trimEnd(), ""]),
  ].join("\n");
  process.stdout.write(`${text}\n`);
  if (wanted.length === 0) {
    mkdirSync(path.dirname(OUT), { recursive: true });
    writeFileSync(OUT, text);
    log(`wrote ${path.relative(ROOT, OUT)}`);
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
