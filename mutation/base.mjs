// Shared StrykerJS settings of every part of `npm run mutate` (docs/mutation.md).
// A part names the production files it mutates and the test files that can kill
// their mutants: the fast suites everywhere, a slow real-process suite only where
// it is the one that sees the behaviour (real nginx for the proxy config).

/** The parts, in the order `npm run mutate -- --all` runs them: mutation/<part>.config.mjs. */
export const PARTS = ["config", "plan", "hosts", "site", "rollout", "components", "nginx", "io", "cli", "operate"];

/** @returns {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export function part(name, { mutate, testFiles, coverageAnalysis = "perTest", timeoutMS = 20000, fileCoverage = false }) {
  return {
    mutate,
    testFiles,
    testRunner: "jest",
    jest: {
      projectType: "custom",
      configFile: "jest.config.js",
      config: {
        // a mutant's run loads only the part's test files (jest would load every
        // file in tests/ and skip their tests: seconds a mutant)
        testMatch: testFiles.map((file) => `<rootDir>/${file}`),
        // fileCoverage: a test file's module-level code and beforeAll hooks count
        // for each of its tests (mutation/file-coverage.cjs)
        ...(fileCoverage ? { setupFilesAfterEnv: ["<rootDir>/mutation/file-coverage.cjs"] } : {}),
      },
      enableFindRelatedTests: false,
    },
    checkers: ["typescript"],
    tsconfigFile: "mutation/tsconfig.json",
    // perTest: each mutant runs only the tests that reach it. A part whose code
    // only runs in child processes (the CLI) needs "off": their coverage is not seen.
    coverageAnalysis,
    // a static mutant (module-level code: the zod schema, constant command
    // text) runs every test of its part; they are ignored and counted in
    // docs/mutation.md, so the score covers code that runs inside a test
    ignoreStatic: true,
    incremental: true,
    incrementalFile: `reports/mutation/${name}.incremental.json`,
    // 1 on a machine shared with timing-sensitive tests: `--concurrency 2` otherwise
    concurrency: 1,
    // generous: the machine is shared, and the real-nginx tests wait on sockets
    timeoutMS,
    timeoutFactor: 2,
    dryRunTimeoutMinutes: 15,
    reporters: ["clear-text", "progress", "html", "json"],
    htmlReporter: { fileName: `reports/mutation/${name}.html` },
    jsonReporter: { fileName: `reports/mutation/${name}.json` },
    tempDirName: ".stryker-tmp",
    ignorePatterns: ["reports", "docs", "bench", ".ci", "coverage", "bin", "out"],
    thresholds: { high: 90, low: 85, break: null },
  };
}
