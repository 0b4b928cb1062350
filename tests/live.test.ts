// What the program reads before it plans: the proxy's live files on dtable-web
// (parseLiveRead) and which containers Pulumi will replace
// (containerChanges). Plain functions over plain data.
import { appliedRouting } from "../pure/plan/applied";
import { containerChanges } from "../pure/plan/changes";
import { buildPlan } from "../pure/plan";
import { describeLease, duration, parseLiveRead } from "../pure/plan/live";
import { routingJson } from "../pure/config/routing-file";
import { configOf, validate, withServers } from "./support/stacks";

const A = "a".repeat(64);
const B = "b".repeat(64);

const b64 = (text: string) => Buffer.from(text).toString("base64");

describe("the live read", () => {
  test("reads each file's hash, the lease with its age and the last step its run completed; files that are missing stay missing", () => {
    expect(parseLiveRead(`now 1000\nconf ${A}\nhosts ${B}\nrouting ${A}\nlease stack=x run=1 with spaces\nlease-since 880\nprogress stage-2-switch 970 stack=x run=1 with spaces\n`)).toEqual({
      conf: A,
      hosts: B,
      routing: A,
      lease: "stack=x run=1 with spaces",
      leaseAgeSeconds: 120,
      progress: { step: "stage-2-switch", agoSeconds: 30, run: "stack=x run=1 with spaces" },
    });
    expect(parseLiveRead(`\nhosts ${B}\n  \n`)).toEqual({ hosts: B });
    expect(parseLiveRead("verified stack=s run=r")).toEqual({ verified: "stack=s run=r" });
    // only a line that starts with the key: a run named in other text is no verified run
    expect(() => parseLiveRead("xverified stack=s run=r")).toThrow('unexpected line "xverified stack=s run=r"');
    // an age needs the lease and both clocks; a record of one kind of file is a record
    expect(parseLiveRead("now 1000\nlease-since 900\nprogress lease 990")).toEqual({ progress: { step: "lease", agoSeconds: 10 } });
    expect(parseLiveRead("lease x\nlease-since 900\nprogress lease 990")).toEqual({ lease: "x" });
    expect(parseLiveRead("now 1000\nlease x")).toEqual({ lease: "x" });
    expect(parseLiveRead(`installed hosts ${B}`)).toEqual({ installed: { conf: [], hosts: [B] } });
    expect(parseLiveRead(`installed conf ${A}`)).toEqual({ installed: { conf: [A], hosts: [] } });
    expect(parseLiveRead("")).toEqual({});
  });

  test("reads routing.json itself (by the config's rules), servers.json as it is, what the quarantine pauses and what this program installed", () => {
    const config = configOf(withServers(4));
    const table = buildPlan(config).routing;
    const servers = { servers: [{ name: "dtable-server", address: "10.0.1.21", ssh: { user: "root", port: 22 } }], evicted: [] };
    const live = parseLiveRead(
      [`routing-file ${b64(routingJson(table))}`, `servers-file ${b64(JSON.stringify(servers))}`, `quarantine-file ${b64('{"buckets":["0a","00","0a"],"pins":[]}')}`, `installed conf ${A}`, `installed conf ${B}`, `installed hosts ${B}`].join("\n"),
    );
    expect(live).toEqual({ table, servers, paused: { buckets: ["00", "0a"], pins: [] }, installed: { conf: [A, B], hosts: [B] } });
  });

  test("a damaged file is an error naming it and what is wrong; anything else is an error that shows the line, never a guess", () => {
    expect(() => parseLiveRead(`routing-file ${b64('{"bucketHexDigits": 2, "default": "dtable-server", "buckets": {}}')}`)).toThrow(
      "reading the proxy's live files on dtable-web:\ndtable-web:/opt/seatable-compose/dtable-server-proxy/routing.json.buckets: does not cover every bucket; missing 00, 01, 02, 03, 04, 05, 06, 07, … (256 in all)",
    );
    // each damaged file once, nothing else
    let message = "";
    try {
      parseLiveRead(`routing-file ${b64("{cut off")}\nservers-file ${b64("{cut off")}\nquarantine-file ${b64('{"buckets":["xyz"],"pins":[]}')}`);
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message.split("\n")).toEqual([
      "reading the proxy's live files on dtable-web:",
      "dtable-web:/opt/seatable-compose/dtable-server-proxy/routing.json: not JSON (cut off, or not written by this program)",
      "dtable-web:/opt/seatable-compose/dtable-server-proxy/servers.json: not JSON (cut off, or not written by this program)",
      "dtable-web:/opt/seatable-compose/dtable-server-proxy/quarantine.json.buckets[0]: expected a bucket: 1 to 3 lower-case hex digits",
    ]);
    expect(() => parseLiveRead(`quarantine-file ${b64('{"buckets":[],"pins":["FF84E1A1-66E2-4C2D-9B1E-0A7D5E3C2F10"]}')}`)).toThrow(
      "dtable-web:/opt/seatable-compose/dtable-server-proxy/quarantine.json.pins[0]: expected a base UUID, lower case and dashed",
    );
    const known = ["now 5", "lease-since 5", `installed conf ${A}`, "progress stage-1-switch 5", `routing-file ${b64("{}")}`];
    // each known line with anything before or after it
    const padded = known.flatMap((l) => [`x${l}`, `${l}!`, `${l} `]);
    for (const line of [...padded, `conf ${A.slice(1)}`, `conf ${A}0`, `conf ${A.toUpperCase()}`, `config ${A}`, `xconf ${A}`, "lease", `Conf ${A}`, "installed conf x", "progress Stage 1", "routing-file not base64!"]) {
      expect(() => parseLiveRead(`hosts ${B}\n${line}`)).toThrow(`reading the proxy's live files on dtable-web: unexpected line ${JSON.stringify(line)}`);
    }
    expect(() => parseLiveRead(`x${"y".repeat(100)}`)).toThrow(`unexpected line ${JSON.stringify(`x${"y".repeat(79)}`)}`);
  });

  test("a lease is shown with its age and how far its run got", () => {
    expect(describeLease({ lease: "stack=s run=r", leaseAgeSeconds: 7300, progress: { step: "stage-2-switch", agoSeconds: 61, run: "stack=s run=r" } })).toBe(
      "stack=s run=r, taken 2 h 1 min ago; the last step it completed on dtable-web: stage-2-switch, 1 min ago",
    );
    expect(describeLease({ lease: "stack=s run=r" })).toBe("stack=s run=r; it completed no step on dtable-web");
    // the last step of another run says nothing of this lease
    expect(describeLease({ lease: "stack=s run=r", progress: { step: "stage-1-verify", agoSeconds: 5, run: "stack=s run=q" } })).toBe("stack=s run=r; it completed no step on dtable-web");
    expect(describeLease({ lease: "stack=s run=r", progress: { step: "stage-1-verify", agoSeconds: 5 } })).toBe("stack=s run=r; it completed no step on dtable-web");
    expect([duration(59), duration(60), duration(3599), duration(3600), duration(48 * 3600)]).toEqual(["59 s", "1 min", "59 min", "1 h 0 min", "2 days"]);
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
