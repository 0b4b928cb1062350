// Streams the proxy's access log, line by line, into a consumer
// (pure/plan/access-log.ts's LoadAggregator) without holding the log: from a
// file, from stdin, or from `docker logs` on dtable-web over SSH with the
// stack's pinned settings (as io/hosts.ts reads the proxy's files). Nothing is
// buffered beyond one chunk and one line: a log of any length fits.
import { ChildProcess, spawn } from "node:child_process";
import { createReadStream } from "node:fs";
import type { Readable } from "node:stream";
import type { ClusterConfig } from "../pure/config/schema";
import { proxyLogCommand } from "../pure/plan/access-log";
import { sshOptions } from "../pure/plan/ssh";

/** A longer line is no access-log line (one is a few hundred bytes): it is cut there, and its rest dropped. */
export const MAX_LINE_BYTES = 64 * 1024;
/** How much of ssh's and docker's stderr is kept for a failure's message. */
const STDERR_TAIL_BYTES = 4 * 1024;

export type Streamed = {
  /** bytes read */
  readonly bytes: number;
  /** lines longer than MAX_LINE_BYTES: handed on cut */
  readonly overlong: number;
};

/**
 * Calls `onLine` with each line of `input` (without "\n" or "\r\n"), in order,
 * as the chunks arrive; resolves when the stream ends. The text is UTF-8; a
 * character split between chunks is joined before it is decoded.
 */
export function streamLines(input: Readable, onLine: (line: string) => void): Promise<Streamed> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    let overlong = 0;
    // the start of a line whose end has not arrived yet (at most MAX_LINE_BYTES of it)
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let cut = false;
    const emit = (buffer: Buffer) => {
      const end = buffer.length > 0 && buffer[buffer.length - 1] === 0x0d ? buffer.length - 1 : buffer.length;
      onLine(buffer.toString("utf8", 0, end));
    };
    const keep = (part: Buffer) => {
      if (cut) return;
      const room = MAX_LINE_BYTES - pendingBytes;
      if (part.length > room) {
        cut = true;
        overlong += 1;
        part = part.subarray(0, room);
      }
      pending.push(part);
      pendingBytes += part.length;
    };
    input.on("data", (chunk: Buffer | string) => {
      const data = typeof chunk === "string" ? Buffer.from(chunk) : chunk;
      bytes += data.length;
      let start = 0;
      try {
        for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
          if (pending.length === 0 && nl - start <= MAX_LINE_BYTES) emit(data.subarray(start, nl));
          else {
            keep(data.subarray(start, nl));
            emit(Buffer.concat(pending));
            pending = [];
            pendingBytes = 0;
            cut = false;
          }
          start = nl + 1;
        }
        if (start < data.length) keep(data.subarray(start));
      } catch (e) {
        input.destroy();
        reject(e);
      }
    });
    input.once("error", reject);
    input.once("end", () => {
      try {
        if (pending.length > 0) emit(Buffer.concat(pending));
      } catch (e) {
        reject(e);
        return;
      }
      resolve({ bytes, overlong });
    });
  });
}

/** A log file, or stdin for "-". A file that cannot be opened rejects with the reason ("ENOENT: no such file…"). */
export function readLogFile(path: string, onLine: (line: string) => void, stdin: Readable = process.stdin): Promise<Streamed> {
  return streamLines(path === "-" ? stdin : createReadStream(path), onLine);
}

/** Runs ssh with these arguments (tests run something else in its place). */
export type SshSpawner = (args: readonly string[]) => ChildProcess;

const systemSsh: SshSpawner = (args) => spawn("ssh", [...args], { stdio: ["ignore", "pipe", "pipe"] });

/** A failure of the SSH read of the log: ssh's or docker's own words. */
export class LogReadError extends Error {}

/**
 * `docker logs --since <since> dtable-server-proxy` on dtable-web, over ssh with
 * the stack's own options (pinned host key, ssh.privateKeyPath or the agent),
 * its stdout streamed to `onLine`. The container's stderr (nginx's own
 * messages) and ssh's are not log lines: counted, and the tail kept for the
 * message of a failure.
 */
export async function readProxyLog(config: ClusterConfig, since: string, onLine: (line: string) => void, spawnSsh: SshSpawner = systemSsh): Promise<Streamed & { readonly stderrLines: number }> {
  const web = config.hosts.web;
  const args = [
    ...sshOptions(web.name, web.ssh, config.ssh),
    ...["-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"],
    "-p",
    String(web.ssh.port),
    "--",
    `${web.ssh.user}@${web.address}`,
    proxyLogCommand(since),
  ];
  const child = spawnSsh(args);
  const where = `reading the proxy's access log on ${web.name} (${web.address}) over SSH`;
  let tail = "";
  let stderrLines = 0;
  child.stderr?.on("data", (chunk: Buffer) => {
    const text = chunk.toString("utf8");
    for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) stderrLines += 1;
    tail = (tail + text).slice(-STDERR_TAIL_BYTES);
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", (e) => reject(new LogReadError(`${where} failed: ${e.message}`)));
    child.once("close", (code, signal) => resolve(code ?? (signal ? -1 : null)));
  });
  if (!child.stdout) throw new Error("internal: ssh was started without a stdout pipe");
  let streamed: Streamed;
  let code: number | null;
  try {
    [streamed, code] = await Promise.all([streamLines(child.stdout, onLine), exited]);
  } catch (e) {
    child.kill();
    throw e;
  }
  if (code !== 0) throw new LogReadError(`${where} failed (exit status ${code}): ${tail.trim().split("\n").slice(-3).join(" / ") || "no message"}`);
  return { ...streamed, stderrLines };
}
