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
/** Where the proxy answers with nginx's stub_status, for metrics (private networks only). */
const STATUS_PATH = "/nginx_status";

/**
 * The access log's fields (one JSON object per request, README "Seeing into
 * the proxy"). `uri` is the path without the query string: SeaTable puts
 * tokens in query strings (`?token=...`), and the base UUID of a query-string
 * request is in `base` already. `status` and `request_time` are always
 * numbers; the upstream fields are strings, empty when no upstream was asked
 * (a quarantined base).
 */
const ACCESS_LOG_FIELDS: readonly (readonly [string, string, "number" | "string"])[] = [
  ["time", "$time_iso8601", "string"],
  ["client", "$remote_addr", "string"],
  ["method", "$request_method", "string"],
  ["uri", "$uri", "string"],
  ["base", "$dtable_uuid", "string"],
  ["bucket", "$dtable_bucket", "string"],
  ["server", "$dtable_server", "string"],
  ["routed_by", "$dtable_routed_by", "string"],
  ["status", "$status", "number"],
  ["upstream", "$upstream_addr", "string"],
  ["upstream_status", "$upstream_status", "string"],
  ["upstream_time", "$upstream_response_time", "string"],
  ["request_time", "$request_time", "number"],
];

/** Who may read the status page: loopback and the private ranges (RFC 1918, RFC 6598, RFC 4193). */
const STATUS_CLIENTS = ["127.0.0.0/8", "::1", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"];

// A whole base UUID: at the start of the URI or after "/" or "=", dashed or 32
// hex digits, and followed by "/", "?", "&", "#" or the end. PCRE scans left to
// right, so the first UUID in the URI wins, whether in the path or the query.
const UUID_IN_URI =
  "~*(?:^|[/=])(?<dtable_uuid_found>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})(?=[/?&#]|$)";

const undashed = (uuid: string) => uuid.replace(/-/g, "");

/** Every dtable-server the table routes to, in first-seen order. */
export function tableServers(table: RoutingTable): string[] {
  return [...new Set([table.default, ...Object.values(table.buckets), ...Object.values(table.pins)])];
}

/**
 * `servers` are the upstreams to declare (at least every server the table names;
 * declaring an unused one is harmless). Map lookups in nginx ignore case, so
 * lower-case keys also match upper-case UUIDs.
 */
export function renderProxyConfig(table: RoutingTable, servers: readonly string[], proxy: ProxySettings, quarantine?: Quarantine): string {
  const quarantinedBuckets = new Set(quarantine?.buckets ?? []);
  const quarantinedPins = new Set(quarantine?.pins ?? []);
  const upstreams = [...new Set([...servers, ...tableServers(table)])];
  const pins = [...new Set([...Object.keys(table.pins), ...quarantinedPins])].sort();
  const pinTarget = (uuid: string) => (quarantinedPins.has(uuid) ? QUARANTINE : table.pins[uuid] ?? table.buckets[uuid.slice(0, table.bucketHexDigits)]);
  const mapEntries = Object.keys(table.buckets).length + 2 * pins.length;

  const lines = [
    "# dtable-server-proxy, rendered by seatable-cluster from the routing table. Do not edit on the host:",
    "# the next `pulumi up` overwrites it.",
    `# ${Object.keys(table.buckets).length} buckets (${table.bucketHexDigits} hex digit(s)), ${Object.keys(table.pins).length} pinned base(s), default ${table.default}.`,
    ...(quarantine ? [`# QUARANTINE: ${quarantinedBuckets.size} bucket(s) and ${quarantinedPins.size} pinned base(s) answer 503 while they change server.`] : []),
    "worker_processes auto;",
    "",
    "events {",
    `  worker_connections ${proxy.workerConnections};`,
    "}",
    "",
    "http {",
    "  # One JSON line per request to the container's log (Docker's json-file, rotated).",
    "  log_format dtable_proxy escape=json",
    ...ACCESS_LOG_FIELDS.map(([name, variable, type], i) => {
      const value = type === "number" ? variable : `"${variable}"`;
      const last = i === ACCESS_LOG_FIELDS.length - 1;
      return `    '${i === 0 ? "{" : ""}"${name}":${value}${last ? "}';" : ",'"}`;
    }),
    "  access_log /dev/stdout dtable_proxy;",
    // issue 20; tests/proxy.nginx.test.ts, "no query string in anything the proxy writes"
    "  # No error log for requests: nginx adds the request line and upstream URL, query string (tokens)",
    "  # included, to each message about one, at every level (emerg too). The access log shows failures;",
    "  # start and reload errors still go to nginx's main error log (stderr).",
    "  error_log /dev/null;",
    "  server_tokens off;",
    // a UUID key takes about 48 bytes of a bucket: with 128, nginx warned "could not build
    // optimal map_hash" at every reload from a few thousand pins (tests/proxy.nginx.test.ts)
    "  map_hash_bucket_size 256;",
    `  map_hash_max_size ${Math.max(2048, 4 * mapEntries)};`,
    "",
    "  # The first base UUID in the URI, as written there.",
    "  map $request_uri $dtable_uuid {",
    '    default "";',
    `    "${UUID_IN_URI}" $dtable_uuid_found;`,
    "  }",
    "",
    "  # Its bucket: the first hex digits.",
    "  map $dtable_uuid $dtable_bucket {",
    '    default "";',
    `    "~*^(?<dtable_bucket_found>[0-9a-f]{${table.bucketHexDigits}})" $dtable_bucket_found;`,
    "  }",
    "",
    "  # Bucket -> dtable-server. No UUID -> the default server.",
    "  map $dtable_bucket $dtable_bucket_server {",
    `    default ${table.default};`,
    ...allBuckets(table.bucketHexDigits).map((b) => `    ${b} ${quarantinedBuckets.has(b) ? QUARANTINE : table.buckets[b]};`),
    "  }",
    "",
    "  # Pinned bases win over their bucket (dashed and 32-hex spellings).",
    "  map $dtable_uuid $dtable_server {",
    "    default $dtable_bucket_server;",
    ...pins.flatMap((u) => [`    ${u} ${pinTarget(u)};`, `    ${undashed(u)} ${pinTarget(u)};`]),
    "  }",
    "",
    "  # Why, for the access log: a pin, the bucket, or no UUID (the default server).",
    "  map $dtable_uuid $dtable_routed_by {",
    "    default bucket;",
    '    "" default;',
    ...pins.flatMap((u) => [`    ${u} pin;`, `    ${undashed(u)} pin;`]),
    "  }",
    "",
    "  map $dtable_server $dtable_retry_after {",
    '    default "";',
    `    ${QUARANTINE} ${proxy.retryAfterSeconds};`,
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
      `  upstream ${s} {`,
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
    `      add_header ${SERVER_HEADER} $dtable_server always;`,
    `      add_header ${UPSTREAM_HEADER} $upstream_addr always;`,
    "      add_header Retry-After $dtable_retry_after always;",
    `      if ($dtable_server = ${QUARANTINE}) {`,
    "        return 503;",
    "      }",
    "      proxy_pass http://$dtable_server;",
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
