// nginx-proxy.conf for the dtable-server-proxy (design, "The nginx config").
// One regex finds the base UUID; hash maps (constant cost, however many pins or
// servers) turn its bucket or the pinned UUID into the upstream.
import { allBuckets, RoutingTable } from "../config/routing-file";
import { PORTS } from "../config/schema";

export type ProxySettings = {
  readonly port: number;
  readonly keepalive: number;
  readonly workerConnections: number;
  readonly retryAfterSeconds: number;
};

/** Buckets and pinned bases that answer 503 while they change server. */
export type Quarantine = { readonly buckets: readonly string[]; readonly pins: readonly string[] };

/** The map value that makes a request answer 503 instead of reaching a server. */
export const QUARANTINE = "quarantine";
/** Response header naming the dtable-server the proxy chose. */
export const SERVER_HEADER = "X-Dtable-Server";
/** Response header naming the address nginx connected to: proof of which dtable-server answered. */
export const UPSTREAM_HEADER = "X-Dtable-Upstream";
/** Where the proxy answers with nginx's stub_status, for metrics and `npm run status` (private networks only). */
export const STATUS_PATH = "/nginx_status";

/**
 * The access log's fields (one JSON object per request, README "Seeing into
 * the proxy"). `status` and `request_time` are always numbers; the upstream
 * fields are strings, empty when no upstream was asked (a quarantined base),
 * "-" when nginx could not reach it. `--suggest` (pure/plan/access-log.ts)
 * reads these names and types.
 *
 * The line is written with `escape=none`: every value comes from a closed
 * alphabet that needs no JSON escaping (hex digits and dashes that the UUID
 * regex matched, server names as the config's rules allow them, digits, ".",
 * ",", ":", "-", " ", an ISO time), so nginx does not scan each value for
 * characters to escape. Nothing from the request is written as it was sent:
 * no path or query string (SeaTable puts tokens in query strings), no method
 * or client address. Adding such a field needs `escape=json` back.
 */
const ACCESS_LOG_FIELDS: readonly (readonly [string, string, "number" | "string"])[] = [
  ["time", "$time_iso8601", "string"],
  ["base", "$dtable_uuid", "string"],
  ["bucket", "$dtable_bucket", "string"],
  ["server", "$dtable_server", "string"],
  ["routed_by", "$dtable_routed_by", "string"],
  ["status", "$status", "number"],
  ["upstream_status", "$upstream_status", "string"],
  ["upstream_time", "$upstream_response_time", "string"],
  ["request_time", "$request_time", "number"],
];

/**
 * The access log's write buffer. 4 KiB is PIPE_BUF on Linux: the container's
 * stdout is a pipe that every worker writes to, and a write of at most
 * PIPE_BUF bytes is never interleaved with another worker's, so lines stay
 * whole. One write() per some 15 requests instead of one per request;
 * a line waits at most `flush` (and nginx writes the buffer when a worker
 * stops or reloads).
 */
const ACCESS_LOG_BUFFER = "buffer=4k flush=1s";

/** Who may read the status page: loopback and the private ranges (RFC 1918, RFC 6598, RFC 4193). */
const STATUS_CLIENTS = ["127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

/**
 * The first whole base UUID in the URI, dashed or 32 hex digits, and its bucket
 * (its first `digits` hex digits, the same in both spellings), as named
 * captures of ONE regex: after "/" or "=" and followed by "/", "?", "&", "#"
 * or the end. PCRE scans left to right, so the first UUID in the URI wins,
 * whether in the path or the query. ($request_uri always starts with "/", so a
 * UUID never starts it: "after / or =" is every place a UUID can be.)
 */
function uuidRegex(digits: number): string {
  const hex = (n: number) => `[0-9a-f]{${n}}`;
  return (
    `[/=](?<dtable_uuid>(?<dtable_bucket>${hex(digits)})` +
    `(?:${hex(8 - digits)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}|${hex(32 - digits)}))(?=[/?&#]|$)`
  );
}

const undashed = (uuid: string) => uuid.replace(/-/g, "");

/** Every dtable-server the table routes to, in first-seen order. */
export function tableServers(table: RoutingTable): string[] {
  return [...new Set([table.default, ...Object.values(table.buckets), ...Object.values(table.pins)])];
}

/**
 * `servers` are the upstreams to declare (at least every server the table names;
 * declaring an unused one is harmless). Map lookups in nginx ignore case, so
 * lower-case keys also match upper-case UUIDs.
 *
 * What a request costs is measured in CPU instructions by `npm run bench`
 * (bench/proxy-cost.ts, docs/benchmarks.md); the choices below that are only
 * there for that cost say so.
 */
export function renderProxyConfig(table: RoutingTable, servers: readonly string[], proxy: ProxySettings, quarantine?: Quarantine): string {
  const quarantinedBuckets = new Set(quarantine?.buckets ?? []);
  const quarantinedPins = new Set(quarantine?.pins ?? []);
  const upstreams = [...new Set([...servers, ...tableServers(table)])];
  // nginx finds the upstream of `proxy_pass http://$variable` by comparing its
  // name with each upstream block's in turn, character by character. Server
  // names share their first 14 ("dtable-server-"): with 64 servers named so, a
  // request cost about 6,000 more instructions. Short names (u1, u2, ...)
  // differ by their second character (docs/benchmarks.md, scale).
  const upstreamOf = (server: string) => (server === QUARANTINE ? QUARANTINE : `u${upstreams.indexOf(server) + 1}`);
  const pins = [...new Set([...Object.keys(table.pins), ...quarantinedPins])].sort();
  const pinTarget = (uuid: string) => (quarantinedPins.has(uuid) ? QUARANTINE : table.pins[uuid] ?? table.buckets[uuid.slice(0, table.bucketHexDigits)]);
  const mapEntries = Object.keys(table.buckets).length + 2 * pins.length;
  const headers = [
    `add_header ${SERVER_HEADER} $dtable_server always;`,
    `add_header ${UPSTREAM_HEADER} $upstream_addr always;`,
  ];

  const lines = [
    "# dtable-server-proxy, rendered by seatable-cluster from the routing table. Do not edit on the host:",
    "# the next `pulumi up` overwrites it.",
    `# ${Object.keys(table.buckets).length} buckets (${table.bucketHexDigits} hex digit(s)), ${Object.keys(table.pins).length} pinned base(s), default ${table.default}.`,
    ...(quarantine ? [`# QUARANTINE: ${quarantinedBuckets.size} bucket(s) and ${quarantinedPins.size} pinned base(s) answer 503 while they change server.`] : []),
    "worker_processes auto;",
    "# The UUID regex compiled to machine code, not interpreted (CPU cost: docs/benchmarks.md).",
    "pcre_jit on;",
    "",
    "events {",
    `  worker_connections ${proxy.workerConnections};`,
    "}",
    "",
    "http {",
    "  # One JSON line per request to the container's log (Docker's json-file, rotated).",
    "  # escape=none: no value needs escaping (pure/plan/nginx.ts, ACCESS_LOG_FIELDS).",
    "  log_format dtable_proxy escape=none",
    ...ACCESS_LOG_FIELDS.map(([name, variable, type], i) => {
      const value = type === "number" ? variable : `"${variable}"`;
      const last = i === ACCESS_LOG_FIELDS.length - 1;
      return `    '${i === 0 ? "{" : ""}"${name}":${value}${last ? "}';" : ",'"}`;
    }),
    "  # Written in blocks of at most 4 KiB (PIPE_BUF: whole lines from every worker), at least every second.",
    `  access_log /dev/stdout dtable_proxy ${ACCESS_LOG_BUFFER};`,
    // issue 20; tests/proxy.nginx.test.ts, "no query string in anything the proxy writes"
    "  # No error log for requests: nginx adds the request line and upstream URL, query string (tokens)",
    "  # included, to each message about one, at every level (emerg too). The access log shows failures;",
    "  # start and reload errors still go to nginx's main error log (stderr).",
    "  error_log /dev/null;",
    "  server_tokens off;",
    "  # A request here takes more than nginx's default 4 KiB from its memory pool: one",
    "  # allocation instead of several per request.",
    "  request_pool_size 16k;",
    // a UUID key takes about 48 bytes of a bucket: with 128, nginx warned "could not build
    // optimal map_hash" at every reload from a few thousand pins (tests/proxy.nginx.test.ts)
    "  map_hash_bucket_size 256;",
    `  map_hash_max_size ${Math.max(2048, 4 * mapEntries)};`,
    "",
    "  # $dtable_uuid, the first base UUID in the URI as written there, and $dtable_bucket,",
    "  # its first hex digits, are set by the regex in the server block.",
    "",
    `  # Bucket -> upstream (u<N>: the upstreams below). No UUID -> the default server, ${table.default}.`,
    "  map $dtable_bucket $dtable_bucket_upstream {",
    `    default ${upstreamOf(table.default)};`,
    ...allBuckets(table.bucketHexDigits).map((b) => `    ${b} ${upstreamOf(quarantinedBuckets.has(b) ? QUARANTINE : table.buckets[b])};`),
    "  }",
    "",
    "  # Why: a pinned base (dashed and 32-hex spellings), its bucket, or no UUID (the default server).",
    "  map $dtable_uuid $dtable_routed_by {",
    "    default bucket;",
    '    "" default;',
    ...pins.flatMap((u) => [`    ${u} pin;`, `    ${undashed(u)} pin;`]),
    "  }",
    "",
    "  # Pinned bases win over their bucket. A base that is not pinned looks up one map keyed",
    "  # by its UUID (above), not two.",
    "  map $dtable_routed_by $dtable_upstream {",
    "    default $dtable_bucket_upstream;",
    "    pin $dtable_pin_upstream;",
    "  }",
    "",
    "  map $dtable_uuid $dtable_pin_upstream {",
    "    default $dtable_bucket_upstream;",
    ...pins.flatMap((u) => [`    ${u} ${upstreamOf(pinTarget(u))};`, `    ${undashed(u)} ${upstreamOf(pinTarget(u))};`]),
    "  }",
    "",
    "  # The dtable-server's name, for the response header and the access log.",
    "  map $dtable_upstream $dtable_server {",
    '    default "";',
    ...upstreams.map((s) => `    ${upstreamOf(s)} ${s};`),
    ...(quarantine ? [`    ${QUARANTINE} ${QUARANTINE};`] : []),
    "  }",
    "",
    "  # Connection: upgrade only for WebSocket (Socket.IO) requests, so plain",
    "  # requests reuse the keep-alive connections to the upstreams.",
    "  map $http_upgrade $connection_upgrade {",
    "    default upgrade;",
    '    "" "";',
    "  }",
    "",
    ...upstreams.flatMap((s) => [
      `  upstream ${upstreamOf(s)} {`,
      `    server ${s}:${PORTS.dtableServer};`,
      `    keepalive ${proxy.keepalive};`,
      // dtable-server (Node.js) closes idle connections after 5 s; reusing one it
      // is closing would give a 502 that proxy_next_upstream off does not retry
      "    keepalive_timeout 4s;",
      "  }",
    ]),
    "",
    "  server {",
    `    listen ${proxy.port};`,
    "    server_name _;",
    "    client_max_body_size 100m;",
    "",
    "    # One regex finds the base UUID and its bucket in the path or the query string. Here, not",
    "    # in a map of $request_uri: a map would first lower-case and hash the whole URI.",
    `    if ($request_uri ~* "${uuidRegex(table.bucketHexDigits)}") {`,
    "    }",
    "",
    // Metrics on the proxy's own port: published on dtable-web's private address
    // only, read from private networks only; a new port would replace the container
    `    location = ${STATUS_PATH} {`,
    "      stub_status;",
    "      access_log off;",
    ...STATUS_CLIENTS.map((net) => `      allow ${net};`),
    "      deny all;",
    "    }",
    "",
    "    location / {",
    ...headers.map((h) => `      ${h}`),
    // only the quarantine form can route to QUARANTINE: the plain one does not test for it
    ...(quarantine
      ? [
          `      if ($dtable_upstream = ${QUARANTINE}) {`,
          ...headers.map((h) => `        ${h}`),
          `        add_header Retry-After ${proxy.retryAfterSeconds} always;`,
          "        return 503;",
          "      }",
        ]
      : []),
    "      proxy_pass http://$dtable_upstream;",
    "      proxy_http_version 1.1;",
    "      proxy_set_header Host $host;",
    "      proxy_set_header Upgrade $http_upgrade;",
    "      proxy_set_header Connection $connection_upgrade;",
    "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "      # Never another server: a base opened on two servers loses writes.",
    "      proxy_next_upstream off;",
    "      proxy_connect_timeout 5s;",
    "      proxy_read_timeout 600s;",
    "      proxy_send_timeout 600s;",
    "    }",
    "  }",
    "",
    "}",
  ];
  return `${lines.join("\n")}\n`;
}

/** /etc/hosts for the proxy container: dtable-server names → private addresses. */
export function renderProxyHosts(servers: readonly { name: string; address: string }[]): string {
  return [
    "# dtable-server-proxy's /etc/hosts, rendered by seatable-cluster (nginx resolves upstream names on reload).",
    "127.0.0.1 localhost",
    "::1 localhost",
    ...servers.map((s) => `${s.address} ${s.name}`),
    "",
  ].join("\n");
}
