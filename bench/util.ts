// Small helpers shared by the benchmark scripts (no jest globals here).
import { spawn, spawnSync } from "child_process";
import * as path from "path";

export type Target = { readonly name: string; readonly target: string; readonly measured: string; readonly met: boolean };

/** One part of docs/benchmarks.md. */
export type Section = { readonly title: string; readonly markdown: string; readonly targets: readonly Target[] };

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export { seededRandom } from "../tests/support/random";

/** A random lower-case dashed UUID from `rng`. */
export function randomUuid(rng: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(rng() * 16).toString(16)).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** A Markdown table. */
export function table(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const line = (cells: readonly (string | number)[]) => `| ${cells.map(String).join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

export const fixed = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "n/a");
export const thousands = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString("en-US") : "n/a");

/** First non-empty line a command prints (stdout, then stderr), or "unavailable". */
export function versionOf(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  const text = `${r.stdout ?? ""}\n${r.stderr ?? ""}`.split("\n").map((l) => l.trim()).find((l) => l.length > 0);
  return text ?? "unavailable";
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/**
 * Runs a benchmark script in a child process of its own (`node [nodeArgs] -r
 * ts-node/register/transpile-only script args`, from the repository) and
 * returns the JSON it prints after `mark` on a line of stdout; killed after
 * `timeoutMs`.
 */
export function childFigures<T>(script: string, args: readonly string[], mark: string, options: { nodeArgs?: readonly string[]; timeoutMs?: number } = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(options.nodeArgs ?? []), "-r", "ts-node/register/transpile-only", script, ...args], {
      cwd: path.join(__dirname, ".."),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 300_000);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      const line = out.split("\n").find((l) => l.startsWith(mark));
      if (code !== 0 || !line) return reject(new Error(`${path.basename(script)} ${args.join(" ")} exited ${code}:\n${err.slice(-4000)}\n${out.slice(-2000)}`));
      resolve(JSON.parse(line.slice(mark.length)) as T);
    });
  });
}

/**
 * The config of one nginx standing in for the dtable-servers: a `server` per
 * loopback address on `port`, each answering 200 with `{"server":<body(i)>}`,
 * and `readyPort` answering once it listens. Keep-alive as Node's http server
 * keeps it: no limit on requests per connection, a long idle timeout.
 */
export function backendsConfig(o: { count: number; readyPort: number; port: number; addressOf: (i: number) => string; body: (i: number) => string; workers: string; workerConnections: number }): string {
  return [
    `worker_processes ${o.workers};`,
    `events { worker_connections ${o.workerConnections}; }`,
    "http {",
    "  access_log off;",
    "  error_log /dev/stderr warn;",
    "  default_type application/json;",
    "  keepalive_requests 1000000;",
    "  keepalive_timeout 120s;",
    `  server { listen 127.0.0.1:${o.readyPort}; return 200 "ready\\n"; }`,
    ...Array.from({ length: o.count }, (_, i) => `  server { listen ${o.addressOf(i)}:${o.port}; return 200 '{"server":"${o.body(i)}"}\\n'; }`),
    "}",
    "",
  ].join("\n");
}
