// What the program itself does on the hosts while it plans, before Pulumi
// changes anything: read what the proxy on dtable-web runs (its table, servers,
// quarantine, lease), each node's containers, and check whether the hosts a change must reach answer
// SSH (and an evicted one does not). Tests replace it (setHostAccess) with
// their own world; the real one uses the system's ssh with pinned host keys.
import { execFile, ExecFileException } from "node:child_process";
import * as net from "node:net";
import type { ClusterConfig } from "../pure/config/schema";
import { SEATABLE_CONTAINER } from "../pure/plan/containers";
import type { HostContainers } from "../pure/plan/host-containers";
import { HostFacts, nodeFactsCommand, NodeFacts, parseNodeFacts } from "../pure/plan/node-facts";
import { containerReadCommand, ContainerState, LIVE_FILE_LIMIT, LIVE_READ_COMMAND, parseContainerRead, parseLiveRead } from "../pure/plan/live";
import { sshOptions } from "../pure/plan/ssh";
import type { LiveProxy, ServerHost } from "../pure/plan/rollout";
import { parseWebProbes, ProbeTarget, WebProbes, webProbesCommand } from "../pure/plan/status";

export type SshHost = { readonly name: string; readonly address: string; readonly ssh: { readonly user: string; readonly port: number } };

export type HostAccess = {
  /** what the proxy runs; `undefined` when dtable-web has no proxy files yet */
  readLive(web: SshHost, sshOptions: readonly string[]): Promise<LiveProxy>;
  /** the named containers as the host's Docker shows them */
  readContainers(host: SshHost, sshOptions: readonly string[], containers: readonly string[]): Promise<Record<string, ContainerState>>;
  /** the host's memory and the conf files the plan checks, with `command` (node-facts.ts) */
  readFacts(host: SshHost, sshOptions: readonly string[], command: string): Promise<NodeFacts>;
  /** whether the host's SSH port accepts a connection */
  reachable(host: SshHost): Promise<boolean>;
};

// a read prints a few short lines and three files (each at most LIVE_FILE_LIMIT, in base64):
// a host that takes longer or prints more is not answering it
const TIMEOUT_MS = 20_000;
export const MAX_OUTPUT_BYTES = 5 * 1024 * 1024;
// three files in base64 and the short lines fit
if (3 * Math.ceil((LIVE_FILE_LIMIT * 4) / 3) + 64 * 1024 > MAX_OUTPUT_BYTES) throw new Error("internal: MAX_OUTPUT_BYTES below what a read may print");

/** ssh's own words; for a read Node stopped, why (its message would be the whole command line). */
function why(error: ExecFileException, stderr: string): string {
  if (error.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") return `more than ${MAX_OUTPUT_BYTES / 1024} KiB of output`;
  if (error.killed) return `no answer within ${TIMEOUT_MS / 1000} s`;
  return stderr.trim() || error.message;
}

/** Runs a read-only command on a host over ssh and parses what it printed. */
function sshRead<T>(host: SshHost, sshOptions: readonly string[], command: string, what: string, parse: (stdout: string) => T): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile("ssh", [...sshOptions, "-p", String(host.ssh.port), "--", `${host.ssh.user}@${host.address}`, command], { timeout: TIMEOUT_MS, maxBuffer: MAX_OUTPUT_BYTES }, (error, stdout, stderr) => {
      if (error) reject(new Error(`reading ${what} on ${host.name} (${host.address}) over SSH failed: ${why(error, String(stderr))}`));
      else {
        try {
          resolve(parse(String(stdout)));
        } catch (e) {
          reject(e);
        }
      }
    });
  });
}

const systemAccess: HostAccess = {
  readLive: (web, sshOptions) => sshRead(web, sshOptions, LIVE_READ_COMMAND, "the proxy's live files", parseLiveRead),
  readContainers: (host, sshOptions, containers) => sshRead(host, sshOptions, containerReadCommand(containers), "the containers", (out) => parseContainerRead(out, host.name)),
  readFacts: (host, sshOptions, command) => sshRead(host, sshOptions, command, "the memory and conf files", (out) => parseNodeFacts(out, host.name)),
  reachable: (host) =>
    new Promise((resolve) => {
      const socket = net.connect({ host: host.address, port: host.ssh.port });
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(10_000, () => done(false));
      socket.once("connect", () => done(true));
      socket.once("error", () => done(false));
    }),
};

let access: HostAccess = systemAccess;

export const hostAccess = (): HostAccess => access;

/** For tests under Pulumi's mocks: the hosts as the test sets them up. */
export function setHostAccess(replacement: HostAccess | undefined): void {
  access = replacement ?? systemAccess;
}

const optionsFor = (config: ClusterConfig, host: ClusterConfig["hosts"]["web"]) => [...sshOptions(host.name, host.ssh, config.ssh), "-o", "ConnectTimeout=10"];

/** What the proxy on dtable-web runs, read over SSH with the stack's own settings (as `up` and `plan --live` read it). */
export function readProxy(config: ClusterConfig): Promise<LiveProxy> {
  return access.readLive(config.hosts.web, optionsFor(config, config.hosts.web));
}

/**
 * Every node's seatable-server container, read on its host side by side;
 * dtable-web's come with the proxy's live read. A host that does not answer is
 * reported as such, never fatal here (host-containers.ts decides).
 */
export async function readNodeContainers(config: ClusterConfig, live: LiveProxy): Promise<HostContainers> {
  const { web, db, servers } = config.hosts;
  const reads = await Promise.all(
    [db, ...servers].map(async (h) => {
      try {
        return [h.name, { containers: await access.readContainers(h, optionsFor(config, h), [SEATABLE_CONTAINER]) }] as const;
      } catch (e) {
        return [h.name, { unreadable: (e as Error).message }] as const;
      }
    }),
  );
  return { ...(live.containers ? { [web.name]: { containers: live.containers } } : {}), ...Object.fromEntries(reads) };
}

const NODE_FACTS_COMMAND = nodeFactsCommand();
const WEB_FACTS_COMMAND = nodeFactsCommand({ mariadb: true });

/**
 * Every node's memory and conf files, and MariaDB as dtable-web sees it
 * (node-facts.ts), read side by side; a host that does not answer is
 * reported, never fatal here.
 */
export async function readNodeFacts(config: ClusterConfig): Promise<HostFacts> {
  const { web, db, servers } = config.hosts;
  const reads = await Promise.all(
    [web, db, ...servers].map(async (h) => {
      try {
        return [h.name, await access.readFacts(h, optionsFor(config, h), h === web ? WEB_FACTS_COMMAND : NODE_FACTS_COMMAND)] as const;
      } catch (e) {
        return [h.name, { unreadable: (e as Error).message }] as const;
      }
    }),
  );
  return Object.fromEntries(reads);
}

/**
 * What dtable-web sees, for `npm run status`: each dtable-server's /ping/ and
 * the proxy's status page, asked there (web-probes.sh, read-only) over SSH
 * with the stack's own settings, as the proxy itself would reach them.
 */
export function readWebProbes(config: ClusterConfig, targets: readonly ProbeTarget[]): Promise<WebProbes> {
  const web = config.hosts.web;
  return sshRead(web, optionsFor(config, web), webProbesCommand(config, targets), "the dtable-servers' /ping/ and the proxy's status page", parseWebProbes);
}

/** Whether each host's SSH port accepts a connection from here (for servers evicted as dead), side by side. */
export async function sshAnswers(hosts: readonly ServerHost[]): Promise<Record<string, boolean>> {
  return Object.fromEntries(await Promise.all(hosts.map(async (h) => [h.name, await access.reachable(h)] as const)));
}
