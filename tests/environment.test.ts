// The admin's container environment (stack config `environment`): what is
// refused and why, what each node's seatable-server gets, and that a change of
// it is a container change of the nodes it reaches, staged like any other.
import { stringify } from "yaml";
import { PROGRAM_VARIABLES, WIRING_VARIABLES } from "../pure/config/environment";
import { rawFromStackYaml, rawStackConfig } from "../pure/config/stack-file";
import type { ClusterConfig, NodeHost } from "../pure/config/schema";
import { seatableContainer, seatableEnvironment } from "../pure/plan/containers";
import { containerChanges } from "../pure/plan/changes";
import { environmentLines } from "../pure/plan/environment";
import { configOf, ipv6Values, problemsOf, stackValues, validate, withServers } from "./support/stacks";

const nodes = (c: ClusterConfig): NodeHost[] => [c.hosts.web, c.hosts.db, ...c.hosts.servers];
const node = (c: ClusterConfig, name: string) => nodes(c).find((n) => n.name === name)!;
const withEnvironment = (environment: Record<string, unknown>, values = stackValues()) => ({ ...values, environment });
/** A valid config whose `secrets` (secret keys, or environmentSecrets) are set as secrets. */
function configWith(values: Record<string, unknown>, secrets: Record<string, unknown> = {}): ClusterConfig {
  const r = validate({ ...values, ...secrets }, Object.keys(secrets));
  if (!r.ok) throw new Error(r.problems.join("\n"));
  return r.config;
}

describe("the environment section: what is refused, with the key path and what to do", () => {
  test("a variable of the cluster's wiring is refused, also when listed in overrides", () => {
    expect(problemsOf(withEnvironment({ "dtable-db": { INNER_DTABLE_SERVER_URL: "http://dtable-server:5000" }, overrides: ["INNER_DTABLE_SERVER_URL"] }))).toEqual([
      "environment.dtable-db.INNER_DTABLE_SERVER_URL: the program sets INNER_DTABLE_SERVER_URL itself, for the dtable-server-proxy: every component reaches dtable-server through it; it cannot be set here",
      "environment.overrides[0]: the program sets INNER_DTABLE_SERVER_URL for the dtable-server-proxy: every component reaches dtable-server through it; it cannot be overridden",
    ]);
    for (const name of Object.keys(WIRING_VARIABLES)) expect(problemsOf(withEnvironment({ all: { [name]: "x" } }))).toHaveLength(1);
  });

  test("a variable the program sets needs the config key that sets it, or an override", () => {
    expect(problemsOf(withEnvironment({ all: { TIME_ZONE: "Europe/Berlin" } }))).toEqual([
      "environment.all.TIME_ZONE: the program sets TIME_ZONE from timeZone; set that instead, or add TIME_ZONE to environment.overrides to set it here",
    ]);
    expect(problemsOf(withEnvironment({ all: { TIME_ZONE: "Europe/Berlin" }, overrides: ["TIME_ZONE"] }))).toEqual([]);
  });

  test("a program's secret is never set in plain text, even as an override; as a secret it is", () => {
    expect(problemsOf(withEnvironment({ "dtable-web": { REDIS_PASSWORD: "hunter2" }, overrides: ["REDIS_PASSWORD"] }))).toEqual([
      "environment.dtable-web.REDIS_PASSWORD: REDIS_PASSWORD carries the secret redisPassword; set it as {secret: <name>} (a value in environmentSecrets), never in plain text",
    ]);
    const v = withEnvironment({ "dtable-web": { REDIS_PASSWORD: { secret: "webRedis" } }, overrides: ["REDIS_PASSWORD"] });
    expect(problemsOf({ ...v, environmentSecrets: { webRedis: "[secret]" } }, ["environmentSecrets"])).toEqual([]);
  });

  test("a variable named like a password, key or token is taken only as a secret", () => {
    for (const name of ["SEATABLE_EMAIL_PASSWORD", "SEATABLE_AI_API_KEY", "OAUTH_CLIENT_SECRET", "COLLABORA_TOKEN", "LDAP_ADMIN_PASSWD"]) {
      expect(problemsOf(withEnvironment({ all: { [name]: "hunter2" } }))).toEqual([
        `environment.all.${name}: ${name} looks like a secret, and a plain value would sit in the stack file and the state in clear text; set it as {secret: <name>} (a value in environmentSecrets)`,
      ]);
    }
    // not at the end of the name: a setting, not a secret
    expect(problemsOf(withEnvironment({ all: { SECRET_KEY_ROTATION_DAYS: "30", TOKEN_LIFETIME: "3600" } }))).toEqual([]);
  });

  test("overrides that override nothing, unknown hosts, names SeaTable would not read, numbers out of range", () => {
    expect(
      problemsOf(
        withEnvironment({
          hosts: { "dtable-server-9": { SAVE_INTERVAL: "300" } },
          "dtable-server": { base_writable_limit: "200000", DTABLE_SERVER_MEMORY_SIZE: "6g", DTABLE_SERVER_PING_TIMEOUT: 2 },
          overrides: ["TIME_ZONE", "BASE_WRITABLE_LIMIT"],
        }),
      ),
    ).toEqual([
      'environment.dtable-server.base_writable_limit: "base_writable_limit" is not an environment variable name as SeaTable reads them (upper-case letters, digits and "_", not starting with a digit)',
    ]);
    // once the names are right, the checks that need the rest of the config
    expect(
      problemsOf(
        withEnvironment({
          hosts: { "dtable-server-9": { SAVE_INTERVAL: "300" } },
          "dtable-server": { DTABLE_SERVER_MEMORY_SIZE: "6g", DTABLE_SERVER_PING_TIMEOUT: 2 },
          overrides: ["TIME_ZONE", "BASE_WRITABLE_LIMIT"],
        }),
      ),
    ).toEqual([
      'environment.hosts.dtable-server-9: "dtable-server-9" is not a host of this stack (dtable-web, dtable-db, dtable-server, dtable-server-2)',
      'environment.dtable-server.DTABLE_SERVER_MEMORY_SIZE: expected a whole number of MB from 512 to 1048576, found "6g"',
      'environment.dtable-server.DTABLE_SERVER_PING_TIMEOUT: expected a whole number of seconds from 5 to 3600, found "2"',
      "environment.overrides[0]: TIME_ZONE is set nowhere in environment; remove it from overrides, or set it",
      "environment.overrides[1]: the program does not set BASE_WRITABLE_LIMIT; set it in environment without listing it here",
    ]);
    expect(problemsOf(withEnvironment({ "dtable-server": { DTABLE_SERVER_MEMORY_SIZE: 6144, DTABLE_SERVER_PING_TIMEOUT: "60" } }))).toEqual([]);
  });

  test("secrets: named ones must be in environmentSecrets, which must be a secret; one encrypted value is only a warning for plan", () => {
    const v = withEnvironment({ all: { SEATABLE_EMAIL_PASSWORD: { secret: "smtp" } } });
    expect(problemsOf(v)).toEqual([
      `environment.all.SEATABLE_EMAIL_PASSWORD: the secret "smtp" is not in environmentSecrets; run \`pulumi config set --secret --path 'environmentSecrets.smtp' <value>\``,
    ]);
    expect(problemsOf({ ...v, environmentSecrets: { smtp: "hunter2" } })).toEqual([
      "environmentSecrets: set in plain text; its values are the secrets environment entries name: keep it out of the stack file and set each with `pulumi config set --secret --path 'environmentSecrets.<name>' <value>`",
    ]);
    expect(problemsOf({ ...v, environmentSecrets: { other: "[secret]" } }, ["environmentSecrets"])[0]).toContain('the secret "smtp" is not in environmentSecrets (it holds other)');
    const opaque = validate({ ...v, environmentSecrets: "[secret]" }, ["environmentSecrets"]);
    expect(opaque.ok && opaque.warnings.filter((w) => w.startsWith("environmentSecrets:"))).toEqual([
      "environmentSecrets: set as one encrypted value, so plan cannot see which secrets it holds (pulumi up checks them); set each with `pulumi config set --secret --path 'environmentSecrets.<name>' <value>` to have them checked here",
    ]);
    expect(problemsOf({ ...v, all: {}, environment: { all: { X: { secret: "a b" } } } })[0]).toMatch(/^environment\.all\.X\.secret: expected the name of a secret in environmentSecrets/);
  });

  test("a stack file's environmentSecrets set with --path: the plan sees the names, never the values", () => {
    const yaml = stringify({
      config: {
        "seatable-cluster:environmentSecrets": { smtp: { secure: "v1:AAAA" }, ai: { secure: "v1:BBBB" } },
        "seatable-cluster:image": "seatable/seatable-enterprise:6.2.13",
      },
    });
    const raw = rawFromStackYaml(yaml);
    expect(raw.values.environmentSecrets).toEqual({ smtp: "[secret]", ai: "[secret]" });
    expect(raw.secretKeys.has("environmentSecrets")).toBe(true);
    // as one encrypted value: no names
    expect(rawFromStackYaml(stringify({ config: { "seatable-cluster:environmentSecrets": { secure: "v1:CCCC" } } })).values.environmentSecrets).toBe("[secret]");
    // a plain map stays plain, and validation refuses it
    const plain = rawFromStackYaml(stringify({ config: { "seatable-cluster:environmentSecrets": { smtp: "hunter2" } } }));
    expect(plain.secretKeys.has("environmentSecrets")).toBe(false);
    expect(rawFromStackYaml(stringify({ config: { "seatable-cluster:environmentSecrets": {} } })).secretKeys.has("environmentSecrets")).toBe(false);
  });

  test("as Pulumi takes it: one secure value anywhere in a key makes the whole key a secret, whose values the plan never sees", () => {
    // a name set with --secret --path beside one written in plain text: Pulumi hands over the whole key as a secret
    const mixed = rawFromStackYaml(stringify({ config: { "seatable-cluster:environmentSecrets": { smtp: { secure: "v1:AAAA" }, ai: "plain" } } }));
    expect([mixed.secretKeys.has("environmentSecrets"), mixed.values.environmentSecrets]).toEqual([true, { smtp: "[secret]", ai: "[secret]" }]);
    // another key with a secure value inside (set with --secret --path redis.password): a secret, shown as the marker only
    const nested = rawFromStackYaml(stringify({ config: { "seatable-cluster:redis": { host: "10.0.0.5", auth: [{ secure: "v1:DDDD" }] } } }));
    expect([nested.secretKeys.has("redis"), nested.values.redis]).toEqual([true, "[secret]"]);
    expect(rawFromStackYaml(stringify({ config: { "seatable-cluster:redis": { host: "10.0.0.5", port: 6379 } } })).secretKeys.has("redis")).toBe(false);
  });

  test("as `pulumi up` hands them over (JSON text): environmentSecrets' names only; any other secret, JSON or not, only the marker", () => {
    const raw = rawStackConfig([
      { key: "seatable-cluster:environmentSecrets", value: '{"smtp":"hunter2","ai":"sk-1"}', secret: true },
      { key: "seatable-cluster:mariadbPassword", value: '{"looks":"like JSON"}', secret: true },
      { key: "seatable-cluster:secretKey", value: "not JSON", secret: true },
    ]);
    expect(raw.values).toEqual({ environmentSecrets: { smtp: "[secret]", ai: "[secret]" }, mariadbPassword: "[secret]", secretKey: "[secret]" });
    expect(rawStackConfig([{ key: "seatable-cluster:environmentSecrets", value: "not JSON", secret: true }]).values.environmentSecrets).toBe("[secret]");
    // in plain text it is kept as written (validation refuses it)
    expect(rawStackConfig([{ key: "seatable-cluster:environmentSecrets", value: '{"smtp":"x"}', secret: false }]).values.environmentSecrets).toBe('{"smtp":"x"}');
  });
});

describe("each node's environment: the program's, then all, the role, the host", () => {
  const config = configWith(
    withEnvironment({
      all: { SEATABLE_EMAIL_HOST: "smtp.example.com", SAVE_INTERVAL: "300" },
      "dtable-server": { SAVE_INTERVAL: "600", BASE_WRITABLE_LIMIT: 200000 },
      hosts: { "dtable-server-2": { SAVE_INTERVAL: "900", DTABLE_SERVER_MEMORY_SIZE: "6144" }, "dtable-web": { SEATABLE_EMAIL_PASSWORD: { secret: "smtp" } } },
      overrides: ["TIME_ZONE"],
      "dtable-db": { TIME_ZONE: "Europe/Berlin" },
    }),
    { environmentSecrets: { smtp: "[secret]" }, mariadbPassword: "[secret]", jwtPrivateKey: "[secret]" },
  );

  test("later places win; numbers arrive as the text written; a secret by name goes to the secret variables", () => {
    const env = (name: string) => seatableContainer(config, node(config, name)).env;
    expect(env("dtable-web").SAVE_INTERVAL).toBe("300");
    expect(env("dtable-server").SAVE_INTERVAL).toBe("600");
    expect(env("dtable-server-2").SAVE_INTERVAL).toBe("900");
    expect(env("dtable-server").BASE_WRITABLE_LIMIT).toBe("200000");
    expect(env("dtable-server").DTABLE_SERVER_MEMORY_SIZE).toBeUndefined();
    expect(env("dtable-server-2").DTABLE_SERVER_MEMORY_SIZE).toBe("6144");
    expect(env("dtable-db").TIME_ZONE).toBe("Europe/Berlin");
    expect(env("dtable-web").TIME_ZONE).toBe(config.timeZone);
    const web = seatableContainer(config, config.hosts.web);
    expect(web.env.SEATABLE_EMAIL_PASSWORD).toBeUndefined();
    expect(web.secretEnv.SEATABLE_EMAIL_PASSWORD).toBe("environmentSecrets.smtp");
    expect(seatableContainer(config, config.hosts.db).secretEnv.SEATABLE_EMAIL_PASSWORD).toBeUndefined();
  });

  test("plan's lines: sorted, secrets masked, the admin's marked with where they come from and what they override", () => {
    const lines = environmentLines(seatableEnvironment(config, config.hosts.db));
    expect(lines).toEqual([...lines].sort());
    expect(lines).toContain("TIME_ZONE=Europe/Berlin  (environment.dtable-db, overrides the program's value)");
    expect(lines).toContain("SAVE_INTERVAL=300  (environment.all)");
    expect(lines).toContain("SEATABLE_MYSQL_DB_PASSWORD=[secret mariadbPassword]");
    expect(environmentLines(seatableEnvironment(config, config.hosts.web))).toContain("SEATABLE_EMAIL_PASSWORD=[secret environmentSecrets.smtp]  (environment.hosts.dtable-web)");
    const multiline = configOf(withEnvironment({ all: { SEATABLE_EMAIL_FOOTER: "a\nb" } }));
    expect(environmentLines(seatableEnvironment(multiline, multiline.hosts.web))).toContain('SEATABLE_EMAIL_FOOTER="a\\nb"  (environment.all)');
  });

  test("a change of environment replaces the containers it reaches, and only those", () => {
    const before = configOf(stackValues());
    const deployed = { servers: before.hosts.servers };
    const recorded = containerChanges(before, deployed, undefined, {}).digests;
    const changed = (values: Record<string, unknown>, secrets: Record<string, string> = {}) =>
      Object.entries(containerChanges(configOf(values), deployed, recorded, secrets).changes)
        .filter(([, c]) => c !== "same")
        .map(([n]) => n);
    expect(changed(stackValues())).toEqual([]);
    expect(changed(withEnvironment({ hosts: { "dtable-server-2": { SAVE_INTERVAL: "900" } } }))).toEqual(["dtable-server-2"]);
    expect(changed(withEnvironment({ "dtable-server": { SAVE_INTERVAL: "900" } }))).toEqual(["dtable-server", "dtable-server-2"]);
    expect(changed(withEnvironment({ all: { SAVE_INTERVAL: "900" } }))).toEqual(["dtable-web", "dtable-db", "dtable-server", "dtable-server-2"]);
    // a secret's new value, too (its value enters only the digest)
    const secretConfig = configWith(withEnvironment({ "dtable-web": { SEATABLE_EMAIL_PASSWORD: { secret: "smtp" } } }), { environmentSecrets: { smtp: "[secret]" } });
    const digests = containerChanges(secretConfig, deployed, undefined, { "environmentSecrets.smtp": "one" }).digests;
    const again = containerChanges(secretConfig, deployed, digests, { "environmentSecrets.smtp": "two" }).changes;
    expect(Object.entries(again).filter(([, c]) => c !== "same")).toEqual([["dtable-web", "replace"]]);
  });
});

test("PROGRAM_VARIABLES and WIRING_VARIABLES are exactly what the program's containers carry (6.1, 6.2, IPv6, a non-root MariaDB user, every optional secret)", () => {
  const everySecret = ["mariadbPassword", "jwtPrivateKey", "adminPassword", "s3SecretKey", "redisPassword", "s3SseCKey", "secretKey", "mariadbRootPassword"];
  const v62: Record<string, any> = { ...withServers(3), image: "seatable/seatable-enterprise:6.2.13", s3: { ...stackValues("prod").s3, host: "s3.example.com", partSize: 100, buckets: { ...stackValues("prod").s3.buckets, avatar: "avatars" } } };
  const configs = [stackValues("dev"), stackValues("prod"), ipv6Values(), v62, { ...v62, mariadb: { ...v62.mariadb, user: "seatable" } }].map((v) =>
    configWith(v, Object.fromEntries(everySecret.map((k) => [k, "[secret]"]))),
  );
  const carried = new Set(configs.flatMap((c) => nodes(c).flatMap((n) => { const s = seatableContainer(c, n); return [...Object.keys(s.env), ...Object.keys(s.secretEnv)]; })));
  expect([...carried].sort()).toEqual([...Object.keys(PROGRAM_VARIABLES), ...Object.keys(WIRING_VARIABLES)].sort());
});

describe("smaller rules of day two", () => {
  test("MariaDB's root password for the first start: the user's own only when the user is root, else mariadbRootPassword, else none", () => {
    const secret = (v: Record<string, unknown>, secrets: string[]) => {
      const c = configWith(v, Object.fromEntries(secrets.map((k) => [k, "[secret]"])));
      return seatableContainer(c, c.hosts.web).secretEnv.INIT_SEATABLE_MYSQL_ROOT_PASSWORD;
    };
    const user = stackValues();
    const root = { ...user, mariadb: { ...user.mariadb, user: "root" } };
    expect(secret(root, ["mariadbPassword"])).toBe("mariadbPassword");
    expect(user.mariadb.user).toBe("seatable");
    expect(secret(user, ["mariadbPassword"])).toBeUndefined();
    expect(secret(user, ["mariadbPassword", "mariadbRootPassword"])).toBe("mariadbRootPassword");
  });

  test("more dtable-servers than buckets is refused: every dtable-server needs one", () => {
    const v = withServers(17);
    v.routing = { ...v.routing, bucketHexDigits: 1 };
    expect(problemsOf(v)).toEqual(["hosts.servers: 17 dtable-servers, but routing.bucketHexDigits 1 makes 16 buckets, and every dtable-server needs one; raise routing.bucketHexDigits to 2 (256 buckets)"]);
    const sixteen = withServers(16);
    expect(problemsOf({ ...sixteen, routing: { ...sixteen.routing, bucketHexDigits: 1 } })).toEqual([]);
  });

  test("at 3 hex digits (4,096 buckets, the most) more servers are refused without advice to raise them", () => {
    const v = withServers(1);
    const first = v.hosts.servers[0];
    v.hosts.servers = Array.from({ length: 4097 }, (_, i) => ({ ...first, name: `dtable-server-${i + 1}`, address: `10.1.${Math.floor(i / 200)}.${(i % 200) + 1}` }));
    v.routing = { ...v.routing, bucketHexDigits: 3 };
    expect(problemsOf(v)).toEqual(["hosts.servers: 4097 dtable-servers, but routing.bucketHexDigits 3 makes 4096 buckets, and every dtable-server needs one"]);
  });
});

describe("edges a mutation run found untested", () => {
  test("the numeric variables: whole numbers only, the limits themselves in, one past them out", () => {
    const ok = (v: unknown) => problemsOf(withEnvironment({ "dtable-server": { DTABLE_SERVER_MEMORY_SIZE: v } })).length === 0;
    expect([512, 1048576, "8192"].map(ok)).toEqual([true, true, true]);
    expect([511, 1048577, "1e3", "0x400", " 600", "600 ", "6g", "-1"].map(ok)).toEqual(Array(8).fill(false));
    const timeout = (v: unknown) => problemsOf(withEnvironment({ "dtable-server": { DTABLE_SERVER_PING_TIMEOUT: v } })).length === 0;
    expect([5, 3600, 4, 3601].map(timeout)).toEqual([true, true, false, false]);
  });

  test("problems name the host's place, and the secrets a name was looked for in (none: none named)", () => {
    expect(problemsOf(withEnvironment({ hosts: { "dtable-db": { TIME_ZONE: "UTC" } } }))[0]).toMatch(/^environment\.hosts\.dtable-db\.TIME_ZONE: /);
    expect(problemsOf(withEnvironment({ all: { X: { secret: "a" } } }))).toEqual([
      `environment.all.X: the secret "a" is not in environmentSecrets; run \`pulumi config set --secret --path 'environmentSecrets.a' <value>\``,
    ]);
    expect(problemsOf(withEnvironment({ all: { X: [1] } }))).toEqual(["environment.all.X: expected a value (text, a number, true or false) or {secret: <name in environmentSecrets>}"]);
  });

  test("plan's lines quote a value with a control character as JSON, and only such a value", () => {
    const c = configOf(withEnvironment({ all: { A_B: "a b", DEL: "x\x7f", TAB: "x\ty" } }));
    const lines = environmentLines(seatableEnvironment(c, c.hosts.web));
    expect(lines).toEqual(expect.arrayContaining(["A_B=a b  (environment.all)", 'DEL="x\\u007f"  (environment.all)', 'TAB="x\\ty"  (environment.all)']));
  });
});
