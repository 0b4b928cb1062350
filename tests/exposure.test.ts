// What the program exposes, under the SDK's mocks: ports only on private
// addresses (IPv6 too), SSH host keys pinned on every path, and no `up` without
// a host's key unless that host has the loud opt-out. (The IPv4 port checks of the shipped
// stacks and the secret leak checks live in program.mocks.test.ts.)
import { chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { logsOf, ProgramFailure, ProgramRun, Registered, runForTests, runProgram, SECRET_SIG } from "./support/program";
import { configOf, stackValues, STACKS, validate } from "./support/stacks";

const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:remote:Command";
const PROVIDER = "pulumi:providers:docker";
const ANY = ["0.0.0.0", "::", "[::]", "", undefined];

const unwrap = (v: unknown): any => (v && typeof v === "object" && SECRET_SIG in (v as object) ? (v as { value: unknown }).value : v);
const providerOf = (run: ProgramRun, r: Registered) => run.resources.find((p) => p.type === PROVIDER && r.provider.startsWith(p.urn));
const portsOf = (c: Registered) => (c.inputs.ports as { ip: string; internal: number; external: number }[] | undefined) ?? [];

/** dev on private IPv6 addresses (fc00::/7), caddy on a documentation-range IPv6 address */
function ipv6(): Record<string, any> {
  const v = stackValues("dev");
  v.hosts.web.address = "fd12:3456:789a::10";
  v.hosts.web.publicAddress = "2001:db8::10";
  v.hosts.db.address = "fd12:3456:789a::11";
  v.hosts.servers[0].address = "fd12:3456:789a::21";
  v.hosts.servers[1].address = "fd12:3456:789a::22";
  v.hosts.servers[1].ssh.port = 2222;
  return v;
}

/** runProgram, with the warnings it logs */
async function withWarnings(values: Record<string, unknown>): Promise<{ run: ProgramRun; warnings: string[] }> {
  const { result: run, logged } = await logsOf(() => runProgram(values));
  return { run, warnings: logged.filter((l) => l.startsWith("warning: ")) };
}

describe("IPv6: private addresses only, every port bound to one of them", () => {
  const v = ipv6();
  const programRun = runForTests(() => withWarnings(v));

  test("the program takes fc00::/7 addresses as private: no allowPublicAddresses, no warning, every node built", async () => {
    const { run, warnings } = await programRun();
    expect(v.allowPublicAddresses).toBeUndefined();
    expect(warnings).toEqual([]);
    const nodes = run.byType(CONTAINER).filter((c) => c.inputs.name === "seatable-server").map((c) => providerOf(run, c)!.name).sort();
    expect(nodes).toEqual(["dtable-db-docker", "dtable-server-2-docker", "dtable-server-docker", "dtable-web-docker"]);
  });

  test("no published port binds 0.0.0.0 or ::; each binds its host's private address (caddy its public one)", async () => {
    const { run } = await programRun();
    const config = configOf(v);
    const byHost = new Map([config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => [`${h.name}-docker`, h]));
    const seen: string[] = [];
    for (const c of run.byType(CONTAINER)) {
      const host = byHost.get(providerOf(run, c)!.name)!;
      for (const p of portsOf(c)) {
        expect(ANY).not.toContain(p.ip);
        expect(p.ip).toBe(c.inputs.name === "caddy" ? host.publicAddress : host.address);
        seen.push(`${c.inputs.name}@${p.ip}:${p.external}`);
      }
    }
    expect(seen).toEqual(expect.arrayContaining(["dtable-server-proxy@fd12:3456:789a::10:5000", "seatable-server@fd12:3456:789a::11:7777", "seatable-server@fd12:3456:789a::22:5000"]));
  });

  test("the proxy is published on dtable-web's private address only", async () => {
    const { run } = await programRun();
    const proxy = run.byType(CONTAINER).find((c) => c.inputs.name === "dtable-server-proxy")!;
    expect(proxy.inputs.ports).toEqual([
      { ip: "fd12:3456:789a::10", external: 5000, internal: 5000 },
    ]);
  });

  test("Docker pins each IPv6 host's own key (ssh looks it up as [address]:port off port 22)", async () => {
    const { run } = await programRun();
    expect(JSON.parse(run.one("dtable-web-docker").inputs.sshOpts as string)).toContain(`KnownHostsCommand=/bin/echo %H ${v.hosts.web.ssh.hostKey}`);
    expect(JSON.parse(run.one("dtable-server-2-docker").inputs.sshOpts as string)).toContain(`KnownHostsCommand=/bin/echo %H ${v.hosts.servers[1].ssh.hostKey}`);
  });

  test("Docker reaches IPv6 hosts at ssh://user@[address]:port", async () => {
    const { run } = await programRun();
    expect(run.one("dtable-web-docker").inputs.host).toBe("ssh://root@[fd12:3456:789a::10]:22");
    expect(run.one("dtable-server-2-docker").inputs.host).toBe("ssh://root@[fd12:3456:789a::22]:2222");
  });

  test("a public IPv6 address is refused without allowPublicAddresses", async () => {
    const w = ipv6();
    w.hosts.servers[0].address = "2a00:1450:4001::21";
    const r = validate(w);
    expect(r.ok ? [] : r.problems).toEqual([expect.stringMatching(/^hosts\.servers\[0\]\.address: "2a00:1450:4001::21" is a public address; expected a private one/)]);
  });
});

describe.each(STACKS)("Pulumi.%s.yaml: SSH host keys", (stack) => {
  const hostPaths = (v: Record<string, any>): { path: string; name: string; host: any }[] => [
    { path: "hosts.web", name: "dtable-web", host: v.hosts.web },
    { path: "hosts.db", name: "dtable-db", host: v.hosts.db },
    ...v.hosts.servers.map((s: { name: string }, i: number) => ({ path: `hosts.servers[${i}]`, name: s.name, host: s })),
  ];

  test("every remote command connects with its host's pinned key, every docker provider with StrictHostKeyChecking=yes", async () => {
    const v = stackValues(stack);
    const { run, warnings } = await withWarnings(v);
    expect(warnings).toEqual([]);
    const keyOf = new Map(hostPaths(v).map(({ host }) => [host.address, host.ssh.hostKey]));
    const commands = run.byType(COMMAND);
    expect(commands.length).toBeGreaterThan(0);
    for (const c of commands) {
      const connection = unwrap(c.inputs.connection) as { host: string; hostKey?: string };
      expect([c.name, connection.hostKey]).toEqual([c.name, keyOf.get(connection.host)]);
    }
    const byName = new Map(hostPaths(v).map(({ name, host }) => [`${name}-docker`, host]));
    for (const p of run.byType(PROVIDER)) {
      const opts = JSON.parse(p.inputs.sshOpts as string) as string[];
      expect(opts).toContain("StrictHostKeyChecking=yes");
      expect(opts).not.toContain("StrictHostKeyChecking=no");
      expect(opts).toContain(`KnownHostsCommand=/bin/echo %H ${byName.get(p.name)?.ssh.hostKey}`);
    }
  });

  test("without a host's key, `up` refuses before any resource is registered, naming the key and how to get it", async () => {
    const count = hostPaths(stackValues(stack)).length;
    for (let i = 0; i < count; i++) {
      const v = stackValues(stack);
      const { path, host } = hostPaths(v)[i];
      delete host.ssh.hostKey;
      let failure: ProgramFailure | undefined;
      await runProgram(v).catch((e: ProgramFailure) => (failure = e));
      expect(failure?.message.split("\n").slice(1)).toEqual([
        `${path}.ssh.hostKey: missing; pin the host's key (\`ssh-keyscan -t ed25519 ${host.address}\`), or set ${path}.ssh.insecureSkipHostKeyCheck: true`,
      ]);
      expect(failure?.registered).toEqual([]);
    }
  });

  test("the opt-out is per host: only that host goes unchecked (commands and Docker), with a loud warning naming it", async () => {
    const v = stackValues(stack);
    const { path, name, host } = hostPaths(v)[hostPaths(v).length - 1];
    delete host.ssh.hostKey;
    host.ssh.insecureSkipHostKeyCheck = true;
    const warning = `${path}.ssh.insecureSkipHostKeyCheck: true: the SSH host key of ${name} (${host.address}) is NOT checked; anyone on the path can impersonate it and receive the cluster's secrets`;
    const { run, warnings } = await withWarnings(v);
    expect(warnings).toEqual([`warning: ${warning}`]);
    const keyOf = new Map(hostPaths(v).map(({ host: h }) => [h.address, h.ssh.hostKey]));
    for (const c of run.byType(COMMAND)) {
      const connection = unwrap(c.inputs.connection) as { host: string; hostKey?: string };
      expect([c.name, connection.hostKey]).toEqual([c.name, keyOf.get(connection.host)]);
    }
    for (const p of run.byType(PROVIDER)) {
      const opts = JSON.parse(p.inputs.sshOpts as string) as string[];
      const unchecked = p.name === `${name}-docker`;
      expect([p.name, opts.includes("StrictHostKeyChecking=no"), opts.includes("StrictHostKeyChecking=yes")]).toEqual([p.name, unchecked, !unchecked]);
    }
  });

  test("a file or symlink another user left at the old known_hosts path is neither touched nor used", async () => {
    // the old path, $TMPDIR/seatable-cluster/<stack>.known_hosts, under a temp dir of this test's own
    const root = mkdtempSync(join(os.tmpdir(), "old-known-hosts-"));
    const old = join(root, "seatable-cluster");
    const victim = join(root, "authorized_keys");
    writeFileSync(victim, "the victim's file\n");
    mkdirSync(old, { mode: 0o777 });
    symlinkSync(victim, join(old, "test.known_hosts"));
    chownSync(old, 65534, 65534); // nobody's directory
    const tmp = jest.spyOn(os, "tmpdir").mockReturnValue(root);
    try {
      const { run } = await withWarnings(stackValues(stack));
      expect(readFileSync(victim, "utf8")).toBe("the victim's file\n");
      expect(readdirSync(old)).toEqual(["test.known_hosts"]);
      for (const p of run.byType(PROVIDER)) expect(JSON.parse(p.inputs.sshOpts as string).join(" ")).not.toContain(root);
    } finally {
      tmp.mockRestore();
      rmSync(root, { recursive: true, force: true });
    }
  });

});
