// Jest setup of the parts with `fileCoverage` (mutation/base.mjs), active only in
// Stryker's coverage run. Code that runs outside a test (a test file's imports,
// its beforeAll hooks) counts as "static" there, and Stryker then runs such a
// mutant only with the tests that happened to load the module inside a test
// (or ignores it). Here what a test file ran outside its tests is credited to
// every test of that file, so those are the tests that run the mutant.
/* global afterEach */
const context = globalThis.__stryker__;
if (context !== undefined && process.env.__STRYKER_ACTIVE_MUTANT__ === undefined) {
  // the counts before this file ran anything: the context is shared by all files
  const before = { ...context.mutantCoverage?.static };
  afterEach(() => {
    const test = context.currentTestId;
    const coverage = context.mutantCoverage;
    if (test === undefined || coverage === undefined) return;
    const ofTest = (coverage.perTest[test] ??= {});
    for (const [id, hits] of Object.entries(coverage.static)) {
      if (hits > (before[id] ?? 0)) ofTest[id] = (ofTest[id] ?? 0) + 1;
    }
  });
}
