// caddy, the public entry, with the labels the program puts on dtable-web's
// seatable-server container: turned into a Caddyfile as caddy-docker-proxy
// does, run for real (Debian's caddy) on loopback in front of a stand-in
// dtable-web, and checked with real requests against what seatable-release's
// labels do (compose/seatable-server.yml, v6.1.8 to its newest files).
import * as http from "http";
import type { AddressInfo } from "net";
import { seatableContainer } from "../pure/plan/containers";
import { Caddy, CaddyBlock, caddyArgs, caddyBlocksFromLabels, marshalCaddyfile, startCaddy } from "./support/caddy";
import { freePort } from "./support/nginx";
import { withTimeout } from "./support/standins";
import { configOf, stackValues } from "./support/stacks";

jest.setTimeout(60_000);

const HOST = "seatable-dev.example.com"; // the dev stack's serverHostname
const BIND = "127.0.0.1";

// ---- what seatable-release's labels do ---------------------------------------------

/** Set on every answer, each value whole. */
const REL_HEADERS: Record<string, string> = {
  "strict-transport-security": "max-age=31536000; includeSubdomains; preload",
  "referrer-policy": "same-origin",
  "x-xss-protection": "1; mode=block",
  "x-content-type-options": "nosniff",
};

/** REL's Content-Security-Policy, by directive (the office add-ons at REL's default ports). */
const REL_POLICY: Record<string, string> = {
  "block-all-mixed-content": "",
  "default-src": "'none'",
  "style-src": "'unsafe-inline' 'self' fonts.googleapis.com",
  "script-src": "'unsafe-inline' 'unsafe-eval' 'self'",
  "script-src-elem": `'unsafe-inline' 'self' ${HOST}:6233 maps.googleapis.com unpkg.com`,
  "font-src": `'self' data: unpkg.com ${HOST}:6239 fonts.gstatic.com`,
  "img-src": "'self' data: blob: https: market.seatable.io market.seatable.com mt0.google.com maps.googleapis.com maps.gstatic.com",
  "media-src": "'self'",
  "form-action": `'self' ${HOST}:6232`,
  "connect-src": "'self' market.seatable.io market.seatable.com https: ws: blob: data:",
  "frame-src": `'self' ${HOST}:6232 ${HOST}:6233`,
  "frame-ancestors": "'self'",
  "worker-src": "'self' blob:",
  "manifest-src": "'self'",
  "object-src": "'self'",
  "base-uri": "'self'",
};

/** Pages other sites may frame: forms, external links, view external links, external apps, custom apps. */
const FRAMED = [
  "/dtable/forms/3f2a9c0d-5b8e-4e1a-9d7c-2b6f0e8a1c4d/",
  "/dtable/external-links/a1b2c3d4e5f6a7b8c9d0/",
  "/dtable/view-external-links/0f1e2d3c4b5a69788796/",
  "/dtable/external-apps/7c6b5a4d3e2f1a0b/",
  "/apps/custom/my-app/",
  "/external-apps/9a8b7c6d5e4f/?lang=de",
];
/** Everything else: framed only by the site itself. */
const NOT_FRAMED = ["/", "/dtable/workspace/1/table/", "/api2/ping/", "/dtable/forms", "/dtable/form/abc/", "/apps/other/", "/media/assets/x.js"];

const COOKIES = ["sessionid=s3cr1d; HttpOnly; Path=/", "csrftoken=t0k3n; Path=/"];

// ---- a stand-in dtable-web behind caddy ------------------------------------------

type Answer = { status: number; headers: http.IncomingHttpHeaders; rawNames: string[]; body: string };

function get(port: number, urlPath: string, host = HOST): Promise<Answer> {
  return withTimeout(
    new Promise<Answer>((resolve, reject) => {
      const req = http.get({ host: BIND, port, path: urlPath, headers: { host }, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, rawNames: res.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase()), body: Buffer.concat(chunks).toString() }),
        );
      });
      req.on("error", reject);
    }),
    10_000,
    `GET ${urlPath}`,
  );
}

/** dtable-web's nginx as caddy sees it: echoes the path, sets two cookies, no security headers of its own. */
async function startDtableWeb(): Promise<{ port: number; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    res.setHeader("Set-Cookie", COOKIES);
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ url: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, BIND, resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () => withTimeout(new Promise<void>((resolve) => server.close(() => resolve())), 5_000, "the stand-in to close"),
  };
}

/** The directives of a Content-Security-Policy header, whitespace normalised. */
function policy(header: string | string[] | undefined): Record<string, string> {
  if (typeof header !== "string") return {};
  const entries = header
    .split(";")
    .map((d) => d.trim().split(/\s+/))
    .filter((words) => words[0] !== "")
    .map(([name, ...sources]) => [name, sources.join(" ")]);
  return Object.fromEntries(entries);
}

type World = { caddy: Caddy; site: number; redirect: number; stop(): Promise<void> };

/**
 * caddy with the labels of dtable-web's container for `values`, its sites
 * moved to loopback ports over plain http (`https://HOST` → `http://HOST:site`,
 * `:80` → `:redirect`), `{{upstreams 80}}` → the stand-in.
 */
async function startWorld(values: Record<string, any>): Promise<World> {
  const config = configOf(values);
  const labels = seatableContainer(config, config.hosts.web).labels;
  const web = await startDtableWeb();
  const [site, redirect] = [await freePort(), await freePort()];
  try {
    const blocks = caddyBlocksFromLabels(labels, (scheme, port) => {
      // dtable-web's nginx listens on 80 inside the container
      if (scheme !== undefined || port !== 80) throw new Error(`upstreams ${scheme ?? ""} ${port ?? ""}: expected port 80, plain http`);
      return `${BIND}:${web.port}`;
    });
    const moved: Record<string, string> = { [`${config.serverProtocol}://${HOST}`]: `http://${HOST}:${site}`, ":80": `:${redirect}` };
    const sites: CaddyBlock[] = blocks.map((b) => {
      if (!(b.keys[0] in moved)) throw new Error(`unexpected site ${b.keys.join(" ")}`);
      return { ...b, keys: [moved[b.keys[0]], ...b.keys.slice(1)] };
    });
    const caddy = await startCaddy(sites, BIND, [site, redirect]);
    return { caddy, site, redirect, stop: async () => void (await Promise.allSettled([caddy.stop(), web.stop()])) };
  } catch (e) {
    await web.stop();
    throw e;
  }
}

const withVersion = (image: string, protocol: "https" | "http" = "https") => {
  const values = stackValues("dev");
  values.image = image;
  values.serverProtocol = protocol;
  values.s3.buckets.avatar = "seatable-dev-avatar"; // required from 6.2
  return values;
};

// ---- the converter itself ----------------------------------------------------------

describe("labels to Caddyfile, as caddy-docker-proxy converts them", () => {
  test("arguments split at spaces unless quoted; backquotes keep everything", () => {
    expect(caddyArgs('a "b c" `d; "e"` f\\"g')).toEqual(["a", "b c", 'd; "e"', 'f\\"g']);
  });

  test("numbered prefixes order, numbered suffixes keep blocks apart, matchers first, values quoted again", () => {
    const text = marshalCaddyfile(
      caddyBlocksFromLabels(
        {
          site_1: "b.example",
          site_0: "a.example",
          "site_0.zeta": "`one arg`",
          "site_0.1_alpha": "x",
          "site_0.@m.path": "/p/*",
          "site_0.header_0.A": "1",
          "site_0.header_1.B": "2",
          "site_0.header_1.C": "",
          "site_0.proxy": "{{upstreams 80}}",
        },
        (_, port) => `10.0.0.5:${port}`,
      ),
    );
    expect(text).toBe(
      ["a.example {", "\t@m {", "\t\tpath /p/*", "\t}", "\talpha x", "\theader {", "\t\tA 1", "\t}", "\theader {", "\t\tB 2", "\t\tC", "\t}", "\tproxy 10.0.0.5:80", '\tzeta "one arg"', "}", "b.example", ""].join("\n"),
    );
  });
});

// ---- caddy in front of dtable-web --------------------------------------------------

describe.each([
  ["6.1", "seatable/seatable-enterprise:6.1.8"],
  ["6.2", "seatable/seatable-enterprise:6.2.12"],
])("caddy with dtable-web's labels, SeaTable %s, https", (_, image) => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(withVersion(image));
  });
  afterAll(async () => {
    await world?.stop();
  });

  test("every answer carries REL's security headers, each value whole", async () => {
    for (const p of [...FRAMED, ...NOT_FRAMED]) {
      const a = await get(world.site, p);
      for (const [name, value] of Object.entries(REL_HEADERS)) expect({ path: p, [name]: a.headers[name] }).toEqual({ path: p, [name]: value });
      // a value split into arguments leaves stray header fields behind
      expect({ path: p, names: a.rawNames.filter((n) => !/^[a-z-]+$/.test(n) || ["preload", "includesubdomains;"].includes(n)) }).toEqual({ path: p, names: [] });
    }
  });

  test("pages that are not meant to be embedded keep REL's Content-Security-Policy and SAMEORIGIN", async () => {
    for (const p of NOT_FRAMED) {
      const a = await get(world.site, p);
      expect({ path: p, policy: policy(a.headers["content-security-policy"]) }).toEqual({ path: p, policy: REL_POLICY });
      expect({ path: p, frame: a.headers["x-frame-options"] }).toEqual({ path: p, frame: "SAMEORIGIN" });
    }
  });

  test("forms, external links, view external links, external and custom apps may be framed by any site", async () => {
    for (const p of FRAMED) {
      const a = await get(world.site, p);
      expect({ path: p, frame: a.headers["x-frame-options"], policy: a.headers["content-security-policy"] }).toEqual({ path: p, frame: "ALLOWALL", policy: undefined });
    }
  });

  test("dtable-web's cookies are marked SameSite=None; Secure (usable inside those frames)", async () => {
    for (const p of ["/", FRAMED[0]]) {
      const a = await get(world.site, p);
      expect({ path: p, cookies: a.headers["set-cookie"] }).toEqual({ path: p, cookies: COOKIES.map((c) => `${c}; SameSite=None; Secure`) });
    }
  });

  test("every request reaches dtable-web's nginx with its path and query", async () => {
    for (const p of [...FRAMED, ...NOT_FRAMED]) {
      const a = await get(world.site, p);
      expect({ status: a.status, body: a.body }).toEqual({ status: 200, body: JSON.stringify({ url: p }) });
    }
  });

  test("plain http on port 80 is redirected to https", async () => {
    const a = await get(world.redirect, "/dtable/forms/x/?a=1");
    expect([a.status, a.headers.location]).toEqual([302, `https://${HOST}/dtable/forms/x/?a=1`]);
  });
});

describe("caddy with dtable-web's labels, plain http", () => {
  let world: World;
  beforeAll(async () => {
    world = await startWorld(withVersion("seatable/seatable-enterprise:6.1.8", "http"));
  });
  afterAll(async () => {
    await world?.stop();
  });

  test("cookies are left alone: browsers drop Secure cookies (and SameSite=None without Secure) over http", async () => {
    const a = await get(world.site, "/");
    expect(a.headers["set-cookie"]).toEqual(COOKIES);
  });

  test("the headers and framing routes are the same as over https", async () => {
    const framed = await get(world.site, FRAMED[0]);
    const plain = await get(world.site, "/");
    expect([framed.headers["x-frame-options"], framed.headers["content-security-policy"]]).toEqual(["ALLOWALL", undefined]);
    expect([plain.headers["x-frame-options"], policy(plain.headers["content-security-policy"])]).toEqual(["SAMEORIGIN", REL_POLICY]);
    expect(plain.headers["strict-transport-security"]).toBe(REL_HEADERS["strict-transport-security"]);
  });
});
