// The whole Pulumi program under the SDK's mocks: what it would create, where, in which order.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { buildPlan } from "../pure/plan";
import { renderedFiles } from "../pure/plan/files";
import { READ_STACK_OUTPUTS } from "../pure/plan/stack-reference";
import { PROJECT } from "../pure/config/schema";
import { afterUp, logsOf, ProgramFailure, Registered, runForTests, runProgram, ProgramRun, SECRET_SIG, SECRET_VALUES } from "./support/program";
import { scriptVars } from "./support/host-script";
import { configOf, stackValues, STACKS } from "./support/stacks";

const CONTAINER = "docker:index/container:Container";
const PROVIDER = "pulumi:providers:docker";

/** dev with `n` dtable-servers and another image */
function generated(n: number, version: string): Record<string, any> {
  const v = stackValues("dev");
  const key = v.hosts.servers[0].ssh.hostKey;
  v.image = `seatable/seatable-enterprise:${version}`;
  v.s3.buckets.avatar = "seatable-dev-avatar"; // required from 6.2
  v.hosts.servers = Array.from({ length: n }, (_, i) => ({
    name: i === 0 ? "dtable-server" : `dtable-server-${i + 1}`,
    address: `10.0.${Math.floor(i / 200)}.${10 + (i % 200)}`,
    weight: 1 + (i % 3),
    ssh: { hostKey: key, port: 22 + (i % 2) * 2200 },
  }));
  return v;
}

const unwrap = (v: unknown): any => (v && typeof v === "object" && SECRET_SIG in (v as object) ? (v as { value: unknown }).value : v);
const isSecret = (v: unknown) => !!v && typeof v === "object" && SECRET_SIG in (v as object);
const envOf = (c: Registered): Record<string, string> => Object.fromEntries((unwrap(c.inputs.envs) as string[]).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
const providerOf = (run: ProgramRun, r: Registered) => run.resources.find((p) => p.type === PROVIDER && r.provider.startsWith(p.urn));
const parentName = (r: Registered) => r.parent.split("::").pop();

/** Every plain-text occurrence of a secret value outside a secret wrapper. */
function leaks(value: unknown, path: string, found: string[]) {
  if (isSecret(value)) return;
  if (typeof value === "string") {
    for (const [key, secret] of Object.entries(SECRET_VALUES)) if (value.includes(secret)) found.push(`${path} holds ${key}`);
  } else if (Array.isArray(value)) value.forEach((v, i) => leaks(v, `${path}[${i}]`, found));
  else if (value && typeof value === "object") for (const [k, v] of Object.entries(value)) leaks(v, `${path}.${k}`, found);
}

const VERSION = (JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as { version: string }).version;

const cases: [string, () => Record<string, any>][] = [
  ...STACKS.map((s) => [`Pulumi.${s}.yaml`, () => stackValues(s)] as [string, () => Record<string, any>]),
  ...[1, 2, 5, 16].map((n) => [`${n} servers, 6.1.8`, () => generated(n, "6.1.8")] as [string, () => Record<string, any>]),
  ...["6.2.12", "6.3.0"].map((v) => [`3 servers, ${v}`, () => generated(3, v)] as [string, () => Record<string, any>]),
];

describe.each(cases)("%s", (_label, values) => {
  const v = values();
  const programRun = runForTests(async () => {
    // a 6.x newer than 6.2 warns that its settings follow 6.2 (tested in config.test.ts)
    const warn = jest.spyOn(console, "warn").mockImplementation(() => undefined);
    return runProgram(v).finally(() => warn.mockRestore());
  });

  test("one docker provider per host, over SSH with that host's key pinned, no shared connection and no file of the deploy machine", async () => {
    const run = await programRun();
    const hosts = [{ name: "dtable-web", ...v.hosts.web }, { name: "dtable-db", ...v.hosts.db }, ...v.hosts.servers];
    const providers = run.byType(PROVIDER);
    expect(providers.map((p) => p.name).sort()).toEqual(hosts.map((h: any) => `${h.name}-docker`).sort());
    for (const h of hosts as any[]) {
      const p = run.one(`${h.name}-docker`);
      const port = h.ssh?.port ?? v.ssh.port;
      expect(p.inputs.host).toBe(`ssh://${v.ssh.user}@${h.address}:${port}`);
      const opts = JSON.parse(p.inputs.sshOpts as string) as string[];
      expect(opts).toEqual(expect.arrayContaining(["StrictHostKeyChecking=yes", `KnownHostsCommand=/bin/echo %H ${h.ssh.hostKey}`, "BatchMode=yes", "GlobalKnownHostsFile=/dev/null"]));
      expect(opts.slice(0, 2)).toEqual(["-F", "/dev/null"]);
      expect(opts.filter((o) => /Control|KnownHostsFile=(?!\/dev\/null)/.test(o))).toEqual([]);
    }
  });

  test("fewer Docker resources per host than the 10 parallel connections at which sshd's MaxStartups drops, even if all ran at once (tests/ssh-options.ssh.test.ts)", async () => {
    const run = await programRun();
    const perHost = new Map<string, number>();
    for (const r of run.resources.filter((r) => r.type.startsWith("docker:"))) {
      const host = providerOf(run, r)!.name;
      perHost.set(host, (perHost.get(host) ?? 0) + 1);
    }
    // dtable-web: three image pulls, the network, seatable-server, caddy and the proxy (behind a load
    // balancer: no caddy, no network); every other host: its image pull and seatable-server (SECURITY.md)
    expect(Math.max(...perHost.values())).toBeLessThanOrEqual(9);
    expect(perHost.get("dtable-web-docker")).toBe(v.publicEntry === "loadBalancer" ? 4 : 7);
    for (const [host, n] of perHost) if (host !== "dtable-web-docker") expect([host, n]).toEqual([host, 2]);
  });

  test("the right containers on the right hosts, with the role environment", async () => {
    const run = await programRun();
    const containers = run.byType(CONTAINER);
    const at = (host: string) => containers.filter((c) => providerOf(run, c)?.name === `${host}-docker`).map((c) => c.inputs.name).sort();
    const caddy = v.publicEntry === "loadBalancer" ? [] : ["caddy"];
    expect(at("dtable-web")).toEqual([...caddy, "dtable-server-proxy", "seatable-server"].sort());
    expect(at("dtable-db")).toEqual(["seatable-server"]);
    for (const s of v.hosts.servers) expect(at(s.name)).toEqual(["seatable-server"]);
    const role = (host: string) => envOf(containers.find((c) => c.inputs.name === "seatable-server" && providerOf(run, c)?.name === `${host}-docker`)!);
    expect(role("dtable-db")).toMatchObject({ ENABLE_DTABLE_DB: "true", ENABLE_DTABLE_SERVER: "false", ENABLE_DTABLE_WEB: "false", SEATABLE_START_MODE: "cluster" });
    for (const s of v.hosts.servers) expect(role(s.name)).toMatchObject({ ENABLE_DTABLE_SERVER: "true", ENABLE_DTABLE_DB: "false", ENABLE_DTABLE_WEB: "false", SEATABLE_START_MODE: "cluster" });
    expect(role("dtable-web")).toMatchObject({ ENABLE_DTABLE_SERVER: "false", ENABLE_DTABLE_DB: "false", SEATABLE_SERVER_HOSTNAME: v.serverHostname });
    expect(role("dtable-web").SEATABLE_START_MODE).toBeUndefined();
  });

  test("every seatable-server: image, /shared, restart policy, log rotation, a generous stop timeout, a health check", async () => {
    const run = await programRun();
    for (const c of run.byType(CONTAINER).filter((c) => c.inputs.name === "seatable-server")) {
      expect(c.inputs).toMatchObject({
        image: v.image,
        restart: "unless-stopped",
        logDriver: "json-file",
        logOpts: { "max-size": "10m", "max-file": "3" },
        stopTimeout: v.stopTimeoutSeconds ?? 300,
        destroyGraceSeconds: v.stopTimeoutSeconds ?? 300,
        wait: true,
      });
      expect(c.inputs.volumes).toEqual(expect.arrayContaining([{ hostPath: "/opt/seatable-server", containerPath: "/shared", readOnly: false }]));
      expect((c.inputs.stopTimeout as number) >= 30).toBe(true);
      // each role answers on its own port; SeaTable's first start takes minutes
      const url = { "dtable-web-docker": "8000/api2/ping/", "dtable-db-docker": "7777/ping/" }[providerOf(run, c)!.name] ?? "5000/ping/";
      expect(c.inputs.healthcheck).toEqual({
        tests: ["CMD-SHELL", `curl --fail --silent --max-time 5 http://localhost:${url} || exit 1`],
        interval: "20s",
        timeout: "10s",
        retries: 3,
        startPeriod: "2m0s",
      });
      expect(c.inputs.waitTimeout).toBe(900);
    }
  });

  test("every node gets the license before its seatable-server starts, once its own steps made the folder", async () => {
    const run = await programRun();
    const nodes = [{ name: "dtable-web", ...v.hosts.web }, { name: "dtable-db", ...v.hosts.db }, ...v.hosts.servers];
    const copies = run.byType("command:remote:CopyToRemote");
    expect(copies.map((c) => c.name).sort()).toEqual(nodes.map((n) => `${n.name}-license`).sort());
    for (const n of nodes) {
      const license = run.one(`${n.name}-license`);
      expect(license.inputs.remotePath).toBe("/opt/seatable-server/seatable/seatable-license.txt");
      // uploaded as it is on this machine: a renewed license is copied again, nothing restarts
      expect(license.inputs.source).toBeInstanceOf(pulumi.asset.FileAsset);
      expect(await (license.inputs.source as pulumi.asset.FileAsset).path).toBe(v.licenseFile);
      expect(unwrap(license.inputs.connection)).toMatchObject({ host: n.address, port: n.ssh?.port ?? v.ssh.port });
      // it waits for what the container waits for (the node's steps before it, the images), and the container for it
      const container = run.one(`${n.name}-seatable-server`);
      const network = run.byType("docker:index/network:Network").map((x) => x.urn);
      expect(container.dependencies).toContain(license.urn);
      expect([...license.dependencies].sort()).toEqual(container.dependencies.filter((u) => u !== license.urn && !network.includes(u)).sort());
    }
  });

  test("the proxy's live files are read once, from dtable-web, with its host key pinned and a 10 s connect timeout", async () => {
    const run = await programRun();
    expect(run.liveReads.map((r) => r.host)).toEqual(["dtable-web"]);
    const opts = run.liveReads[0].sshOptions;
    expect(opts.slice(0, 2)).toEqual(["-F", "/dev/null"]);
    expect(opts).toEqual(expect.arrayContaining(["StrictHostKeyChecking=yes", `KnownHostsCommand=/bin/echo %H ${v.hosts.web.ssh.hostKey}`]));
    expect(opts.slice(-2)).toEqual(["-o", "ConnectTimeout=10"]);
  });

  test("the lease names this stack and this run: its start time and a random part", async () => {
    const run = await programRun();
    const lease = /^LEASE='(.*)'$/m.exec(run.one("dtable-server-proxy-lease").inputs.create as string)?.[1];
    expect(lease).toMatch(/^stack=organization\/seatable-cluster\/test run=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z-[0-9a-f]{6}$/);
  });

  test("the proxy's environment, which holds no secret, stays readable in the preview", async () => {
    const run = await programRun();
    const proxy = run.byType(CONTAINER).find((c) => c.inputs.name === "dtable-server-proxy")!;
    expect(isSecret(proxy.inputs.envs)).toBe(false);
  });

  test("no container takes its volumes with it when it is replaced or deleted", async () => {
    const run = await programRun();
    for (const c of run.byType(CONTAINER)) expect([c.name, c.inputs.removeVolumes]).toEqual([c.name, false]);
  });

  test("the proxy runs nginx on the uploaded config and hosts file, read-only from the host's folder", async () => {
    const run = await programRun();
    const proxy = run.byType(CONTAINER).find((c) => c.inputs.name === "dtable-server-proxy")!;
    expect(proxy.inputs.command).toEqual(["nginx", "-g", "daemon off;", "-c", "/etc/nginx/proxy/nginx-proxy.conf"]);
    expect(proxy.inputs.volumes).toEqual([
      { hostPath: "/opt/seatable-compose/dtable-server-proxy", containerPath: "/etc/nginx/proxy", readOnly: true },
      { hostPath: "/opt/seatable-compose/dtable-server-proxy/hosts", containerPath: "/etc/hosts", readOnly: true },
    ]);
  });

  test("caddy: dtable-web's seatable-server and caddy join the frontend network, which exists before either; caddy after dtable-web", async () => {
    const run = await programRun();
    const networks = run.byType("docker:index/network:Network");
    if (v.publicEntry === "loadBalancer") {
      expect(networks).toEqual([]);
      return;
    }
    expect(networks.map((n) => [providerOf(run, n)!.name, n.inputs.name])).toEqual([["dtable-web-docker", "frontend-net"]]);
    const onWeb = run.byType(CONTAINER).filter((c) => providerOf(run, c)!.name === "dtable-web-docker");
    const web = onWeb.find((c) => c.inputs.name === "seatable-server")!;
    const caddy = onWeb.find((c) => c.inputs.name === "caddy")!;
    for (const c of [web, caddy]) {
      expect([c.inputs.name, c.inputs.networksAdvanced]).toEqual([c.inputs.name, [{ name: "frontend-net" }]]);
      expect([c.inputs.name, c.dependencies.includes(networks[0].urn)]).toEqual([c.inputs.name, true]);
    }
    expect(caddy.dependencies).toContain(web.urn);
    // the release whose label conversion caddy.test.ts follows; a new one is a reviewed change
    expect(caddy.inputs.image).toBe("lucaslorentz/caddy-docker-proxy:2.12.0-alpine");
  });

  test("every published port is on the host's private address (public address only for caddy's 80/443)", async () => {
    const run = await programRun();
    const config = configOf(v);
    const byHost = new Map([config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => [`${h.name}-docker`, h]));
    for (const c of run.byType(CONTAINER)) {
      const host = byHost.get(providerOf(run, c)!.name)!;
      for (const p of (c.inputs.ports as { ip: string; internal: number; external: number }[]) ?? []) {
        expect(["0.0.0.0", "::", "", undefined]).not.toContain(p.ip);
        if (c.inputs.name === "caddy") expect([p.ip, p.internal]).toEqual([host.publicAddress, p.external]);
        else expect(p.ip).toBe(host.address);
      }
    }
    const webPorts = (run.byType(CONTAINER).find((c) => c.inputs.name === "seatable-server" && providerOf(run, c)?.name === "dtable-web-docker")!.inputs.ports as { internal: number }[]).map((p) => p.internal);
    expect(webPorts).toContain(8000);
    expect(webPorts).not.toContain(5000); // the proxy owns 5000
    const proxy = run.byType(CONTAINER).find((c) => c.inputs.name === "dtable-server-proxy")!;
    // stub_status is a location on the proxy's port: no port of its own, which would replace the container
    expect(proxy.inputs.ports).toEqual([{ ip: config.hosts.web.address, external: config.proxy.port, internal: config.proxy.port }]);
  });

  test("extra_hosts: every seatable-server knows dtable-web and dtable-db; the proxy knows every dtable-server", async () => {
    const run = await programRun();
    const config = configOf(v);
    for (const c of run.byType(CONTAINER).filter((c) => c.inputs.name === "seatable-server")) {
      expect(c.inputs.hosts).toEqual(expect.arrayContaining([{ host: "dtable-web", ip: config.hosts.web.address }, { host: "dtable-db", ip: config.hosts.db.address }]));
    }
    const upload = run.one("dtable-server-proxy-switch").inputs.create as string;
    for (const s of config.hosts.servers) expect(upload).toContain(`${s.address} ${s.name}\n`);
  });

  test("the proxy's config is uploaded, checked, tested with nginx -t, then put in place and reloaded, after every node is ready", async () => {
    const run = await programRun();
    const sw = run.one("dtable-server-proxy-switch");
    const container = run.one("dtable-server-proxy-container");
    const verify = run.one("dtable-server-proxy-verify");
    expect(sw.inputs.stdin).toBe(readOut(v));
    expect(sw.inputs.create).toMatch(
      /cat > "\$T\/nginx-proxy\.conf"[\s\S]*sha256sum < "\$T\/nginx-proxy\.conf"[\s\S]*nginx -t -c "\$DIR_IN_CONTAINER\/nginx-proxy\.conf"[\s\S]*mv -f "\$T\/nginx-proxy\.conf" "\$CONF_FILE"[\s\S]*nginx -s reload/,
    );
    expect(scriptVars(sw.inputs.create as string)).toMatchObject({ DIR_IN_CONTAINER: "/etc/nginx/proxy", CONF_FILE: "/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf", IMAGE: configOf(v).proxy.image });
    expect(container.dependencies).toContain(sw.urn);
    expect(verify.dependencies).toEqual(expect.arrayContaining([sw.urn, container.urn]));
    // every node is ready: its container, its conf edits where it has some, and a dtable-server shown running
    for (const c of run.byType(CONTAINER).filter((c) => c.inputs.name === "seatable-server")) {
      const host = parentName(c)!;
      const last = run.resources.find((r) => r.name === `${host}-running`) ?? run.resources.find((r) => r.name === `${host}-conf-edits`);
      expect([host, sw.dependencies.includes((last ?? c).urn)]).toEqual([host, true]);
    }
    // all of it on dtable-web, over SSH with the host key pinned
    for (const r of [sw, verify]) {
      expect(unwrap(r.inputs.connection)).toMatchObject({ host: v.hosts.web.address, hostKey: v.hosts.web.ssh.hostKey });
    }
  });

  test("SeaTable is pointed at the proxy for its version", async () => {
    const run = await programRun();
    const version = (v.image as string).split(":")[1];
    const edits = (host: string) => {
      const r = run.resources.find((x) => x.name === `${host}-conf-edits`);
      return r ? (r.inputs.create as string) : "";
    };
    const env = (host: string) => envOf(run.byType(CONTAINER).find((c) => c.inputs.name === "seatable-server" && providerOf(run, c)?.name === `${host}-docker`)!);
    // dtable-web's settings file is edited in every version (no environment variable for it)
    expect(edits("dtable-web")).toContain('"key":"INNER_DTABLE_SERVER_URL","value":"http://dtable-web:5000/"');
    if (!version.startsWith("6.1")) {
      expect(env("dtable-web").INNER_DTABLE_SERVER_URL).toBe("http://dtable-web:5000");
      expect(env("dtable-db").INNER_DTABLE_SERVER_URL).toBe("http://dtable-web:5000");
      expect(env("dtable-server").INNER_DTABLE_DB_URL).toMatch(/^http:\/\/dtable-db:7777\/?$/);
      expect(edits("dtable-db")).toBe("");
    } else {
      expect(edits("dtable-db")).toContain('"section":"dtable cache","key":"dtable_server_url","value":"\\"http://dtable-web:5000\\""');
      expect(edits("dtable-web")).toContain("dtable-api-gateway.conf");
      expect(edits("dtable-server")).toContain('"key":"dtable_web_service_url"');
      expect(env("dtable-web").INNER_DTABLE_SERVER_URL).toBeUndefined();
    }
    // edits run after the container (SeaTable writes conf/ on its first start)
    const web = run.one("dtable-web-conf-edits");
    expect(web.dependencies).toContain(run.one("dtable-web-seatable-server").urn);
  });

  test("snapshot clean-up runs on the dtable-db node only: its environment, and 6.1's conf key", async () => {
    const run = await programRun();
    const six1 = (v.image as string).endsWith(":6.1.8");
    for (const host of ["dtable-web", "dtable-db", ...v.hosts.servers.map((s: { name: string }) => s.name)]) {
      const on = String(host === "dtable-db");
      expect([host, envOf(run.one(`${host}-seatable-server`)).STORAGE_SERVER_ENABLE_SNAPSHOT_CLEANUP]).toEqual([host, on]);
      const edits = (run.resources.find((r) => r.name === `${host}-conf-edits`)?.inputs.create as string | undefined) ?? "";
      const key = /"file":"dtable-storage-server\.conf","format":"ini","section":"snapshot","key":"enable_cleanup","value":"(\w+)"/.exec(edits)?.[1];
      expect([host, key]).toEqual([host, six1 ? on : undefined]);
    }
  });

  test("only dtable-web uploads dtable-web's nginx site", async () => {
    const run = await programRun();
    expect(run.byType("command:remote:Command").filter((c) => c.name.endsWith("-site-upload")).map((c) => c.name)).toEqual(["dtable-web-site-upload"]);
  });

  test("6.2: SECRET_KEY on every seatable-server, and the conf files 6.2 no longer reads moved aside before each container", async () => {
    const run = await programRun();
    const six1 = (v.image as string).endsWith(":6.1.8");
    for (const host of ["dtable-web", "dtable-db", ...v.hosts.servers.map((s: { name: string }) => s.name)]) {
      const container = run.one(`${host}-seatable-server`);
      const moveAside = run.resources.find((r) => r.name === `${host}-move-aside`);
      if (six1) {
        expect(envOf(container).SECRET_KEY).toBeUndefined();
        expect(moveAside).toBeUndefined();
      } else {
        expect(isSecret(container.inputs.envs)).toBe(true);
        expect(envOf(container).SECRET_KEY).toBe(SECRET_VALUES.secretKey);
        expect(scriptVars(moveAside!.inputs.create as string).UNREAD_FILES).toMatch(/dtable-storage-server\.conf\ndtable_server_config\.json/);
        expect(moveAside!.inputs.create).toContain('mv "$CONF_DIR/$f" "$to"');
        // then, on dtable-web only, the SECRET_KEY line goes (6.2 takes it from the environment)
        const secretKey = run.resources.find((r) => r.name === `${host}-secret-key`);
        expect(secretKey !== undefined).toBe(host === "dtable-web");
        if (secretKey) {
          expect(scriptVars(secretKey.inputs.create as string).SETTINGS).toBe("/opt/seatable-server/seatable/conf/dtable_web_settings.py");
          expect(secretKey.dependencies).toContain(moveAside!.urn);
        }
        expect(container.dependencies).toContain((secretKey ?? moveAside)!.urn);
      }
    }
  });

  test("every secret stays a secret in every input that carries it", async () => {
    const run = await programRun();
    const found: string[] = [];
    for (const r of run.resources) {
      leaks(r.inputs, `${r.type} ${r.name}`, found);
      leaks(r.name, `name of ${r.type}`, found);
    }
    leaks(run.outputs, "stack outputs", found);
    expect(found).toEqual([]);
    // and they did reach the containers, as secrets
    const db = run.one("dtable-db-seatable-server");
    expect(isSecret(db.inputs.envs)).toBe(true);
    expect(envOf(db).SEATABLE_MYSQL_DB_PASSWORD).toBe(SECRET_VALUES.mariadbPassword);
    expect(envOf(run.one("dtable-web-seatable-server")).SEATABLE_ADMIN_PASSWORD).toBe(SECRET_VALUES.adminPassword);
    // the SSH key reaches each command's connection, which is then secret as a whole
    const connection = run.one("dtable-server-proxy-verify").inputs.connection;
    expect(isSecret(connection)).toBe(true);
    expect(unwrap(connection).privateKey).toBe(SECRET_VALUES.sshPrivateKey);
  });

  test("outputs: the program and its version, nodes, the proxy URL and the routing summary", async () => {
    const run = await programRun();
    const config = configOf(v);
    expect(run.outputs.program).toEqual({ name: "seatable-cluster", version: VERSION });
    expect(run.outputs.proxyUrl).toBe(`http://${config.hosts.web.address}:${config.proxy.port}`);
    expect(run.outputs.nodes).toEqual(
      [config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => ({ name: h.name, role: h.role, address: h.address })),
    );
    expect(run.outputs.nodes).toHaveLength(2 + config.hosts.servers.length);
    const routing = run.outputs.routing as { server: string; share: string }[];
    expect(routing.map((r) => r.server)).toEqual(config.hosts.servers.map((s) => s.name));
    expect(routing.reduce((s, r) => s + parseFloat(r.share), 0)).toBeCloseTo(100, 1);
  });
});

function readOut(v: Record<string, any>): string {
  return renderedFiles(buildPlan(configOf(v))).find((f) => f.path.endsWith("nginx-proxy.conf"))!.content;
}

test("an invalid stack fails before any resource is registered, with every problem", async () => {
  const v = stackValues("dev");
  v.hosts.servers[0].weight = 0;
  v.hosts.db.address = "10.0.0";
  await expect(runProgram(v)).rejects.toThrow(/2 problem\(s\):\nhosts\.db\.address: "10\.0\.0" is not an IPv4 or IPv6 address\nhosts\.servers\[0\]\.weight: /);
});

test("a missing secret stops `up` with the command that sets it", async () => {
  const { mariadbPassword: _, ...rest } = SECRET_VALUES;
  void _;
  await expect(runProgram(stackValues("dev"), { secrets: rest })).rejects.toThrow(/mariadbPassword: missing; .* run `pulumi config set --secret mariadbPassword <value>`/);
});

describe("refused before any resource is registered", () => {
  const failure = async (values: Record<string, any>, secrets?: Record<string, string>) => {
    const e = await runProgram(values, secrets ? { secrets } : {}).then(
      () => undefined,
      (err: ProgramFailure) => err,
    );
    expect(e?.registered).toEqual([]);
    return e!.message;
  };

  test.each([
    ["6.0.10", /image: SeaTable 6\.0\.10 is not supported: up to 6\.0 .* upgrade the installation to 6\.1 first/],
    ["5.3.12", /image: SeaTable 5\.3\.12 is not supported: up to 6\.0 /],
    ["7.0.1", /image: SeaTable 7\.0\.1 is not supported: from 7\.0 the seatable image no longer runs dtable-server .*seatable\/dtable-server-js/],
  ])("SeaTable %s", async (version, message) => {
    expect(await failure(generated(2, version))).toMatch(message);
  });

  test("SeaTable 6.2 without secretKey: the command, and where 6.1 kept the value", async () => {
    const { secretKey: _, ...rest } = SECRET_VALUES;
    void _;
    expect(await failure(generated(2, "6.2.12"), rest)).toMatch(
      /\nsecretKey: missing; .* run `pulumi config set --secret secretKey <value>` \(moving from 6\.1, .*`grep SECRET_KEY \/opt\/seatable-server\/seatable\/conf\/dtable_web_settings\.py`/,
    );
  });

  test.each([
    ["not set", undefined, /\nlicenseFile: not set; the SeaTable Enterprise image does not start without its license/],
    ["unreadable", "no-such-dir/seatable-license.txt", /\nlicenseFile: cannot read "no-such-dir\/seatable-license\.txt": ENOENT: no such file or directory; the SeaTable Enterprise image does not start without its license$/],
  ])("no license (%s)", async (_label, licenseFile, message) => {
    const v = stackValues("dev");
    if (licenseFile === undefined) delete v.licenseFile;
    else v.licenseFile = licenseFile;
    expect(await failure(v)).toMatch(message);
  });
});

/**
 * Runs `fn` with the backend answering the program's reads of its own stack as `backend` says: `refuse`
 * maps a name to the error reading it gives (the invoke's, worded as the engine words it, and a failed
 * StackReference read), `outputs` adds to what the stack holds. Records the names tried and read.
 */
async function withBackend<T>(backend: { refuse?: Record<string, string>; outputs?: Record<string, unknown> }, fn: () => Promise<T>) {
  const setMocks = pulumi.runtime.setMocks;
  const probed: string[] = [];
  const read: string[] = [];
  const spy = jest.spyOn(pulumi.runtime, "setMocks").mockImplementation((mocks, ...rest) =>
    setMocks(
      {
        newResource: async (args) => {
          if (args.type !== "pulumi:pulumi:StackReference") return mocks.newResource(args);
          read.push(args.inputs.name);
          if (backend.refuse?.[args.inputs.name]) throw new Error(backend.refuse[args.inputs.name]);
          const r = await mocks.newResource(args);
          return { ...r, state: { ...r.state, outputs: { ...r.state.outputs, ...backend.outputs } } };
        },
        call: async (args) => {
          if (args.token === READ_STACK_OUTPUTS) {
            probed.push(args.inputs.name);
            const error = backend.refuse?.[args.inputs.name];
            // grpc carries the engine's message in `details`, which the SDK's invoke rejects with
            if (error) throw Object.assign(new Error(error), { details: `invocation of ${READ_STACK_OUTPUTS} returned an error: ${error}` });
          }
          return mocks.call(args);
        },
      },
      ...rest,
    ),
  );
  try {
    return { result: await fn(), probed, read };
  } finally {
    spy.mockRestore();
  }
}

describe("the stack's own outputs: the backend's layout and the program's version", () => {
  const FULL = `organization/${PROJECT}/test`;
  const LEGACY = "a stack name may only contain alphanumeric, hyphens, underscores, or periods: invalid character '/' at position 12";
  const failed = (p: Promise<unknown>) => p.then(() => { throw new Error("it ran"); }, (e: ProgramFailure) => e);

  test("Pulumi Cloud or a project-layout backend: read under the full name, tried once", async () => {
    const { probed, read } = await withBackend({}, () => runProgram(stackValues("dev")));
    expect(probed).toEqual([FULL]);
    expect(read).toEqual([FULL]);
  });

  test("a self-managed backend in the legacy layout: read under the stack's bare name, with a warning to upgrade; its record is used", async () => {
    const first = await runProgram(stackValues("dev"));
    const { applied, appliedContainers, live } = afterUp(first);
    const { result, probed, read } = await withBackend({ refuse: { [FULL]: LEGACY }, outputs: { appliedRouting: applied, appliedContainers } }, () =>
      logsOf(() => runProgram(stackValues("dev"), { live })),
    );
    expect(probed).toEqual([FULL, "test"]);
    // the full name never reaches a StackReference (its failed read would fail the update)
    expect(read).toEqual(["test"]);
    expect(result.logged).toContainEqual(expect.stringMatching(/^warning: this stack's backend is a self-managed one in Pulumi's legacy layout .* read as test, not organization\/seatable-cluster\/test\. .*`pulumi state upgrade`/));
    // the record read back: an up with nothing to change keeps it as it was (its rollout steps, the run that verified it)
    expect(result.result.outputs.appliedRouting).toEqual(first.outputs.appliedRouting);
  });

  test("the legacy layout refusing the bare name too: refused with `pulumi state upgrade`, nothing registered", async () => {
    const { result } = await withBackend({ refuse: { [FULL]: LEGACY, test: 'unknown stack "test"' } }, () => failed(runProgram(stackValues("dev"))));
    expect(result.registered).toEqual([]);
    expect(result.message).toMatch(/^cannot read this stack's own outputs: the backend refuses organization\/seatable-cluster\/test \(invocation of pulumi:pulumi:readStackOutputs returned an error: a stack name may only contain .*\), .* and test too \(invocation of .*: unknown stack "test"\)\. Move the backend to the project layout with `pulumi state upgrade`/);
  });

  test("any other error reading the stack: refused as it is, no other name tried", async () => {
    const { result, probed, read } = await withBackend({ refuse: { [FULL]: "unable to open bucket" } }, () => failed(runProgram(stackValues("dev"))));
    expect(result.registered).toEqual([]);
    expect(result.message).toBe(`cannot read this stack's own outputs (the last verified up's record) as ${FULL}: invocation of ${READ_STACK_OUTPUTS} returned an error: unable to open bucket`);
    expect(probed).toEqual([FULL]);
    expect(read).toEqual([]);
  });

  test("a state a newer version of this program wrote is refused before anything is registered", async () => {
    const { result } = await withBackend({ outputs: { program: { name: "seatable-cluster", version: "99.0.0" } } }, () => failed(runProgram(stackValues("dev"))));
    expect(result.registered).toEqual([]);
    expect(result.message).toBe(
      `this stack was last written by seatable-cluster 99.0.0, newer than this copy of the program (${VERSION}). An older program may not understand what a newer one recorded, and its up would rewrite it. Update this checkout to 99.0.0 or later (git pull, then npm ci) and run again.`,
    );
  });

  test.each([
    ["this version", () => VERSION],
    ["an older one", () => "0.1.0"],
  ])("a state %s wrote is accepted, and this version recorded", async (_label, version) => {
    const { result } = await withBackend({ outputs: { program: { name: "seatable-cluster", version: version() } } }, () => runProgram(stackValues("dev")));
    expect(result.outputs.program).toEqual({ name: "seatable-cluster", version: VERSION });
  });
});

describe("environmentSecrets: a secret environment value and the backup command, secret in every input that carries them", () => {
  const ENVIRONMENT_SECRET_VALUES = { smtp: "secret-smtp-Ab1c2", backup: "/usr/local/bin/backup --password secret-backup-Dd3e4" };
  const programRun = runForTests(async () => {
    const v = stackValues("dev");
    v.environment = { "dtable-web": { SEATABLE_EMAIL_PASSWORD: { secret: "smtp" } } };
    v.rollout = { backup: { host: "dtable-db", commandSecret: "backup" } };
    const secrets = { ...SECRET_VALUES, environmentSecrets: JSON.stringify(ENVIRONMENT_SECRET_VALUES) };
    const state = afterUp(await runProgram(v, { secrets }));
    // a change of environment: every container is replaced, after the backup
    v.environment = { ...v.environment, all: { SAVE_INTERVAL: "600" } };
    return runProgram(v, { ...state, secrets });
  });

  test("neither value appears outside a secret; each reaches where it belongs", async () => {
    const run = await programRun();
    const found: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (isSecret(value)) return;
      if (typeof value === "string") for (const [k, s] of Object.entries(ENVIRONMENT_SECRET_VALUES)) if (value.includes(s)) found.push(`${path} holds ${k}`);
      if (Array.isArray(value)) value.forEach((x, i) => walk(x, `${path}[${i}]`));
      else if (value && typeof value === "object") for (const [k, x] of Object.entries(value)) walk(x, `${path}.${k}`);
    };
    for (const r of run.resources) walk(r.inputs, `${r.type} ${r.name}`);
    walk(run.outputs, "stack outputs");
    expect(found).toEqual([]);
    const web = run.one("dtable-web-seatable-server");
    expect(isSecret(web.inputs.envs)).toBe(true);
    expect(envOf(web).SEATABLE_EMAIL_PASSWORD).toBe(ENVIRONMENT_SECRET_VALUES.smtp);
    expect(envOf(run.one("dtable-db-seatable-server")).SEATABLE_EMAIL_PASSWORD).toBeUndefined();
    // the backup command comes on stdin, to a shell that runs it; the command text does not hold it
    const backup = run.one("dtable-server-proxy-backup");
    expect((backup.inputs.create as string).split("\n").pop()).toBe("sh -s");
    expect(isSecret(backup.inputs.stdin)).toBe(true);
    expect(unwrap(backup.inputs.stdin)).toBe(ENVIRONMENT_SECRET_VALUES.backup);
  });
});
