// `npm run mutate:scores`: the mutation score of each folder, each file and the
// whole, from the JSON reports the parts of `npm run mutate` leave in
// reports/mutation/ (a part not run yet is missing, and said so). Scores are
// Stryker's own (mutation-testing-metrics): detected over valid mutants, where
// static (ignored), compile and runtime errors are not valid.
import { existsSync, readFileSync, statSync } from "node:fs";
import { calculateMetrics } from "mutation-testing-metrics";
import { PARTS } from "./base.mjs";

const say = (line) => process.stdout.write(`${line}\n`);
const DIR = "reports/mutation";

const files = {};
const mtime = (path) => (existsSync(path) ? statSync(path).mtimeMs : -1);
for (const part of PARTS) {
  const report = `${DIR}/${part}.json`;
  // a run stopped with Ctrl-C saves only its incremental file: the results so far
  const incremental = `${DIR}/${part}.incremental.json`;
  const path = mtime(incremental) > mtime(report) + 60_000 ? incremental : report;
  if (!existsSync(path)) {
    say(`${part}: no report (${report}); run npx stryker run mutation/${part}.config.mjs`);
    continue;
  }
  const stopped = path === incremental ? " (a stopped run's incremental file: its untested mutants are left out)" : "";
  say(`${part}: ${path} of ${statSync(path).mtime.toISOString()}${stopped}`);
  for (const [file, result] of Object.entries(JSON.parse(readFileSync(path, "utf8")).files)) {
    if (file in files) throw new Error(`${file} is in two parts' reports: each file belongs to one part`);
    files[file] = result;
  }
}

const COLUMNS = ["score", "killed", "timeout", "survived", "noCoverage", "ignored", "compileErrors", "runtimeErrors"];
const rows = [];
(function walk(result, depth) {
  const m = result.metrics;
  const score = Number.isNaN(m.mutationScore) ? "-" : `${m.mutationScore.toFixed(1)}%`;
  rows.push([`${"  ".repeat(depth)}${result.name}${result.file ? "" : "/"}`, score, ...COLUMNS.slice(1).map((c) => String(m[c]))]);
  for (const child of result.childResults) walk(child, depth + 1);
})(calculateMetrics(files), 0);

const header = ["", ...COLUMNS];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
for (const row of [header, ...rows]) say(row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "));
