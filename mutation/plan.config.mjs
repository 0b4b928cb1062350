// pure/plan: routing table, SeaTable's settings, rendered files, containers,
// node steps, ssh options. Each module with the suites that see what it does:
// the plain-data tests, the real nginx for SeaTable's site config, the real sshd
// for the host scripts and ssh options, and the program under mocks for the
// containers (its runs are per test while Stryker measures coverage:
// runForTests in tests/support/program.ts).
// nginx.ts is its own part (real nginx), the rollout modules too (rollout.config.mjs).
import { part } from "./base.mjs";

export default part("plan", {
  mutate: ["pure/config/routing-file.ts", "pure/plan/**/*.ts", "!pure/plan/nginx.ts", "!pure/plan/{stages,graph,rollout,changes,live,summary}.ts"],
  testFiles: [
    "tests/routing.test.ts",
    "tests/seatable-settings.test.ts",
    "tests/config.test.ts",
    "tests/role-environment.test.ts",
    "tests/config-inputs.test.ts",
    "tests/graph.test.ts",
    "tests/live.test.ts",
    "tests/stages.test.ts",
    "tests/rollout-steps.test.ts",
    "tests/plan-command.test.ts",
    "tests/program.mocks.test.ts",
    "tests/rollout.mocks.test.ts",
    "tests/exposure.test.ts",
    "tests/seatable-site.nginx.test.ts",
    "tests/site-upload.nginx.test.ts",
    "tests/hostscripts.ssh.test.ts",
    "tests/host-dirs.ssh.test.ts",
    "tests/ssh-options.ssh.test.ts",
    "tests/live-read.ssh.test.ts",
  ],
  timeoutMS: 60000,
});
