// The engine contract (docs/engine-contract.md) as a test. A model of how the
// docker provider (terraform-provider-docker v4.5.0, wrapped by @pulumi/docker
// 5.2.0) reads a container back: at the end of its Create and on every refresh,
// the state Pulumi diffs the next `up` against. For every container the program
// registers (the shipped stacks and an IPv6 one), each input it sends must equal
// what comes back; an input that does not is a change on every `up` (a
// replacement for the ForceNew ones). The model is written from the provider's
// source, field by field, not from the program: it must be able to fail.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { isIPv4, isIPv6 } from "node:net";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as docker from "@pulumi/docker";
import { containerResource } from "../components/resources";
import { goDuration } from "../pure/plan/go-duration";
import { HOSTS_FILE_LABEL, proxyContainer, SEATABLE_HOSTS, seatableContainer, seatableHostsFile } from "../pure/plan/containers";
import { renderProxyConfig, renderProxyHosts } from "../pure/plan/nginx";
import { computeRoutingTable } from "../pure/plan/routing";
import { freePort, startNginx } from "./support/nginx";
import { ProgramRun, Registered, runForTests, runProgram, SECRET_SIG, SECRET_VALUES } from "./support/program";
import { configOf, ipv6Values, stackValues } from "./support/stacks";

const CONTAINER = "docker:index/container:Container";
const PROVIDER = "pulumi:providers:docker";

// ---- Go durations: time.ParseDuration and Duration.String, in nanoseconds ------------

const NS: Record<string, bigint> = { ns: 1n, us: 1_000n, "µs": 1_000n, "μs": 1_000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** What Docker stores for a duration the provider parsed (no sign: the provider refuses negative ones). */
function parseGoDuration(text: string): bigint {
  if (text === "0") return 0n;
  const part = /(\d+)(?:\.(\d+))?(ns|us|µs|μs|ms|s|m|h)/y;
  let total = 0n;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) throw new Error(`${JSON.stringify(text)} is not a Go duration`);
    const unit = NS[m[3]];
    const fraction = m[2] ?? "";
    total += BigInt(m[1]) * unit + (BigInt(fraction || "0") * unit) / 10n ** BigInt(fraction.length);
    at = part.lastIndex;
  }
  if (at === 0) throw new Error(`${JSON.stringify(text)} is not a Go duration`);
  return total;
}

/** `value / unit` as a decimal, trailing zeros dropped: 1500, 1000 → "1.5". */
function decimal(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const rest = value % unit;
  if (rest === 0n) return `${whole}`;
  const digits = rest.toString().padStart(unit.toString().length - 1, "0").replace(/0+$/, "");
  return `${whole}.${digits}`;
}

/** How the provider prints Docker's value: Go's Duration.String(). */
function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  if (ns < NS.us) return `${ns}ns`;
  if (ns < NS.ms) return `${decimal(ns, NS.us)}µs`;
  if (ns < NS.s) return `${decimal(ns, NS.ms)}ms`;
  const hours = ns / NS.h;
  const minutes = (ns % NS.h) / NS.m;
  const seconds = decimal(ns % NS.m, NS.s);
  return `${hours > 0n ? `${hours}h` : ""}${hours > 0n || minutes > 0n ? `${minutes}m` : ""}${seconds}s`;
}

const goRoundTrip = (text: string) => formatGoDuration(parseGoDuration(text));

// ---- the provider's read-back of a container ------------------------------------------

type Inputs = Record<string, any>;
type Port = { ip?: string; external?: number; internal: number; protocol?: string };
type Healthcheck = { tests?: string[]; interval?: string; timeout?: string; startPeriod?: string; startInterval?: string; retries?: number };

/** What Docker's daemon adds: its daemon.json log-opts for containers of its default log driver (moby mergeAndVerifyLogConfig). */
type Daemon = { readonly defaultLogDriver: string; readonly defaultLogOpts: Readonly<Record<string, string>> };
const PLAIN_DAEMON: Daemon = { defaultLogDriver: "json-file", defaultLogOpts: {} };

/** Docker's spelling of a published address: Go's net.IP.String(), IPv6 lower-case and shortened (RFC 5952). */
function dockerAddress(ip: string): string {
  if (isIPv4(ip)) return ip;
  if (isIPv6(ip)) return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  throw new Error(`${JSON.stringify(ip)}: the model covers published IP addresses only`);
}

/** The provider's schema defaults for what a config leaves out (resource_docker_container.go); the plan holds them too. */
function planned(inputs: Inputs): Inputs {
  const out: Inputs = { ...inputs };
  if (out.ports) out.ports = (out.ports as Port[]).map((p) => ({ ip: "0.0.0.0", protocol: "tcp", ...p }));
  if (out.healthcheck) out.healthcheck = { interval: "0s", timeout: "0s", startPeriod: "0s", startInterval: "0s", retries: 0, ...out.healthcheck };
  return out;
}

/**
 * Per input: what the state holds after the provider's Create (which ends in
 * its Read) and after a refresh, given what the program sent.
 */
const READ_BACK: Record<string, (value: any, daemon: Daemon, inputs: Inputs) => unknown> = {
  // d.Set("name", strings.TrimLeft(container.Name, "/")); Docker names it "/<name>"
  name: (v: string) => `/${v}`.replace(/^\/+/, ""),
  // Config.Image, the reference as sent (an image id would read back as the image's id)
  image: (v: string) => {
    if (v.startsWith("sha256:")) throw new Error("the model covers image references, not image ids");
    return v;
  },
  // Config.Cmd
  command: (v: string[]) => [...v],
  // never read (issue 242 in the provider): the state keeps what was sent
  envs: (v) => v,
  labels: (v) => v,
  volumes: (v) => v,
  // read only when the state has none (import)
  networksAdvanced: (v) => v,
  // NetworkSettings.Ports: Docker keys bindings by "port/protocol" and prints
  // HostIP with net.IP.String(); flattenContainerPorts sorts by port number
  ports: (v: Port[]) => {
    const bindings = new Map<string, { HostIP: string; HostPort: string }[]>();
    for (const p of planned({ ports: v }).ports as Required<Port>[]) {
      const key = `${p.internal}/${p.protocol}`;
      bindings.set(key, [...(bindings.get(key) ?? []), { HostIP: dockerAddress(p.ip), HostPort: String(p.external) }]);
    }
    const keys = [...bindings.keys()].sort((a, b) => Number(a.split("/")[0]) - Number(b.split("/")[0]));
    return keys.flatMap((key) => bindings.get(key)!.map((b) => ({ ip: b.HostIP, external: Number(b.HostPort), internal: Number(key.split("/")[0]), protocol: key.split("/")[1] })));
  },
  // HostConfig.ExtraHosts holds "host:ip"; flattenExtraHosts splits at every ':' and keeps parts 0 and 1
  hosts: (v: { host: string; ip: string }[]) =>
    v.map((h) => `${h.host}:${h.ip}`).map((entry) => {
      const parts = entry.split(":");
      return { host: parts[0], ip: parts[1] };
    }),
  // Config.StopTimeout
  stopTimeout: (v: number) => v,
  // state only: used by Delete, never read
  destroyGraceSeconds: (v) => v,
  removeVolumes: (v) => v,
  // state only: used by Create, never read
  wait: (v) => v,
  waitTimeout: (v) => v,
  // HostConfig.RestartPolicy.Name
  restart: (v: string) => v,
  // HostConfig.LogConfig.Type
  logDriver: (v: string) => v,
  // HostConfig.LogConfig.Config, with the daemon's defaults merged in at create
  logOpts: (v: Record<string, string>, daemon, inputs) => ({ ...((inputs.logDriver ?? daemon.defaultLogDriver) === daemon.defaultLogDriver ? daemon.defaultLogOpts : {}), ...v }),
  // Config.Healthcheck: the test as sent, each duration parsed to nanoseconds and printed by Go
  healthcheck: (v: Healthcheck) => {
    const p = planned({ healthcheck: v }).healthcheck as Required<Healthcheck>;
    return {
      tests: [...p.tests],
      interval: goRoundTrip(p.interval),
      timeout: goRoundTrip(p.timeout),
      startPeriod: goRoundTrip(p.startPeriod),
      startInterval: goRoundTrip(p.startInterval),
      retries: p.retries,
    };
  },
};

/** Sets in the provider's schema (TypeSet): order never matters, equal elements are one. */
const SETS = new Set(["envs", "labels", "volumes", "networksAdvanced", "hosts"]);

const unwrap = (v: unknown): any => (v && typeof v === "object" && SECRET_SIG in (v as object) ? (v as { value: unknown }).value : v);
const canonicalJson = (v: unknown): string => JSON.stringify(v, (_k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => a.localeCompare(b))) : x));
/** A field as the provider compares it: a set as its distinct elements in a fixed order. */
function comparable(field: string, value: unknown): unknown {
  if (!SETS.has(field) || !Array.isArray(value)) return value;
  return [...new Set(value.map(canonicalJson))].sort().map((e) => JSON.parse(e));
}

/** Each input the container sends that the state would hold differently: field → [sent, read back]. */
function driftOf(sentInputs: Inputs, daemon: Daemon = PLAIN_DAEMON): Record<string, [unknown, unknown]> {
  const sent = Object.fromEntries(Object.entries(sentInputs).map(([k, v]) => [k, unwrap(v)]));
  const plan = planned(sent);
  const drift: Record<string, [unknown, unknown]> = {};
  for (const [field, value] of Object.entries(plan)) {
    const read = READ_BACK[field];
    if (!read) {
      drift[field] = [value, "not in the model: document how the provider reads it back (docs/engine-contract.md), then model it here"];
      continue;
    }
    const back = read(sent[field], daemon, sent);
    if (canonicalJson(comparable(field, value)) !== canonicalJson(comparable(field, back))) drift[field] = [comparable(field, value), comparable(field, back)];
  }
  return drift;
}

// ---- the stacks -------------------------------------------------------------------------

const STACK_CASES: [string, () => Record<string, any>][] = [
  ["Pulumi.dev.yaml", () => stackValues("dev")],
  ["Pulumi.prod.yaml", () => stackValues("prod")],
  ["dev on IPv6", ipv6Values],
];

const providerOf = (run: ProgramRun, r: Registered) => run.resources.find((p) => p.type === PROVIDER && r.provider.startsWith(p.urn))!;
const where = (run: ProgramRun, c: Registered) => `${c.inputs.name as string} on ${providerOf(run, c).name.replace(/-docker$/, "")}`;

describe.each(STACK_CASES)("%s: every input comes back as it was sent", (_label, values) => {
  const v = values();
  const config = configOf(v);
  const programRun = runForTests(() => runProgram(v));

  test("each container: no input the provider reads back differently (no change on the next up, no replacement)", async () => {
    const run = await programRun();
    const containers = run.byType(CONTAINER);
    expect(containers.length).toBeGreaterThanOrEqual(5);
    const drift = Object.fromEntries(containers.map((c) => [where(run, c), driftOf(c.inputs)]));
    expect(drift).toEqual(Object.fromEntries(containers.map((c) => [where(run, c), {}])));
  });

  test("each container sends every field the contract lists, and a health check on the seatable-servers and the proxy", async () => {
    const run = await programRun();
    for (const c of run.byType(CONTAINER)) {
      const fields = ["name", "image", "envs", "ports", "volumes", "hosts", "labels", "networksAdvanced", "stopTimeout", "destroyGraceSeconds", "restart", "removeVolumes", "logDriver", "logOpts"];
      const checked = c.inputs.name === "caddy" ? fields : [...fields, "healthcheck", "wait", "waitTimeout"];
      expect([where(run, c), checked.filter((f) => !(f in c.inputs))]).toEqual([where(run, c), []]);
      if (checked.includes("healthcheck")) expect([where(run, c), c.inputs.wait]).toEqual([where(run, c), true]);
    }
  });

  test("a seatable-server whose extra_hosts would hold an IPv6 address mounts a hosts file instead, with a label that replaces it when the file changes", async () => {
    const run = await programRun();
    const nodes = [config.hosts.web, config.hosts.db, ...config.hosts.servers];
    for (const node of nodes) {
      const c = run.byType(CONTAINER).find((r) => r.inputs.name === "seatable-server" && providerOf(run, r).name === `${node.name}-docker`)!;
      const file = seatableHostsFile(config, node);
      const mount = { hostPath: SEATABLE_HOSTS, containerPath: "/etc/hosts", readOnly: true };
      const volumes = c.inputs.volumes as object[];
      const labels = unwrap(c.inputs.labels) as { label: string; value: string }[];
      const hostsLabel = labels.filter((l) => l.label === HOSTS_FILE_LABEL);
      const needed = [config.hosts.web, config.hosts.db, ...(node.role === "dtable-server" ? [node] : [])];
      if (_label === "dev on IPv6") {
        expect(c.inputs.hosts).toEqual([]);
        expect(volumes).toContainEqual(mount);
        expect(hostsLabel).toEqual([{ label: HOSTS_FILE_LABEL, value: createHash("sha256").update(file!).digest("hex") }]);
        // the names SeaTable calls, in Docker's spelling, and localhost as Docker writes it
        for (const h of needed) expect(file).toContain(`\n${dockerAddress(h.address)} ${h.name}\n`);
        expect(file).toMatch(/^127\.0\.0\.1 localhost$/m);
        expect(file).toMatch(/^::1 localhost ip6-localhost ip6-loopback$/m);
      } else {
        expect(file).toBeUndefined();
        expect(volumes).not.toContainEqual(mount);
        expect(hostsLabel).toEqual([]);
        expect(comparable("hosts", c.inputs.hosts)).toEqual(comparable("hosts", needed.map((h) => ({ host: h.name, ip: h.address }))));
      }
    }
  });
});

describe("the model catches what the program used to send", () => {
  const config = configOf(stackValues("dev"));
  const seatable = (inputs: Inputs): Inputs => ({ name: "seatable-server", image: "seatable/seatable-enterprise:6.1.8", restart: "unless-stopped", ...inputs });

  test('a duration Go prints another way: "120s" comes back as "2m0s"', () => {
    const hc = { tests: ["CMD-SHELL", "true"], interval: "20s", timeout: "10s", retries: 3, startPeriod: "120s" };
    expect(driftOf(seatable({ healthcheck: hc }))).toEqual({
      healthcheck: [
        { ...hc, startInterval: "0s" },
        { ...hc, startPeriod: "2m0s", startInterval: "0s" },
      ],
    });
    expect(driftOf(seatable({ healthcheck: { ...hc, startPeriod: "2m0s" } }))).toEqual({});
  });

  test("an IPv6 extra host comes back cut at its first ':' (a replacement on every up)", () => {
    expect(driftOf(seatable({ hosts: [{ host: "dtable-db", ip: "fd00::11" }] }))).toEqual({
      hosts: [[{ host: "dtable-db", ip: "fd00::11" }], [{ host: "dtable-db", ip: "fd00" }]],
    });
    expect(driftOf(seatable({ hosts: [{ host: "dtable-db", ip: "10.0.0.11" }] }))).toEqual({});
  });

  test("ports come back sorted by container port, with Docker's spelling of the address and tcp filled in", () => {
    expect(Object.keys(driftOf(seatable({ ports: [{ ip: "10.0.0.10", external: 8000, internal: 8000 }, { ip: "10.0.0.10", external: 80, internal: 80 }] })))).toEqual(["ports"]);
    expect(Object.keys(driftOf(seatable({ ports: [{ ip: "FD00:0::10", external: 5000, internal: 5000 }] })))).toEqual(["ports"]);
    expect(driftOf(seatable({ ports: [{ ip: "fd00::10", external: 80, internal: 80 }, { ip: "fd00::10", external: 8000, internal: 8000 }] }))).toEqual({});
  });

  test("a daemon.json with log-opts of its own for json-file would add them to every container's log_opts (a replacement on every up): the hosts must not have one", () => {
    const logs = seatable({ logDriver: "json-file", logOpts: { "max-size": "10m", "max-file": "3" } });
    expect(driftOf(logs)).toEqual({});
    expect(Object.keys(driftOf(logs, { defaultLogDriver: "json-file", defaultLogOpts: { compress: "true" } }))).toEqual(["logOpts"]);
  });

  test("an input the model does not know is drift until it is documented and modelled", () => {
    expect(Object.keys(driftOf(seatable({ hostname: "dtable-web" })))).toEqual(["hostname"]);
  });

  test("the resource layer refuses an IPv6 extra host rather than send one", () => {
    const spec = { ...seatableContainer(config, config.hosts.db), extraHosts: [{ host: "dtable-web", ip: "fd00::10" }] };
    expect(() => containerResource("x", spec, {}, { provider: undefined as unknown as docker.Provider })).toThrow(/extra_hosts dtable-web:fd00::10 would be read back as another address/);
  });
});

describe("Go durations", () => {
  // values Go prints (go doc time.Duration.String)
  const GO: [bigint, string][] = [
    [0n, "0s"],
    [1n, "1ns"],
    [1_100n, "1.1µs"],
    [2_200_000n, "2.2ms"],
    [1_500_000_000n, "1.5s"],
    [20n * NS.s, "20s"],
    [60n * NS.s, "1m0s"],
    [120n * NS.s, "2m0s"],
    [900n * NS.s, "15m0s"],
    [3_600n * NS.s, "1h0m0s"],
    [3_661n * NS.s, "1h1m1s"],
    [72n * NS.h + 3n * NS.m + 500_000_000n, "72h3m0.5s"],
  ];

  test.each(GO)("the model prints %p ns as %p", (ns, text) => {
    expect(formatGoDuration(ns)).toBe(text);
    expect(parseGoDuration(text)).toBe(ns);
  });

  test("the model parses what Docker's CLI users write: 120s, 1.5m, 1h30m, 90s", () => {
    expect(["120s", "1.5m", "1h30m", "90s", "500ms"].map(goRoundTrip)).toEqual(["2m0s", "1m30s", "1h30m0s", "1m30s", "500ms"]);
  });

  test("goDuration prints whole seconds as Go does, so that they come back unchanged", () => {
    for (const s of [...Array.from({ length: 4000 }, (_, i) => i), 7_199, 7_200, 86_399, 86_400, 360_061]) {
      const text = goDuration(s);
      expect([s, formatGoDuration(BigInt(s) * NS.s)]).toEqual([s, text]);
      expect([s, goRoundTrip(text)]).toEqual([s, text]);
    }
    expect(() => goDuration(1.5)).toThrow(/not a whole number of seconds/);
    expect(() => goDuration(-1)).toThrow(/not a whole number of seconds/);
  });
});

/** What the resource layer registers for one container spec, with the options the engine gets. */
async function registered(build: (provider: docker.Provider) => void): Promise<{ type: string; replaceOnChanges: string[]; deleteBeforeReplace: boolean }[]> {
  pulumi.runtime.setMocks({ newResource: (a) => ({ id: `${a.name}-id`, state: a.inputs }), call: () => ({}) }, "project", "stack", false);
  const seen: { type: string; replaceOnChanges: string[]; deleteBeforeReplace: boolean }[] = [];
  type Req = { getType(): string; getReplaceonchangesList(): string[]; getDeletebeforereplace(): boolean };
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: Req, cb: (err: unknown, res: unknown) => void): void };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    seen.push({ type: req.getType(), replaceOnChanges: req.getReplaceonchangesList(), deleteBeforeReplace: req.getDeletebeforereplace() });
    register(req, cb);
  };
  build(new docker.Provider("host-docker", {}));
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  return seen;
}

describe("changes the provider would not carry out", () => {
  test("a new health check replaces the container: the provider's update leaves a running container's health check as it was", async () => {
    const config = configOf(stackValues("dev"));
    const seen = await registered((provider) => {
      const secrets = Object.fromEntries(Object.entries(SECRET_VALUES).map(([key, value]) => [key, pulumi.output(value)]));
      containerResource("web", seatableContainer(config, config.hosts.web), secrets, { provider });
      containerResource("proxy", proxyContainer(config), {}, { provider });
    });
    const containers = seen.filter((s) => s.type === CONTAINER);
    expect(containers).toEqual([
      { type: CONTAINER, replaceOnChanges: ["healthcheck"], deleteBeforeReplace: true },
      { type: CONTAINER, replaceOnChanges: ["healthcheck"], deleteBeforeReplace: true },
    ]);
  });
});

describe("the proxy's health check, run against the rendered proxy config in a real nginx", () => {
  jest.setTimeout(30_000);
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** A PATH holding only these tools, as links to the machine's. */
  function pathWith(tools: Record<string, string>): string {
    const dir = mkdtempSync(join(tmpdir(), "seatable-health-"));
    dirs.push(dir);
    for (const [name, target] of Object.entries(tools)) symlinkSync(target, join(dir, name));
    return dir;
  }
  const run = (command: string, path: string) => spawnSync("/bin/sh", ["-c", command], { env: { PATH: path }, encoding: "utf8", timeout: 15_000 }).status;

  test("healthy while nginx serves stub_status, with busybox wget (the alpine images) or with curl alone; unhealthy once nginx is gone", async () => {
    const port = await freePort();
    const v = stackValues("dev");
    v.proxy = { ...(v.proxy ?? {}), port };
    const config = configOf(v);
    const proxy = proxyContainer(config);
    expect(proxy.image).toMatch(/^nginx:[\d.]+-alpine$/);
    const command = proxy.healthcheck!.command;
    const servers = [{ name: "dtable-server", address: "127.0.0.1" }];
    const table = computeRoutingTable({ servers: [{ name: "dtable-server", weight: 1 }], bucketHexDigits: 1, pins: {} });
    const settings = { port, keepalive: config.proxy.keepalive, workerConnections: 1024, retryAfterSeconds: config.proxy.retryAfterSeconds };
    const nginx = await startNginx(renderProxyConfig(table, ["dtable-server"], settings), renderProxyHosts(servers), port);
    const busybox = pathWith({ wget: "/usr/bin/busybox" });
    const curlOnly = pathWith({ curl: "/usr/bin/curl" });
    const neither = pathWith({});
    try {
      expect([run(command, busybox), run(command, curlOnly), run(command, neither)]).toEqual([0, 0, 1]);
    } finally {
      await nginx.stop();
    }
    expect([run(command, busybox), run(command, curlOnly)]).toEqual([1, 1]);
  });
});
