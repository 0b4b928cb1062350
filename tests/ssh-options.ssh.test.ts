// The ssh options Docker runs with (pure/plan/ssh.ts), run for real: the system
// `ssh` with exactly those options, called as Docker calls it
// (`ssh <options> -l user -p port -- host <command>`), against a real sshd on
// 127.0.0.1. ssh finds ~ in the password database, not in $HOME: each call runs
// in a private mount namespace where the user's home folder is a fresh empty
// folder (no ~/.ssh) unless a test puts things there.
import { execFileSync, spawn } from "node:child_process";
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { sshOptions } from "../pure/plan/ssh";
import { spawnGroup, ProcessGroup } from "./support/process-group";
import { Sshd, startSshd, stopSshd } from "./support/sshd";

let sshd: Sshd | undefined;
let work: string;
const started: ProcessGroup[] = [];

const keygen = (file: string) => execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", file], { timeout: 10000, stdio: "pipe" });
const publicKey = (file: string) => readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");

let otherHostKey: string; // a key the sshd does not have
let agentKey: string; // authorized, but only in the agent and as ~/.ssh/id_ed25519 of a test HOME
let unauthorizedKey: string; // a key file sshd does not accept

beforeAll(async () => {
  sshd = await startSshd();
  // short: a control socket's path must fit in 108 bytes
  work = mkdtempSync(join(tmpdir(), "ssh-opt-"));
  keygen(join(work, "other-host"));
  otherHostKey = publicKey(join(work, "other-host"));
  agentKey = join(work, "agent");
  keygen(agentKey);
  appendFileSync(join(sshd.dir, "authorized_keys"), readFileSync(`${agentKey}.pub`));
  unauthorizedKey = join(work, "unauthorized");
  keygen(unauthorizedKey);
}, 30000);

afterAll(async () => {
  for (const g of started) await g.stop();
  await stopSshd(sshd);
  rmSync(work, { recursive: true, force: true });
});

type Ran = { readonly status: number; readonly stdout: string; readonly stderr: string };

/** An empty HOME (no ~/.ssh). */
function emptyHome(): string {
  return mkdtempSync(join(work, "home-"));
}

/** Runs a program with `home` mounted on the user's home folder (and `etcSsh` on /etc/ssh). */
function namespace(home: string, etcSsh?: string): string[] {
  const mounts = [`mount --bind ${home} ${userInfo().homedir}`, ...(etcSsh ? [`mount --bind ${etcSsh} /etc/ssh`] : [])];
  return ["unshare", "-m", "--propagation", "private", "sh", "-c", `${mounts.join(" && ")} && exec "$@"`, "sh"];
}

/** ssh as Docker's connection helper runs it, with `home` as the home folder. */
function ssh(options: readonly string[], env: { HOME: string; [name: string]: string }, command = "echo connected", etcSsh?: string): Promise<Ran> {
  const s = sshd as Sshd;
  const args = [...options, "-l", s.user, "-p", String(s.port), "--", "127.0.0.1", command];
  const [file, ...rest] = [...namespace(env.HOME, etcSsh), "ssh", ...args];
  return new Promise((resolve, reject) => {
    // nothing of the test runner's own SSH setup: no agent unless given
    const child = spawn(file, rest, { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ status: code ?? 255, stdout, stderr });
    });
  });
}

const pinned = () => sshOptions("dtable-web", { user: (sshd as Sshd).user, port: (sshd as Sshd).port, hostKey: (sshd as Sshd).hostKey }, { privateKeyPath: (sshd as Sshd).identityFile });
const wrongPin = () => sshOptions("dtable-web", { user: (sshd as Sshd).user, port: (sshd as Sshd).port, hostKey: otherHostKey }, { privateKeyPath: (sshd as Sshd).identityFile });

/** Starts a program in its own process group, stopped in afterAll. */
function background(command: string, args: string[], what: string): void {
  const log = openSync(join(work, `${what}.log`), "a");
  started.push(spawnGroup(command, args, log, what));
  closeSync(log);
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("connects with the pinned host key and the configured key, without a ~/.ssh folder, and leaves none behind", async () => {
  const home = emptyHome();
  const r = await ssh(pinned(), { HOME: home });
  expect([r.status, r.stdout, r.stderr]).toEqual([0, "connected\n", ""]);
  expect(existsSync(join(home, ".ssh"))).toBe(false);
});

test("refuses a host whose key is not the pinned one", async () => {
  const r = await ssh(wrongPin(), { HOME: emptyHome() });
  expect(r.status).toBe(255);
  expect(r.stderr).toContain("Host key verification failed.");
  expect(r.stdout).toBe("");
});

test("ignores the host's real key in ~/.ssh/known_hosts and in the system-wide known_hosts", async () => {
  const home = emptyHome();
  const line = `[127.0.0.1]:${(sshd as Sshd).port} ${(sshd as Sshd).hostKey}\n`;
  mkdirSync(join(home, ".ssh"));
  writeFileSync(join(home, ".ssh", "known_hosts"), line);
  // the system-wide file: /etc/ssh holds only that line
  const etc = mkdtempSync(join(work, "etc-ssh-"));
  writeFileSync(join(etc, "ssh_known_hosts"), line);
  const r = await ssh(wrongPin(), { HOME: home }, "echo connected", etc);
  expect([r.status, r.stdout]).toEqual([255, ""]);
  expect(r.stderr).toContain("Host key verification failed.");
  // each file alone lets a plain ssh in
  const plain = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-i", (sshd as Sshd).identityFile];
  for (const [options, etcSsh] of [[[...plain, "-o", "GlobalKnownHostsFile=/dev/null"], undefined], [[...plain, "-o", "UserKnownHostsFile=/dev/null"], etc]] as const) {
    const p = await ssh(options, { HOME: home }, "echo connected", etcSsh);
    expect([p.status, p.stdout]).toEqual([0, "connected\n"]);
  }
});

test("uses only the configured key: not the agent's, not ~/.ssh/id_*", async () => {
  const home = emptyHome();
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  writeFileSync(join(home, ".ssh", "id_ed25519"), readFileSync(agentKey), { mode: 0o600 });
  const agentSocket = join(work, "agent.sock");
  background("ssh-agent", ["-D", "-a", agentSocket], "ssh-agent");
  await waitFor(() => existsSync(agentSocket), "ssh-agent's socket");
  execFileSync("ssh-add", ["-q", agentKey], { env: { SSH_AUTH_SOCK: agentSocket, PATH: process.env.PATH }, stdio: "pipe", timeout: 10000 });
  const env = { HOME: home, SSH_AUTH_SOCK: agentSocket };
  const unauthorized = sshOptions("dtable-web", { user: (sshd as Sshd).user, port: (sshd as Sshd).port, hostKey: (sshd as Sshd).hostKey }, { privateKeyPath: unauthorizedKey });
  const r = await ssh(unauthorized, env);
  expect([r.status, r.stdout]).toEqual([255, ""]);
  expect(r.stderr).toContain("Permission denied (publickey)");
  // without ssh.privateKeyPath, the agent is what Docker uses
  const viaAgent = sshOptions("dtable-web", { user: (sshd as Sshd).user, port: (sshd as Sshd).port, hostKey: (sshd as Sshd).hostKey }, {});
  const a = await ssh(viaAgent, { HOME: emptyHome(), SSH_AUTH_SOCK: agentSocket });
  expect([a.status, a.stdout]).toEqual([0, "connected\n"]);
});

test("does not ride a master connection another run opened without host key checks", async () => {
  const home = join(work, "h");
  mkdirSync(join(home, ".ssh"), { recursive: true, mode: 0o700 });
  const s = sshd as Sshd;
  // the master another process opened, at the path the old options and a user's ssh_config used
  const controlPath = join(home, ".ssh", "seatable-cluster-%C");
  writeFileSync(join(home, ".ssh", "config"), `Host *\n  ControlMaster auto\n  ControlPath ${controlPath}\n`);
  const insecure = ["-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-i", s.identityFile];
  const master = ["-M", "-S", controlPath, "-N", "-l", s.user, "-p", String(s.port), "127.0.0.1"];
  background("env", [`HOME=${home}`, "ssh", ...insecure, ...master], "master");
  const check = () => {
    try {
      execFileSync("ssh", ["-S", controlPath, "-O", "check", "-p", String(s.port), "-l", s.user, "127.0.0.1"], { env: { HOME: home, PATH: process.env.PATH }, stdio: "pipe", timeout: 5000 });
      return true;
    } catch {
      return false;
    }
  };
  await waitFor(check, "the other run's master connection");
  // a client that rides it skips the host key check: this one must not
  const r = await ssh(wrongPin(), { HOME: home });
  expect([r.status, r.stdout]).toEqual([255, ""]);
  expect(r.stderr).toContain("Host key verification failed.");
});

test("10 connections at once (sshd's MaxStartups starts dropping at 10 unauthenticated ones) all get through", async () => {
  const results = await Promise.all(Array.from({ length: 10 }, () => ssh(pinned(), { HOME: emptyHome() }, "sleep 1; echo connected")));
  expect(results.map((r) => [r.status, r.stdout])).toEqual(Array.from({ length: 10 }, () => [0, "connected\n"]));
});

test("never asks: a key with a passphrase fails at once instead of running an askpass program", async () => {
  const s = sshd as Sshd;
  const key = join(work, "with-passphrase");
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "secret passphrase", "-C", "test", "-f", key], { timeout: 10000, stdio: "pipe" });
  appendFileSync(join(s.dir, "authorized_keys"), readFileSync(`${key}.pub`));
  const askpass = join(work, "askpass");
  const asked = join(work, "asked");
  writeFileSync(askpass, `#!/bin/sh\ntouch ${asked}\necho 'secret passphrase'\n`, { mode: 0o755 });
  const options = sshOptions("dtable-web", { user: s.user, port: s.port, hostKey: s.hostKey }, { privateKeyPath: key });
  const r = await ssh(options, { HOME: emptyHome(), SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" });
  expect([r.status, r.stdout, existsSync(asked)]).toEqual([255, "", false]);
});

test("the opt-out: no key is checked for that host", async () => {
  const skip = sshOptions("dtable-web", { user: (sshd as Sshd).user, port: (sshd as Sshd).port, insecureSkipHostKeyCheck: true }, { privateKeyPath: (sshd as Sshd).identityFile });
  const r = await ssh(skip, { HOME: emptyHome() });
  expect([r.status, r.stdout]).toEqual([0, "connected\n"]);
});

test("a host key that is more than one key line is refused before ssh runs", () => {
  const s = sshd as Sshd;
  expect(() => sshOptions("dtable-server-2", { user: s.user, port: s.port, hostKey: `${s.hostKey}\n* ${otherHostKey}` }, {})).toThrow(/^dtable-server-2: the host key .* is not a single public key line$/);
  expect(() => sshOptions("dtable-server-2", { user: s.user, port: s.port }, {})).toThrow("dtable-server-2: no host key to pin and no insecureSkipHostKeyCheck for this host");
});
