// components/ and index.ts: the resource layer, run under Pulumi's mocks.
// program.mocks runs the program once per stack in a beforeAll and asserts on
// it in many tests; per-test coverage would see none of those tests (a mutant
// reached only there is "static"), so every mutant runs every test here.
// io/: what the program reads on the hosts, over a real sshd (the mocks replace it).
import { part } from "./base.mjs";

export default part("components", {
  mutate: ["components/**/*.ts", "index.ts", "io/**/*.ts"],
  testFiles: ["tests/rollout.mocks.test.ts", "tests/program.mocks.test.ts", "tests/live-read.ssh.test.ts"],
  coverageAnalysis: "all",
  timeoutMS: 60000,
});
