// A throwaway OpenSSH server on 127.0.0.1 for tests of scripts that run on hosts
// over SSH: its own host key and user key in a temp dir, the host key pinned in a
// generated known_hosts, the real `ssh` client with StrictHostKeyChecking=yes.
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { Socket } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { freePort } from "./nginx";

export type Sshd = {
  readonly port: number;
  readonly dir: string;
  readonly user: string;
  readonly identityFile: string;
  readonly knownHostsFile: string;
  /** the host's public key line ("ssh-ed25519 AAAA..."), as a stack's hostKey */
  readonly hostKey: string;
  readonly process: ChildProcess;
};

export type SshResult = { readonly status: number; readonly stdout: string; readonly stderr: string; readonly ms: number };

/** Resolves once something accepts TCP connections on the port, or rejects after timeoutMs. */
function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`sshd exited (${child.exitCode ?? child.signalCode}) before listening`));
        return;
      }
      const socket = new Socket();
      socket.setTimeout(500);
      socket.once("connect", () => {
        socket.destroy();
        resolve();
      });
      const retry = () => {
        socket.destroy();
        if (Date.now() > deadline) reject(new Error(`sshd did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      };
      socket.once("error", retry);
      socket.once("timeout", retry);
      socket.connect(port, "127.0.0.1");
    };
    attempt();
  });
}

const SSHD = "/usr/sbin/sshd";

/**
 * Starts sshd -D on a free loopback port; call stopSshd in afterAll. With `opt`,
 * sshd and its sessions run in a private mount namespace where that folder is
 * /opt, so commands with the hosts' absolute paths touch only the test's files.
 * `config`: more sshd_config lines.
 */
export async function startSshd({ opt, config: extra = [], timeoutMs = 15000 }: { opt?: string; config?: readonly string[]; timeoutMs?: number } = {}): Promise<Sshd> {
  const dir = mkdtempSync(join(tmpdir(), "sshd-test-"));
  const keygen = (file: string) =>
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", file], { timeout: 10000, stdio: "pipe" });
  const hostKeyFile = join(dir, "host_ed25519_key");
  const identityFile = join(dir, "id_ed25519");
  keygen(hostKeyFile);
  keygen(identityFile);
  writeFileSync(join(dir, "authorized_keys"), readFileSync(`${identityFile}.pub`));
  const hostKey = readFileSync(`${hostKeyFile}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  // privilege separation directory; sshd refuses to start without it
  if (!existsSync("/run/sshd")) mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });

  const port = await freePort();
  const knownHostsFile = join(dir, "known_hosts");
  writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey}\n`);
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${hostKeyFile}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      "UsePAM no",
      "PermitRootLogin prohibit-password",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PubkeyAuthentication yes",
      `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
      "StrictModes no",
      "X11Forwarding no",
      "PrintMotd no",
      "LogLevel ERROR",
      ...extra,
      "",
    ].join("\n"),
  );
  execFileSync(SSHD, ["-t", "-f", config], { timeout: 10000, stdio: "pipe" });
  const command = [SSHD, "-D", "-e", "-f", config];
  // unshare and sh exec: the child's pid is sshd's, so stopSshd stops it
  const [file, ...args] = opt ? ["unshare", "-m", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /opt && exec "$@"', opt, ...command] : command;
  const child = spawn(file, args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.on("data", (d: Buffer) => {
    log = (log + d.toString()).slice(-4000);
  });
  const sshd: Sshd = { port, dir, user: userInfo().username, identityFile, knownHostsFile, hostKey, process: child };
  try {
    await waitForPort(port, child, timeoutMs);
  } catch (e) {
    await stopSshd(sshd);
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  return sshd;
}

/** Kills sshd (TERM, then KILL after timeoutMs) and removes its temp dir. Safe to call twice. */
export async function stopSshd(sshd: Sshd | undefined, timeoutMs = 5000): Promise<void> {
  if (!sshd) return;
  const child = sshd.process;
  if (child.exitCode === null && child.signalCode === null) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        resolve();
      }, timeoutMs);
      child.once("exit", () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill("SIGTERM");
    });
  }
  rmSync(sshd.dir, { recursive: true, force: true });
}

/** The ssh client arguments that reach the test sshd with its host key pinned. */
export function sshArgs(sshd: Sshd): string[] {
  return [
    "-F", "/dev/null",
    "-p", String(sshd.port),
    "-i", sshd.identityFile,
    "-o", "IdentitiesOnly=yes",
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${sshd.knownHostsFile}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    "-o", "LogLevel=ERROR",
    `${sshd.user}@127.0.0.1`,
  ];
}

/** Runs a command through the real ssh client, feeding stdin; killed after timeoutMs. */
export function runOverSsh(
  sshd: Sshd,
  run: string | { readonly command: string; readonly stdin: string },
  stdin = "",
  timeoutMs = 60000,
): Promise<SshResult> {
  const command = typeof run === "string" ? run : run.command;
  if (typeof run !== "string") stdin = run.stdin;
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("ssh", [...sshArgs(sshd), command], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`ssh timed out after ${timeoutMs} ms: ${command.slice(0, 200)}\n${stderr}`));
    }, timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ status: code ?? (signal ? 128 : 255), stdout, stderr, ms: Date.now() - started });
    });
    child.stdin.on("error", () => undefined); // the remote side may exit before reading everything
    child.stdin.end(stdin);
  });
}
