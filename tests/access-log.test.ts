// The access log read into load (pure/plan/access-log.ts) and streamed from a
// file, stdin or ssh (io/access-log.ts): what counts, what is skipped, the
// heavy-hitter summary's guarantee, and a stream cut anywhere.
import fc from "fast-check";
import { PassThrough, Readable } from "node:stream";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bucketsAt, dockerSince, LoadAggregator, MAX_SAMPLES, MAX_SERVER_NAMES, OTHER_SERVERS, proxyLogCommand, upstreamSeconds } from "../pure/plan/access-log";
import { LogReadError, MAX_LINE_BYTES, readLogFile, readProxyLog, streamLines } from "../io/access-log";
import { configOf, stackValues } from "./support/stacks";
import { logLine, uuidIn } from "./support/access-log";
import { seededRandom } from "./support/random";

const A = "0a1b2c3d-0000-4000-8000-000000000001";
const B = "ff000000-0000-4000-8000-000000000002";

const aggregate = (lines: string[], tracked: string[] = [], heavyHitters?: number) => {
  const agg = new LoadAggregator({ tracked, ...(heavyHitters ? { heavyHitters } : {}) });
  for (const l of lines) agg.add(l);
  return agg.sample();
};

describe("upstream_time", () => {
  test.each([
    ["", 0],
    ["-", 0],
    ["0.012", 0.012],
    ["0.010, 0.004", 0.014],
    ["0.1 : 0.2", 0.30000000000000004],
    ["0.5, -", 0.5],
    ["nonsense", 0],
    ["-1", 0],
  ])("%j is %d s", (text, seconds) => expect(upstreamSeconds(text)).toBeCloseTo(seconds, 12));
});

describe("the aggregator", () => {
  test("sums requests and upstream time per bucket, per tracked base and per logged server; the window is first and last time", () => {
    const s = aggregate(
      [
        logLine({ base: A, upstreamTime: "0.5", time: "2024-01-15T10:00:00+00:00" }),
        logLine({ base: A.toUpperCase().replace(/-/g, ""), upstreamTime: "0.25", time: "2024-01-15T09:00:00+00:00", server: "dtable-server-2" }),
        logLine({ base: B, upstreamTime: "1", time: "2024-01-15T12:00:00+01:00" }),
        logLine({ upstreamTime: "2", time: "2024-01-15T10:30:00Z" }),
      ],
      [A],
    );
    expect(s.requests).toBe(4);
    // 12:00+01:00 is 11:00 UTC: later than 10:30Z
    expect(s.window).toEqual({ first: "2024-01-15T09:00:00+00:00", last: "2024-01-15T12:00:00+01:00", seconds: 7200 });
    expect(s.tracked).toEqual({ [A]: { requests: 2, load: 0.75 } });
    expect(s.buckets.requests[0x0a1]).toBe(2);
    expect(s.buckets.load[0x0a1]).toBe(0.75);
    expect(s.buckets.load[0xff0]).toBe(1);
    expect(s.noBase).toEqual({ requests: 1, load: 2 });
    expect(s.servers).toEqual({ "dtable-server": { requests: 3, load: 3.5 }, "dtable-server-2": { requests: 1, load: 0.25 } });
    expect(s.heavy.bases).toEqual([{ uuid: B, requests: 1, load: 1, error: 0 }]);
    expect(s.totalLoad).toBe(3.75);
    expect(bucketsAt(s, 1).get("0")).toEqual({ requests: 2, load: 0.75 });
    expect(bucketsAt(s, 2).get("ff")).toEqual({ requests: 1, load: 1 });
    expect([...bucketsAt(s, 2).keys()]).toHaveLength(256);
  });

  test("a WebSocket session is a request but no load; a quarantined request has no upstream", () => {
    const s = aggregate([logLine({ base: A, status: 101, upstreamTime: "3600.0" }), logLine({ base: A, status: 503, upstreamTime: "", server: "quarantine" })]);
    expect(s).toMatchObject({ requests: 2, websockets: 1, noUpstream: 1, totalLoad: 0 });
    expect(s.buckets.requests[0x0a1]).toBe(2);
    // no load: the base takes no place among the heavy hitters
    expect(s.heavy.bases).toEqual([]);
  });

  test("lines that are not access-log lines are counted with the first few quoted; blank lines are not lines", () => {
    const good = JSON.parse(logLine({ base: A })) as Record<string, unknown>;
    const s = aggregate([
      "/docker-entrypoint.sh: Configuration complete; ready for start up",
      "",
      "   ",
      "{not json",
      JSON.stringify({ ...good, status: "200" }),
      JSON.stringify({ ...good, time: "yesterday" }),
      JSON.stringify({ ...good, base: "not-a-uuid" }),
      JSON.stringify((({ upstream_time, ...rest }) => (void upstream_time, rest))(good)),
      "[1,2]",
      logLine({ base: A }),
    ]);
    expect(s.lines).toBe(8);
    expect(s.requests).toBe(1);
    expect(s.skipped.count).toBe(7);
    expect(s.skipped.samples).toHaveLength(MAX_SAMPLES);
    expect(s.skipped.samples[0]).toBe('line 1: not JSON: "/docker-entrypoint.sh: Configuration complete; ready for start up"');
    expect(s.skipped.samples[1]).toMatch(/^line 2: not JSON: "\{not json"$/);
    expect(s.skipped.samples[2]).toMatch(/^line 3: "status" is not a number: /);
    const more = aggregate([JSON.stringify({ ...good, time: "yesterday" }), JSON.stringify({ ...good, base: "not-a-uuid" }), JSON.stringify((({ upstream_time, ...rest }) => (void upstream_time, rest))(good))]);
    expect(more.skipped.samples.map((x) => x.replace(/: "\{.*$/, ""))).toEqual(['line 1: "time" "yesterday" is not an ISO 8601 time', 'line 2: "base" "not-a-uuid" is not a base UUID', 'line 3: "upstream_time" is missing']);
    // a sample is cut
    expect(aggregate(["x".repeat(500)]).skipped.samples[0].length).toBeLessThan(160);
  });

  test("the log's server of bucket-routed requests, per bucket: the last one, and whether it changed", () => {
    const s = aggregate([logLine({ base: A, server: "dtable-server" }), logLine({ base: A, server: "dtable-server-2" }), logLine({ base: B, server: "quarantine" }), logLine({ base: B, server: "x", routedBy: "pin" })]);
    expect(s.bucketServers.server[0x0a1]).toBe("dtable-server-2");
    expect(s.bucketServers.changed[0x0a1]).toBe(true);
    expect(s.bucketServers.server[0xff0]).toBe("");
  });

  test("server names are capped: a log that is not this proxy's cannot grow the count", () => {
    const s = aggregate(Array.from({ length: MAX_SERVER_NAMES + 50 }, (_, i) => logLine({ server: `s${i}` })));
    expect(Object.keys(s.servers)).toHaveLength(MAX_SERVER_NAMES + 1);
    expect(s.servers[OTHER_SERVERS]).toEqual({ requests: 50, load: expect.closeTo(0.5, 9) });
  });

  test("heavy hitters (Space-Saving): every base above 1/K of the load is listed, each figure at most 1/K of the load too high, and never too low", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 2 ** 30 }), (k, seed) => {
        const rng = seededRandom(seed);
        const bases = Array.from({ length: 3 * k }, () => uuidIn("", rng));
        const exact = new Map<string, number>();
        const lines: string[] = [];
        for (let i = 0; i < 40 * k; i++) {
          // skewed: a few bases carry most of the load
          const base = bases[Math.floor(bases.length * rng() ** 3)];
          const t = Math.round(rng() * 1000) / 1000;
          exact.set(base, (exact.get(base) ?? 0) + t);
          lines.push(logLine({ base, upstreamTime: t.toFixed(3) }));
        }
        const s = aggregate(lines, [], k);
        const total = [...exact.values()].reduce((a, b) => a + b, 0);
        expect(s.heavy.bases.length).toBeLessThanOrEqual(k);
        const listed = new Map(s.heavy.bases.map((b) => [b.uuid, b]));
        for (const [uuid, load] of exact) {
          const b = listed.get(uuid);
          if (load > total / k + 1e-9) expect(b).toBeDefined();
          if (b) {
            expect(b.load).toBeGreaterThanOrEqual(load - 1e-9);
            expect(b.load - b.error).toBeLessThanOrEqual(load + 1e-9);
            expect(b.error).toBeLessThanOrEqual(total / k + 1e-9);
          } else {
            expect(load).toBeLessThanOrEqual(s.heavy.unlistedAtMost + 1e-9);
          }
        }
        if (exact.size <= k) expect(s.heavy.exact).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  test("the same lines give the same sample", () => {
    const rng = seededRandom(7);
    const lines = Array.from({ length: 3000 }, (_, i) => logLine({ base: i % 17 === 0 ? "" : uuidIn("", rng), upstreamTime: (i % 13) / 100 + "" }));
    expect(aggregate(lines, [], 64)).toEqual(aggregate(lines, [], 64));
  });
});

describe("--since", () => {
  test.each([
    ["24h", "86400s"],
    ["7d", "604800s"],
    ["90m", "5400s"],
    ["1h30m", "5400s"],
    ["2024-01-15T09:30:00Z", "2024-01-15T09:30:00Z"],
    ["2024-01-15T09:30:00+01:00", "2024-01-15T09:30:00+01:00"],
  ])("%s → %s", (text, value) => expect(dockerSince(text)).toEqual({ value }));

  test.each(["", "24", "1w", "24h; rm -rf /", "yesterday", "-1h", "2024-13-45T99:99:99Z"])("%j is refused, with what is expected", (text) => {
    const r = dockerSince(text);
    expect(r).toHaveProperty("problem");
    expect((r as { problem: string }).problem).toMatch(/^--since: .* is not a duration such as 24h, 90m, 7d or 1h30m, nor a time such as 2024-01-15T09:30:00Z$/);
  });

  test("0h is no window", () => expect(dockerSince("0h")).toEqual({ problem: '--since: "0h" is no time at all; give e.g. 24h' }));

  test("the command run on dtable-web", () => {
    expect(proxyLogCommand("86400s")).toBe("docker logs --since 86400s dtable-server-proxy");
    expect(() => proxyLogCommand("1h; reboot")).toThrow(/internal/);
  });
});

describe("streaming lines", () => {
  const collect = async (chunks: (string | Buffer)[]) => {
    const lines: string[] = [];
    const streamed = await streamLines(Readable.from(chunks.map((c) => (typeof c === "string" ? Buffer.from(c) : c))), (l) => lines.push(l));
    return { lines, ...streamed };
  };

  test("lines cut anywhere between chunks, CRLF, a last line without newline, and a character split between chunks", async () => {
    const euro = Buffer.from("€");
    const r = await collect(["ab", "c\nde\r", "\n\nf", euro.subarray(0, 1), Buffer.concat([euro.subarray(1), Buffer.from("\ng")])]);
    expect(r.lines).toEqual(["abc", "de", "", "f€", "g"]);
    expect(r.bytes).toBe(15);
  });

  test("any chunking gives the same lines", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: fc.constantFrom("a", "é", "\n", "{", "\r\n") }), { maxLength: 30 }), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), async (parts, cuts) => {
        const text = parts.join("");
        const bytes = Buffer.from(text);
        const chunks: Buffer[] = [];
        for (let at = 0, i = 0; at < bytes.length; i++) {
          const n = cuts[i % cuts.length];
          chunks.push(bytes.subarray(at, at + n));
          at += n;
        }
        const expected = text.split("\n").map((l) => l.replace(/\r$/, ""));
        if (text.endsWith("\n")) expected.pop();
        expect((await collect(chunks)).lines).toEqual(text === "" ? [] : expected);
      }),
      { numRuns: 100 },
    );
  });

  test("a line longer than the limit is cut there, counted, and the next line is whole", async () => {
    const long = "x".repeat(MAX_LINE_BYTES + 10);
    const r = await collect([long.slice(0, 40000), long.slice(40000) + "\nnext\n", "y".repeat(MAX_LINE_BYTES * 2) + "\n"]);
    expect(r.lines.map((l) => l.length)).toEqual([MAX_LINE_BYTES, 4, MAX_LINE_BYTES]);
    expect(r.overlong).toBe(2);
  });

  test("a file, stdin (-), and a file that is not there", async () => {
    const dir = mkdtempSync(join(tmpdir(), "access-log-"));
    try {
      writeFileSync(join(dir, "log"), `${logLine({ base: A })}\n${logLine({ base: B })}\n`);
      const lines: string[] = [];
      await readLogFile(join(dir, "log"), (l) => lines.push(l));
      expect(lines).toHaveLength(2);
      const stdin = new PassThrough();
      const fromStdin: string[] = [];
      const done = readLogFile("-", (l) => fromStdin.push(l), stdin);
      stdin.end("one\ntwo\n");
      await done;
      expect(fromStdin).toEqual(["one", "two"]);
      await expect(readLogFile(join(dir, "missing"), () => undefined)).rejects.toThrow(/ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the log over ssh", () => {
  const config = configOf(stackValues("dev"));

  test("ssh gets the stack's pinned options and runs docker logs on dtable-web; its stdout is streamed, its stderr counted", async () => {
    let seen: readonly string[] = [];
    const lines: string[] = [];
    const r = await readProxyLog(config, "86400s", (l) => lines.push(l), (args) => {
      seen = args;
      return spawn("sh", ["-c", `printf '%s\\n' '${logLine({ base: A })}' 'two'; echo 'nginx: notice' >&2; echo 'more' >&2`], { stdio: ["ignore", "pipe", "pipe"] });
    });
    expect(lines).toHaveLength(2);
    expect(r.stderrLines).toBe(2);
    expect(seen).toContain("StrictHostKeyChecking=yes");
    expect(seen).toContain(`KnownHostsCommand=/bin/echo %H ${config.hosts.web.ssh.hostKey}`);
    expect(seen.slice(-3)).toEqual(["--", "root@192.0.2.10", "docker logs --since 86400s dtable-server-proxy"]);
  });

  test("a failure says where, the exit status and ssh's or docker's last words", async () => {
    const run = readProxyLog(config, "86400s", () => undefined, () => spawn("sh", ["-c", "echo 'Error response from daemon: No such container: dtable-server-proxy' >&2; exit 1"], { stdio: ["ignore", "pipe", "pipe"] }));
    await expect(run).rejects.toThrow(LogReadError);
    await expect(run).rejects.toThrow(
      "reading the proxy's access log on dtable-web (192.0.2.10) over SSH failed (exit status 1): Error response from daemon: No such container: dtable-server-proxy",
    );
  });

  test("ssh that cannot be started", async () => {
    await expect(readProxyLog(config, "60s", () => undefined, () => spawn("/nonexistent/ssh", [], { stdio: ["ignore", "pipe", "pipe"] }))).rejects.toThrow(/over SSH failed: spawn \/nonexistent\/ssh ENOENT/);
  });
});
