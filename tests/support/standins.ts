// Stand-in dtable-servers for the nginx tests (design, "Tests"): one small
// HTTP + WebSocket server per dtable-server name, each on its own loopback
// address and the dtable-server port, so that the rendered `server <name>:5000`
// lines reach it through the rendered hosts file.
import * as http from "http";
import type { Socket } from "net";
import { WebSocketServer } from "ws";
import { PORTS } from "../../pure/config/schema";

/** What a stand-in answers: who it is, and what of the request reached it. */
export type StandinReply = {
  readonly server: string;
  readonly url: string;
  readonly host?: string;
  readonly forwardedFor?: string;
  /** bytes of the request body received */
  readonly bodyBytes: number;
};

export type Standin = {
  readonly name: string;
  readonly address: string;
  /** TCP connections accepted since start or the last resetCounts() */
  readonly connections: number;
  /** HTTP requests answered (not counting WebSocket upgrades) */
  readonly requests: number;
  /** WebSocket upgrades accepted */
  readonly upgrades: number;
  resetCounts(): void;
  stop(): Promise<void>;
};

const STOP_TIMEOUT_MS = 5000;

/** Resolves when `promise` does, rejects after `ms` with `what` in the message. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export type StandinOptions = {
  /**
   * Close a keep-alive connection after this long idle, as dtable-server (Node.js)
   * does after NODE_KEEP_ALIVE_TIMEOUT_MS. Without it, 120 s: longer than nginx's
   * upstream keepalive_timeout, so that the stand-in never closes an idle
   * connection nginx is about to reuse.
   */
  readonly keepAliveTimeoutMs?: number;
};

/**
 * Node's default `server.keepAliveTimeout`, which dtable-server keeps. Node 24
 * waits 1 s more before it closes (`keepAliveTimeoutBuffer`); older Node closes
 * at 5 s, and a stand-in with this option does too.
 */
export const NODE_KEEP_ALIVE_TIMEOUT_MS = 5000;

/** Starts one stand-in named `name` on `address`:5000 (or `port`). */
export async function startStandin(name: string, address: string, port: number = PORTS.dtableServer, options: StandinOptions = {}): Promise<Standin> {
  const sockets = new Set<Socket>();
  let connections = 0;
  let requests = 0;
  let upgrades = 0;

  const server = http.createServer((req, res) => {
    requests += 1;
    // Count any body, then answer.
    let bodyBytes = 0;
    req.on("data", (chunk: Buffer) => (bodyBytes += chunk.length));
    req.on("end", () => {
      const reply: StandinReply = { server: name, url: req.url ?? "", host: req.headers.host, forwardedFor: req.headers["x-forwarded-for"] as string | undefined, bodyBytes };
      const body = JSON.stringify(reply);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 120_000;
  server.keepAliveTimeoutBuffer = 0;
  server.headersTimeout = Math.max(server.keepAliveTimeout + 1000, 60_000);
  server.on("connection", (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });

  const wss = new WebSocketServer({ noServer: true });
  wss.on("connection", (ws) => {
    ws.on("message", (data, isBinary) => ws.send(isBinary ? data : `${name}:${data.toString()}`));
  });
  server.on("upgrade", (req, socket, head) => {
    upgrades += 1;
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  });

  await withTimeout(
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, address, () => {
        server.off("error", reject);
        resolve();
      });
    }),
    STOP_TIMEOUT_MS,
    `stand-in ${name} listening on ${address}:${port}`,
  );

  let stopped: Promise<void> | undefined;
  return {
    name,
    address,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    get upgrades() {
      return upgrades;
    },
    resetCounts() {
      connections = 0;
      requests = 0;
      upgrades = 0;
    },
    stop() {
      stopped ??= withTimeout(
        new Promise<void>((resolve) => {
          for (const client of wss.clients) client.terminate();
          wss.close();
          server.close(() => resolve());
          server.closeAllConnections();
          for (const socket of sockets) socket.destroy();
        }),
        STOP_TIMEOUT_MS,
        `stopping stand-in ${name}`,
      );
      return stopped;
    },
  };
}

/** Starts stand-ins for `servers`, stopping those already started if one fails. */
export async function startStandins(servers: readonly { name: string; address: string }[]): Promise<Standin[]> {
  const started: Standin[] = [];
  try {
    for (const s of servers) started.push(await startStandin(s.name, s.address));
  } catch (e) {
    await stopStandins(started);
    throw e;
  }
  return started;
}

export async function stopStandins(standins: readonly Standin[]): Promise<void> {
  await Promise.allSettled(standins.map((s) => s.stop()));
}
