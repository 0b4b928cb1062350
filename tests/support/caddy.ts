// caddy for the tests: container labels turned into a Caddyfile the way
// lucaslorentz/caddy-docker-proxy does it (its caddyfile/fromlabels.go,
// lexer.go and marshal.go), and Debian's caddy run on loopback with it.
//
// How caddy-docker-proxy reads labels:
// - A label's key is a path of dot-separated names (`\.` is a literal dot).
//   The first name (`caddy`) is the site; each further name a directive or
//   sub-directive inside its parent, rendered as a block.
// - `N_name` orders a block before its unnumbered siblings, by N; `name_N`
//   keeps blocks of the same name apart (`caddy_0` and `caddy_1` are two
//   sites, `header_0` and `header_1` two header directives); otherwise the
//   same path is the same block.
// - A label's value is a Go template (only `{{upstreams ...}}` is supported
//   here), then split into arguments as a Caddyfile line is: at spaces, except
//   inside "double quotes" (where \" is a quote) or `backquotes` (raw).
// - Blocks are sorted: global options, snippets and matchers (`@name`) first,
//   then by N, then by their words; arguments are quoted again on output.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "fs";
import * as os from "os";
import * as path from "path";
import { spawnGroup } from "./process-group";
import { canConnect } from "./nginx";

export const CADDY = "/usr/bin/caddy";

export type CaddyBlock = { keys: string[]; order: number; children: CaddyBlock[] };

const LAST = 2 ** 31 - 1; // Go's math.MaxInt32: unnumbered blocks come after numbered ones

/** Splits a label value into Caddyfile arguments (caddy-docker-proxy's lexer). */
export function caddyArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (i < text.length && /\s/.test(text[i])) i++;
    if (i >= text.length) break;
    if (text[i] === "#") {
      while (i < text.length && text[i] !== "\n") i++;
      continue;
    }
    let value = "";
    if (text[i] === "`") {
      const end = text.indexOf("`", i + 1);
      value = end < 0 ? text.slice(i + 1) : text.slice(i + 1, end);
      i = end < 0 ? text.length : end + 1;
    } else if (text[i] === '"') {
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === "\\" && text[i + 1] === '"') i++;
        value += text[i];
      }
      i++;
    } else {
      for (; i < text.length && !/\s/.test(text[i]); i++) value += text[i];
    }
    args.push(value);
  }
  return args;
}

/** `{{upstreams [http|https] [port]}}`, the one template function the labels use; anything else is refused. */
function expandTemplates(value: string, upstreams: (scheme: string | undefined, port: number | undefined) => string): string {
  return value.replace(/\{\{(.*?)\}\}/g, (_, inner: string) => {
    const [fn, ...args] = inner.trim().split(/\s+/);
    if (fn !== "upstreams" || args.length > 2) throw new Error(`template not supported by this converter: {{${inner}}}`);
    const scheme = args.find((a) => a === "http" || a === "https");
    const port = args.find((a) => /^\d+$/.test(a));
    if (args.length !== [scheme, port].filter((a) => a !== undefined).length) throw new Error(`bad upstreams arguments: {{${inner}}}`);
    return upstreams(scheme, port === undefined ? undefined : Number(port));
  });
}

const PATH = /^(?:(.+)\.)?(?:(\d+)_)?([^.]+?)(?:_(\d+))?$/;
const ESCAPED_DOT = "\u0000";

/**
 * The Caddyfile blocks caddy-docker-proxy makes of one container's labels;
 * `upstreams` stands for its template function (the container's addresses).
 */
export function caddyBlocksFromLabels(labels: Readonly<Record<string, string>>, upstreams: (scheme: string | undefined, port: number | undefined) => string): CaddyBlock[] {
  const root: CaddyBlock[] = [];
  const byPath = new Map<string, CaddyBlock>();
  const blockAt = (labelPath: string): CaddyBlock => {
    const known = byPath.get(labelPath);
    if (known) return known;
    const m = PATH.exec(labelPath.split("\\.").join(ESCAPED_DOT));
    if (!m) throw new Error(`bad label ${labelPath}`);
    const parent = (m[1] ?? "").split(ESCAPED_DOT).join("\\.");
    const block: CaddyBlock = { keys: [], order: m[2] === undefined ? LAST : Number(m[2]), children: [] };
    if (parent === "") root.push(block);
    else {
      block.keys.push(m[3].split(ESCAPED_DOT).join("."));
      blockAt(parent).children.push(block);
    }
    byPath.set(labelPath, block);
    return block;
  };
  for (const [label, value] of Object.entries(labels)) blockAt(label).keys.push(...caddyArgs(expandTemplates(value, upstreams)));
  return root;
}

const isGlobal = (b: CaddyBlock) => b.keys.length === 0;
const isSnippet = (b: CaddyBlock) => b.keys.length === 1 && b.keys[0].startsWith("(") && b.keys[0].endsWith(")");
const isMatcher = (b: CaddyBlock) => b.keys.length > 0 && b.keys[0].startsWith("@");
const cmp = <T>(a: T, b: T) => (a < b ? -1 : a > b ? 1 : 0);

function compareBlocks(a: CaddyBlock, b: CaddyBlock): number {
  for (const first of [isGlobal, isSnippet, isMatcher]) {
    if (first(a) !== first(b)) return first(a) ? -1 : 1;
  }
  if (a.order !== b.order) return cmp(a.order, b.order);
  for (let i = 0; i < Math.min(a.keys.length, b.keys.length); i++) if (a.keys[i] !== b.keys[i]) return cmp(a.keys[i], b.keys[i]);
  if (a.keys.length !== b.keys.length) return cmp(a.keys.length, b.keys.length);
  for (let i = 0; i < Math.min(a.children.length, b.children.length); i++) {
    const c = compareBlocks(a.children[i], b.children[i]);
    if (c !== 0) return c;
  }
  return cmp(a.children.length, b.children.length);
}

function sortBlocks(blocks: CaddyBlock[]): CaddyBlock[] {
  for (const b of blocks) sortBlocks(b.children);
  return blocks.sort(compareBlocks); // Array.prototype.sort is stable, as Go's SliceStable
}

function quote(key: string): string {
  if (/[\n"]/.test(key)) return `\`${key.split("`").join("\\`")}\``;
  if (key.includes(" ")) return `"${key}"`;
  return key;
}

/** The Caddyfile text of `blocks`, sorted and quoted as caddy-docker-proxy writes it. */
export function marshalCaddyfile(blocks: CaddyBlock[]): string {
  const write = (b: CaddyBlock, level: number): string => {
    const indent = "\t".repeat(level);
    const head = b.keys.map(quote).join(" ");
    if (b.children.length === 0) return `${indent}${head}\n`;
    return `${indent}${head}${head ? " " : ""}{\n${b.children.map((c) => write(c, level + 1)).join("")}${indent}}\n`;
  };
  return sortBlocks(blocks).map((b) => write(b, 0)).join("");
}

// ---- running caddy -------------------------------------------------------------

export type Caddy = {
  readonly caddyfile: string;
  /** what caddy wrote so far */
  output(): string;
  /** Stops caddy and removes its folder. Safe to call twice. */
  stop(): Promise<void>;
};

const READY_TIMEOUT_MS = 15_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs caddy with `sites` (Caddyfile blocks) on `bind` only, plain http, no
 * admin endpoint, its storage in a private folder; resolves once every port
 * in `ports` accepts connections.
 */
export async function startCaddy(sites: CaddyBlock[], bind: string, ports: readonly number[]): Promise<Caddy> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "seatable-caddy-"));
  const global: CaddyBlock = {
    keys: [],
    order: 0,
    children: [["admin", "off"], ["auto_https", "off"], ["default_bind", bind], ["storage", "file_system", path.join(dir, "data")]].map((keys) => ({ keys, order: LAST, children: [] })),
  };
  const caddyfile = marshalCaddyfile([global, ...sites]);
  const file = path.join(dir, "Caddyfile");
  writeFileSync(file, caddyfile);
  const logPath = path.join(dir, "caddy.log");
  const fd = openSync(logPath, "a");
  // caddy keeps its state under HOME / XDG folders: this run's own
  const env = [`HOME=${dir}`, `XDG_DATA_HOME=${path.join(dir, "data")}`, `XDG_CONFIG_HOME=${path.join(dir, "config")}`];
  const group = spawnGroup("env", [...env, CADDY, "run", "--config", file, "--adapter", "caddyfile"], fd, "caddy");
  closeSync(fd);
  const output = () => {
    try {
      return readFileSync(logPath, "utf8").slice(-20_000);
    } catch {
      return "";
    }
  };
  let stopping: Promise<void> | undefined;
  const stop = () => (stopping ??= group.stop().then(() => rmSync(dir, { recursive: true, force: true })));
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (group.hasExited()) throw new Error(`caddy exited during start-up:\n${output()}\n--- Caddyfile ---\n${caddyfile}`);
      if ((await Promise.all(ports.map((p) => canConnect(p, bind)))).every(Boolean)) break;
      if (Date.now() > deadline) throw new Error(`caddy not ready on ${bind}:${ports.join(",")} within ${READY_TIMEOUT_MS} ms:\n${output()}`);
      await sleep(50);
    }
  } catch (e) {
    await stop();
    throw e;
  }
  return { caddyfile, output, stop };
}
