// Generated access logs of the dtable-server-proxy (pure/plan/nginx.ts's log_format),
// for the --suggest tests and bench/suggest.ts: every field as nginx writes it.
import { allBuckets } from "../../pure/config/routing-file";
import { ownerOf, RoutingTable } from "../../pure/plan/routing";
import { seededRandom } from "./random";

export type LogRequest = {
  readonly base?: string;
  /** seconds; "" when no upstream was asked */
  readonly upstreamTime?: string;
  readonly status?: number;
  readonly time?: string;
  readonly server?: string;
  readonly routedBy?: "pin" | "bucket" | "default";
  readonly bucketDigits?: number;
};

/** One line as the proxy writes it (pure/plan/nginx.ts, ACCESS_LOG_FIELDS, in its order). */
export function logLine(r: LogRequest): string {
  const base = r.base ?? "";
  const upstream = r.upstreamTime ?? "0.010";
  return JSON.stringify({
    time: r.time ?? "2024-01-15T09:30:00+00:00",
    base,
    bucket: base.slice(0, r.bucketDigits ?? 2),
    server: r.server ?? "dtable-server",
    routed_by: r.routedBy ?? (base ? "bucket" : "default"),
    status: r.status ?? 200,
    upstream_status: upstream === "" ? "" : String(r.status ?? 200),
    upstream_time: upstream,
    request_time: Number(upstream === "" || upstream === "-" ? 0 : upstream.split(",")[0]) + 0.001,
  });
}

/** A random lower-case dashed UUID whose first hex digits are `prefix`. */
export function uuidIn(prefix: string, rng: () => number): string {
  const hex = (prefix + Array.from({ length: 32 }, () => Math.floor(rng() * 16).toString(16)).join("")).slice(0, 32);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

export type Traffic = {
  /** bases per bucket (of the table's digits) */
  readonly basesPerBucket?: number;
  /** relative weight of each bucket's requests (default 1 everywhere) */
  readonly bucketWeight?: (bucket: string) => number;
  /** bases with a share of all requests of their own: uuid → share (0..1) */
  readonly hot?: Readonly<Record<string, number>>;
  /** share of requests without a base */
  readonly noBase?: number;
  readonly requests: number;
  readonly seed: number;
  /** upstream seconds of one request */
  readonly seconds?: number;
  /** the table the proxy ran: each line's server and routed_by */
  readonly table: RoutingTable;
  /** first line's time, seconds apart */
  readonly start?: number;
};

/**
 * Lines of a log of `requests` requests: each is a hot base with its share,
 * else a base of a bucket drawn by weight, else (noBase) none. The same
 * traffic always gives the same lines.
 */
export function* trafficLines(t: Traffic): Generator<string> {
  const rng = seededRandom(t.seed);
  const digits = t.table.bucketHexDigits;
  const buckets = allBuckets(digits);
  const perBucket = t.basesPerBucket ?? 4;
  const bases = buckets.map((b) => Array.from({ length: perBucket }, () => uuidIn(b, rng)));
  const weights = buckets.map((b) => t.bucketWeight?.(b) ?? 1);
  const cumulative: number[] = [];
  weights.reduce((sum, w, i) => (cumulative[i] = sum + w), 0);
  const weightSum = cumulative[cumulative.length - 1];
  const hot = Object.entries(t.hot ?? {});
  const start = t.start ?? Date.UTC(2024, 0, 15) / 1000;
  const seconds = (t.seconds ?? 0.01).toFixed(3);
  for (let i = 0; i < t.requests; i++) {
    const time = new Date((start + Math.floor((i * 86400) / t.requests)) * 1000).toISOString().replace(".000Z", "+00:00");
    let x = rng();
    let base: string | undefined;
    for (const [uuid, share] of hot) {
      if (x < share) {
        base = uuid;
        break;
      }
      x -= share;
    }
    if (base === undefined && rng() >= (t.noBase ?? 0)) {
      const y = rng() * weightSum;
      let lo = 0;
      let hi = cumulative.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (cumulative[mid] > y) hi = mid;
        else lo = mid + 1;
      }
      base = bases[lo][Math.floor(rng() * perBucket)];
    }
    const server = base ? ownerOf(t.table, base) : t.table.default;
    const routedBy = base === undefined ? "default" : base in t.table.pins ? "pin" : "bucket";
    yield logLine({ base, time, server, routedBy, upstreamTime: seconds, bucketDigits: digits });
  }
}
