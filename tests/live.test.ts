// What the program reads before it plans: the proxy's live files on dtable-web
// (parseLiveRead, liveFindings) and which containers Pulumi will replace
// (containerChanges). Plain functions over plain data.
import { appliedRouting } from "../pure/plan/applied";
import { containerChanges } from "../pure/plan/changes";
import { buildPlan } from "../pure/plan";
import { liveFindings, parseLiveRead } from "../pure/plan/live";
import { validate, withServers } from "./support/stacks";

const A = "a".repeat(64);
const B = "b".repeat(64);
const RUN = { stack: "organization/seatable-cluster/prod" };

describe("the live read", () => {
  test("reads each file's hash and the lease; files that are missing stay missing", () => {
    expect(parseLiveRead(`conf ${A}\nhosts ${B}\nrouting ${A}\nlease stack=x run=1 with spaces\n`)).toEqual({ conf: A, hosts: B, routing: A, lease: "stack=x run=1 with spaces" });
    expect(parseLiveRead(`\nhosts ${B}\n  \n`)).toEqual({ hosts: B });
    expect(parseLiveRead("")).toEqual({});
  });

  test("anything else is an error that shows the line, never a guess", () => {
    for (const line of [`conf ${A.slice(1)}`, `conf ${A}0`, `conf ${A.toUpperCase()}`, `config ${A}`, `xconf ${A}`, "lease", `Conf ${A}`]) {
      expect(() => parseLiveRead(`hosts ${B}\n${line}`)).toThrow(`reading the proxy's live files on dtable-web: unexpected line ${JSON.stringify(line)}`);
    }
    expect(() => parseLiveRead(`x${"y".repeat(100)}`)).toThrow(`unexpected line ${JSON.stringify(`x${"y".repeat(79)}`)}`);
  });

  test("a lease is an error saying whose it is and how to clear it", () => {
    const own = liveFindings({ lease: `stack=${RUN.stack} run=7` }, undefined, RUN);
    expect(own.errors).toEqual([
      `dtable-web: /opt/seatable-compose/dtable-server-proxy/lease is held (stack=${RUN.stack} run=7): a change is in progress, or an earlier pulumi up stopped before its verification. ` +
        "If no pulumi up of this stack is running, check the proxy (npm run plan, pulumi preview), remove the lease on dtable-web (rm /opt/seatable-compose/dtable-server-proxy/lease) and run pulumi up again.",
    ]);
    expect(liveFindings({ lease: `stack=${RUN.stack}-2 run=7` }, undefined, RUN).errors[0]).toContain("If no pulumi up of that stack is running");
    expect(liveFindings({ conf: A }, undefined, RUN)).toEqual({ errors: [], warnings: [] });
  });

  test("files that differ from what the stack recorded are warned about, each by name; the same ones or missing ones are not", () => {
    const recorded = { conf: A, hosts: B };
    expect(liveFindings({ conf: A, hosts: B }, recorded, RUN)).toEqual({ errors: [], warnings: [] });
    expect(liveFindings({}, recorded, RUN)).toEqual({ errors: [], warnings: [] });
    expect(liveFindings({ conf: B, hosts: B }, recorded, RUN).warnings).toEqual([
      "dtable-web: the proxy's config (/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf) is not the one this stack recorded: an earlier pulumi up stopped half-way, or it was edited by hand. This up converges it if it is one of its own stages' files, and refuses otherwise.",
    ]);
    expect(liveFindings({ conf: A, hosts: A }, recorded, RUN).warnings).toEqual(["dtable-web: the proxy's hosts file (/opt/seatable-compose/dtable-server-proxy/hosts) is not the one this stack recorded."]);
  });
});

describe("which containers change", () => {
  // the secrets are set: a container takes them from its environment
  const withSecrets = (values: Record<string, any>) => {
    const v = validate({ ...values, mariadbPassword: "(secret)", redisPassword: "(secret)" }, ["mariadbPassword", "redisPassword"]);
    if (!v.ok) throw new Error(v.problems.join("\n"));
    return v.config;
  };
  const config = withSecrets(withServers(4));
  const plan = buildPlan(config);
  const applied = appliedRouting(config, plan.routing, { conf: A, hosts: B }, []);
  const secrets = { mariadbPassword: "m1", redisPassword: "r1" };
  const recordedNothing = () => containerChanges(config, applied, undefined, secrets);

  test("nothing deployed: every container is created", () => {
    expect(Object.values(containerChanges(config, undefined, undefined, secrets).changes)).toEqual(Array(6).fill("create"));
  });

  test("deployed by a version that recorded no digests: every container is unknown (it may be replaced)", () => {
    const first = recordedNothing();
    expect(Object.values(first.changes)).toEqual(Array(6).fill("unknown"));
  });

  test("the same spec and secrets: same; a new server: create; a new image or secret: replace", () => {
    const first = recordedNothing();
    expect(Object.values(containerChanges(config, applied, first.digests, secrets).changes)).toEqual(Array(6).fill("same"));
    const five = withSecrets(withServers(5));
    expect(containerChanges(five, applied, first.digests, secrets).changes).toEqual({ ...first.changes, ...Object.fromEntries(Object.keys(first.changes).map((n) => [n, "same"])), "dtable-server-5": "create" });
    const v = withServers(4);
    v.image = "seatable/seatable-enterprise:6.1.9";
    expect(Object.values(containerChanges(withSecrets(v), applied, first.digests, secrets).changes)).toEqual(Array(6).fill("replace"));
    const changed = containerChanges(config, applied, first.digests, { ...secrets, mariadbPassword: "m2" });
    // every node reads the MariaDB password from its environment
    expect(Object.values(changed.changes)).toEqual(Array(6).fill("replace"));
    expect(containerChanges(config, applied, first.digests, { ...secrets, jwtPrivateKey: "unset" }).changes).toEqual(Object.fromEntries(Object.keys(first.changes).map((n) => [n, "same"])));
    // a digest never contains the secret itself
    for (const d of Object.values(changed.digests)) expect(d).toMatch(/^[0-9a-f]{64}$/);
  });
});
