// The whole role environment of each seatable-server container: every ENABLE_*
// switch and SEATABLE_START_MODE, exactly as the facts table "Role environment
// of the seatable-server container" (shared/docs/seatable-facts.md) gives them.
// A switch missing or misspelt (ENABLE_DTABLE_EVENT) would leave the image's
// default on: dtable-events on every dtable-server sends every notification
// once per node. Checked in the plan layer and once through the program.
import { nodeEnvironment, Role } from "../pure/plan/seatable";
import { configOf, stackValues } from "./support/stacks";

/** The facts table; a switch left out keeps the image's default (dtable-web runs everything but dtable-server and dtable-db). */
const ROLE_ENVIRONMENT: Record<Role, Record<string, string>> = {
  "dtable-web": {
    ENABLE_DTABLE_SERVER: "false",
    ENABLE_DTABLE_DB: "false",
  },
  "dtable-db": {
    ENABLE_DTABLE_WEB: "false",
    ENABLE_DTABLE_SERVER: "false",
    ENABLE_DTABLE_DB: "true",
    ENABLE_DTABLE_STORAGE_SERVER: "true",
    ENABLE_SEAFILE_SERVER: "false",
    ENABLE_DTABLE_EVENTS: "false",
    ENABLE_API_GATEWAY: "false",
    SEATABLE_START_MODE: "cluster",
  },
  "dtable-server": {
    ENABLE_DTABLE_WEB: "false",
    ENABLE_DTABLE_SERVER: "true",
    ENABLE_DTABLE_DB: "false",
    ENABLE_DTABLE_STORAGE_SERVER: "true",
    ENABLE_SEAFILE_SERVER: "false",
    ENABLE_DTABLE_EVENTS: "false",
    ENABLE_API_GATEWAY: "false",
    SEATABLE_START_MODE: "cluster",
  },
};

/** The role switches of an environment (a misspelt one shows as an extra or a missing key). */
const switches = (env: Record<string, string>) => Object.fromEntries(Object.entries(env).filter(([k]) => /^ENABLE_|START_MODE/.test(k)));

describe.each(["6.1.8", "6.2.0", "6.3.0"])("SeaTable %s: nodeEnvironment", (version) => {
  const config = { ...configOf(stackValues("dev")), seatableVersion: version };
  test.each(Object.keys(ROLE_ENVIRONMENT) as Role[])("%s: exactly the facts table's switches", (role) => {
    for (const snapshotCleanup of [false, true]) expect(switches(nodeEnvironment(config, role, { snapshotCleanup }))).toEqual(ROLE_ENVIRONMENT[role]);
  });
});

/** The container's `envs`: the SDK sends them wrapped as a secret (they carry passwords). */
function envsOf(value: unknown, secretSig: string): string[] {
  const wrapped = value as Record<string, unknown> & { value: string[] };
  expect(wrapped[secretSig]).toBeDefined();
  return wrapped.value;
}

test("the program under mocks: every seatable-server container runs its role with exactly those switches", async () => {
  // loaded here: the rest of this file runs without Pulumi (a mutation run loads it per mutant)
  const { runProgram, SECRET_SIG } = await import("./support/program");
  const values = stackValues("prod");
  const config = configOf(values);
  const roleOf = new Map([config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => [`${h.name}-docker`, h.role]));
  const run = await runProgram(values);
  const containers = run.byType("docker:index/container:Container").filter((c) => c.inputs.name === "seatable-server");
  const seen = containers.map((c) => {
    const provider = run.resources.find((p) => p.type === "pulumi:providers:docker" && c.provider.startsWith(p.urn))!;
    const env = Object.fromEntries(envsOf(c.inputs.envs, SECRET_SIG).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));
    const role = roleOf.get(provider.name)!;
    return { host: provider.name, switches: switches(env), expected: ROLE_ENVIRONMENT[role] };
  });
  expect(seen.map((s) => s.host).sort()).toEqual([...roleOf.keys()].sort());
  for (const s of seen) expect({ host: s.host, switches: s.switches }).toEqual({ host: s.host, switches: s.expected });
});
