// pure/plan's plain data: the routing table, SeaTable's settings, the
// containers, the rendered files, the applied table. Killed by the plain-data
// tests and by program.mocks (its runs are per test while Stryker measures
// coverage: runForTests in tests/support/program.ts).
// Other parts take the rest of pure/plan: hosts (the node steps, real sshd),
// site (SeaTable's nginx site, real nginx), nginx (the proxy, real nginx),
// rollout (the change to a running cluster).
import { part } from "./base.mjs";

export default part("plan", {
  mutate: ["pure/config/routing-file.ts", "pure/plan/{routing,seatable,containers,files,applied,where,index,go-duration,program-version,stack-reference,environment,node-facts,version-change,conf-migration}.ts"],
  testFiles: [
    "tests/routing.test.ts",
    "tests/seatable-settings.test.ts",
    "tests/containers.test.ts",
    "tests/config.test.ts",
    "tests/role-environment.test.ts",
    "tests/config-inputs.test.ts",
    "tests/applied.test.ts",
    "tests/start.test.ts",
    "tests/graph.test.ts",
    "tests/live.test.ts",
    "tests/stages.test.ts",
    "tests/rollout-steps.test.ts",
    "tests/plan-command.test.ts",
    // caddy's labels, turned into a Caddyfile and run by Debian's caddy
    "tests/caddy.test.ts",
    // the program under mocks: program.mocks sees every container and file;
    // rollout.mocks (a minute a run, several programs a test) is the components part's
    "tests/program.mocks.test.ts",
    "tests/engine-contract.test.ts",
    "tests/program-version.test.ts",
    "tests/stack-reference.test.ts",
    // day two: the admin's environment, each node's memory and conf files, version changes, the 6.1 settings
    "tests/environment.test.ts",
    "tests/node-facts.test.ts",
    "tests/version-change.test.ts",
    "tests/conf-migration.test.ts",
    "tests/conf-migration.ssh.test.ts",
    // MariaDB's innodb_snapshot_isolation, read from a real mariadbd
    "tests/mariadb.ssh.test.ts",
  ],
  timeoutMS: 60000,
  fileCoverage: true,
});
