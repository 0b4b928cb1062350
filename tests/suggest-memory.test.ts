// Bounded memory: a generated access log streamed through the aggregator in a
// child process (bench/suggest.ts, --expose-gc), the heap measured after a
// collection at ten checkpoints. 1 million lines here (about 10 s);
// SUGGEST_MEMORY_LINES=10000000 for the 10 million of the benchmark
// (`node -r ts-node/register/transpile-only bench/suggest.ts` prints that part).
import { heapGrowth, measureInChild } from "../bench/suggest";

const LINES = Number(process.env.SUGGEST_MEMORY_LINES ?? 1_000_000);

test(`${LINES.toLocaleString("en-US")} log lines: the retained heap does not grow with the log`, async () => {
  const f = await measureInChild(LINES);
  expect(f.gc).toBe(true);
  expect(f.lines).toBe(LINES);
  expect(f.requests + f.skipped).toBe(LINES);
  expect(f.checkpoints).toHaveLength(10);
  // what the aggregator keeps is fixed in size: the heap after a collection stays where it was after the first tenth
  expect(heapGrowth(f)).toBeLessThan(16);
  for (const c of f.checkpoints) expect(c.heapMiB).toBeLessThan(f.heapBeforeMiB + 32);
  expect(f.verdict).toBe("proposed");
}, 600_000);
