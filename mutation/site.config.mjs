// pure/plan/seatable-nginx.ts: dtable-web's own nginx site, whose behaviour
// only real nginx shows (it is rendered in the suites' beforeAll: fileCoverage).
import { part } from "./base.mjs";

export default part("site", {
  mutate: ["pure/plan/seatable-nginx.ts"],
  testFiles: ["tests/seatable-site.nginx.test.ts", "tests/site-upload.nginx.test.ts", "tests/host-dirs.ssh.test.ts", "tests/plan-command.test.ts"],
  timeoutMS: 60000,
  fileCoverage: true,
});
