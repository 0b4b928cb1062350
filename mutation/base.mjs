// Shared StrykerJS settings of every part of `npm run mutate` (docs/mutation.md).
// A part names the production files it mutates and the test files that can kill
// their mutants: the fast suites everywhere, a slow real-process suite only where
// it is the one that sees the behaviour (real nginx for the proxy config).

/** @returns {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export function part(name, { mutate, testFiles, coverageAnalysis = "perTest", timeoutMS = 20000 }) {
  return {
    mutate,
    testFiles,
    testRunner: "jest",
    jest: {
      projectType: "custom",
      configFile: "jest.config.js",
      config: { setupFiles: ["<rootDir>/mutation/jest.setup.ts"] },
      enableFindRelatedTests: false,
    },
    checkers: ["typescript"],
    tsconfigFile: "tsconfig.json",
    // perTest: each mutant runs only the tests that reach it. A part whose code
    // only runs in child processes (the CLI) needs "off": their coverage is not seen.
    coverageAnalysis,
    incremental: true,
    incrementalFile: `reports/mutation/${name}.incremental.json`,
    concurrency: 2,
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
