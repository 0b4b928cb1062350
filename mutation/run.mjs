// `npm run mutate`: StrykerJS on what a change touched, each file in its part.
//
//   npm run mutate              the production files that differ from main (committed
//                               since the branch left it, or not committed yet)
//   npm run mutate -- --since=REF   ... that differ from REF (e.g. HEAD~3)
//   npm run mutate -- FILE...   those files
//   npm run mutate -- --all     every part, every file
//
// Other options go to each Stryker run, with their value after `=`:
// `npm run mutate -- --all --concurrency=2`, `-- --force`.
//
// Each part keeps an incremental file (reports/mutation/<part>.incremental.json):
// a mutant whose code and tests did not change since the last run is not run
// again, and mutants of files a run leaves out keep their last result. So the
// reports, and `npm run mutate:scores` at the end, always cover every part.
import { execFileSync, spawnSync } from "node:child_process";
import { matchesGlob } from "node:path";
import { PARTS } from "./base.mjs";

const say = (line) => process.stdout.write(`${line}\n`);
const git = (...args) => execFileSync("git", args, { encoding: "utf8" }).split("\n").filter(Boolean);

const args = process.argv.slice(2);
const all = args.includes("--all");
const named = args.filter((a) => !a.startsWith("--"));
const since = args.find((a) => a.startsWith("--since="))?.slice("--since=".length);
const passed = args.filter((a) => a.startsWith("--") && a !== "--all" && !a.startsWith("--since="));

/** The production files a part mutates, from its `mutate` globs (a leading `!` leaves out). */
async function partOf(file) {
  for (const part of PARTS) {
    const { default: options } = await import(`./${part}.config.mjs`);
    const takes = options.mutate.filter((g) => !g.startsWith("!")).some((g) => matchesGlob(file, g));
    const leaves = options.mutate.filter((g) => g.startsWith("!")).some((g) => matchesGlob(file, g.slice(1)));
    if (takes && !leaves) return part;
  }
  return undefined;
}

let files;
if (all) files = undefined;
else if (named.length > 0) files = named;
else {
  const base = since ?? git("merge-base", "HEAD", "main")[0];
  files = [...new Set([...git("diff", "--name-only", base), ...git("ls-files", "--others", "--exclude-standard")])].filter((f) => f.endsWith(".ts"));
}

const runs = new Map();
if (files === undefined) for (const part of PARTS) runs.set(part, undefined);
else {
  for (const file of files) {
    const part = await partOf(file);
    if (part === undefined) {
      if (named.length > 0) say(`${file}: in no part's mutate globs (mutation/*.config.mjs); left out`);
      continue;
    }
    runs.set(part, [...(runs.get(part) ?? []), file]);
  }
  if (runs.size === 0) {
    say(`No production file to mutate among: ${files.join(", ") || "(no changed file)"}. \`npm run mutate -- --all\` runs every part.`);
    process.exit(0);
  }
}

for (const [part, partFiles] of runs) {
  const command = ["stryker", "run", `mutation/${part}.config.mjs`, ...(partFiles ? ["--mutate", partFiles.join(",")] : []), ...passed];
  say(`\n== ${part}: npx ${command.join(" ")}`);
  const { status } = spawnSync("npx", command, { stdio: "inherit" });
  if (status !== 0) process.exit(status ?? 1);
}
spawnSync("node", ["mutation/scores.mjs"], { stdio: "inherit" });
