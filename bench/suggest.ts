// `plan --suggest` at scale (issue 23, part 2): a generated access log of 10
// million lines streamed through io/access-log.ts's streamLines into the
// LoadAggregator, as `--log FILE` reads a file, in a child process of its own
// (started with --expose-gc, so that the heap is measured after a collection:
// what is retained, not what waits for the collector). Then suggest() on the
// sample it gave. Figures: time, throughput, heap at checkpoints, peak RSS.
//   node -r ts-node/register/transpile-only bench/suggest.ts            the part, printed
//   node --expose-gc -r ts-node/register/transpile-only bench/suggest.ts child <lines>   one measurement (JSON)
import { Readable } from "stream";
import { streamLines } from "../io/access-log";
import { LoadAggregator } from "../pure/plan/access-log";
import { buildPlan } from "../pure/plan";
import { suggest } from "../pure/plan/suggest";
import { configOf, withServers } from "../tests/support/stacks";
import { childFigures, fixed, log, Section, table, Target, thousands } from "./util";

const LINES = 10_000_000;
const CHECKPOINTS = 10;
/** Distinct bases in the log: far more than the heavy-hitter summary keeps, so it drops bases all the time (its slowest path). */
const BASES = 200_000;
const SERVERS = 8;
const SEED = 20240115;
const MARK = "SUGGEST_BENCH ";
/** Retained heap may not grow by more than this from the first checkpoint to the last. */
const HEAP_GROWTH_MIB = 16;

export type Checkpoint = { readonly lines: number; readonly heapMiB: number; readonly rssMiB: number; readonly seconds: number };
export type StreamFigures = {
  readonly lines: number;
  readonly bytes: number;
  readonly seconds: number;
  readonly cpuSeconds: number;
  readonly checkpoints: readonly Checkpoint[];
  readonly maxRssMiB: number;
  /** heap after a collection, before the stream (the generator's bases included) */
  readonly heapBeforeMiB: number;
  /** RSS before the stream: Node, ts-node with TypeScript, the generator */
  readonly rssBeforeMiB: number;
  readonly gc: boolean;
  readonly requests: number;
  readonly skipped: number;
  readonly suggestMs: number;
  readonly verdict: string;
};

/** A 32-bit generator (xorshift): the log needs speed, not quality. */
function xorshift(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * `lines` lines as the proxy writes them: bases drawn with a skew (a few busy,
 * most rarely seen), 2% without a base, 0.5% WebSocket sessions, one line in
 * 100,000 an nginx message; a second per 100 lines.
 */
export function generatedLog(lines: number, seed = SEED): Readable {
  const rng = xorshift(seed);
  const hex = (n: number) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join("");
  const bases = Array.from({ length: BASES }, () => `${hex(8)}-${hex(4)}-4${hex(3)}-8${hex(3)}-${hex(12)}`);
  const start = Date.UTC(2024, 0, 15) / 1000;
  let i = 0;
  let timeText = "";
  let timeSecond = -1;
  return new Readable({
    read() {
      let chunk = "";
      const end = Math.min(lines, i + 1000);
      for (; i < end; i++) {
        if (i % 100_000 === 99_999) {
          chunk += "2024/01/15 09:30:00 [notice] 1#1: signal process started\n";
          continue;
        }
        const second = Math.floor(i / 100);
        if (second !== timeSecond) {
          timeSecond = second;
          timeText = new Date((start + second) * 1000).toISOString().replace(".000Z", "+00:00");
        }
        const x = rng();
        const base = x < 0.02 ? "" : bases[Math.floor(BASES * rng() ** 4)];
        const status = x > 0.995 ? 101 : 200;
        const ms = 5 + Math.floor(rng() * 60);
        // the fields of pure/plan/nginx.ts's log_format, in its order
        chunk +=
          `{"time":"${timeText}","base":"${base}","bucket":"${base.slice(0, 2)}","server":"dtable-server","routed_by":"${base ? "bucket" : "default"}",` +
          `"status":${status},"upstream_status":"${status}","upstream_time":"0.0${ms < 10 ? "0" : ""}${ms}","request_time":0.0${ms + 1 < 10 ? "0" : ""}${ms + 1}}\n`;
      }
      this.push(chunk);
      if (i >= lines) this.push(null);
    },
  });
}

const mib = (bytes: number) => bytes / 2 ** 20;

/** Streams `lines` generated lines through the aggregator, then suggests; in this process. */
export async function measure(lines: number): Promise<StreamFigures> {
  const gc = (globalThis as { gc?: () => void }).gc;
  const source = generatedLog(lines);
  gc?.();
  const heapBefore = mib(process.memoryUsage().heapUsed);
  const rssBefore = mib(process.memoryUsage().rss);
  const aggregator = new LoadAggregator();
  const checkpoints: Checkpoint[] = [];
  const every = Math.max(1, Math.floor(lines / CHECKPOINTS));
  let seen = 0;
  const started = process.hrtime.bigint();
  const cpu = process.cpuUsage();
  const elapsed = () => Number(process.hrtime.bigint() - started) / 1e9;
  const streamed = await streamLines(source, (line) => {
    aggregator.add(line);
    seen += 1;
    if (seen % every === 0) {
      gc?.();
      const m = process.memoryUsage();
      checkpoints.push({ lines: seen, heapMiB: mib(m.heapUsed), rssMiB: mib(m.rss), seconds: elapsed() });
    }
  });
  const seconds = elapsed();
  const used = process.cpuUsage(cpu);
  const sample = aggregator.sample();
  const values = withServers(SERVERS);
  const config = configOf(values);
  const t = process.hrtime.bigint();
  const result = suggest({ config, applied: buildPlan(config).routing, appliedLabel: "the stack's table", sample });
  const suggestMs = Number(process.hrtime.bigint() - t) / 1e6;
  return {
    lines: seen,
    bytes: streamed.bytes,
    seconds,
    cpuSeconds: (used.user + used.system) / 1e6,
    checkpoints,
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    heapBeforeMiB: heapBefore,
    rssBeforeMiB: rssBefore,
    gc: gc !== undefined,
    requests: sample.requests,
    skipped: sample.skipped.count,
    suggestMs,
    verdict: result.verdict.kind,
  };
}

/** One measurement in a child process of its own, with --expose-gc. */
export function measureInChild(lines: number): Promise<StreamFigures> {
  return childFigures<StreamFigures>(__filename, ["child", String(lines)], MARK, { nodeArgs: ["--expose-gc"], timeoutMs: 1_800_000 });
}

/** How far the retained heap grew from the first checkpoint to the last. */
export const heapGrowth = (f: StreamFigures) => (f.checkpoints.length < 2 ? 0 : f.checkpoints[f.checkpoints.length - 1].heapMiB - f.checkpoints[0].heapMiB);

export async function suggestBench(): Promise<Section> {
  const started = Date.now();
  const f = await measureInChild(LINES);
  log(`suggest: ${thousands(f.lines)} lines in ${fixed(f.seconds, 1)} s, heap ${fixed(f.checkpoints[0]?.heapMiB ?? NaN, 1)} → ${fixed(f.checkpoints[f.checkpoints.length - 1]?.heapMiB ?? NaN, 1)} MiB, peak RSS ${fixed(f.maxRssMiB, 0)} MiB`);
  const growth = heapGrowth(f);
  const markdown = [
    `A generated access log of ${thousands(LINES)} lines (${fixed(f.bytes / 1e9, 2)} GB; ${thousands(BASES)} distinct bases drawn with a skew, 2% without a base, 0.5% WebSocket sessions, one nginx message per 100,000 lines) ` +
      "streamed through `streamLines` (io/access-log.ts) into the `LoadAggregator` (pure/plan/access-log.ts), as `plan --suggest --log FILE` reads a file, in a child process of its own started with `--expose-gc`; " +
      `the heap is measured after a collection at every ${thousands(LINES / CHECKPOINTS)} lines. Then \`suggest()\` on the sample, for prod with ${SERVERS} dtable-servers (256 buckets). ` +
      "The time includes generating the lines (a template per line) in the same process.",
    "",
    table(
      ["lines", "time (s)", "heap after GC (MiB)", "RSS (MiB)"],
      f.checkpoints.map((c) => [thousands(c.lines), fixed(c.seconds, 1), fixed(c.heapMiB, 1), fixed(c.rssMiB, 0)]),
    ),
    "",
    `- ${thousands(f.lines)} lines (${thousands(f.requests)} requests, ${thousands(f.skipped)} skipped) in ${fixed(f.seconds, 1)} s wall-clock, ${fixed(f.cpuSeconds, 1)} s CPU: ` +
      `${thousands(f.lines / f.seconds)} lines/s, ${fixed(f.bytes / 2 ** 20 / f.seconds, 0)} MiB/s.`,
    `- Before the stream: heap ${fixed(f.heapBeforeMiB, 1)} MiB, RSS ${fixed(f.rssBeforeMiB, 0)} MiB (Node, ts-node with TypeScript, the generator's bases). ` +
      `Retained heap changed by ${fixed(growth, 1)} MiB from the first checkpoint to the last; peak RSS ${fixed(f.maxRssMiB, 0)} MiB.`,
    `- \`suggest()\` on the sample: ${fixed(f.suggestMs, 0)} ms (verdict: ${f.verdict}).`,
    "",
    `Part time: ${fixed((Date.now() - started) / 1000, 0)} s.`,
  ].join("\n");
  const targets: Target[] = [
    { name: "suggest: heap while streaming 10M log lines", target: `bounded (growth ≤ ${HEAP_GROWTH_MIB} MiB)`, measured: `${fixed(growth, 1)} MiB growth, peak RSS ${fixed(f.maxRssMiB, 0)} MiB`, met: f.gc && growth <= HEAP_GROWTH_MIB },
    { name: "suggest: time for 10M log lines", target: "stated (no target given)", measured: `${fixed(f.seconds, 0)} s (${thousands(f.lines / f.seconds)} lines/s)`, met: true },
  ];
  return { title: "Rebalancing from the access log", markdown, targets };
}

// Stryker disable all: a benchmark's entry point
if (require.main === module) {
  if (process.argv[2] === "child") {
    void measure(Number(process.argv[3])).then((f) => process.stdout.write(`${MARK}${JSON.stringify(f)}\n`));
  } else {
    void suggestBench().then((s) => process.stdout.write(`## ${s.title}\n\n${s.markdown}\n\n${s.targets.map((t) => `- ${t.name}: ${t.measured} (target ${t.target}; ${t.met ? "met" : "NOT met"})`).join("\n")}\n`));
  }
}
// Stryker restore all
