// The operating tools (issue 23): `npm run status`'s judging and `plan
// --suggest`'s log reading and proposals, plain functions over plain data,
// killed by their own tests (the CLI runs of both are child processes, which
// per-test coverage does not see: tests/status.ssh.test.ts and
// tests/suggest-command.test.ts are not listed).
import { part } from "./base.mjs";

export default part("operate", {
  mutate: ["pure/plan/{status,suggest,access-log}.ts"],
  testFiles: ["tests/status.test.ts", "tests/suggest.test.ts", "tests/access-log.test.ts"],
  timeoutMS: 60000,
});
