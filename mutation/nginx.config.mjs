// pure/plan/nginx.ts: the proxy config, whose behaviour only real nginx shows.
import { part } from "./base.mjs";

export default part("nginx", {
  mutate: ["pure/plan/nginx.ts"],
  testFiles: ["tests/proxy.nginx.test.ts", "tests/keepalive.nginx.test.ts"],
  timeoutMS: 60000,
});
