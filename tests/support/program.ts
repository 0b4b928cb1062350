// Runs the whole Pulumi program under the SDK's mocks and records what it registers.
import * as pulumi from "@pulumi/pulumi";
import type { AppliedRouting } from "../../pure/plan/applied";
import { PROJECT } from "../../pure/config/schema";
import program from "../../index";

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
};

export type ProgramRun = {
  readonly resources: readonly Registered[];
  readonly outputs: Record<string, unknown>;
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
} as const;

/** What runProgram throws when the program fails: its error, with what had been registered by then. */
export type ProgramFailure = Error & { readonly registered: readonly Registered[] };

/**
 * Runs index.ts for a stack's values. `applied` is what the stack's own
 * appliedRouting output holds (the routing of the last `up`). `secrets` are
 * the keys set with --secret (by default every secret key, with SECRET_VALUES).
 * `otherKeys` are set as written, with their own namespace ("docker:host").
 */
export async function runProgram(
  values: Record<string, unknown>,
  options: { applied?: AppliedRouting; secrets?: Readonly<Record<string, string>>; otherKeys?: Readonly<Record<string, string>> } = {},
): Promise<ProgramRun> {
  const secrets = options.secrets ?? SECRET_VALUES;
  const resources: Registered[] = [];
  pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        if (args.type === "pulumi:pulumi:StackReference") {
          return { id: args.name, state: { outputs: options.applied ? { appliedRouting: options.applied } : {}, secretOutputNames: [] } };
        }
        // a command echoes nothing; a container gets an id
        const state = args.type === "command:remote:Command" ? { ...args.inputs, stdout: "ok", stderr: "" } : args.inputs;
        return { id: `${args.name}-id`, state };
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
  for (const [k, v] of Object.entries(exported)) outputs[k] = await resolve(v);
  // let every registration finish
  for (let i = 0; i < 50; i++) await new Promise((r) => setImmediate(r));

  return {
    resources,
    outputs,
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
};

async function resolve(value: unknown): Promise<unknown> {
  if (pulumi.Output.isInstance(value)) {
    return new Promise((r) => (value as pulumi.Output<unknown>).apply((v) => r(v)));
  }
  return value;
}
