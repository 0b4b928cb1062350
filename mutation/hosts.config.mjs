// pure/plan's node steps and ssh: what runs on the hosts, seen by running it
// for real (OpenSSH on loopback, the host scripts, the fake docker world) and by the
// program under mocks (which steps exist, in what order, with what triggers).
import { part } from "./base.mjs";

export default part("hosts", {
  mutate: ["pure/plan/{node-steps,ssh,host-scripts}.ts"],
  testFiles: [
    "tests/hostscripts.ssh.test.ts",
    "tests/host-dirs.ssh.test.ts",
    "tests/ssh-options.ssh.test.ts",
    "tests/live-read.ssh.test.ts",
    "tests/site-upload.nginx.test.ts",
    "tests/node-steps.host.test.ts",
    "tests/hostscripts.lint.test.ts",
    // the steps' titles, as `npm run plan` prints them
    "tests/plan-command.test.ts",
    "tests/graph.test.ts",
    "tests/rollout-steps.test.ts",
    "tests/program.mocks.test.ts",
    "tests/rollout.mocks.test.ts",
  ],
  timeoutMS: 60000,
  fileCoverage: true,
});
