// The proxy's upstream keepalive_timeout against a dtable-server that, like
// Node.js by default, closes a keep-alive connection after 5 s idle. If nginx
// keeps idle upstream connections longer, it can send a request on one that the
// server is closing: with proxy_next_upstream off (never another server), the
// client gets a 502. The race window is short unless the server's event loop is
// busy (a dtable-server loading a large base) when its idle timer runs out: the
// request then waits unread in the socket, the timer closes the socket first,
// and the kernel answers the unread request with a reset. The test makes that
// moment happen: it sends requests 4.7 s after the last ones, then keeps the
// stand-ins' event loop (this process) busy until 5.4 s, past the 5 s mark.
import * as net from "net";
import { renderProxyConfig, renderProxyHosts } from "../pure/plan/nginx";
import { computeRoutingTable } from "../pure/plan/routing";
import { freePort, Nginx, startNginx } from "./support/nginx";
import { NODE_KEEP_ALIVE_TIMEOUT_MS, Standin, startStandin, stopStandins, withTimeout } from "./support/standins";

jest.setTimeout(90_000);

const NAME = "dtable-server";
const PARALLEL = 6; // requests at once, so that every nginx worker holds idle connections
// each round gives the broken configs a chance to lose the race; one CI run saw none in 3
const ROUNDS = 5;
const SEND_AT_MS = NODE_KEEP_ALIVE_TIMEOUT_MS - 300;
const BUSY_UNTIL_MS = NODE_KEEP_ALIVE_TIMEOUT_MS + 400;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One GET through the proxy; resolves with the status nginx answered (0: no answer). */
function get(port: number, sent?: () => void): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      let data = "";
      socket.on("connect", () => {
        socket.write("GET /ping/ HTTP/1.1\r\nHost: dtable-web\r\nConnection: close\r\n\r\n");
        sent?.();
      });
      socket.on("data", (chunk) => (data += chunk.toString()));
      socket.on("close", () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0)));
      socket.on("error", () => undefined);
    }),
    20_000,
    "a request through the proxy",
  );
}

/** Blocks this process's event loop (the stand-ins') for `ms`. */
function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // a dtable-server busy with a large base
  }
}

type Variant = { readonly label: string; readonly conf: (rendered: string) => string };
const RENDERED: Variant = { label: "as rendered (keepalive_timeout 4s)", conf: (c) => c };
const REMOVED: Variant = { label: "keepalive_timeout removed (nginx's 60 s)", conf: (c) => c.replace(/^ *keepalive_timeout 4s;\n/gm, "") };
const RAISED: Variant = { label: "keepalive_timeout 6s", conf: (c) => c.replace(/keepalive_timeout 4s;/g, "keepalive_timeout 6s;") };

/** Runs the rounds against one proxy per variant at once; the statuses each variant's clients got. */
async function idleGaps(variants: readonly Variant[]): Promise<Map<Variant, number[]>> {
  const base = 10 + (process.pid % 60) * 4;
  const standins: Standin[] = [];
  const proxies: Nginx[] = [];
  try {
    const table = computeRoutingTable({ servers: [{ name: NAME, weight: 1 }], bucketHexDigits: 1, pins: {} });
    for (const [i, v] of variants.entries()) {
      const address = `127.0.1.${base + i}`;
      standins.push(await startStandin(NAME, address, undefined, { keepAliveTimeoutMs: NODE_KEEP_ALIVE_TIMEOUT_MS }));
      const port = await freePort();
      const conf = renderProxyConfig(table, [NAME], { port, keepalive: 64, workerConnections: 1024, retryAfterSeconds: 10 });
      if (v !== RENDERED) expect(v.conf(conf)).not.toBe(conf); // the config still has the line the variant changes
      proxies.push(await startNginx(v.conf(conf), renderProxyHosts([{ name: NAME, address }]), port));
    }
    const statuses = new Map(variants.map((v) => [v, [] as number[]]));
    const all = (sent?: () => void) =>
      Promise.all(proxies.flatMap((p, i) => Array.from({ length: PARALLEL }, () => get(p.port, sent).then((s) => statuses.get(variants[i])!.push(s)))));
    await all(); // warm: every proxy now holds idle connections to its stand-in
    for (let round = 0; round < ROUNDS; round++) {
      await sleep(SEND_AT_MS);
      let pending = proxies.length * PARALLEL;
      // once every request is on its way, the stand-ins go busy past the 5 s mark
      await all(() => {
        pending -= 1;
        if (pending === 0) setImmediate(() => busy(BUSY_UNTIL_MS - SEND_AT_MS));
      });
    }
    return statuses;
  } finally {
    await Promise.allSettled(proxies.map((p) => p.stop()));
    await stopStandins(standins);
  }
}

test("idle upstream connections end before dtable-server closes them: no 502 with the rendered config, 502s without it", async () => {
  const statuses = await idleGaps([RENDERED, REMOVED, RAISED]);
  const count = (v: Variant, status: number) => statuses.get(v)!.filter((s) => s === status).length;
  const total = (ROUNDS + 1) * PARALLEL;
  expect({ ok: count(RENDERED, 200), total: statuses.get(RENDERED)!.length }).toEqual({ ok: total, total });
  // the broken configs show the race the rendered one avoids
  for (const v of [REMOVED, RAISED]) expect({ variant: v.label, some502: count(v, 502) > 0 }).toEqual({ variant: v.label, some502: true });
});
