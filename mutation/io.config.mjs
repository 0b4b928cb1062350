// io/: what the program reads on the hosts before it plans, over a real sshd
// (the Pulumi mocks replace it, so only this suite sees it).
import { part } from "./base.mjs";

export default part("io", {
  mutate: ["io/**/*.ts"],
  testFiles: ["tests/live-read.ssh.test.ts", "tests/access-log.test.ts"],
  timeoutMS: 60000,
});
