// The rendered nginx-proxy.conf, run for real (Debian's nginx) on loopback in
// front of stand-in dtable-servers (design, "Tests"): what nginx does must equal
// what the routing table says, for every URL form.
//
// Random UUIDs come from a seeded PRNG; every failure shows the seed. Rerun
// with PROXY_TEST_SEED=<seed> (optionally with -t for one test) to get the same UUIDs.
import * as http from "http";
import * as net from "net";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { seededRandom } from "./support/random";
import * as path from "path";
import WebSocket from "ws";
import { allBuckets } from "../pure/config/routing-file";
import { normaliseUuid } from "../pure/config/values";
import { ProxySettings, Quarantine, QUARANTINE, renderProxyConfig, renderProxyHosts, SERVER_HEADER, UPSTREAM_HEADER } from "../pure/plan/nginx";
import { bucketOf, computeRoutingTable, ownerOf, RoutingTable, WeightedServer } from "../pure/plan/routing";
import { freePort, Nginx, nginxDir, nginxTest, startNginx } from "./support/nginx";
import { Standin, StandinReply, startStandin, startStandins, stopStandins, withTimeout } from "./support/standins";

const SEED = process.env.PROXY_TEST_SEED ? Number(process.env.PROXY_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
const SEED_NOTE = `seed ${SEED} (rerun with PROXY_TEST_SEED=${SEED})`;

jest.setTimeout(30_000);

// ---- seeded randomness -----------------------------------------------------

/** FNV-1a of `text`, to give each test its own stream from the seed (so `-t` reruns reproduce it). */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h;
}
let rng = seededRandom(SEED);
beforeEach(() => {
  rng = seededRandom(SEED ^ hash(expect.getState().currentTestName ?? ""));
});
const randInt = (n: number) => Math.floor(rng() * n);
const randHex = (digits: number) => Array.from({ length: digits }, () => randInt(16).toString(16)).join("");
/** A random base UUID, lower-case dashed. */
const randomUuid = () => normaliseUuid(randHex(32));
/** A random UUID in `bucket`. */
const uuidInBucket = (bucket: string) => normaliseUuid(bucket + randHex(32 - bucket.length));

// ---- the cluster under test ----------------------------------------------------

const NAMES = ["dtable-server-1", "dtable-server-2", "dtable-server-3", "dtable-server-4", "dtable-server-5", "dtable-server-6", "dtable-server-7"];
// Each run takes its own block of loopback addresses, so that two runs at once do not collide.
const ADDRESS_BASE = 10 + (process.pid % 28) * 8;
const ADDRESSES = NAMES.map((name, i) => ({ name, address: `127.0.0.${ADDRESS_BASE + i}` }));
/** Where a dtable-server's stand-in listens, as nginx names the upstream it connected to. */
const addressOf = (server: string) => `${ADDRESSES.find((a) => a.name === server)!.address}:5000`;
const HOSTS = renderProxyHosts(ADDRESSES);

const WEIGHTS: Record<number, number[]> = { 2: [1, 3], 3: [3, 2, 1], 7: [1, 2, 3, 1, 4, 1, 2] };
const serversOf = (count: number): WeightedServer[] => WEIGHTS[count].map((weight, i) => ({ name: NAMES[i], weight }));

const settings = (port: number): ProxySettings => ({ port, keepalive: 64, workerConnections: 1024, retryAfterSeconds: 10 });

type Cluster = { readonly label: string; readonly count: number; readonly table: RoutingTable; readonly servers: string[]; readonly pinned: string[] };

/** A routing table for `count` servers; with pins, a few random bases pinned away from their bucket's owner. */
function cluster(count: number, digits: 1 | 2, withPins: boolean): Cluster {
  const servers = serversOf(count);
  const names = servers.map((s) => s.name);
  const plain = computeRoutingTable({ servers, bucketHexDigits: digits, pins: {} });
  const pins: Record<string, string> = {};
  if (withPins) {
    for (let i = 0; i < 4; i++) {
      const uuid = randomUuid();
      const owner = plain.buckets[bucketOf(uuid, digits)];
      const others = names.filter((n) => n !== owner);
      pins[uuid] = others[randInt(others.length)];
    }
  }
  const table = computeRoutingTable({ servers, bucketHexDigits: digits, pins });
  return { label: `${count} servers, ${digits} hex digit(s), ${withPins ? "4 pins" : "no pins"}`, count, table, servers: names, pinned: Object.keys(pins) };
}

const CLUSTERS: Cluster[] = [2, 3, 7].flatMap((count) => ([1, 2] as const).flatMap((digits) => [false, true].map((pins) => cluster(count, digits, pins))));

// ---- URL forms -------------------------------------------------------------------

const SPELLINGS: Record<string, (uuid: string) => string> = {
  dashed: (u) => u,
  "upper dashed": (u) => u.toUpperCase(),
  hex32: (u) => u.replace(/-/g, ""),
  "upper hex32": (u) => u.replace(/-/g, "").toUpperCase(),
  "mixed case": (u) => [...u].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join(""),
};

const FORMS: ((u: string) => string)[] = [
  (u) => `/dtables/${u}?from=dtable_events`,
  (u) => `/dtables/${u}/?from=dtable_web`,
  ...["rows/", "metadata/", "tables/", "columns/", "batch-append-rows/", "links/", "import-excel/?from=x"].map((s) => (u: string) => `/api/v1/dtables/${u}/${s}`),
  ...["view-rows/", "signals/", "archive/", "repair-base/", "apply-pending-operations/"].map((s) => (u: string) => `/api/v1/internal/dtables/${u}/${s}`),
  (u) => `/api/v1/${u}/import-csv/`,
  (u) => `/api/v1/internal/${u}/connected-apps/`,
  (u) => `/socket.io/?dtable_uuid=${u}&EIO=4&transport=polling`,
  // non-UUID tokens (a date, a file name) after and before the UUID
  (u) => `/api/v1/dtables/${u}/files/20240115-0930/cafe1234-beef.png`,
  (u) => `/x/20240115-0930/cafe1234-beef/${u}/`,
  (u) => `/api/v1/dtables/${u}/files/?name=cafe1234-beef.png&t=20240115-0930`,
];

type Case = { readonly path: string; readonly expected: string };

/** Every spelling in every form, for one UUID, cycling through `index` otherwise. */
function formsOf(uuid: string, table: RoutingTable, index?: number): Case[] {
  const spellings = Object.values(SPELLINGS);
  const pairs =
    index === undefined
      ? spellings.flatMap((spell) => FORMS.map((form) => ({ spell, form })))
      : [{ form: FORMS[index % FORMS.length], spell: spellings[Math.floor(index / FORMS.length) % spellings.length] }];
  return pairs.map(({ spell, form }) => {
    const written = spell(uuid);
    return { path: form(written), expected: ownerOf(table, normaliseUuid(written)) };
  });
}

/** Requests that carry no whole base UUID go to the default server; the first whole UUID wins. */
function specialCases(c: Cluster): Case[] {
  const t = c.table;
  // A base not on the default server, so that wrongly taking it for a UUID shows.
  let away = randomUuid();
  while (ownerOf(t, away) === t.default) away = randomUuid();
  const other = randomUuid();
  const hex = (u: string) => u.replace(/-/g, "");
  const notUuids = [away, ...c.pinned].flatMap((u) => [
    `/x/ab${u}/`,
    `/x/${u}ab/`,
    `/x/${u}-1234/`,
    `/x/ff${hex(u)}/`,
    `/x/${hex(u)}ff/`,
    `/x/${hex(u).slice(1)}/`,
    `/x/${u.slice(0, -1)}/`,
    `/x/?q=a${hex(u)}`,
    `/api/v1/dtables/x${u}/rows/`,
  ]);
  return [
    ...["/", "/ping/", "/api/v1/admin/sys-info/", "/x/20240115-0930/", "/x/cafe1234-beef.png", "/dtables/?from=dtable_web"].map((p) => ({ path: p, expected: t.default })),
    ...notUuids.map((p) => ({ path: p, expected: t.default })),
    // a UUID-like token that is not one does not hide the real UUID after it
    { path: `/x/ab${away}/${other}/`, expected: ownerOf(t, other) },
    { path: `/x/${hex(away)}ff/dtables/${other}/`, expected: ownerOf(t, other) },
    // the first whole UUID wins, path before query
    { path: `/api/v1/dtables/${away}/rows/?other=${other}`, expected: ownerOf(t, away) },
    { path: `/api/v1/dtables/${other}/rows/?other=${away}`, expected: ownerOf(t, other) },
  ];
}

// ---- HTTP through the proxy ------------------------------------------------------

type Reply = { readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: string; readonly ms: number };

const REQUEST_TIMEOUT_MS = 5000;

function get(port: number, urlPath: string, agent: http.Agent): Promise<Reply> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: Date.now() - started }));
      res.on("error", reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)));
    req.on("error", reject);
  });
}

/** Runs `work` over `items`, `concurrency` at a time. */
async function pool<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  return results;
}

const figures = { requestsSent: 0, randomUuids: 0, keepAliveRequests: 0, keepAliveConnections: 0 };

/** Sends every case through the proxy; returns a description of each that did not reach its expected server. */
async function routeAll(port: number, cases: readonly Case[], concurrency = 32): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const results = await pool(cases, concurrency, async (c) => {
      figures.requestsSent += 1;
      try {
        const r = await get(port, c.path, agent);
        let body: Partial<StandinReply> = {};
        try {
          body = JSON.parse(r.body) as StandinReply;
        } catch {
          // reported below
        }
        const header = r.headers[SERVER_HEADER.toLowerCase()];
        // the address nginx connected to: what the rollout's verify checks
        const upstream = r.headers[UPSTREAM_HEADER.toLowerCase()];
        if (r.status === 200 && body.server === c.expected && header === c.expected && upstream === addressOf(c.expected) && body.url === c.path) return undefined;
        return `${c.path}: expected ${c.expected} at ${addressOf(c.expected)}, got ${r.status} body ${r.body.slice(0, 120)} header ${String(header)} upstream ${String(upstream)}`;
      } catch (e) {
        return `${c.path}: expected ${c.expected}, got error ${(e as Error).message}`;
      }
    });
    return results.filter((r): r is string => r !== undefined);
  } finally {
    agent.destroy();
  }
}

// ---- fixtures ----------------------------------------------------------------------

let standins: Standin[] = [];
let nginx: Nginx | undefined;
const standin = (name: string) => standins.find((s) => s.name === name)!;

type Proxy = Nginx & { readonly settings: ProxySettings };

/** nginx with `conf(settings)`, on a free port. */
async function startProxy(conf: (s: ProxySettings) => string, hosts = HOSTS): Promise<Proxy> {
  const port = await freePort();
  const s = settings(port);
  nginx = await startNginx(conf(s), hosts, port);
  return { ...nginx, settings: s };
}

beforeAll(async () => {
  standins = await startStandins(ADDRESSES);
});

afterEach(async () => {
  const running = nginx;
  nginx = undefined;
  await running?.stop();
});

afterAll(async () => {
  await nginx?.stop();
  await stopStandins(standins);
  // Figures for a report, without printing: PROXY_TEST_FIGURES=<file>.
  if (process.env.PROXY_TEST_FIGURES) writeFileSync(process.env.PROXY_TEST_FIGURES, `${JSON.stringify({ seed: SEED, ...figures }, null, 2)}\n`);
});

const quarantineOf = (c: Cluster): Quarantine => {
  const buckets = allBuckets(c.table.bucketHexDigits);
  return { buckets: buckets.filter(() => rng() < 0.2), pins: [...c.pinned.slice(0, 1), randomUuid()] };
};

// ---- tests -----------------------------------------------------------------------------

test(`nginx -t accepts every rendered config, plain and quarantine [${SEED_NOTE}]`, async () => {
  const confs = CLUSTERS.flatMap((c) => [
    { label: c.label, text: renderProxyConfig(c.table, c.servers, settings(18080)) },
    { label: `${c.label}, quarantine`, text: renderProxyConfig(c.table, c.servers, settings(18080), quarantineOf(c)) },
  ]);
  const results = await pool(confs, 4, async ({ label, text }) => {
    const dir = nginxDir(HOSTS, text);
    try {
      const r = await nginxTest(path.join(dir, "nginx.conf"));
      return { label, code: r.code, output: r.code === 0 ? "" : r.output };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  expect(results.filter((r) => r.code !== 0)).toEqual([]);
  expect(results).toHaveLength(2 * CLUSTERS.length);
});

test(`the largest tables load: 3 hex digits (4,096 buckets) and 5,000 pinned bases, in quarantine too [${SEED_NOTE}]`, async () => {
  // nginx's default map hash (max size 2,048, buckets of a cache line) refuses maps this large
  const servers = serversOf(7);
  const names = servers.map((s) => s.name);
  const pins = Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [randomUuid(), names[i % names.length]]));
  const table = computeRoutingTable({ servers, bucketHexDigits: 3, pins });
  const quarantine = { buckets: allBuckets(3).slice(0, 600), pins: Object.keys(pins).slice(0, 800) };
  for (const text of [renderProxyConfig(table, names, settings(18080)), renderProxyConfig(table, names, settings(18080), quarantine)]) {
    const dir = nginxDir(HOSTS, text);
    try {
      const r = await nginxTest(path.join(dir, "nginx.conf"));
      // and no warning: nginx would otherwise print "could not build optimal map_hash" at every reload
      expect({ code: r.code, warnings: r.output.split("\n").filter((l) => /\[(warn|emerg|crit|alert|error)\]/.test(l)) }).toEqual({ code: 0, warnings: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test(`what reaches the dtable-server: the client's Host, X-Forwarded-For, a 20 MB upload whole; no nginx version to the client [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 2 && x.table.bucketHexDigits === 1 && x.pinned.length === 0)!;
  const proxy = await startProxy((s) => renderProxyConfig(c.table, c.servers, s));
  const uuid = randomUuid();
  const upload = Buffer.alloc(20 * 1024 * 1024, 0x61);
  const reply = await new Promise<Reply>((resolve, reject) => {
    const started = Date.now();
    const req = http.request(
      { host: "127.0.0.1", port: proxy.port, method: "POST", path: `/api/v1/dtables/${uuid}/import/`, headers: { host: "cloud.example.org", "x-forwarded-for": "203.0.113.7", "content-length": upload.length } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (d: Buffer) => chunks.push(d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: Date.now() - started }));
      },
    );
    req.setTimeout(20_000, () => req.destroy(new Error("no answer within 20 s")));
    req.on("error", reject);
    req.end(upload);
  });
  // nginx's own default would refuse the upload (413 above 1 MB), send its upstream's
  // name as Host, drop the client's address, and name its version
  expect({ status: reply.status, server: reply.headers.server, body: JSON.parse(reply.body) }).toEqual({
    status: 200,
    server: "nginx",
    body: { server: ownerOf(c.table, uuid), url: `/api/v1/dtables/${uuid}/import/`, host: "cloud.example.org", forwardedFor: "203.0.113.7, 127.0.0.1", bodyBytes: upload.length },
  });
});

test("the proxy waits up to 600 s for a dtable-server's answer (an import of a big base) and 5 s to connect", () => {
  // waiting that long in a test is not worth it: the rendered values are the contract
  const conf = renderProxyConfig(CLUSTERS[0].table, CLUSTERS[0].servers, settings(18080));
  expect(conf.split("\n").filter((l) => /^\s*proxy_(connect|read|send)_timeout /.test(l)).map((l) => l.trim())).toEqual([
    "proxy_connect_timeout 5s;",
    "proxy_read_timeout 600s;",
    "proxy_send_timeout 600s;",
  ]);
});

// 12 clusters × 900 random UUIDs = 10,800 random UUIDs, plus every pinned UUID in every form and spelling.
const RANDOM_UUIDS_PER_CLUSTER = 900;

test.each(CLUSTERS.map((c) => [c.label, c] as const))(`routes every URL form to the owner: %s [${SEED_NOTE}]`, async (_label, c) => {
  const proxy = await startProxy((s) => renderProxyConfig(c.table, c.servers, s));
  figures.randomUuids += RANDOM_UUIDS_PER_CLUSTER;
  const cases = [
    ...Array.from({ length: RANDOM_UUIDS_PER_CLUSTER }, (_, i) => formsOf(randomUuid(), c.table, i)).flat(),
    ...c.pinned.flatMap((u) => formsOf(u, c.table)),
    ...specialCases(c),
  ];
  // the pins really point away from their bucket
  for (const u of c.pinned) expect(ownerOf(c.table, u)).not.toBe(c.table.buckets[bucketOf(u, c.table.bucketHexDigits)]);
  const mismatches = await routeAll(proxy.port, cases);
  expect({ seed: SEED, mismatches: mismatches.slice(0, 20), count: mismatches.length }).toEqual({ seed: SEED, mismatches: [], count: 0 });
});

test(`a WebSocket handshake and message round trip reach the owner [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 2 && x.pinned.length > 0)!;
  const proxy = await startProxy((s) => renderProxyConfig(c.table, c.servers, s));
  // one base per server, and a pinned one in upper-case 32-hex spelling
  const uuids = c.servers.map((name) => uuidInBucket(Object.keys(c.table.buckets).find((b) => c.table.buckets[b] === name)!));
  const bases = [...uuids, c.pinned[0].replace(/-/g, "").toUpperCase()];
  for (const s of standins) s.resetCounts();
  const replies = await Promise.all(
    bases.map(async (uuid) => {
      const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/socket.io/?dtable_uuid=${uuid}&EIO=4&transport=websocket`, { handshakeTimeout: 5000 });
      try {
        await withTimeout(new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject)), 5000, `WebSocket open for ${uuid}`);
        const reply = withTimeout(
          new Promise<string>((resolve, reject) => ws.once("message", (data: WebSocket.RawData) => resolve(data.toString())).once("error", reject)),
          5000,
          `WebSocket reply for ${uuid}`,
        );
        ws.send(`hello ${uuid}`);
        return { uuid, reply: await reply, expected: `${ownerOf(c.table, normaliseUuid(uuid))}:hello ${uuid}` };
      } finally {
        ws.terminate();
      }
    }),
  );
  expect({ seed: SEED, replies: replies.map((r) => r.reply) }).toEqual({ seed: SEED, replies: replies.map((r) => r.expected) });
  for (const name of c.servers) {
    const expectedUpgrades = bases.filter((u) => ownerOf(c.table, normaliseUuid(u)) === name).length;
    expect({ name, upgrades: standin(name).upgrades }).toEqual({ name, upgrades: expectedUpgrades });
  }
});

test(`plain requests reuse upstream connections (keep-alive) [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 2 && x.pinned.length === 0)!;
  const proxy = await startProxy((s) => renderProxyConfig(c.table, c.servers, s));
  const target = c.servers[1];
  const buckets = Object.keys(c.table.buckets).filter((b) => c.table.buckets[b] === target);
  const cases = Array.from({ length: 2000 }, (_, i) => ({ path: `/api/v1/dtables/${uuidInBucket(buckets[i % buckets.length])}/rows/`, expected: target }));
  for (const s of standins) s.resetCounts();
  const mismatches = await routeAll(proxy.port, cases, 8);
  expect({ seed: SEED, mismatches: mismatches.slice(0, 20) }).toEqual({ seed: SEED, mismatches: [] });
  figures.keepAliveRequests = standin(target).requests;
  figures.keepAliveConnections = standin(target).connections;
  // 8 clients at a time through nginx's workers: a few dozen upstream connections at
  // most; without keep-alive it would be one per request
  const seen = { requests: standin(target).requests, connections: standin(target).connections };
  expect({ ...seen, reused: seen.connections >= 1 && seen.connections < 50 }).toEqual({ ...seen, requests: 2000, reused: true });
});

test(`quarantine: 503 with Retry-After for quarantined buckets and pins, the rest as usual; reload back [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 1 && x.pinned.length > 0)!;
  const t = c.table;
  const proxy = await startProxy((s) => renderProxyConfig(t, c.servers, s));
  const buckets = allBuckets(t.bucketHexDigits);
  // pins[0]: not quarantined, but its bucket is; pins[1]: quarantined, its bucket is not;
  // plus a quarantined base that has no pin.
  const [freePin, heldPin] = c.pinned;
  const loose = randomUuid();
  const heldBuckets = buckets.filter((b) => b === bucketOf(freePin, t.bucketHexDigits) || (b !== bucketOf(heldPin, t.bucketHexDigits) && b !== bucketOf(loose, t.bucketHexDigits) && rng() < 0.3));
  const quarantine: Quarantine = { buckets: heldBuckets, pins: [heldPin, loose] };
  const retryAfter = proxy.settings.retryAfterSeconds;
  await proxy.reload(renderProxyConfig(t, c.servers, proxy.settings, quarantine));

  const held = (uuid: string) => quarantine.pins.includes(uuid) || (t.pins[uuid] === undefined && heldBuckets.includes(bucketOf(uuid, t.bucketHexDigits)));
  const uuids = [...Array.from({ length: 1500 }, () => randomUuid()), ...c.pinned, loose];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    const cases = uuids.flatMap((u, i) => formsOf(u, t, i).map((f) => ({ ...f, uuid: u })));
    // every pinned or quarantined base in every form too
    cases.push(...[freePin, heldPin, loose].flatMap((u) => formsOf(u, t).map((f) => ({ ...f, uuid: u }))));
    const wrong = (
      await pool(cases, 32, async (k) => {
        figures.requestsSent += 1;
        const r = await get(proxy.port, k.path, agent);
        const server = r.status === 200 ? (JSON.parse(r.body) as StandinReply).server : undefined;
        const ok = held(k.uuid)
          ? r.status === 503 && r.headers["retry-after"] === String(retryAfter) && r.headers[SERVER_HEADER.toLowerCase()] === QUARANTINE
          : r.status === 200 && server === k.expected && r.headers["retry-after"] === undefined;
        return ok ? undefined : `${k.path}: ${held(k.uuid) ? "quarantined" : k.expected}, got ${r.status} ${server ?? ""} retry-after ${String(r.headers["retry-after"])}`;
      })
    ).filter((x) => x !== undefined);
    expect({ seed: SEED, wrong: wrong.slice(0, 20), count: wrong.length }).toEqual({ seed: SEED, wrong: [], count: 0 });
    // without a UUID: the default server, never quarantined
    const ping = await get(proxy.port, "/ping/", agent);
    expect([ping.status, (JSON.parse(ping.body) as StandinReply).server]).toEqual([200, t.default]);
  } finally {
    agent.destroy();
  }

  // Back to the plain config: everything is served again.
  await proxy.reload(renderProxyConfig(t, c.servers, proxy.settings));
  const again = await routeAll(proxy.port, [freePin, heldPin, loose, ...heldBuckets.map(uuidInBucket)].flatMap((u) => formsOf(u, t, 0)));
  expect({ seed: SEED, again }).toEqual({ seed: SEED, again: [] });
});

test(`a stopped dtable-server: its buckets fail fast with 502, all others are served [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 2 && x.pinned.length > 0)!;
  const t = c.table;
  const proxy = await startProxy((s) => renderProxyConfig(t, c.servers, s));
  const down = c.servers[2];
  // warm the keep-alive pool to the server before it goes away
  expect(await routeAll(proxy.port, allBuckets(2).map((b) => formsOf(uuidInBucket(b), t, 0)[0]))).toEqual([]);
  await standin(down).stop();
  try {
    const uuids = [...allBuckets(2).map(uuidInBucket), ...Array.from({ length: 400 }, () => randomUuid()), ...c.pinned];
    const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
    try {
      const wrong = (
        await pool(uuids, 32, async (u) => {
          figures.requestsSent += 1;
          const [k] = formsOf(u, t, randInt(FORMS.length * 5));
          const r = await get(proxy.port, k.path, agent);
          if (k.expected === down) return r.status === 502 && r.ms < 2000 ? undefined : `${k.path}: expected 502 within 2 s, got ${r.status} after ${r.ms} ms`;
          const server = r.status === 200 ? (JSON.parse(r.body) as StandinReply).server : undefined;
          return server === k.expected ? undefined : `${k.path}: expected ${k.expected}, got ${r.status} ${server ?? ""}`;
        })
      ).filter((x) => x !== undefined);
      expect({ seed: SEED, wrong: wrong.slice(0, 20), count: wrong.length }).toEqual({ seed: SEED, wrong: [], count: 0 });
      expect(uuids.some((u) => ownerOf(t, u) === down)).toBe(true);
    } finally {
      agent.destroy();
    }
  } finally {
    const { address } = ADDRESSES.find((a) => a.name === down)!;
    standins = [...standins.filter((s) => s.name !== down), await startStandin(down, address)];
  }
});

// ---- seeing into the proxy ------------------------------------------------------------

/** One access log line, as the rendered log_format writes it: these fields and no others. */
type AccessLine = {
  time: string;
  base: string;
  bucket: string;
  server: string;
  routed_by: string;
  status: number;
  upstream_status: string;
  upstream_time: string;
  request_time: number;
};
const ACCESS_FIELDS = ["time", "base", "bucket", "server", "routed_by", "status", "upstream_status", "upstream_time", "request_time"];

const LOG_WAIT_MS = 5000;

/** The access log's lines once there are `count` (nginx writes a line after the response), parsed. */
async function accessLines(proxy: Nginx, count: number): Promise<{ lines: AccessLine[]; unparsed: string[] }> {
  const deadline = Date.now() + LOG_WAIT_MS;
  let raw = proxy.accessLog().split("\n").filter((l) => l !== "");
  while (raw.length < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    raw = proxy.accessLog().split("\n").filter((l) => l !== "");
  }
  const lines: AccessLine[] = [];
  const unparsed: string[] = [];
  for (const l of raw) {
    try {
      lines.push(JSON.parse(l) as AccessLine);
    } catch {
      unparsed.push(l);
    }
  }
  return { lines, unparsed };
}

test(`the access log: one JSON line per request, saying what the routing table says [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 2 && x.pinned.length > 0)!;
  const t = c.table;
  const digits = t.bucketHexDigits;
  const proxy = await startProxy((s) => renderProxyConfig(t, c.servers, s));
  const secret = `s3cr3t${randHex(16)}`;

  // What each request must log: `base` and `bucket` as written in the URI.
  type Expected = Omit<AccessLine, "time" | "upstream_time" | "request_time">;
  type Sent = { readonly path: string; readonly expected: Expected };
  const routed = (path: string, written: string | undefined, server?: string): Sent => {
    const uuid = written === undefined ? undefined : normaliseUuid(written);
    const owner = server ?? (uuid === undefined ? t.default : ownerOf(t, uuid));
    const held = owner === QUARANTINE;
    return {
      path,
      expected: {
        base: written ?? "",
        bucket: written?.slice(0, digits) ?? "",
        server: owner,
        routed_by: uuid === undefined ? "default" : t.pins[uuid] !== undefined ? "pin" : "bucket",
        status: held ? 503 : 200,
        upstream_status: held ? "" : "200",
      },
    };
  };
  const spellings = Object.values(SPELLINGS);
  const plain: Sent[] = [
    // random bases, every form and spelling in turn (5 spellings × 19 forms cycle through all pairs)
    ...Array.from({ length: 400 }, (_, i) => {
      const written = spellings[i % spellings.length](randomUuid());
      return routed(FORMS[i % FORMS.length](written), written);
    }),
    // every pinned base in every spelling
    ...c.pinned.flatMap((u) => spellings.map((spell) => routed(`/api/v1/dtables/${spell(u)}/rows/`, spell(u)))),
    // no base: the default server
    ...Array.from({ length: 20 }, (_, i) => routed(`/x/n${i}/`, undefined)),
    // the line is written without escaping (escape=none): quotes, backslashes and control
    // characters in the request, raw or encoded, never reach it, so it stays JSON
    routed("/x/a%22b%5Cc%0A/?q=%22%5C", undefined),
    routed('/x/a"b\\c/?q="\\', undefined),
    routed(`/api/v1/dtables/${randomUuid()}"/rows/`, undefined),
  ];
  // a token in the query string never reaches the log
  const tokenBase = randomUuid();
  plain.push(routed(`/api/v1/dtables/${tokenBase}/rows/?token=${secret}`, tokenBase));

  let agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const send = async (sent: readonly Sent[]) => {
    const statuses = await pool(sent, 16, async (k) => (await get(proxy.port, k.path, agent)).status);
    expect(statuses).toEqual(sent.map((k) => k.expected.status));
  };
  try {
    await send(plain);
    // quarantine: some buckets and a pinned base answer 503 and log the server "quarantine"
    const heldBuckets = allBuckets(digits).filter((b, i) => i % 7 === 0 && b !== bucketOf(c.pinned[1], digits));
    await proxy.reload(renderProxyConfig(t, c.servers, proxy.settings, { buckets: heldBuckets, pins: [c.pinned[0]] }));
    // the reload closes the old workers' idle connections: a socket kept alive from before could be reused just as it closes
    agent.destroy();
    agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const inQuarantine: Sent[] = [
      ...heldBuckets.map((b) => uuidInBucket(b)).filter((u) => t.pins[u] === undefined).map((u) => routed(`/dtables/${u}/`, u, QUARANTINE)),
      routed(`/dtables/${c.pinned[0]}/`, c.pinned[0], QUARANTINE),
      // the rest as usual
      ...Array.from({ length: 40 }, () => uuidInBucket(allBuckets(digits).filter((b) => !heldBuckets.includes(b))[randInt(256 - heldBuckets.length)]))
        .filter((u) => t.pins[u] === undefined)
        .map((u) => routed(`/dtables/${u}/`, u)),
      routed(`/dtables/${c.pinned[1]}/`, c.pinned[1]),
    ];
    await send(inQuarantine);

    const sent = [...plain, ...inQuarantine];
    const { lines, unparsed } = await accessLines(proxy, sent.length);
    expect(unparsed).toEqual([]);
    expect(lines).toHaveLength(sent.length);
    const text = proxy.accessLog();
    expect({ secretLogged: text.includes(secret), tokenLogged: text.includes("token=") }).toEqual({ secretLogged: false, tokenLogged: false });

    // each line: exactly the documented fields; the fixed ones equal the table's answer (one line
    // per request: the same multiset); the times are numbers as nginx writes them
    const wrong: string[] = [];
    const expected = new Map<string, number>();
    for (const k of sent) expected.set(JSON.stringify(k.expected), (expected.get(JSON.stringify(k.expected)) ?? 0) + 1);
    for (const line of lines) {
      const { time, upstream_time, request_time, ...fixed } = line;
      const held = line.server === QUARANTINE;
      const timesOk =
        !Number.isNaN(Date.parse(time)) && typeof request_time === "number" && request_time >= 0 && (held ? upstream_time === "" : /^\d+\.\d{3}$/.test(upstream_time));
      const k = JSON.stringify(fixed);
      const left = expected.get(k) ?? 0;
      if (left > 0) expected.set(k, left - 1);
      if (left === 0 || !timesOk || JSON.stringify(Object.keys(line)) !== JSON.stringify(ACCESS_FIELDS)) wrong.push(`${JSON.stringify(line)}: not one of the requests sent, or logged twice`);
    }
    const missing = [...expected].filter(([, n]) => n > 0).map(([k, n]) => `${n} × ${k}`);
    expect({ seed: SEED, wrong: wrong.slice(0, 10), count: wrong.length, missing: missing.slice(0, 10) }).toEqual({ seed: SEED, wrong: [], count: 0, missing: [] });
    // both kinds of quarantine, and every way of routing, were seen
    const kinds = new Set(lines.map((l) => `${l.routed_by} ${l.server === QUARANTINE ? "503" : "ok"}`));
    expect([...kinds].sort()).toEqual(["bucket 503", "bucket ok", "default ok", "pin 503", "pin ok"]);
  } finally {
    agent.destroy();
  }
});

test(`/nginx_status refuses a client outside the private networks it allows [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 2 && x.pinned.length === 0)!;
  // every loopback address is allowed; nginx's client on a unix socket matches no allow rule, as a public address would not
  const dir = mkdtempSync(path.join(tmpdir(), "proxy-status-"));
  const socketPath = path.join(dir, "proxy.sock");
  try {
    await startProxy((s) => {
      const conf = renderProxyConfig(c.table, c.servers, s);
      const listen = `    listen ${s.port};\n`;
      expect(conf).toContain(listen);
      return conf.replace(listen, `${listen}    listen unix:${socketPath};\n`);
    });
    const viaSocket = (urlPath: string) =>
      withTimeout(
        new Promise<number>((resolve, reject) => {
          http.get({ socketPath, path: urlPath, agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          }).on("error", reject);
        }),
        REQUEST_TIMEOUT_MS,
        urlPath,
      );
    // the socket itself serves: a base is routed through it
    expect(await viaSocket(`/api/v1/dtables/${randomUuid()}/rows/`)).toBe(200);
    expect(await viaSocket("/nginx_status")).toBe(403);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// the address the README gives admins for their monitoring
test(`stub_status answers at /nginx_status on the proxy's port, counts the proxied requests, and is not logged [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 2 && x.pinned.length === 0)!;
  const proxy = await startProxy((s) => renderProxyConfig(c.table, c.servers, s));
  const agent = new http.Agent({ keepAlive: false });
  try {
    const handled = async () => {
      const r = await get(proxy.port, "/nginx_status", agent);
      const counters = /^server accepts handled requests\n\s*(\d+) (\d+) (\d+)\s*$/m.exec(r.body);
      expect({ status: r.status, active: /^Active connections: \d+/.test(r.body), counters: counters !== null }).toEqual({ status: 200, active: true, counters: true });
      return Number(counters![3]);
    };
    const before = await handled();
    const uuid = randomUuid();
    const proxied = await Promise.all(Array.from({ length: 10 }, () => get(proxy.port, `/api/v1/dtables/${uuid}/rows/`, agent)));
    expect(proxied.map((r) => r.status)).toEqual(proxied.map(() => 200));
    // the counters count the proxy's requests (10, plus this status request itself)
    expect((await handled()) - before).toBe(11);
    // a path near it is a path like any other: it goes to the default server
    const near = await get(proxy.port, "/nginx_status/x", agent);
    expect([near.status, (JSON.parse(near.body) as StandinReply).server]).toEqual([200, c.table.default]);
    // status requests stay out of the access log; each worker writes its own buffer
    // (buffer=4k), so lines of different workers need not come in request order
    const { lines } = await accessLines(proxy, 11);
    const sorted = (pairs: string[][]) => pairs.map((p) => p.join(" ")).sort();
    expect(sorted(lines.map((l) => [l.base, l.server]))).toEqual(sorted([...proxied.map(() => [uuid, ownerOf(c.table, uuid)]), ["", c.table.default]]));
  } finally {
    agent.destroy();
  }
});

// ---- no query string in any log (issue 20) ------------------------------------------------

// nginx appends the request line and the upstream URL, query string included, to
// each message about a request; SeaTable puts tokens in query strings. So
// nothing the proxy writes (its stderr and its stdout: the container's log) may
// carry one, while the access log still tells what failed.

/** A dtable-server that fails, on the address of this run's block that no stand-in takes. */
const FAULTY = "dtable-server-faulty";
const FAULTY_ADDRESS = `127.0.0.${ADDRESS_BASE + NAMES.length}`;
const FAULTY_HOSTS = renderProxyHosts([...ADDRESSES, { name: FAULTY, address: FAULTY_ADDRESS }]);

type Fault = "close" | "reset" | "silent";

/** A server on FAULTY_ADDRESS:5000 that reads a request line, then closes (FIN), resets (RST) or never answers. */
async function startFaulty(fault: (requestLine: string) => Fault): Promise<{ stop(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let head = "";
    const onData = (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const end = head.indexOf("\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      socket.resume();
      const f = fault(head.slice(0, end));
      if (f === "close") socket.destroy();
      else if (f === "reset") socket.resetAndDestroy();
    };
    socket.on("data", onData);
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(5000, FAULTY_ADDRESS, () => resolve());
    }),
    5000,
    `faulty server on ${FAULTY_ADDRESS}:5000`,
  );
  return {
    stop: () =>
      withTimeout(
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          for (const socket of sockets) socket.destroy();
        }),
        5000,
        "stopping the faulty server",
      ),
  };
}

/** Everything nginx wrote (stderr, then stdout), each line holding `secret` or a `token=` shown with the secret blanked. */
function leaks(proxy: Nginx, secret: string): string[] {
  return `${proxy.output()}\n${proxy.accessLog()}`
    .split("\n")
    .filter((l) => l.includes(secret) || l.includes("token="))
    .map((l) => l.split(secret).join("<secret>"));
}

/** A GET the client gives up on after `ms`. */
function abandon(port: number, urlPath: string, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: urlPath, agent: false });
    req.on("error", () => resolve());
    req.on("response", (res) => res.resume());
    setTimeout(() => {
      req.destroy();
      resolve();
    }, ms);
  });
}

function post(port: number, urlPath: string, body: Buffer): Promise<number> {
  return withTimeout(
    new Promise<number>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "POST", path: urlPath, agent: false, headers: { "content-length": body.length } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.end(body);
    }),
    REQUEST_TIMEOUT_MS,
    `POST ${urlPath}`,
  );
}

/** The rendered config with a 1 s wait for a dtable-server's answer instead of 600 s. */
const quickTimeout = (conf: string) => {
  expect(conf).toContain("proxy_read_timeout 600s;");
  return conf.replace("proxy_read_timeout 600s;", "proxy_read_timeout 1s;");
};

test(`no query string in anything the proxy writes when a dtable-server refuses, closes, resets or times out, or the client goes; the access log tells each [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 1 && x.pinned.length === 0)!;
  const faults = { refused: randomUuid(), close: randomUuid(), reset: randomUuid(), silent: randomUuid(), gone: randomUuid() };
  const table: RoutingTable = { ...c.table, pins: { ...c.table.pins, ...Object.fromEntries(Object.values(faults).map((u) => [u, FAULTY])) } };
  const proxy = await startProxy((s) => quickTimeout(renderProxyConfig(table, [...c.servers, FAULTY], s)), FAULTY_HOSTS);
  const secret = `s3cr3t${randHex(16)}`;
  const pathOf = (uuid: string) => `/api/v1/dtables/${uuid}/rows/?token=${secret}`;
  const agent = new http.Agent({ keepAlive: false });
  let faulty: { stop(): Promise<void> } | undefined;
  try {
    const healthy = randomUuid();
    const statuses: Record<string, number> = { healthy: (await get(proxy.port, pathOf(healthy), agent)).status };
    // nothing listens on the faulty address yet
    statuses.refused = (await get(proxy.port, pathOf(faults.refused), agent)).status;
    faulty = await startFaulty((line) => (line.includes(faults.close) ? "close" : line.includes(faults.reset) ? "reset" : "silent"));
    statuses.close = (await get(proxy.port, pathOf(faults.close), agent)).status;
    statuses.reset = (await get(proxy.port, pathOf(faults.reset), agent)).status;
    statuses.silent = (await get(proxy.port, pathOf(faults.silent), agent)).status;
    await abandon(proxy.port, pathOf(faults.gone), 300);
    expect(statuses).toEqual({ healthy: 200, refused: 502, close: 502, reset: 502, silent: 504 });

    const { lines, unparsed } = await accessLines(proxy, 6);
    expect(unparsed).toEqual([]);
    // what failed, where, and how: the access log without the query string
    const seen = Object.fromEntries(lines.map((l) => [l.base, { server: l.server, status: l.status, upstream_status: l.upstream_status }]));
    expect(seen).toEqual({
      [healthy]: { server: ownerOf(table, healthy), status: 200, upstream_status: "200" },
      [faults.refused]: { server: FAULTY, status: 502, upstream_status: "502" },
      [faults.close]: { server: FAULTY, status: 502, upstream_status: "502" },
      [faults.reset]: { server: FAULTY, status: 502, upstream_status: "502" },
      [faults.silent]: { server: FAULTY, status: 504, upstream_status: "504" },
      // 499: nginx's code for a client that closed before the answer
      [faults.gone]: { server: FAULTY, status: 499, upstream_status: expect.any(String) },
    });
    expect(leaks(proxy, secret)).toEqual([]);
  } finally {
    agent.destroy();
    await faulty?.stop();
  }
});

// The two tests below show why no error log level is low enough: nginx's crit and
// alert messages about a request carry its request line as well.

test(`not even a crit message is written: a request body nginx cannot store (as on a full disk), a 500 in the access log [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 1 && x.pinned.length === 0)!;
  const secret = `s3cr3t${randHex(16)}`;
  const base = randomUuid();
  const uri = `/api/v1/dtables/${base}/rows/`;
  const listen = "client_max_body_size 100m;";
  const proxy = await startProxy((s) => {
    const conf = renderProxyConfig(c.table, c.servers, s);
    expect(conf).toContain(listen);
    return conf.replace(listen, `${listen}\n    client_body_temp_path body-temp;`);
  });
  const bodyTemp = path.join(proxy.dir, "body-temp");
  rmSync(bodyTemp, { recursive: true, force: true });
  writeFileSync(bodyTemp, "not a directory\n");
  // larger than client_body_buffer_size: nginx writes it to a temporary file
  expect(await post(proxy.port, `${uri}?token=${secret}`, Buffer.alloc(256 * 1024, 0x61))).toBe(500);
  const crit = await accessLines(proxy, 1);
  expect(crit.lines.map((l) => [l.base, l.status])).toEqual([[base, 500]]);
  expect(leaks(proxy, secret)).toEqual([]);
});

test(`not even an alert message is written: too few worker_connections to reach the dtable-server, a 500 in the access log [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 1 && x.pinned.length === 0)!;
  const secret = `s3cr3t${randHex(16)}`;
  const base = randomUuid();
  const uri = `/api/v1/dtables/${base}/rows/`;
  const table: RoutingTable = { ...c.table, pins: { ...c.table.pins, [base]: FAULTY } };
  const faulty = await startFaulty(() => "silent");
  try {
    const proxy = await startProxy((s) => {
      // one worker with 7 connections: its listening socket, its channel to the master, two requests and their upstreams, and one more client
      const conf = quickTimeout(renderProxyConfig(table, [...c.servers, FAULTY], { ...s, workerConnections: 7 }));
      expect(conf).toContain("worker_processes auto;");
      return conf.replace("worker_processes auto;", "worker_processes 1;");
    }, FAULTY_HOSTS);
    const agent = new http.Agent({ keepAlive: false });
    try {
      const sent: Promise<Reply>[] = [];
      for (let i = 0; i < 4; i++) {
        sent.push(get(proxy.port, `${uri}?token=${secret}`, agent));
        await new Promise((r) => setTimeout(r, 100));
      }
      const statuses = (await Promise.all(sent)).map((r) => r.status);
      expect(statuses.filter((s) => s === 500).length).toBeGreaterThan(0);
      const { lines } = await accessLines(proxy, 4);
      // no connection was made: nginx writes "-" for the upstream's status
      expect(lines.filter((l) => l.status === 500).map((l) => [l.base, l.server, l.upstream_status])).toEqual(statuses.filter((s) => s === 500).map(() => [base, FAULTY, "-"]));
      expect(leaks(proxy, secret)).toEqual([]);
    } finally {
      agent.destroy();
    }
  } finally {
    await faulty.stop();
  }
});

test(`a config nginx refuses at reload is still reported on stderr, and the proxy keeps serving [${SEED_NOTE}]`, async () => {
  const c = CLUSTERS.find((x) => x.count === 3 && x.table.bucketHexDigits === 1 && x.pinned.length === 0)!;
  const proxy = await startProxy((s) => renderProxyConfig(c.table, c.servers, s));
  const good = renderProxyConfig(c.table, c.servers, proxy.settings);
  const line = `server ${c.servers[0]}:5000;`;
  expect(good).toContain(line);
  writeFileSync(proxy.confPath, good.replace(line, `server ${c.servers[0]}:99999;`));
  process.kill(proxy.pid, "SIGHUP");
  const deadline = Date.now() + LOG_WAIT_MS;
  while (!proxy.output().includes("[emerg]") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  expect(proxy.output()).toContain(`invalid port in upstream "${c.servers[0]}:99999"`);
  expect(proxy.output()).toMatch(/\[emerg\] /);
  expect(await routeAll(proxy.port, formsOf(randomUuid(), c.table, 0))).toEqual([]);
});
