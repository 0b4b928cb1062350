// pure/plan/nginx.ts: the proxy config, whose behaviour only real nginx shows.
import { part } from "./base.mjs";

// proxy.nginx's test names carry their random seed; Stryker picks a mutant's
// tests by name, so every run of the part must draw the same names (and UUIDs)
process.env.PROXY_TEST_SEED ??= "20261125";

export default part("nginx", {
  mutate: ["pure/plan/nginx.ts"],
  testFiles: ["tests/proxy.nginx.test.ts", "tests/keepalive.nginx.test.ts"],
  timeoutMS: 60000,
  // the proxies are started in beforeAll, and the access log's fields, the UUID
  // pattern and the status page's clients are module constants
  fileCoverage: true,
});
