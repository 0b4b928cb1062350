// components/ and index.ts: the resource layer, run under Pulumi's mocks. Most
// tests of rollout.mocks run the program in their bodies (per-test coverage);
// what only a beforeAll reaches is static and ignored (docs/mutation.md).
// io/: what the program reads on the hosts, over a real sshd (the mocks replace it).
import { part } from "./base.mjs";

export default part("components", {
  mutate: ["components/**/*.ts", "index.ts", "io/**/*.ts"],
  testFiles: ["tests/rollout.mocks.test.ts", "tests/program.mocks.test.ts", "tests/live-read.ssh.test.ts"],
  timeoutMS: 60000,
});
