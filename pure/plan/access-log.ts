// The proxy's access log (nginx.ts, ACCESS_LOG_FIELDS; README "Seeing into the
// proxy") read into the load each bucket and each busy base puts on the
// dtable-servers, line by line in bounded memory: `plan --suggest` streams a
// log of any length through it (io/access-log.ts feeds it, suggest.ts decides).
//
// Load is the summed upstream time: the seconds a dtable-server spent answering.
// Memory does not grow with the log: 4,096 buckets (the finest bucketHexDigits,
// folded to the table's later), the exact figures of the bases given to track
// (the pins), a fixed number of heavy-hitter bases, and a capped number of
// server names and sample lines.
import { isUuid, normaliseUuid } from "../config/values";
import { PROXY_CONTAINER } from "./containers";

/** Buckets are counted with the most hex digits a table may use; bucketsAt folds them to fewer. */
export const LOG_BUCKET_DIGITS = 3;
const BUCKETS = 16 ** LOG_BUCKET_DIGITS;

/**
 * How many bases the heavy-hitter summary keeps (weighted Space-Saving,
 * Metwally, Agrawal and El Abbadi 2005). Whatever the log: every base that
 * carried more than 1/HEAVY_HITTERS of the load (0.1%) is in it, and each
 * figure overstates its base's load by at most that much; while no more
 * distinct busy bases than this were seen, every figure is exact.
 */
export const HEAVY_HITTERS = 1024;
/** Distinct `server` values counted by name; more (a log that is not this proxy's) are counted together. */
export const MAX_SERVER_NAMES = 256;
/** Lines that are not access-log lines, quoted in the report (each cut to SAMPLE_LENGTH characters). */
export const MAX_SAMPLES = 3;
const SAMPLE_LENGTH = 120;
/** The `server` of all further names once MAX_SERVER_NAMES are counted. */
export const OTHER_SERVERS = "(other)";
/** The proxy's `server` for a base it held in quarantine (nginx.ts QUARANTINE): no dtable-server was asked. */
const QUARANTINE = "quarantine";
/** A WebSocket (Socket.IO) upgrade: its upstream time is how long the session stayed open, not work done. */
const SWITCHING_PROTOCOLS = 101;

export type Figures = { readonly requests: number; readonly load: number };

/** One heavy-hitter base: `load` overstates its true load by at most `error`; `requests` counts those since it entered the summary. */
export type BaseFigures = { readonly uuid: string; readonly requests: number; readonly load: number; readonly error: number };

/** What a log said, in bounded size: the input of suggest.ts. */
export type LoadSample = {
  /** non-blank lines read */
  readonly lines: number;
  /** access-log lines (requests) among them */
  readonly requests: number;
  /** lines that are not access-log lines (nginx's own messages, a cut line), with the first few */
  readonly skipped: { readonly count: number; readonly samples: readonly string[] };
  /** the first and last `time` (by the clock, as written), and the seconds between */
  readonly window?: { readonly first: string; readonly last: string; readonly seconds: number };
  /** per bucket of LOG_BUCKET_DIGITS hex digits (index: the bucket as a number): requests and load, pinned bases included */
  readonly buckets: { readonly requests: readonly number[]; readonly load: readonly number[] };
  /**
   * per bucket, the dtable-server the log shows bucket-routed requests going to
   * ("" none, or the last one when `serverChanged`): a cross-check of the table
   * the load is modelled on
   */
  readonly bucketServers: { readonly server: readonly string[]; readonly changed: readonly boolean[] };
  /** requests without a base UUID (they go to the default server) */
  readonly noBase: Figures;
  /** the bases asked for (pins), exactly, lower-case dashed */
  readonly tracked: Readonly<Record<string, Figures>>;
  /** the busiest other bases, by load (highest first, then by UUID) */
  readonly heavy: {
    readonly capacity: number;
    readonly bases: readonly BaseFigures[];
    /** every figure is exact: the summary never had to drop a base */
    readonly exact: boolean;
    /** the most load any base not in `bases` (and not tracked) can have carried */
    readonly unlistedAtMost: number;
  };
  /** per `server` field of the log: what each dtable-server was sent */
  readonly servers: Readonly<Record<string, Figures>>;
  /** status 101: counted as requests; their upstream time (the session's length) is not load */
  readonly websockets: number;
  /** requests no dtable-server answered (empty upstream_time: quarantine, a refused connection) */
  readonly noUpstream: number;
  readonly totalLoad: number;
};

/** The seconds in an upstream_time: a number, "" or "-" (none), or several ("0.010, 0.004", "0.1 : 0.2") summed. */
export function upstreamSeconds(text: string): number {
  if (text === "" || text === "-") return 0;
  const one = Number(text);
  if (Number.isFinite(one)) return one > 0 ? one : 0;
  let sum = 0;
  for (const part of text.split(/[,:]/)) {
    const v = Number(part);
    if (part.trim() !== "" && Number.isFinite(v) && v > 0) sum += v;
  }
  return sum;
}

const LOWER_DASHED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The base as routing.json writes it (lower-case dashed), or undefined when `base` is no UUID. */
function canonicalBase(base: string): string | undefined {
  if (LOWER_DASHED.test(base)) return base;
  return isUuid(base) ? normaliseUuid(base) : undefined;
}

/** The fields the aggregator relies on, with their JSON types (nginx.ts writes them all on every line). */
const FIELDS = [
  ["time", "string"],
  ["base", "string"],
  ["bucket", "string"],
  ["server", "string"],
  ["routed_by", "string"],
  ["status", "number"],
  ["upstream_status", "string"],
  ["upstream_time", "string"],
  ["request_time", "number"],
] as const;

type Line = { time: string; base: string; bucket: string; server: string; routed_by: string; status: number; upstream_status: string; upstream_time: string; request_time: number };

/** Why `value` is not an access-log line, or undefined. */
function problemOf(value: unknown): string | undefined {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return "not a JSON object";
  const record = value as Record<string, unknown>;
  for (const [name, type] of FIELDS) {
    if (typeof record[name] !== type) return `"${name}" is ${name in record ? `not a ${type}` : "missing"}`;
  }
  return undefined;
}

/** Weighted Space-Saving over a min-heap of `capacity` counters (see HEAVY_HITTERS). */
type Counter = { key: string; count: number; error: number; requests: number; at: number };

class SpaceSaving {
  private readonly heap: Counter[] = [];
  private readonly byKey = new Map<string, Counter>();
  dropped = false;

  constructor(readonly capacity: number) {}

  add(key: string, weight: number): void {
    const counter = this.byKey.get(key);
    if (counter !== undefined) {
      counter.count += weight;
      counter.requests += 1;
      this.down(counter.at);
      return;
    }
    // a request that carried no load makes no unmonitored base heavier
    if (weight <= 0) return;
    if (this.heap.length < this.capacity) {
      const fresh = { key, count: weight, error: 0, requests: 1, at: this.heap.length };
      this.heap.push(fresh);
      this.byKey.set(key, fresh);
      this.up(fresh.at);
      return;
    }
    // the lightest counter takes the new base: it may have carried up to that much before
    const lightest = this.heap[0];
    this.byKey.delete(lightest.key);
    this.dropped = true;
    lightest.key = key;
    lightest.error = lightest.count;
    lightest.count += weight;
    lightest.requests = 1;
    this.byKey.set(key, lightest);
    this.down(0);
  }

  /** The load no unmonitored base can exceed: the lightest counter once the summary is full, else 0. */
  floor(): number {
    return this.heap.length < this.capacity || this.heap.length === 0 ? 0 : this.heap[0].count;
  }

  entries(): BaseFigures[] {
    return this.heap
      .map((c) => ({ uuid: c.key, requests: c.requests, load: c.count, error: c.error }))
      .sort((a, b) => b.load - a.load || (a.uuid < b.uuid ? -1 : 1));
  }

  private place(c: Counter, i: number): void {
    this.heap[i] = c;
    c.at = i;
  }

  private up(i: number): void {
    const c = this.heap[i];
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.heap[parent].count <= c.count) break;
      this.place(this.heap[parent], i);
      i = parent;
    }
    this.place(c, i);
  }

  private down(i: number): void {
    const heap = this.heap;
    const n = heap.length;
    const c = heap[i];
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const child = r < n && heap[r].count < heap[l].count ? r : l;
      if (heap[child].count >= c.count) break;
      this.place(heap[child], i);
      i = child;
    }
    this.place(c, i);
  }
}

export type AggregatorOptions = {
  /** bases counted exactly (the pins of the tables compared), any spelling */
  readonly tracked?: Iterable<string>;
  /** HEAVY_HITTERS unless given (tests use fewer to see the summary drop bases) */
  readonly heavyHitters?: number;
};

/**
 * Reads access-log lines one at a time (`add`) and sums them up (`sample`).
 * The same lines in the same order give the same sample.
 */
export class LoadAggregator {
  private lines = 0;
  private requests = 0;
  private skipped = 0;
  private readonly samples: string[] = [];
  private readonly bucketRequests = new Float64Array(BUCKETS);
  private readonly bucketLoad = new Float64Array(BUCKETS);
  private readonly bucketServer: string[] = new Array<string>(BUCKETS).fill("");
  private readonly bucketChanged = new Uint8Array(BUCKETS);
  private noBaseRequests = 0;
  private noBaseLoad = 0;
  private readonly tracked = new Map<string, { requests: number; load: number }>();
  private readonly heavy: SpaceSaving;
  private readonly servers = new Map<string, { requests: number; load: number }>();
  private websockets = 0;
  private noUpstream = 0;
  private totalLoad = 0;
  private first?: { text: string; ms: number };
  private last?: { text: string; ms: number };
  private lastTimeText = "";
  private lastTimeMs = NaN;

  constructor(options: AggregatorOptions = {}) {
    for (const uuid of options.tracked ?? []) {
      const base = canonicalBase(uuid);
      if (base !== undefined) this.tracked.set(base, { requests: 0, load: 0 });
    }
    this.heavy = new SpaceSaving(options.heavyHitters ?? HEAVY_HITTERS);
  }

  /** One line of the log (without its newline). Blank lines are ignored; other lines that are not access-log lines are counted. */
  add(text: string): void {
    if (text.trim() === "") return;
    this.lines += 1;
    let value: unknown;
    // nginx's own messages start otherwise: no exception to pay for
    if (text.charCodeAt(0) !== 123 /* { */) return this.skip(text, "not JSON");
    try {
      value = JSON.parse(text);
    } catch {
      return this.skip(text, "not JSON");
    }
    const problem = problemOf(value);
    if (problem !== undefined) return this.skip(text, problem);
    const line = value as Line;
    const ms = this.timeOf(line.time);
    if (Number.isNaN(ms)) return this.skip(text, `"time" ${JSON.stringify(line.time.slice(0, 40))} is not an ISO 8601 time`);
    const base = line.base === "" ? "" : canonicalBase(line.base);
    if (base === undefined) return this.skip(text, `"base" ${JSON.stringify(line.base.slice(0, 40))} is not a base UUID`);

    this.requests += 1;
    if (this.first === undefined || ms < this.first.ms) this.first = { text: line.time, ms };
    if (this.last === undefined || ms >= this.last.ms) this.last = { text: line.time, ms };
    const websocket = line.status === SWITCHING_PROTOCOLS;
    if (websocket) this.websockets += 1;
    if (line.upstream_time === "") this.noUpstream += 1;
    const load = websocket ? 0 : upstreamSeconds(line.upstream_time);
    this.totalLoad += load;

    const server = this.serverFigures(line.server);
    server.requests += 1;
    server.load += load;

    if (base === "") {
      this.noBaseRequests += 1;
      this.noBaseLoad += load;
      return;
    }
    const b = parseInt(base.slice(0, LOG_BUCKET_DIGITS), 16);
    this.bucketRequests[b] += 1;
    this.bucketLoad[b] += load;
    if (line.routed_by === "bucket" && line.server !== QUARANTINE && line.server !== "") {
      const seen = this.bucketServer[b];
      if (seen !== line.server) {
        if (seen !== "") this.bucketChanged[b] = 1;
        this.bucketServer[b] = line.server;
      }
    }
    const exact = this.tracked.get(base);
    if (exact !== undefined) {
      exact.requests += 1;
      exact.load += load;
    } else {
      this.heavy.add(base, load);
    }
  }

  /** What the lines read so far add up to. */
  sample(): LoadSample {
    const first = this.first;
    const last = this.last;
    const plain = (m: Map<string, { requests: number; load: number }>) =>
      Object.fromEntries([...m.keys()].sort().map((k) => [k, { requests: m.get(k)!.requests, load: m.get(k)!.load }]));
    return {
      lines: this.lines,
      requests: this.requests,
      skipped: { count: this.skipped, samples: [...this.samples] },
      ...(first && last ? { window: { first: first.text, last: last.text, seconds: (last.ms - first.ms) / 1000 } } : {}),
      buckets: { requests: Array.from(this.bucketRequests), load: Array.from(this.bucketLoad) },
      bucketServers: { server: [...this.bucketServer], changed: Array.from(this.bucketChanged, (c) => c === 1) },
      noBase: { requests: this.noBaseRequests, load: this.noBaseLoad },
      tracked: plain(this.tracked),
      heavy: { capacity: this.heavy.capacity, bases: this.heavy.entries(), exact: !this.heavy.dropped, unlistedAtMost: this.heavy.floor() },
      servers: plain(this.servers),
      websockets: this.websockets,
      noUpstream: this.noUpstream,
      totalLoad: this.totalLoad,
    };
  }

  private skip(text: string, why: string): void {
    this.skipped += 1;
    if (this.samples.length < MAX_SAMPLES) {
      const shown = text.length > SAMPLE_LENGTH ? `${text.slice(0, SAMPLE_LENGTH)}…` : text;
      this.samples.push(`line ${this.lines}: ${why}: ${JSON.stringify(shown)}`);
    }
  }

  /** Milliseconds of an ISO 8601 time; consecutive lines mostly share their second, so the last one is kept. */
  private timeOf(text: string): number {
    if (text !== this.lastTimeText) {
      this.lastTimeText = text;
      this.lastTimeMs = ISO_8601.test(text) ? Date.parse(text) : NaN;
    }
    return this.lastTimeMs;
  }

  private serverFigures(name: string): { requests: number; load: number } {
    let figures = this.servers.get(name);
    if (figures === undefined) {
      const key = this.servers.size < MAX_SERVER_NAMES ? name : OTHER_SERVERS;
      figures = this.servers.get(key) ?? { requests: 0, load: 0 };
      this.servers.set(key, figures);
    }
    return figures;
  }
}

/** nginx's $time_iso8601 ("2024-01-15T09:30:00+00:00"), fractions and "Z" allowed. */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** Requests and load per bucket of `digits` hex digits (1 to LOG_BUCKET_DIGITS), from a sample's finest buckets. */
export function bucketsAt(sample: LoadSample, digits: number): Map<string, Figures> {
  const per = 16 ** (LOG_BUCKET_DIGITS - digits);
  const out = new Map<string, Figures>();
  for (let i = 0; i < 16 ** digits; i++) {
    let requests = 0;
    let load = 0;
    for (let j = i * per; j < (i + 1) * per; j++) {
      requests += sample.buckets.requests[j];
      load += sample.buckets.load[j];
    }
    out.set(i.toString(16).padStart(digits, "0"), { requests, load });
  }
  return out;
}

/**
 * `docker logs`' --since for a duration ("24h", "90m", "7d", "1h30m") or a time
 * ("2024-01-15T09:30:00Z"). Docker reads durations as Go does, which has no
 * days: the value it is sent is in seconds. What it is sent becomes part of a
 * command run on dtable-web, so nothing else gets through.
 */
export function dockerSince(text: string): { readonly value: string } | { readonly problem: string } {
  const expected = `--since: ${JSON.stringify(text.slice(0, 60))} is not a duration such as 24h, 90m, 7d or 1h30m, nor a time such as 2024-01-15T09:30:00Z`;
  if (ISO_8601.test(text) && !Number.isNaN(Date.parse(text))) return { value: text };
  if (!/^(\d{1,6}[dhms])+$/.test(text)) return { problem: expected };
  const unit = { d: 86400, h: 3600, m: 60, s: 1 } as const;
  let seconds = 0;
  for (const [, n, u] of text.matchAll(/(\d+)([dhms])/g)) seconds += Number(n) * unit[u as keyof typeof unit];
  if (seconds === 0) return { problem: `--since: ${JSON.stringify(text)} is no time at all; give e.g. 24h` };
  return { value: `${seconds}s` };
}

/** The command that prints the proxy's access log on dtable-web, from `since` (dockerSince's value). */
export function proxyLogCommand(since: string): string {
  if (!/^[0-9A-Za-z:.+-]+$/.test(since)) throw new Error(`internal: ${JSON.stringify(since)} may not reach a shell`);
  return `docker logs --since ${since} ${PROXY_CONTAINER}`;
}
