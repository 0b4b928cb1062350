// Runs the whole Pulumi program under the SDK's mocks and records what it registers.
import * as pulumi from "@pulumi/pulumi";
import { routingJson } from "../../pure/config/routing-file";
import type { AppliedRouting } from "../../pure/plan/applied";
import { sha256, type LiveProxy } from "../../pure/plan/rollout";
import type { ContainerState } from "../../pure/plan/live";
import { setHostAccess } from "../../io/hosts";
import { PROJECT } from "../../pure/config/schema";
import program from "../../index";
import type { NodeFacts } from "../../pure/plan/node-facts";

export type Registered = {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  /** inputs as the SDK sent them; secrets stay wrapped ({4dabf18193072939515e22adb298388d: ..., value}) */
  readonly inputs: Record<string, unknown>;
  /** URNs this resource depends on (dependsOn and inputs from other resources) */
  readonly dependencies: readonly string[];
  readonly parent: string;
  readonly provider: string;
  /** input name → URNs it takes a value from (what makes Pulumi cascade a delete-before-replace) */
  readonly propertyDependencies: Readonly<Record<string, readonly string[]>>;
  readonly ignoreChanges: readonly string[];
  readonly deleteBeforeReplace: boolean;
  readonly customTimeouts?: { create: string; update: string; delete: string };
};

export type ProgramRun = {
  readonly resources: readonly Registered[];
  readonly outputs: Record<string, unknown>;
  /** the program's reads of the proxy's live files: the host and the ssh options */
  readonly liveReads: readonly { readonly host: string; readonly sshOptions: readonly string[] }[];
  /** resources of a type, by name */
  byType(type: string): Registered[];
  one(name: string): Registered;
};

export const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Known values for every secret key, to look for in plain text. */
export const SECRET_VALUES = {
  mariadbPassword: "secret-mariadb-Zk3q9",
  redisPassword: "secret-redis-Pw7x2",
  jwtPrivateKey: "secret-jwt-0123456789abcdef0123456789abcdef0123",
  adminPassword: "secret-admin-Hy6t1",
  s3SecretKey: "secret-s3-Lm4n8",
  s3SseCKey: "secret-ssec-Qr5s0",
  sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-ssh-Xy9z3\n-----END OPENSSH PRIVATE KEY-----",
  secretKey: "secret-django-Vb2c7",
} as const;

/** What runProgram throws when the program fails: its error, with what had been registered by then. */
export type ProgramFailure = Error & { readonly registered: readonly Registered[] };

/**
 * Runs index.ts for a stack's values. `applied` is what the stack's own
 * appliedRouting output holds (the routing of the last `up`). `secrets` are
 * the keys set with --secret (by default every secret key, with SECRET_VALUES).
 * `otherKeys` are set as written, with their own namespace ("docker:host").
 */
export type RunOptions = {
  readonly applied?: AppliedRouting;
  /** the secret stack output with each node's container digest */
  readonly appliedContainers?: Readonly<Record<string, string>>;
  readonly secrets?: Readonly<Record<string, string>>;
  /** what the proxy on dtable-web runs (default: nothing, as before a first deployment) */
  readonly live?: LiveProxy;
  /** each host's containers as its Docker shows them (default: none read) */
  readonly containers?: Readonly<Record<string, Record<string, ContainerState>>>;
  /** each host's memory and conf files (default: enough memory, nothing to migrate) */
  readonly facts?: Readonly<Record<string, NodeFacts>>;
  /** hosts (by name) whose SSH port does not answer */
  readonly unreachable?: readonly string[];
  /** resources (by name) that never finish: an `up` that fails or stops at that step */
  readonly stuck?: readonly string[];
  /** keys of other namespaces, as written ("docker:host") */
  readonly otherKeys?: Readonly<Record<string, string>>;
};

/** A host with 64 GiB, no seatable-controller.conf and none of the conf files 6.2 no longer reads. */
export const NO_FACTS: NodeFacts = { memoryKiB: 64 * 1024 * 1024, controllerConf: false, deprecatedConf: { files: {}, problems: [] } };

export async function runProgram(values: Record<string, unknown>, options: RunOptions = {}): Promise<ProgramRun> {
  const secrets = options.secrets ?? SECRET_VALUES;
  const liveReads: { host: string; sshOptions: readonly string[] }[] = [];
  setHostAccess({
    readLive: async (web, sshOptions) => {
      liveReads.push({ host: web.name, sshOptions });
      return options.live ?? {};
    },
    readContainers: async (h) => options.containers?.[h.name] ?? {},
    readFacts: async (h) => options.facts?.[h.name] ?? NO_FACTS,
    reachable: async (h) => !(options.unreachable ?? []).includes(h.name),
  });
  const resources: Registered[] = [];
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type === "pulumi:pulumi:StackReference") {
          const outputs = { ...(options.applied ? { appliedRouting: options.applied } : {}), ...(options.appliedContainers ? { appliedContainers: options.appliedContainers } : {}) };
          return { id: args.name, state: { outputs, secretOutputNames: options.appliedContainers ? ["appliedContainers"] : [] } };
        }
        if ((options.stuck ?? []).includes(args.name)) return new Promise<never>(() => undefined);
        // a command echoes nothing; a container gets an id of its inputs, as a replaced one gets a new id
        const state = args.type === "command:remote:Command" ? { ...args.inputs, stdout: "ok", stderr: "" } : args.inputs;
        const id = args.type === "docker:index/container:Container" ? sha256(JSON.stringify(args.inputs)).slice(0, 12) : "id";
        return { id: `${args.name}-${id}`, state };
      },
      call: () => ({}),
    },
    PROJECT,
    "test",
    false,
    "organization",
  );
  // record the registration requests as the SDK sends them (the mock's newResource sees no dependencies)
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: RegisterRequest, cb: (err: unknown, res: unknown) => void): void };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    register(req, (err, res) => {
      if (!err) {
        resources.push({
          type: req.getType(),
          name: req.getName(),
          urn: (res as { getUrn(): string }).getUrn(),
          inputs: pulumi.runtime.deserializeProperties(req.getObject()),
          dependencies: req.getDependenciesList(),
          parent: req.getParent(),
          provider: req.getProvider(),
          propertyDependencies: Object.fromEntries([...req.getPropertydependenciesMap().entries()].map(([k, v]) => [k, v.getUrnsList()])),
          ignoreChanges: req.getIgnorechangesList(),
          deleteBeforeReplace: req.getDeletebeforereplace(),
          ...(req.getCustomtimeouts() ? { customTimeouts: (({ create, update, pb_delete }) => ({ create, update, delete: pb_delete }))(req.getCustomtimeouts()!.toObject()) } : {}),
        });
      }
      cb(err, res);
    });
  };
  pulumi.runtime.setAllConfig(
    {
      ...Object.fromEntries(Object.entries(values).map(([k, v]) => [`${PROJECT}:${k}`, typeof v === "string" ? v : JSON.stringify(v)])),
      ...Object.fromEntries(Object.entries(secrets).map(([k, v]) => [`${PROJECT}:${k}`, v])),
      ...options.otherKeys,
    },
    Object.keys(secrets).map((k) => `${PROJECT}:${k}`),
  );

  let exported: Awaited<ReturnType<typeof program>>;
  try {
    exported = await program();
  } catch (e) {
    for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
    throw Object.assign(e as Error, { registered: [...resources] });
  }
  const outputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(exported)) outputs[k] = await resolve(v, options.stuck ? 1000 : undefined);
  // let every registration finish
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));
  return finished(resources, outputs, liveReads);
}

function finished(resources: Registered[], outputs: Record<string, unknown>, liveReads: ProgramRun["liveReads"]): ProgramRun {
  return {
    resources,
    outputs,
    liveReads,
    byType: (type) => resources.filter((r) => r.type === type),
    one: (name) => {
      const found = resources.filter((r) => r.name === name);
      if (found.length !== 1) throw new Error(`expected one resource named ${name}, found ${found.length}: ${resources.map((r) => r.name).join(", ")}`);
      return found[0];
    },
  };
}

type RegisterRequest = {
  getType(): string;
  getName(): string;
  getObject(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
  getDependenciesList(): string[];
  getParent(): string;
  getProvider(): string;
  getPropertydependenciesMap(): { entries(): IterableIterator<[string, { getUrnsList(): string[] }]> };
  getIgnorechangesList(): string[];
  getDeletebeforereplace(): boolean;
  getCustomtimeouts(): { toObject(): { create: string; update: string; pb_delete: string } } | undefined;
};

/** An output's value; one that waits for a resource that never finishes is `Unresolved` after `deadlineMs`. */
async function resolve(value: unknown, deadlineMs?: number): Promise<unknown> {
  if (!pulumi.Output.isInstance(value)) return value;
  const result = new Promise((r) => (value as pulumi.Output<unknown>).apply((v) => r(v)));
  if (deadlineMs === undefined) return result;
  return Promise.race([result, new Promise((r) => setTimeout(() => r(new Unresolved()), deadlineMs))]);
}

/** An output that never resolved: Pulumi records nothing for it. */
export class Unresolved {}

/**
 * The stack as a successful `up` of `run` leaves it: its outputs read back by
 * the next run, and the proxy running the files it installed.
 */
export function afterUp(run: ProgramRun): Pick<RunOptions, "applied" | "appliedContainers" | "live"> {
  const applied = run.outputs.appliedRouting as AppliedRouting;
  if (!applied || applied instanceof Unresolved) throw new Error("that up recorded nothing");
  return {
    applied,
    appliedContainers: run.outputs.appliedContainers as Record<string, string>,
    // what the proxy's steps left on dtable-web: its table, its servers and the files they installed
    live: {
      conf: applied.proxy!.conf,
      hosts: applied.proxy!.hosts,
      routing: sha256(routingJson(applied.table)),
      table: applied.table,
      servers: { servers: applied.servers, evicted: applied.evicted ?? [] },
      installed: { conf: [applied.proxy!.conf], hosts: [applied.proxy!.hosts] },
      // the final verification names its run until the next run takes the lease
      ...(applied.verifiedBy ? { verified: applied.verifiedBy } : {}),
    },
  };
}

/**
 * The program run a describe block's tests look at, for each test to await: one run for the
 * block, except in StrykerJS's first run (its instrumented code defines `__stryker__`, and no
 * mutant is active yet), where each test makes its own. That run measures which tests reach
 * each mutant, and a run in beforeAll belongs to no test: its mutants would be counted as
 * survivors of tests that see them. With a mutant active, one run per block sees it as well.
 */
export function runForTests<T>(start: () => Promise<T>): () => Promise<T> {
  let once: Promise<T> | undefined;
  const measuringCoverage = () => "__stryker__" in globalThis && process.env.__STRYKER_ACTIVE_MUTANT__ === undefined;
  return () => (measuringCoverage() ? start() : (once ??= start()));
}

/** What `fn` logs through pulumi.log, a line each: the mocks write "info: [runtime] ..." to the console; kept as "info: ...", "warning: ...". */
export async function logsOf<T>(fn: () => Promise<T>): Promise<{ result: T; logged: string[] }> {
  const logged: string[] = [];
  const spies = (["log", "warn", "error"] as const).map((level) =>
    jest.spyOn(console, level).mockImplementation((...a: unknown[]) => void logged.push(a.map(String).join(" ").replace(/^(\w+): \[runtime\] /, "$1: "))),
  );
  try {
    return { result: await fn(), logged };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
