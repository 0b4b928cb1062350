// A seeded random source for reproducible random UUIDs in the nginx tests and benchmarks.
//
// The numbers come from fast-check's generator (xorshift128+, 128 bits of state), so the
// streams of two seeds do not overlap in practice. A 32-bit generator (mulberry32, used
// before) made every seed a shifted copy of one stream: two tests once drew the same
// "random" base, and a test that needs distinct bases failed by chance.
import fc from "fast-check";

/** Uniform numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  const [stream] = fc.sample(fc.infiniteStream(fc.noBias(fc.integer({ min: 0, max: 0xffffffff })), { noHistory: true }), { seed, numRuns: 1 });
  return () => stream.next().value / 2 ** 32;
}
