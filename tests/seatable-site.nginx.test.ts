// dtable-web's own nginx site (seatable-nginx.conf), run for real (Debian's
// nginx) on loopback in front of stand-ins for what it proxies to, checked
// against what seatable-release's compose/config/seatable-nginx.conf does
// (v6.1.8 to its newest files): the same locations, each request reaching the
// same service with the same path and forwarding headers, the same CORS
// answers. The one intended difference is the cluster's ping locations (AD's
// cluster pages): dtable-server's goes to the proxy, dtable-db's to its node.
//
// The site is run as the container would run it, with the container's own
// addresses (127.0.0.1:8000, :8082, :7780 and port 80) and folders moved to
// loopback ports and temporary folders; nothing else in it is changed.
import { EventEmitter, once } from "events";
import * as http from "http";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { renderSeatableNginx } from "../pure/plan/seatable-nginx";
import { freePort, Nginx, startNginx } from "./support/nginx";
import { withTimeout } from "./support/standins";
import { configOf, stackValues } from "./support/stacks";

jest.setTimeout(60_000);

const HOST = "seatable.example.com";
const CLIENT = "127.0.0.1";
/** What caddy sends along: the browser's address. */
const CALLER = "203.0.113.7";
// Each run its own addresses for the cluster names (dtable-web's proxy on 5000, dtable-db on 7777).
const N = 10 + (process.pid % 240);
const WEB_ADDRESS = `127.0.4.${N}`;
const DB_ADDRESS = `127.0.5.${N}`;

// ---- what REL's site does ------------------------------------------------------------

/** REL's locations, with their modifiers. */
const REL_LOCATIONS = ["/", "/seafhttp", "/media", "/api-gateway/", "/api-gateway/socket.io/", "/dtable-server", "/dtable-db", "= /dtable-server/ping/", "= /dtable-db/ping/"];

/** The request headers by which the services behind learn who asked and how; each must be as REL sends it. */
const FORWARDING = ["host", "x-real-ip", "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-nginx-proxy", "connection", "upgrade"] as const;
type Forwarding = Partial<Record<(typeof FORWARDING)[number], string>>;

type Service = "dtable-web" | "seafile" | "api-gateway" | "dtable-server-proxy" | "dtable-db";
type Case = { readonly path: string; readonly service: Service; readonly url: string; readonly headers: Forwarding };

/** Every location REL has, one request each: where it lands and what it carries. `port` is where each service listens. */
function relCases(port: Record<Service, number>): Case[] {
  const chained = `${CALLER}, ${CLIENT}`;
  const uuid = "3f2a9c0d-5b8e-4e1a-9d7c-2b6f0e8a1c4d";
  return [
    {
      path: "/dtable/workspace/1/?x=1",
      service: "dtable-web",
      url: "/dtable/workspace/1/?x=1",
      headers: { host: HOST, "x-real-ip": CLIENT, "x-forwarded-for": chained, "x-forwarded-host": "_", "x-forwarded-proto": "https", connection: "close" },
    },
    {
      path: "/seafhttp/files/abc/x.txt?op=1",
      service: "seafile",
      url: "/files/abc/x.txt?op=1",
      headers: { host: `127.0.0.1:${port.seafile}`, "x-forwarded-for": chained, "x-forwarded-proto": "https", connection: "close" },
    },
    {
      path: `/api-gateway/api/v2/dtables/${uuid}/rows/`,
      service: "api-gateway",
      url: `/api/v2/dtables/${uuid}/rows/`,
      headers: { host: HOST, "x-real-ip": CLIENT, "x-forwarded-for": chained, "x-forwarded-host": "_", "x-forwarded-proto": "http", connection: "close" },
    },
    {
      path: `/api-gateway/socket.io/?dtable_uuid=${uuid}&EIO=4&transport=polling`,
      service: "api-gateway",
      url: `/socket.io/?dtable_uuid=${uuid}&EIO=4&transport=polling`,
      headers: { host: HOST, "x-real-ip": CLIENT, "x-forwarded-for": chained, "x-forwarded-proto": "https", "x-nginx-proxy": "true", connection: "upgrade" },
    },
    // the cluster's difference: REL sends these to 127.0.0.1 (nothing answers there on a cluster's dtable-web)
    { path: "/dtable-server/ping/", service: "dtable-server-proxy", url: "/ping/", headers: { host: `dtable-web:${port["dtable-server-proxy"]}`, "x-forwarded-for": CLIENT, "x-forwarded-proto": "https", connection: "close" } },
    { path: "/dtable-db/ping/", service: "dtable-db", url: "/ping/", headers: { host: `dtable-db:${port["dtable-db"]}`, "x-forwarded-for": CLIENT, "x-forwarded-proto": "https", connection: "close" } },
  ];
}

const CORS = {
  "access-control-allow-origin": "https://api.seatable.com",
  "access-control-allow-methods": "GET,POST,PUT,DELETE,OPTIONS",
  "access-control-allow-headers": "Content-Type, Accept, authorization, token, deviceType, x-seafile-otp",
};

// ---- stand-ins and requests ------------------------------------------------------------

type Seen = { service: Service; url: string; headers: http.IncomingHttpHeaders; bytes: number };

/** The services' requests as they begin (before their body has arrived), by URL. */
const arrived = new EventEmitter();

/** Header the socket.io stand-in answers `?big` with: larger than nginx's default 4k/8k header buffer. */
const BIG_HEADER = "b".repeat(20_000);

/** Longer than nginx's 60 s default of each timeout the site sets: `?slow` answers after it, `?hold` reads the body only after it. */
const PAST_DEFAULT_MS = 63_000;
/** The answer to `?large`: more than the socket buffers between nginx and its client hold. */
const LARGE = 48 * 1024 * 1024;

/**
 * A service behind the site: answers with what it received (the body's length,
 * not the body), and CORS headers of its own (the site must hide them). `?redirect`
 * answers a redirect to the service's own address, `?big` a 20 KB header,
 * `?large` a body of LARGE bytes; `?slow` answers and `?hold` reads the body
 * only after PAST_DEFAULT_MS; an upgrade is switched and echoed, as socket.io's
 * websocket is.
 */
async function startService(service: Service, address: string, port = 0): Promise<{ port: number; stop(): Promise<void> }> {
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void) => {
    const t = setTimeout(() => (timers.delete(t), fn()), PAST_DEFAULT_MS);
    timers.add(t);
  };
  const server = http.createServer((req, res) => {
    arrived.emit(req.url ?? "");
    let bytes = 0;
    req.on("data", (c: Buffer) => (bytes += c.length));
    if (req.url?.includes("hold")) {
      req.pause();
      later(() => req.resume());
    }
    req.on("end", () => {
      if (req.url?.includes("large")) {
        res.end(Buffer.alloc(LARGE, 0x61));
        return;
      }
      res.setHeader("access-control-allow-origin", "*");
      // the API gateway's location hides these too (the other locations pass them, as REL's do)
      if (service === "api-gateway") {
        res.setHeader("access-control-allow-methods", "PATCH");
        res.setHeader("access-control-allow-headers", "x-from-the-service");
      }
      if (req.url?.includes("redirect")) {
        res.writeHead(302, { location: `http://${address}:${(server.address() as AddressInfo).port}/socket.io/elsewhere` }).end();
        return;
      }
      if (req.url?.includes("big")) res.setHeader("x-big", BIG_HEADER);
      res.setHeader("content-type", "application/json");
      const answer = () => res.end(JSON.stringify({ service, url: req.url ?? "", headers: req.headers, bytes } satisfies Seen));
      if (req.url?.includes("slow")) later(answer);
      else answer();
    });
  });
  server.on("upgrade", (req: http.IncomingMessage, socket: import("net").Socket) => {
    // RFC 6455: a websocket is asked for with HTTP/1.1 or later
    if (req.httpVersion !== "1.1") {
      socket.end("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\n\r\n`);
    socket.pipe(socket);
  });
  await withTimeout(new Promise<void>((resolve) => server.listen(port, address, resolve)), 5_000, `${service} to listen`);
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      withTimeout(
        new Promise<void>((resolve) => {
          for (const t of timers) clearTimeout(t);
          server.closeAllConnections();
          server.close(() => resolve());
        }),
        5_000,
        `${service} to close`,
      ),
  };
}

type Answer = { status: number; headers: http.IncomingHttpHeaders; body: string };

function request(port: number, urlPath: string, method = "GET", body?: Buffer, timeoutMs = 20_000): Promise<Answer> {
  return withTimeout(
    new Promise<Answer>((resolve, reject) => {
      let answered = false;
      const req = http.request({ host: SITE_ADDRESS, port, path: urlPath, method, localAddress: CLIENT, agent: false, maxHeaderSize: 64 * 1024, headers: { host: HOST, "x-forwarded-for": CALLER, "x-forwarded-proto": "https" } }, (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      });
      // nginx may answer 413 and close while the body is still being sent
      req.on("error", (e) => (answered ? undefined : reject(e)));
      req.end(body);
    }),
    timeoutMs,
    `${method} ${urlPath}`,
  );
}

/** Asks for a websocket on `urlPath`; resolves with the status and what came back on the socket for `hello`. */
function websocket(port: number, urlPath: string): Promise<{ status: number; echo: string }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request({ host: SITE_ADDRESS, port, path: urlPath, localAddress: CLIENT, agent: false, headers: { host: HOST, connection: "Upgrade", upgrade: "websocket" } });
      req.on("upgrade", (res, socket) => {
        socket.once("data", (d: Buffer) => {
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, echo: d.toString() });
        });
        socket.write("hello");
      });
      req.on("response", (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, echo: "" });
      });
      req.on("error", reject);
      req.end();
    }),
    10_000,
    `websocket ${urlPath}`,
  );
}

const SITE_ADDRESS = "127.0.0.1";

/** `text` with each `[from, to]` replaced; every `from` must occur, so that a change in the rendering shows here. */
function replaceAll(text: string, pairs: readonly (readonly [string, string])[]): string {
  return pairs.reduce((t, [from, to]) => {
    if (!t.includes(from)) throw new Error(`the rendered site no longer contains ${JSON.stringify(from)}`);
    return t.split(from).join(to);
  }, text);
}

/** The `location` lines of a site, modifier and path. */
const locationsOf = (site: string) => [...site.matchAll(/^\s*location\s+([^{]*?)\s*\{/gm)].map((m) => m[1].replace(/\s+/g, " "));

// ---- the site, for each supported version ---------------------------------------------------

describe.each([["seatable/seatable-enterprise:6.1.8"], ["seatable/seatable-enterprise:6.2.12"]])("dtable-web's nginx site for %s", (image) => {
  const values = stackValues("dev");
  values.image = image;
  values.s3.buckets.avatar = "seatable-dev-avatar"; // required from 6.2
  const config = configOf(values);
  const site = renderSeatableNginx(config);

  let nginx: Nginx | undefined;
  let port = 0;
  let dir = "";
  const services: { stop(): Promise<void> }[] = [];
  let servicePort: Record<Service, number>;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "seatable-site-"));
    chmodSync(dir, 0o755);
    const media = path.join(dir, "dtable-web");
    mkdirSync(path.join(media, "media", "css"), { recursive: true, mode: 0o755 });
    writeFileSync(path.join(media, "media", "css", "seatable.css"), "body{}\n", { mode: 0o644 });
    mkdirSync(path.join(dir, "logs"));

    const started = {
      "dtable-web": await startService("dtable-web", "127.0.0.1"),
      seafile: await startService("seafile", "127.0.0.1"),
      "api-gateway": await startService("api-gateway", "127.0.0.1"),
      "dtable-server-proxy": await startService("dtable-server-proxy", WEB_ADDRESS, config.proxy.port),
      "dtable-db": await startService("dtable-db", DB_ADDRESS, 7777),
    };
    services.push(...Object.values(started));
    servicePort = Object.fromEntries(Object.entries(started).map(([k, v]) => [k, v.port])) as Record<Service, number>;
    port = await freePort();
    const asInContainer = replaceAll(site, [
      ["  listen 80;", `  listen ${SITE_ADDRESS}:${port};`],
      ["  listen [::]:80;\n", ""],
      ["http://127.0.0.1:8000", `http://127.0.0.1:${servicePort["dtable-web"]}`],
      ["http://127.0.0.1:8082", `http://127.0.0.1:${servicePort.seafile}`],
      ["http://127.0.0.1:7780", `http://127.0.0.1:${servicePort["api-gateway"]}`],
      ["/opt/nginx-logs/", `${dir}/logs/`],
      ["/opt/seatable/seatable-server-latest/dtable-web", media],
    ]);
    // the container's nginx.conf logs every request the site does not log itself
    const conf = `worker_processes 1;\nevents { worker_connections 64; }\nhttp {\naccess_log ${dir}/logs/nginx.access.log;\n${asInContainer}\n}\n`;
    nginx = await startNginx(conf, `${WEB_ADDRESS} ${config.hosts.web.name}\n${DB_ADDRESS} ${config.hosts.db.name}\n`, port);
  });

  afterAll(async () => {
    await nginx?.stop();
    await Promise.allSettled(services.map((s) => s.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test("has REL's locations, no more and no fewer", () => {
    expect(locationsOf(site).sort()).toEqual([...REL_LOCATIONS].sort());
  });

  test("each location reaches REL's service with REL's path and forwarding headers", async () => {
    for (const c of relCases(servicePort)) {
      const a = await request(port, c.path);
      expect({ path: c.path, status: a.status }).toEqual({ path: c.path, status: 200 });
      const seen = JSON.parse(a.body) as Seen;
      const forwarding = Object.fromEntries(FORWARDING.filter((h) => seen.headers[h] !== undefined).map((h) => [h, seen.headers[h]]));
      expect({ path: c.path, service: seen.service, url: seen.url, forwarding }).toEqual({ path: c.path, service: c.service, url: c.url, forwarding: c.headers });
    }
  });

  test("seafile learns the browser's address behind caddy (X-Forwarded-For chained on /seafhttp)", async () => {
    const seen = JSON.parse((await request(port, "/seafhttp/upload-aj/abc")).body) as Seen;
    expect(seen.headers["x-forwarded-for"]).toBe(`${CALLER}, ${CLIENT}`);
  });

  test("/media is served from dtable-web's files, not logged; a missing file is kept out of the error log", async () => {
    const found = await request(port, "/media/css/seatable.css");
    expect([found.status, found.body]).toEqual([200, "body{}\n"]);
    const missing = await request(port, "/media/css/no-such-file-5e1f.css");
    expect(missing.status).toBe(404);
    // as REL: static files are not logged
    expect(readFileSync(path.join(dir, "logs", "nginx.access.log"), "utf8")).not.toContain("/media/");
    expect(nginx!.output()).not.toContain("no-such-file-5e1f");
    expect(readFileSync(path.join(dir, "logs", "dtable-web.error.log"), "utf8")).not.toContain("no-such-file-5e1f");
  });

  test("the old /dtable-server and /dtable-db endpoints answer 404 with the move to the API gateway", async () => {
    for (const p of ["/dtable-server/api/v1/dtables/x/", "/dtable-db/api/v1/query/x/", "/dtable-server/"]) {
      const a = await request(port, p);
      expect({ path: p, status: a.status, deprecated: /deprecated.*API Gateway/.test(a.body) }).toEqual({ path: p, status: 404, deprecated: true });
    }
  });

  test("uploads: no size limit on dtable-web and /seafhttp, 10 MB on the API gateway", async () => {
    const mb = (n: number) => Buffer.alloc(n * 1024 * 1024, 0x61);
    for (const [p, size, status] of [
      ["/dtable/upload/", 12, 200],
      ["/seafhttp/upload-api/abc", 12, 200],
      ["/api-gateway/api/v2/dtables/x/import/", 9, 200],
      ["/api-gateway/api/v2/dtables/x/import/", 11, 413],
    ] as const) {
      const a = await request(port, p, "POST", mb(size));
      const bytes = a.status === 200 ? (JSON.parse(a.body) as Seen).bytes : 0;
      expect({ path: p, size, status: a.status, arrived: bytes === size * 1024 * 1024 }).toEqual({ path: p, size, status, arrived: status === 200 });
    }
  });

  test("an upload reaches seafile while it is still being sent: nginx does not hold it back until it is whole", async () => {
    const total = 2 * 1024 * 1024;
    const req = http.request({ host: SITE_ADDRESS, port, path: "/seafhttp/upload-api/streamed", method: "POST", localAddress: CLIENT, agent: false, headers: { host: HOST, "content-length": String(total) } });
    const answer = new Promise<number>((resolve, reject) => {
      req.on("response", (res) => (res.resume(), resolve(res.statusCode ?? 0)));
      req.on("error", reject);
    });
    const seen = once(arrived, "/upload-api/streamed");
    req.write(Buffer.alloc(64 * 1024, 0x61));
    try {
      await withTimeout(seen, 5_000, "seafile to see the upload's first part");
    } finally {
      req.end(Buffer.alloc(total - 64 * 1024, 0x61));
    }
    expect(await withTimeout(answer, 10_000, "the upload's answer")).toBe(200);
  });

  // the site is the same for every version: waiting past nginx's defaults once is enough
  if (image.endsWith(":6.2.12")) {
    test(
      "nothing is cut off after nginx's 60 s defaults: a slow dtable-web or seafile answer, seafile reading an upload late, a browser reading a download late",
      async () => {
        const seen = (a: Answer) => (a.status === 200 ? (JSON.parse(a.body) as Seen).bytes : -1);
        const wait = PAST_DEFAULT_MS + 30_000;
        // the browser stops reading a large download (the socket buffers fill up) and goes on after the wait
        const lateReader = withTimeout(
          new Promise<{ status: number; bytes: number }>((resolve, reject) => {
            const req = http.get({ host: SITE_ADDRESS, port, path: "/seafhttp/files/large", localAddress: CLIENT, agent: false, headers: { host: HOST } }, (res) => {
              res.pause();
              let bytes = 0;
              setTimeout(() => {
                res.on("data", (c: Buffer) => (bytes += c.length));
                // a download nginx cut off ends early: the bytes that came show it
                res.on("error", () => undefined);
                res.on("close", () => resolve({ status: res.statusCode ?? 0, bytes }));
                res.resume();
              }, PAST_DEFAULT_MS);
            });
            req.on("error", reject);
          }),
          wait,
          "the late download",
        );
        const upload = Buffer.alloc(32 * 1024 * 1024, 0x61);
        const [web, seafile, held, late] = await Promise.all([
          request(port, "/dtable/export/?slow=1", "GET", undefined, wait),
          request(port, "/seafhttp/files/abc?slow=1", "GET", undefined, wait),
          request(port, "/seafhttp/upload-api/abc?hold=1", "POST", upload, wait),
          lateReader,
        ]);
        expect({ web: web.status, seafile: seafile.status, held: seen(held), late }).toEqual({ web: 200, seafile: 200, held: upload.length, late: { status: 200, bytes: LARGE } });
      },
      3 * PAST_DEFAULT_MS,
    );
  }

  test("socket.io's websocket is switched through to the API gateway, with an answer header of 20 KB", async () => {
    const uuid = "3f2a9c0d-5b8e-4e1a-9d7c-2b6f0e8a1c4d";
    expect(await websocket(port, `/api-gateway/socket.io/?dtable_uuid=${uuid}&EIO=4&transport=websocket`)).toEqual({ status: 101, echo: "hello" });
    const big = await request(port, "/api-gateway/socket.io/?big=1");
    expect([big.status, big.headers["x-big"]?.length]).toEqual([200, BIG_HEADER.length]);
  });

  test("the API gateway's redirects to its own address pass as it wrote them, as REL's do", async () => {
    for (const p of ["/api-gateway/api/v2/x/?redirect=1", "/api-gateway/socket.io/?redirect=1"]) {
      const a = await request(port, p);
      expect({ path: p, status: a.status, location: a.headers.location }).toEqual({ path: p, status: 302, location: `http://127.0.0.1:${servicePort["api-gateway"]}/socket.io/elsewhere` });
    }
  });

  test("each location logs to its own file in the site's format, the browser's address first", async () => {
    const logged: Record<string, string> = { "dtable-web": "/dtable/logged-1a", seafhttp: "/seafhttp/logged-2b", "api-gateway": "/api-gateway/api/v2/logged-3c", "socket-io": "/api-gateway/socket.io/?logged-4d" };
    for (const p of Object.values(logged)) expect((await request(port, p)).status).toBe(200);
    for (const [file, p] of Object.entries(logged)) {
      const log = readFileSync(path.join(dir, "logs", `${file}.access.log`), "utf8");
      const line = log.split("\n").find((l) => l.includes(p)) ?? "";
      expect({ file, line: line.replace(/\[[^\]]*\]/, "[time]").replace(/ [\d.]+$/, " seconds") }).toEqual({ file, line: `${CALLER} ${CLIENT} [time] "GET ${p} HTTP/1.1" 200 ${line.split(" ")[8]} "-" "-" seconds` });
    }
  });

  test("CORS for api.seatable.com on every answer, the services' own hidden; OPTIONS answers 204", async () => {
    for (const p of ["/dtable/", "/api-gateway/api/v2/x/", "/seafhttp/x", "/dtable-server/ping/"]) {
      const a = await request(port, p);
      expect({ path: p, cors: Object.fromEntries(Object.keys(CORS).map((h) => [h, a.headers[h]])) }).toEqual({ path: p, cors: CORS });
    }
    const preflight = await request(port, "/api-gateway/api/v2/x/", "OPTIONS");
    expect([preflight.status, preflight.headers["access-control-allow-origin"]]).toEqual([204, CORS["access-control-allow-origin"]]);
  });
});
