// Proxy cost in CPU instructions per request (issue 23, part 3): what one nginx
// process executes for a request, counted by valgrind's callgrind
// (bench/callgrind.ts). Rows: a bare proxy hop, the manual's draft config (the
// seed), the rendered config before issue 23 (from git), the rendered config
// with and without its access log, at larger scale, and with one feature at a
// time taken out (what each feature costs). System calls per request come from
// strace -c on the same requests (callgrind does not count what the kernel does).
//
// Alone: node -r ts-node/register/transpile-only bench/proxy-cost.ts [row keys]
// (BENCH_CALLGRIND_KEEP=/tmp/x keeps callgrind's files, for callgrind_annotate).
import { execFileSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { renderProxyConfig, renderProxyHosts, SERVER_HEADER } from "../pure/plan/nginx";
import { computeRoutingTable, ownerOf, RoutingTable } from "../pure/plan/routing";
import { freePort, Nginx, startNginx } from "../tests/support/nginx";
import { configOf, stackValues } from "../tests/support/stacks";
import { CALLGRIND, countRun, have, NginxRun, Request, STRACE, Wrapper } from "./callgrind";
import { backendsConfig, fixed, log, randomUuid, seededRandom, Section, table, Target, thousands } from "./util";

const ROOT = path.join(__dirname, "..");
export const SEED = 23;
/** Requests counted per run, after WARMUP requests that the baseline run serves too. */
export const MEASURED = 2000;
export const WARMUP = 100;
const REPEATS = 2;
/** Two runs of one config must agree within this share. */
const DETERMINISM = 0.001;
/** Target: ours, log on, at most this many times the bare hop, and below the seed's. */
const TARGET_RATIO = 1.5;
/** The renderer before issue 23 (the last commit that changed pure/plan/nginx.ts before it). */
const BEFORE_COMMIT = "47aaf4e217feabd106dc5ba3b1abb9184053055e";
const PORT = 5000;
/** The stand-ins' own block of loopback addresses (bench/proxy.ts takes 127.0.200-201.x, the tests 127.0.0-1.x). */
const addressOf = (i: number) => `127.0.202.${i + 1}`;
const nameOf = (i: number) => `dtable-server-${i + 1}`;
const MAX_SERVERS = 64;
const MANY_PINS = 10_000;


/** The bare hop: one upstream with keep-alive, no routing, no log, nginx's defaults otherwise. */
function bareConfig(port: number): string {
  return [
    "worker_processes 1;",
    "events { worker_connections 1024; }",
    "http {",
    "  access_log off;",
    "  error_log /dev/null;",
    `  upstream backend { server ${addressOf(0)}:${PORT}; keepalive 64; }`,
    "  server {",
    `    listen ${port};`,
    "    location / {",
    "      proxy_pass http://backend;",
    "      proxy_http_version 1.1;",
    '      proxy_set_header Connection "";',
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");
}

/**
 * The manual's draft nginx-proxy.conf (the seed, /work/shared/seed), as written
 * there but for the port and its log files: `access_log /tmp/access.log` (the
 * combined format) and the error logs go to files in nginx's prefix directory.
 */
export function seedConfig(port: number): string {
  return `worker_processes auto;

events {
  worker_connections 4096;
}

http {
  access_log off;
  error_log seed-error.log warn;

  # dtable-server 1
  upstream dtable_server_a_z {
    server dtable-server:5000;
    keepalive 15;
  }

  # dtable-server 2
  upstream dtable_server_0_9 {
    server dtable-server-2:5000;
    keepalive 15;
  }

  # Map to dynamically determine the upstream server based on the UUID in the URL
  map $request_uri $dtable_upstream {
    default dtable_server_a_z;                  # Default to the a-z server
    "~*ff84e1a1-66e2" dtable_server_0_9;        # force that this base uuid goes to server 2
    "~*([a-zA-Z])([0-9a-f]{7}-[0-9a-f]{4})" dtable_server_a_z;
    "~*([0-9])([0-9a-f]{7}-[0-9a-f]{4})" dtable_server_0_9;
  }

server {
  server_name _;
  listen ${port};

  location / {
    proxy_pass http://$dtable_upstream;
    proxy_set_header X-Upstream-Server $dtable_upstream;
    client_max_body_size 100m;
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection upgrade;
    access_log seed-access.log;
    error_log seed-error.log;
  }
}
}
`;
}

/** `text` with `from` replaced by `to`; throws when `from` is not in it (the rendered config changed: the variant needs updating). */
export function must(text: string, from: string | RegExp, to: string | ((match: string, ...groups: string[]) => string)): string {
  const out = typeof to === "string" ? text.replace(from, to) : text.replace(from, to);
  if (out === text) throw new Error(`bench variant: ${String(from)} not found in the config`);
  return out;
}

type Renderer = typeof renderProxyConfig;

/** renderProxyConfig as of `commit` (git), or why not. */
function rendererAt(commit: string): Renderer | string {
  let dir: string | undefined;
  try {
    const source = execFileSync("git", ["show", `${commit}:pure/plan/nginx.ts`], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    dir = mkdtempSync(path.join(os.tmpdir(), "seatable-nginx-before-"));
    const file = path.join(dir, "nginx-before.ts");
    writeFileSync(file, source.replace(/from "\.\.\/config\//g, `from "${path.join(ROOT, "pure", "config")}/`));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return (require(file) as { renderProxyConfig: Renderer }).renderProxyConfig;
  } catch (e) {
    return `not measured: pure/plan/nginx.ts of ${commit.slice(0, 7)} not readable from git here (${(e as Error).message.split("\n")[0]})`;
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

/** A cluster to route for: its table and its servers (stand-in i answers for servers[i]). */
type Cluster = { readonly table: RoutingTable; readonly servers: readonly string[] };

export type Row = {
  readonly key: string;
  readonly label: string;
  /** what the row is for: the comparison, a scale check, or a feature taken out of ours */
  readonly group: "compare" | "scale" | "feature" | "saving";
  readonly run: (port: number) => NginxRun;
  /** the path of each request, for a random base UUID (default: GET /api/v1/dtables/<uuid>/rows/) */
  readonly path?: (uuid: string) => string;
  /** what a response must say (e.g. the server the table chose) */
  readonly check?: (uuid: string) => Request["check"];
  /** files the config writes in its directory that hold its access log (default: its stdout) */
  readonly logFile?: string;
  /** also count its system calls (strace) */
  readonly syscalls?: boolean;
};

function hostsFor(c: Cluster): string {
  return renderProxyHosts(c.servers.map((name, i) => ({ name, address: addressOf(i) })));
}

export function rows(): { rows: Row[]; prod: Cluster; notes: string[] } {
  const notes: string[] = [];
  const prodConfig = configOf(stackValues("prod"));
  const prodServers = prodConfig.hosts.servers.map((s) => s.name);
  const prod: Cluster = {
    servers: prodServers,
    table: computeRoutingTable({ servers: prodConfig.hosts.servers.map((s) => ({ name: s.name, weight: s.weight })), bucketHexDigits: prodConfig.routing.bucketHexDigits, pins: prodConfig.routing.pins }),
  };
  const settings = { ...prodConfig.proxy };
  const scaled = (count: number, pins: number): Cluster => {
    const servers = Array.from({ length: count }, (_, i) => nameOf(i));
    const rng = seededRandom(SEED + count);
    const pinned: Record<string, string> = {};
    while (Object.keys(pinned).length < pins) pinned[randomUuid(rng)] = servers[Math.floor(rng() * count)];
    return { servers, table: computeRoutingTable({ servers: servers.map((name) => ({ name, weight: 1 })), bucketHexDigits: 2, pins: pinned }) };
  };
  const routedBy = (c: Cluster) => (uuid: string) => (_: number, headers: ReadonlyMap<string, string>) => {
    const want = ownerOf(c.table, uuid);
    const got = headers.get(SERVER_HEADER.toLowerCase());
    return got === want ? undefined : `${SERVER_HEADER} ${got}, the table says ${want}`;
  };
  const ours = (c: Cluster, edit: (conf: string) => string = (x) => x, render: Renderer = renderProxyConfig) => (port: number) => ({
    conf: edit(render(c.table, c.servers, { ...settings, port })),
    hosts: hostsFor(c),
    port,
  });
  const noLog = (conf: string) => must(conf, /^ {2}access_log \/dev\/stdout [^;]*;$/m, "  access_log off;");
  const seedHosts = renderProxyHosts([
    { name: "dtable-server", address: addressOf(0) },
    { name: "dtable-server-2", address: addressOf(1) },
  ]);
  const pinned = Object.keys(prod.table.pins)[0];

  const out: Row[] = [
    { key: "bare", label: "bare hop: one upstream, keep-alive, no routing, no log", group: "compare", run: (port) => ({ conf: bareConfig(port), hosts: seedHosts, port }), syscalls: true },
    {
      key: "bare-pool",
      label: "bare hop with ours' request_pool_size 16k",
      group: "compare",
      run: (port) => ({ conf: must(bareConfig(port), "  access_log off;", "  access_log off;\n  request_pool_size 16k;"), hosts: seedHosts, port }),
    },
    { key: "seed", label: "the seed's config (manual draft: 3 regexes, combined log to a file)", group: "compare", run: (port) => ({ conf: seedConfig(port), hosts: seedHosts, port }), logFile: "seed-access.log", syscalls: true },
  ];
  const before = rendererAt(BEFORE_COMMIT);
  if (typeof before === "string") notes.push(`Ours before issue 23: ${before}.`);
  else out.push({ key: "before", label: `ours before issue 23 (${BEFORE_COMMIT.slice(0, 7)}), access log on`, group: "compare", run: ours(prod, undefined, before), check: routedBy(prod), syscalls: true });
  out.push(
    { key: "ours", label: "ours, as rendered (access log on)", group: "compare", run: ours(prod), check: routedBy(prod), syscalls: true },
    { key: "ours-nolog", label: "ours, access_log off", group: "compare", run: ours(prod, noLog), check: routedBy(prod) },
    {
      key: "ours-unbuffered",
      label: "ours, access log written line by line (no buffer=)",
      group: "compare",
      run: ours(prod, (c) => must(c, /^( {2}access_log \/dev\/stdout dtable_proxy) [^;]*;$/m, "$1;")),
      check: routedBy(prod),
      syscalls: true,
    },
    {
      key: "ours-oldlog",
      label: "ours with the log line before issue 23 (also client, method, uri, upstream; escape=json)",
      group: "compare",
      run: ours(prod, (c) =>
        must(
          c,
          /^ {2}log_format dtable_proxy escape=none\n(?: {4}'[^\n]*\n)+/m,
          [
            "  log_format dtable_proxy escape=json",
            ...[
              ["time", '"$time_iso8601"'],
              ["client", '"$remote_addr"'],
              ["method", '"$request_method"'],
              ["uri", '"$uri"'],
              ["base", '"$dtable_uuid"'],
              ["bucket", '"$dtable_bucket"'],
              ["server", '"$dtable_server"'],
              ["routed_by", '"$dtable_routed_by"'],
              ["status", "$status"],
              ["upstream", '"$upstream_addr"'],
              ["upstream_status", '"$upstream_status"'],
              ["upstream_time", '"$upstream_response_time"'],
              ["request_time", "$request_time"],
            ].map(([name, value], i, all) => `    '${i === 0 ? "{" : ""}"${name}":${value}${i === all.length - 1 ? "}';" : ",'"}`),
            "",
          ].join("\n"),
        ),
      ),
      check: routedBy(prod),
    },
    {
      key: "ours-pinned",
      label: "ours, every request for the pinned base",
      group: "scale",
      run: ours(prod),
      path: () => `/api/v1/dtables/${pinned}/rows/`,
      check: () => routedBy(prod)(pinned),
    },
  );
  for (const [count, pins] of [
    [16, MANY_PINS],
    [MAX_SERVERS, 0],
  ]) {
    const c = scaled(count, pins);
    out.push({ key: `ours-${count}-${pins}`, label: `ours, ${count} servers, ${thousands(pins)} pins`, group: "scale", run: ours(c), check: routedBy(c) });
    const b = typeof before === "string" ? undefined : before;
    if (b) out.push({ key: `before-${count}-${pins}`, label: `ours before issue 23, ${count} servers, ${thousands(pins)} pins`, group: "scale", run: ours(c, undefined, b), check: routedBy(c) });
    if (count === MAX_SERVERS) {
      // the upstream blocks named after their servers (u1 → dtable-server-1 ...), as before issue 23
      const named = (conf: string) => must(conf, /\bu(\d+)\b/g, (_: string, i: string) => c.servers[Number(i) - 1]);
      out.push({ key: `named-${count}-${pins}`, label: `ours, ${count} servers, ${thousands(pins)} pins, upstreams named after their servers`, group: "scale", run: ours(c, named), check: routedBy(c) });
    }
  }

  // one feature at a time taken out of ours (bench-only edits of the rendered text)
  const feature = (key: string, label: string, edit: (conf: string) => string, routes = false): Row => ({
    key: `without-${key}`,
    label,
    group: "feature",
    run: ours(prod, edit),
    check: routes ? routedBy(prod) : undefined,
  });
  const regexIf = /^( {4}if \(\$request_uri ~\* )"[^\n]*"(\) \{)$/m;
  const block = (variable: string, value: string) => new RegExp(`\\n {2}map \\$${variable} \\$${value} \\{\\n[\\s\\S]*?\\n {2}\\}\\n`);
  out.push(
    // the variables must exist: a regex that fails at the first character of $request_uri (always "/") sets none
    feature("uuid", "UUID extraction: a regex that fails at once instead (every request to the default server)", (c) => must(c, regexIf, '$1"^-(?<dtable_uuid>)(?<dtable_bucket>)"$2')),
    feature("bucket", "bucket lookup: every base to the default server's upstream, no bucket map", (c) =>
      must(must(c, "  map $dtable_routed_by $dtable_upstream {\n    default $dtable_bucket_upstream;", "  map $dtable_routed_by $dtable_upstream {\n    default u1;"), "  map $dtable_uuid $dtable_pin_upstream {\n    default $dtable_bucket_upstream;", "  map $dtable_uuid $dtable_pin_upstream {\n    default u1;"),
    ),
    feature(
      "pins",
      "pins: the bucket decides alone (no map keyed by the UUID), routed_by written as a constant",
      (c) => {
        let out = c;
        for (const [v, w] of [
          ["dtable_uuid", "dtable_routed_by"],
          ["dtable_routed_by", "dtable_upstream"],
          ["dtable_uuid", "dtable_pin_upstream"],
        ]) out = must(out, block(v, w), "\n");
        return must(must(out, "map $dtable_bucket $dtable_bucket_upstream {", "map $dtable_bucket $dtable_upstream {"), '"routed_by":"$dtable_routed_by"', '"routed_by":"bucket"');
      },
      true,
    ),
    feature("headers", `response headers: no ${SERVER_HEADER}, no X-Dtable-Upstream`, (c) => must(c, /^ {6}add_header X-Dtable-Server \$dtable_server always;\n {6}add_header X-Dtable-Upstream \$upstream_addr always;\n/m, "")),
    feature(
      "request-headers",
      "request headers: no Host, Upgrade, Connection map, X-Forwarded-For (Connection \"\" as in the bare hop)",
      (c) =>
        must(
          c,
          /^ {6}proxy_set_header Host \$host;\n {6}proxy_set_header Upgrade \$http_upgrade;\n {6}proxy_set_header Connection \$connection_upgrade;\n {6}proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;\n/m,
          '      proxy_set_header Connection "";\n',
        ),
      true,
    ),
    feature("log", "access log (= ours, access_log off)", noLog, true),
    { ...feature("pool", "request_pool_size 16k (nginx's default 4 KiB instead)", (c) => must(c, /^ {2}request_pool_size 16k;\n/m, ""), true), group: "saving" },
    { ...feature("jit", "pcre_jit on (PCRE interprets the regex instead)", (c) => must(c, /^pcre_jit on;\n/m, ""), true), group: "saving" },
  );
  if (process.env.BENCH_PROXY_EXTRA) {
    // experiments: a module whose default export maps row keys to edits of ours
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const extra = (require(process.env.BENCH_PROXY_EXTRA) as { default: Record<string, (conf: string) => string> }).default;
    for (const [key, edit] of Object.entries(extra)) out.push({ key, label: key, group: "feature", run: ours(prod, edit), check: routedBy(prod) });
  }
  return { rows: out, prod, notes };
}

export type Measured = {
  readonly row: Row;
  /** instructions per measured request, one figure per repeat */
  readonly perRequest: number[];
  /** system calls per measured request, by name (rows with syscalls only) */
  readonly syscalls?: Record<string, number>;
  /** access log lines written by the measured run (all WARMUP + MEASURED requests) */
  readonly logLines: number;
};

/** Per measured request: what `wrapper` counted for all the requests less what it counted for the warm-up alone. */
async function perRequest(row: Row, requests: readonly Request[], wrapper: Wrapper): Promise<{ counts: Record<string, number>; logLines: number; whole: [number, number] }> {
  const port = await freePort();
  const files = row.logFile ? [row.logFile] : [];
  const base = await countRun(row.run(port), requests.slice(0, WARMUP), wrapper, files);
  const all = await countRun(row.run(port), requests, wrapper, files);
  const counts: Record<string, number> = {};
  for (const k of new Set([...Object.keys(base.counts), ...Object.keys(all.counts)])) counts[k] = ((all.counts[k] ?? 0) - (base.counts[k] ?? 0)) / MEASURED;
  const logText = row.logFile ? all.files.get(row.logFile) ?? "" : all.stdout;
  const first = Object.keys(all.counts)[0];
  return { counts, logLines: logText.split("\n").filter((l) => l !== "").length, whole: [base.counts[first] ?? 0, all.counts[first] ?? 0] };
}

/** Runs `keys` (default: every row) REPEATS times under callgrind, and the syscall rows once under strace. */
export async function measureRows(keys?: readonly string[], repeats = REPEATS): Promise<{ measured: Measured[]; prod: Cluster; notes: string[] }> {
  const { rows: all, prod, notes } = rows();
  const rng = seededRandom(SEED);
  const uuids = Array.from({ length: WARMUP + MEASURED }, () => randomUuid(rng));
  const withStrace = have("strace");
  if (!withStrace) notes.push("System calls: not counted, strace is not installed.");
  const running: Nginx[] = [];
  const measured: Measured[] = [];
  try {
    const readyPort = await freePort();
    running.push(await startNginx(backendsConfig({ count: MAX_SERVERS, readyPort, port: PORT, addressOf, body: (i) => String(i + 1), workers: "1", workerConnections: 1024 }), renderProxyHosts([]), readyPort));
    for (const row of all.filter((r) => !keys || keys.includes(r.key))) {
      const pathOf = row.path ?? ((u: string) => `/api/v1/dtables/${u}/rows/`);
      const requests: Request[] = uuids.map((u) => ({ path: pathOf(u), check: row.check?.(u) }));
      const figures: number[] = [];
      let logLines = 0;
      for (let i = 0; i < repeats; i++) {
        const r = await perRequest(row, requests, CALLGRIND);
        figures.push(r.counts.Ir);
        logLines = r.logLines;
        log(`proxy cost: ${row.key} run ${i + 1}: ${thousands(r.counts.Ir)} instructions/request (whole runs ${thousands(r.whole[0])} and ${thousands(r.whole[1])})`);
      }
      let syscalls: Record<string, number> | undefined;
      if (row.syscalls && withStrace) {
        syscalls = (await perRequest(row, requests, STRACE)).counts;
        log(`proxy cost: ${row.key}: ${fixed(syscalls.total)} system calls/request`);
      }
      measured.push({ row, perRequest: figures, syscalls, logLines });
    }
  } finally {
    for (const s of running.reverse()) await s.stop().catch(() => undefined);
  }
  return { measured, prod, notes };
}

const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** (largest − smallest) / mean */
const spread = (xs: readonly number[]) => (Math.max(...xs) - Math.min(...xs)) / mean(xs);
const k = (x: number) => `${fixed(x / 1000, 1)}k`;

export async function proxyCostBench(): Promise<Section> {
  const started = Date.now();
  if (!have("valgrind")) {
    return { title: "Proxy cost in CPU instructions", markdown: "Not measured: valgrind is not installed (`apt-get install -y valgrind`).", targets: [{ name: "proxy: instructions per request", target: "measured", measured: "valgrind missing", met: false }] };
  }
  const { measured, prod, notes } = await measureRows();
  const get = (key: string) => measured.find((m) => m.row.key === key);
  const ir = (key: string) => mean(get(key)!.perRequest);
  const bare = ir("bare");
  const ours = ir("ours");
  const seed = ir("seed");
  const worstSpread = Math.max(...measured.map((m) => spread(m.perRequest)));
  const worstRow = measured.find((m) => spread(m.perRequest) === worstSpread)!;
  const badLogs = measured.filter((m) => m.row.key.startsWith("ours") && !m.row.key.includes("nolog") && m.logLines !== WARMUP + MEASURED);

  const row = (m: Measured) => [
    m.row.label,
    thousands(mean(m.perRequest)),
    fixed(mean(m.perRequest) / bare),
    m.perRequest.map((x) => thousands(x)).join(", "),
    `${fixed(100 * spread(m.perRequest), 3)}%`,
  ];
  const header = ["configuration", "instructions / request", "× bare hop", "runs", "spread"];
  const features = measured.filter((m) => m.row.group === "feature");
  const featureRows = features.map((m) => [m.row.label, thousands(ours - mean(m.perRequest)), `${fixed((100 * (ours - mean(m.perRequest))) / ours, 1)}%`]);
  const sysRows = measured
    .filter((m) => m.syscalls)
    .map((m) => {
      const s = m.syscalls!;
      const others = Object.entries(s)
        .filter(([name, n]) => name !== "total" && n >= 0.005)
        .sort((a, b) => b[1] - a[1])
        .map(([name, n]) => `${name} ${fixed(n, 2)}`)
        .join(", ");
      return [m.row.label, fixed(s.total, 2), fixed((s.write ?? 0) + (s.writev ?? 0), 2), others];
    });
  const ratio = ours / bare;
  const met = ratio <= TARGET_RATIO && ours < seed;
  const scale = measured.filter((m) => m.row.group === "scale");

  const markdown = [
    `valgrind's callgrind (${execFileSync("valgrind", ["--version"], { encoding: "utf8" }).trim()}) counts the instructions of ONE nginx process (\`master_process off; daemon off;\`, \`worker_processes 1\`; the config's own process lines are replaced, nothing else) ` +
      `serving the same ${thousands(MEASURED)} requests \`GET /api/v1/dtables/<uuid>/rows/\` (random base UUIDs from seed ${SEED}; headers Host, User-Agent, Accept), sent one at a time on a keep-alive connection by a small client in the benchmark (nginx closes it every 1,000 requests, keepalive_requests, and the client opens another). ` +
      `The upstreams are one nginx on loopback (127.0.202.x:5000) answering \`return 200\`, not under valgrind. ` +
      `**What is counted:** each config runs twice, once for ${WARMUP} warm-up requests alone and once for the same ${WARMUP} followed by the ${thousands(MEASURED)} measured ones; the difference divided by ${thousands(MEASURED)} is the figure. ` +
      `Start-up (config, maps, regex compilation), the first upstream connections and shutdown are the same in both runs and cancel out; what is left is everything nginx does for a request, event loop included. ` +
      `(callgrind's --toggle-collect on a request-handling function would miss the event loop and the upstream's callbacks around it; callgrind_control would have to interrupt nginx blocked in epoll_wait.) ` +
      `Every config is run ${REPEATS} times ("runs"); "spread" is (largest − smallest) / mean. ` +
      `Ours is \`renderProxyConfig\` for the prod stack (${prod.servers.length} servers, weights ${prodConfigWeights()}, ${Object.keys(prod.table.pins).length} pinned base, ${prod.table.bucketHexDigits} hex digits; its proxy settings), its access log going to nginx's stdout as in the container, here a regular file: ` +
      `callgrind counts user-space instructions only, which do not depend on where the bytes go; the kernel's side of the writes is in the system calls below. Every response was checked (status 200, and ${SERVER_HEADER} naming the server the table says where the row routes), and the access logs hold one line per request. ` +
      `Part time: ${fixed((Date.now() - started) / 1000, 0)} s.`,
    "",
    table(header, measured.filter((m) => m.row.group === "compare").map(row)),
    "",
    `- **Ours ${k(ours)} instructions per request, ${fixed(ratio)}× the bare hop (target ≤ ${TARGET_RATIO}×) and ${fixed(ours / seed)}× the seed's (target < 1): ${met ? "met" : "**missed**"}.**` +
      (get("bare-pool") ? ` The bare hop given the same request_pool_size costs ${k(ir("bare-pool"))}; against that, ours is ${fixed(ours / ir("bare-pool"))}×.` : "") +
      (get("before") ? ` Before issue 23 ours cost ${k(ir("before"))} (${fixed(ir("before") / bare)}× the bare hop).` : ""),
    `- Determinism: the ${REPEATS} runs of every config agree within ${fixed(100 * worstSpread, 3)}% (largest: ${worstRow.row.label}); the check is ${fixed(100 * DETERMINISM, 1)}%.`,
    ...(badLogs.length > 0 ? [`- **Access log lines missing**: ${badLogs.map((m) => `${m.row.label}: ${m.logLines} of ${WARMUP + MEASURED}`).join("; ")}.`] : []),
    "",
    "### What each feature of ours costs",
    "",
    `Each row is ours with one feature taken out (a bench-only edit of the rendered text, bench/proxy-cost.ts); the cost is ours (${thousands(ours)}) less that variant. The costs overlap (e.g. the log writes the server name the headers also need), so they do not add up exactly to ours less the bare hop (${thousands(ours - bare)}).`,
    "",
    table(["feature taken out", "instructions / request", "share of ours"], featureRows),
    "",
    "Settings that are there only for the cost, each taken out (ours costs that much more without it):",
    "",
    table(
      ["setting", "ours without it", "saved / request"],
      measured.filter((m) => m.row.group === "saving").map((m) => [m.row.label, thousands(mean(m.perRequest)), thousands(mean(m.perRequest) - ours)]),
    ),
    "",
    `Two more are in the tables around: the access log's \`buffer=\` (a system call per request, below) and short upstream names (u1, u2, …): nginx finds the upstream of \`proxy_pass http://$variable\` by comparing the name with every upstream block's, and server names share their first 14 characters, so that search grows with the number of servers (scale table, 64 servers).`,
    "",
    "### Scale: servers, pins, a pinned base",
    "",
    table(header, scale.map(row)),
    "",
    "### System calls per request",
    "",
    `strace -c on nginx (not under valgrind) for the same requests, the warm-up run subtracted likewise (one run each). "writes" is write + writev: the responses to the client and the requests to the upstream (writev), and the access log (write). ` +
      `callgrind does not see what a system call costs in the kernel; the log's buffer (\`buffer=4k flush=1s\`) saves a write per request there, which the instruction counts above barely show.`,
    "",
    table(["configuration", "system calls / request", "writes / request", "by call"], sysRows),
    "",
    ...notes.flatMap((n) => [n, ""]),
  ].join("\n");

  const targets: Target[] = [
    {
      name: "proxy: CPU instructions per request, ours (log on) vs bare hop and seed",
      target: `≤ ${TARGET_RATIO}× bare hop and < seed`,
      measured: `${k(ours)}: ${fixed(ratio)}× bare hop (${k(bare)}), ${fixed(ours / seed)}× seed (${k(seed)})`,
      met,
    },
    { name: "proxy: instruction counts run to run", target: `within ${fixed(100 * DETERMINISM, 1)}%`, measured: `${fixed(100 * worstSpread, 3)}%`, met: worstSpread <= DETERMINISM },
  ];
  return { title: "Proxy cost in CPU instructions", markdown, targets };

  function prodConfigWeights(): string {
    return configOf(stackValues("prod"))
      .hosts.servers.map((s) => s.weight)
      .join(", ");
  }
}

if (require.main === module) {
  const keys = process.argv.slice(2);
  measureRows(keys.length > 0 ? keys : undefined).then(
    ({ measured }) => {
      for (const m of measured) {
        const sys = m.syscalls ? `\tsyscalls ${fixed(m.syscalls.total, 2)} write ${fixed(m.syscalls.write ?? 0, 3)}` : "";
        process.stdout.write(`${m.row.key}\t${m.perRequest.map((x) => x.toFixed(0)).join("\t")}\tlog ${m.logLines}${sys}\n`);
      }
      process.exit(0);
    },
    (e) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(1);
    },
  );
}
