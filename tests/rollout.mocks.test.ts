// Changing a running cluster, under Pulumi's mocks: which resources each `up`
// registers, what each waits for, and what the next `up` reads back. The
// engine's own behaviour (delete-before-replace and its cascade) is reasoned
// from what the mocks record: every dependency and property dependency.
import { afterUp, logsOf, Unresolved, ProgramRun, Registered, runForTests, runProgram, RunOptions, SECRET_VALUES } from "./support/program";
import { stepHash } from "../components/resources";
import type { HostStep } from "../pure/plan/rollout";
import { stackValues, withServers } from "./support/stacks";
import { scriptVars } from "./support/host-script";

const CONTAINER = "docker:index/container:Container";
const COMMAND = "command:remote:Command";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const P = "dtable-server-proxy-";

const short = (r: Registered) => r.name.replace(P, "");
const proxySteps = (run: ProgramRun) => run.byType(COMMAND).filter((c) => c.parent.endsWith(`::dtable-server-proxy`));
/** each proxy step or container with what it waits for, by short name */
function waits(run: ProgramRun, names: readonly string[]): Record<string, string[]> {
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  return Object.fromEntries(names.map((n) => [n, run.one(n).dependencies.map((u) => byUrn.get(u)!.name).filter((d) => names.includes(d)).sort()]));
}
/** the resources in an order that respects every dependency (ties by name) */
function order(run: ProgramRun): string[] {
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const done: string[] = [];
  const all = run.resources.filter((r) => r.type !== "pulumi:pulumi:StackReference");
  while (done.length < all.length) {
    const ready = all.filter((r) => !done.includes(r.name) && r.dependencies.every((d) => done.includes(byUrn.get(d)?.name ?? "")));
    if (ready.length === 0) throw new Error("a cycle");
    done.push(...ready.map((r) => r.name).sort());
  }
  return done;
}
const before = (run: ProgramRun, a: string, b: string) => {
  const o = order(run);
  expect([a, o.indexOf(a) >= 0, o.indexOf(a) < o.indexOf(b), b]).toEqual([a, true, true, b]);
};

/** a first deployment of `v`, then the state it leaves */
async function deployed(v: Record<string, unknown>): Promise<Pick<RunOptions, "applied" | "appliedContainers" | "live">> {
  return afterUp(await runProgram(v));
}

describe("a first deployment", () => {
  const programRun = runForTests(() => runProgram(stackValues("prod")));

  test("pulls every image on every host before any container, takes the lease first, and needs no quarantine", async () => {
    const run = await programRun();
    const images = run.byType(IMAGE);
    expect(images.map((i) => `${i.name}=${i.inputs.name}`).sort()).toEqual(
      [
        ...["dtable-web", "dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"].map((h) => `${h}-image-seatable=${stackValues("prod").image}`),
        "dtable-web-image-proxy=nginx:1.27.5-alpine",
        // prod has its own load balancer: no caddy
      ].sort(),
    );
    for (const i of images) expect(i.inputs.keepLocally).toBe(true);
    for (const c of run.byType(CONTAINER).filter((c) => c.inputs.name === "seatable-server")) {
      expect(c.dependencies).toEqual(expect.arrayContaining(images.map((i) => i.urn)));
    }
    const hosts = ["dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"];
    expect(proxySteps(run).map(short).sort()).toEqual([...hosts.map((h) => `claim-${h}`), "lease", "switch", "verify"]);
  });

  test("dtable-web first, then dtable-db, then the dtable-servers; the proxy starts on its config", async () => {
    const run = await programRun();
    before(run, "dtable-web-seatable-server", "dtable-db-seatable-server");
    before(run, "dtable-db-seatable-server", "dtable-server-seatable-server");
    before(run, "dtable-db-seatable-server", "dtable-server-4-seatable-server");
    before(run, `${P}lease`, "dtable-web-prepare");
    before(run, `${P}switch`, `${P}container`);
    before(run, `${P}container`, `${P}verify`);
  });

  test("no container takes an input from another resource: replacing one never cascades into another", async () => {
    const run = await programRun();
    for (const c of run.byType(CONTAINER)) {
      const fromOthers = Object.entries(c.propertyDependencies).filter(([, urns]) => urns.length > 0);
      expect([c.name, fromOthers]).toEqual([c.name, []]);
      expect([c.name, c.deleteBeforeReplace]).toEqual([c.name, true]);
    }
  });

  test("Pulumi waits longer than Docker's stop timeout and health wait", async () => {
    const run = await programRun();
    for (const c of run.byType(CONTAINER)) {
      const seconds = (s: string) => Number(/^(\d+)s$/.exec(s)?.[1] ?? NaN);
      expect([c.name, c.customTimeouts]).toEqual([c.name, expect.objectContaining({ delete: expect.stringMatching(/^\d+s$/) })]);
      expect(seconds(c.customTimeouts!.delete)).toBeGreaterThan(c.inputs.stopTimeout as number);
      // an in-place update waits for health as a create does
      for (const op of ["create", "update"] as const) expect([c.name, op, seconds(c.customTimeouts![op]) > ((c.inputs.waitTimeout as number) ?? 0)]).toEqual([c.name, op, true]);
    }
  });

  test("the applied table, the proxy's file hashes and the containers' digests are recorded, the digests as a secret", async () => {
    const run = await programRun();
    const applied = run.outputs.appliedRouting as { proxy: { conf: string }; rolloutSteps: string[] };
    expect(applied.proxy.conf).toMatch(/^[0-9a-f]{64}$/);
    expect(applied.rolloutSteps).toEqual([`${P}lease`, ...["dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"].map((h) => `${P}claim-${h}`), `${P}switch`, `${P}verify`]);
    expect(Object.keys(run.outputs.appliedContainers as object).sort()).toEqual(["dtable-db", "dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4", "dtable-web"]);
  });
});

describe("an up with nothing to change is quiet", () => {
  test("every resource keeps its inputs, nothing is added, the last up's steps are kept without running", async () => {
    const v = stackValues("prod");
    const first = await runProgram(v);
    const second = await runProgram(v, afterUp(first));
    const a = new Map(first.resources.map((r) => [r.urn, r]));
    expect(second.resources.map((r) => r.urn).sort()).toEqual(first.resources.map((r) => r.urn).sort());
    for (const r of second.resources) {
      const was = a.get(r.urn)!;
      const differing = Object.keys({ ...r.inputs, ...was.inputs }).filter((k) => JSON.stringify(r.inputs[k]) !== JSON.stringify(was.inputs[k]));
      // Pulumi diffs what is not ignored: nothing
      expect([r.name, differing.filter((k) => !r.ignoreChanges.includes(k))]).toEqual([r.name, []]);
    }
    // each kept step ignores every input a step has: the preview shows no replace of it
    for (const s of proxySteps(second)) expect([short(s), [...s.ignoreChanges].sort()]).toEqual([short(s), ["addPreviousOutputInEnv", "connection", "create", "stdin", "triggers"]]);
    expect(second.outputs.appliedRouting).toEqual(first.outputs.appliedRouting);
  });

  test("a proxy file that differs from the record but that this program installed (a stopped up) brings back exactly the converging steps; a hand edit stops the up", async () => {
    const v = stackValues("prod");
    const state = afterUp(await runProgram(v));
    const stopped = { ...state.live!, conf: "0".repeat(64), installed: { conf: ["0".repeat(64), state.live!.conf!], hosts: [state.live!.hosts!] } };
    const { result: run, logged } = await logsOf(() => runProgram(v, { ...state, live: stopped }));
    // the admin is told, and no stage is announced: nothing goes down
    expect(logged.filter((l) => l.startsWith("warning: "))).toEqual([expect.stringMatching(/^warning: dtable-web: the proxy's config \(\/opt\/seatable-compose\/dtable-server-proxy\/nginx-proxy\.conf\) is not the one this stack recorded/)]);
    expect(logged.filter((l) => /stage\(s\)|goes down/.test(l))).toEqual([]);
    expect(proxySteps(run).map(short).filter((n) => !n.startsWith("claim-")).sort()).toEqual(["lease", "switch", "verify"]);
    expect(proxySteps(run).some((s) => s.ignoreChanges.length > 0)).toBe(false);
    // the host decides whether that file is one it may replace: the recorded one or this run's own
    expect(run.one(`${P}switch`).inputs.create).toContain(state.applied!.proxy!.conf);
    expect(run.one(`${P}switch`).inputs.create).not.toContain("0".repeat(64));
    // not installed by this program: refused before anything is registered
    await expect(runProgram(v, { ...state, live: { ...state.live!, conf: "0".repeat(64) } })).rejects.toThrow(/the proxy's config .* is not one this program installed .*edited by hand/);
  });

  test("a lease held on dtable-web stops the up before anything is registered, saying how to clear it", async () => {
    const v = stackValues("prod");
    const state = await deployed(v);
    await expect(runProgram(v, { ...state, live: { ...state.live, lease: "stack=organization/seatable-cluster/test run=x" } })).rejects.toThrow(
      /lease is held \(stack=organization\/seatable-cluster\/test run=x; it completed no step on dtable-web\).*remove the lease on dtable-web \(rm \/opt\/seatable-compose\/dtable-server-proxy\/lease\) and run pulumi up again: it starts from what the proxy runs/,
    );
  });
});

describe("scale-out 4 → 5 with maxRestarting 1", () => {
  const programRun = runForTests(async () => {
    const state = await deployed(withServers(4));
    return runProgram(withServers(5), state);
  });

  test("one stage per server that gives up buckets, each quarantine → restart → switch → verify, one after another", async () => {
    const run = await programRun();
    const names = proxySteps(run).map((s) => s.name);
    const w = waits(run, names);
    const stages = names.filter((n) => n.endsWith("-quarantine")).map((n) => n.replace(/-quarantine$/, ""));
    expect(stages.length).toBe(4);
    stages.forEach((st, i) => {
      const restarts = names.filter((n) => n.startsWith(`${st}-restart-`));
      expect(restarts.length).toBe(1);
      expect(w[restarts[0]]).toEqual([`${st}-quarantine`, restarts[0].replace(/stage-\d+-restart-/, "claim-")].sort());
      expect(w[`${st}-switch`]).toEqual([`${st}-quarantine`, restarts[0]].sort());
      expect(w[`${st}-verify`]).toEqual([`${st}-switch`, ...(i === stages.length - 1 ? [] : [])]);
      if (i > 0) expect(w[`${st}-quarantine`]).toContain(`${stages[i - 1]}-verify`);
    });
    // the new server is up before the first stage moves anything to it
    before(run, "dtable-server-5-seatable-server", `${stages[0]}-quarantine`);
  });

  test("each quarantine pauses everything the restarting server holds, and nothing else", async () => {
    const run = await programRun();
    const q = proxySteps(run).filter((s) => s.name.endsWith("-quarantine"));
    for (const s of q) {
      // the map entries of its buckets and pins (the config also maps the quarantine's own name, once)
      const paused = ((s.inputs.stdin as string).match(/^ {4}[0-9a-f-]+ quarantine;$/gm) ?? []).length;
      // prod: 256 buckets over weights 2/2/3/1: the largest holds 96, plus its pin twice (dashed and 32-hex)
      expect(paused).toBeGreaterThan(0);
      expect(paused).toBeLessThanOrEqual(96 + 2);
    }
    const change = run.outputs.routingChange as { largestPausedShare: number; stages: { servers: string[]; bucketsPaused: number; pinsPaused: number }[] };
    expect(change.stages).toHaveLength(4);
    expect(change.largestPausedShare).toBeLessThanOrEqual(96 / 256);
    // the output names each stage's server as its restart step does, with what it pauses
    const restarted = proxySteps(run).map(short).filter((n) => n.includes("-restart-")).map((n) => `${n.replace(/^.*-restart-/, "")} (restart)`);
    expect(change.stages.flatMap((st) => st.servers).sort()).toEqual(restarted.sort());
    for (const st of change.stages) expect(st.bucketsPaused).toBeGreaterThan(0);
  });
});

test("after a verified up, the steps that replace the proxy's files know the live ones by the hashes that up recorded, not by its table alone", async () => {
  const state = await deployed(withServers(4));
  const { conf, hosts } = state.applied!.proxy!;
  const run = await runProgram(withServers(5), state);
  const guarded = proxySteps(run).filter((s) => (s.inputs.create as string).includes("nor the one this stack recorded"));
  expect(guarded.length).toBeGreaterThan(0);
  for (const s of guarded) {
    const create = s.inputs.create as string;
    expect([s.name, create.includes(conf), create.includes(hosts), scriptVars(create).ALLOWED_ROUTING]).toEqual([s.name, true, true, ""]);
  }
});

test("a staged change tells the admin its stages and the largest share paused", async () => {
  const state = await deployed(withServers(4));
  const { logged } = await logsOf(() => runProgram(withServers(5), state));
  expect(logged.filter((l) => l.startsWith("info: ") && /stage\(s\); in each: quarantine|Largest share of buckets paused at any moment: \d+\.\d%/.test(l))).toHaveLength(2);
});

test("maxRestarting 2 puts two servers in a stage, side by side", async () => {
  const state = await deployed(withServers(4));
  const v = withServers(5);
  v.rollout = { maxRestarting: 2 };
  const run = await runProgram(v, state);
  const names = proxySteps(run).map((s) => s.name);
  expect(names.filter((n) => n.endsWith("-quarantine"))).toHaveLength(2);
  expect(names.filter((n) => n.startsWith(`${P}stage-1-restart-`))).toHaveLength(2);
});

describe("a new image", () => {
  const programRun = runForTests(async () => {
    const v = withServers(4);
    const state = await deployed(v);
    v.image = "seatable/seatable-enterprise:6.1.9";
    v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };
    return runProgram(v, state);
  });

  test("is pulled everywhere first; the backup runs before any container changes; dtable-web, dtable-db, then each dtable-server in its own stage", async () => {
    const run = await programRun();
    const images = run.byType(IMAGE).map((i) => i.name);
    for (const i of images) before(run, i, `${P}backup`);
    before(run, `${P}lease`, `${P}backup`);
    before(run, `${P}backup`, "dtable-web-seatable-server");
    before(run, "dtable-web-seatable-server", "dtable-db-seatable-server");
    const stages = proxySteps(run).map(short).filter((n) => n.endsWith("-quarantine"));
    expect(stages).toHaveLength(4);
    for (const server of ["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"]) {
      const c = run.one(`${server}-seatable-server`);
      // it waits for its stage's mark, taken once the quarantine is live
      const mark = run.resources.find((r) => c.dependencies.includes(r.urn) && r.name.endsWith(`-mark-${server}`))!;
      const stage = mark.name.replace(/-mark-.*$/, "");
      const quarantine = run.one(`${stage}-quarantine`);
      before(run, quarantine.name, mark.name);
      before(run, "dtable-db-seatable-server", quarantine.name);
      before(run, `${server}-seatable-server`, `${stage}-switch`);
    }
    // a restart for routing is not needed: Pulumi's replacement is the restart
    expect(proxySteps(run).filter((s) => /-restart-/.test(s.name))).toEqual([]);
    expect(run.one(`${P}backup`).inputs.create).toContain("/usr/local/bin/backup-seatable");
  });
});

describe("drain and evict", () => {
  test("drain: every bucket and pin of the server moves away, staged; its container stays", async () => {
    const state = await deployed(withServers(4));
    const v = withServers(4);
    v.hosts.servers[3].drain = true;
    const run = await runProgram(v, state);
    const applied = run.outputs.appliedRouting as { table: { buckets: Record<string, string> } };
    expect(Object.values(applied.table.buckets)).not.toContain("dtable-server-4");
    expect(proxySteps(run).map(short)).toContain("stage-1-restart-dtable-server-4");
    expect(run.resources.some((r) => r.name === "dtable-server-4-seatable-server")).toBe(true);
    // back: the minimum moves back, from the servers that gave it buckets
    const back = await runProgram(withServers(4), afterUp(run));
    const moved = (back.outputs.routingChange as { bucketsMoving: number }).bucketsMoving;
    expect(moved).toBe(Object.values(state.applied!.table.buckets).filter((s) => s === "dtable-server-4").length);
  });

  test("a server that left and does not answer stops every up with the way out; evict moves its buckets without touching it", async () => {
    const state = await deployed(withServers(5));
    const v = withServers(4);
    await expect(runProgram(v, { ...state, unreachable: ["dtable-server-5"] })).rejects.toThrow(
      /^dtable-server-5 \(10\.0\.1\.24:22\) does not answer, and this up must stop it before its buckets move\. If its host is dead, add it to rollout\.evict: .*what it had not saved is lost/,
    );
    // a server that stays and must restart (it gives up buckets to a new one): bring it back, or remove and evict it
    await expect(runProgram(withServers(6), { ...state, unreachable: ["dtable-server-2"] })).rejects.toThrow(
      /^dtable-server-2 \([\d.]+:\d+\) does not answer, and this up must restart it\. Bring the host back; if it is dead, remove it from hosts\.servers and add it to rollout\.evict\.$/,
    );
    // answering, it is stopped on its own host (it left the config; the state still knows it)
    const stopped = await runProgram(v, state);
    const onIt = proxySteps(stopped).filter((s) => s.name.includes("dtable-server-5"));
    expect(onIt.length).toBeGreaterThan(0);
    const hostOf = (c: Registered) => JSON.stringify(c.inputs.connection).match(/"host":"([^"]+)"/)?.[1];
    expect(onIt.map((s) => [short(s), hostOf(s)])).toEqual(onIt.map((s) => [short(s), "10.0.1.24"]));
    v.rollout = { evict: ["dtable-server-5"] };
    const warn = jest.spyOn(console, "info").mockImplementation(() => undefined);
    const run = await runProgram(v, { ...state, unreachable: ["dtable-server-5"] }).finally(() => warn.mockRestore());
    expect(proxySteps(run).filter((s) => s.name.includes("dtable-server-5"))).toEqual([]);
    expect(run.resources.some((r) => r.name.startsWith("dtable-server-5"))).toBe(false);
    const applied = run.outputs.appliedRouting as { table: { buckets: Record<string, string> } };
    expect(Object.values(applied.table.buckets)).not.toContain("dtable-server-5");
  });
});

describe("what the next up reads back", () => {
  test("an up that fails or stops in a stage records nothing: the next up starts again from the last verified table", async () => {
    const state = await deployed(withServers(4));
    const run = await runProgram(withServers(5), { ...state, stuck: [`${P}stage-2-verify`] });
    expect(run.outputs.routingChange).not.toBeInstanceOf(Unresolved);
    expect(run.outputs.appliedRouting).toBeInstanceOf(Unresolved);
    expect(run.outputs.appliedContainers).toBeInstanceOf(Unresolved);
  });

  test("consecutive rollouts 2 → 3 → 4: every server that gives up buckets is restarted each time (its step's inputs are new)", async () => {
    const r2 = await runProgram(withServers(2));
    const r3 = await runProgram(withServers(3), afterUp(r2));
    const r4 = await runProgram(withServers(4), afterUp(r3));
    for (const [prev, run, losing] of [
      [r2, r3, ["dtable-server", "dtable-server-2"]],
      [r3, r4, ["dtable-server", "dtable-server-2", "dtable-server-3"]],
    ] as const) {
      const restarted = proxySteps(run).filter((s) => /-restart-/.test(s.name));
      expect(restarted.map((s) => s.name.replace(/.*-restart-/, "")).sort()).toEqual([...losing].sort());
      for (const s of restarted) {
        const same = prev.resources.find((r) => r.name === s.name);
        // Pulumi runs a command again when its inputs change
        expect([s.name, same ? JSON.stringify(same.inputs) === JSON.stringify(s.inputs) : false]).toEqual([s.name, false]);
        expect(s.ignoreChanges).toEqual([]);
      }
    }
  });
});

test("a node's steps after its container run again when the container is replaced: their triggers hold its id", async () => {
  // the mocks give a container an id of its inputs, as the engine gives a replaced container a new one
  const state = await deployed(withServers(2));
  const same = await runProgram(withServers(2), state);
  const v = withServers(2);
  v.image = "seatable/seatable-enterprise:6.1.9";
  const newImage = await runProgram(v, state);
  const afterContainer = (run: ProgramRun) => {
    const containers = new Set(run.byType(CONTAINER).map((c) => c.urn));
    const steps = run.byType(COMMAND).filter((c) => !c.parent.endsWith(`::dtable-server-proxy`) && c.dependencies.some((d) => containers.has(d)));
    return Object.fromEntries(steps.map((c) => [c.name, JSON.stringify(c.inputs.triggers)]));
  };
  const [a, b] = [afterContainer(same), afterContainer(newImage)];
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  expect(Object.keys(a).length).toBeGreaterThanOrEqual(4);
  expect(Object.keys(a).filter((name) => a[name] === b[name])).toEqual([]);
});

test("a step's trigger changes with its host, its command, its stdin (the files it uploads) and each step before it", () => {
  const step: HostStep = { id: "upload", host: "dtable-web", title: "upload", command: "install -m 0644 /dev/stdin f", stdin: "events {}\n", after: [] };
  const base = stepHash(step, ["a", "b"]);
  const changed = {
    host: stepHash({ ...step, host: "dtable-db" }, ["a", "b"]),
    command: stepHash({ ...step, command: "install -m 0600 /dev/stdin f" }, ["a", "b"]),
    stdin: stepHash({ ...step, stdin: "events { }\n" }, ["a", "b"]),
    noStdin: stepHash({ ...step, stdin: undefined }, ["a", "b"]),
    oneBeforeLess: stepHash(step, ["a"]),
    anotherBefore: stepHash(step, ["a", "c"]),
  };
  expect(Object.entries(changed).filter(([, h]) => h === base)).toEqual([]);
  // and nothing else: the same step and steps before give the same trigger (no re-run on a quiet up)
  expect(stepHash({ ...step, title: "another title" }, ["a", "b"])).toBe(base);
});

test("a node's step waits on its own earlier steps in its trigger: a change to one re-runs those after it", async () => {
  const run = await runProgram(withServers(2));
  const byUrn = new Map(run.resources.map((r) => [r.urn, r]));
  const nodeSteps = run.byType(COMMAND).filter((c) => !c.parent.endsWith(`::dtable-server-proxy`));
  const trigger = (c: Registered) => (c.inputs.triggers as string[])[0];
  let chained = 0;
  for (const c of nodeSteps) {
    const earlier = c.dependencies.map((u) => byUrn.get(u)!).filter((d) => d.type === COMMAND && d.parent === c.parent);
    chained += earlier.length;
    const own = { id: c.name, title: "", host: c.parent.split("::").pop()!, command: c.inputs.create as string, stdin: c.inputs.stdin as string | undefined, after: [] };
    expect([c.name, trigger(c)]).toEqual([c.name, stepHash(own, earlier.map(trigger))]);
  }
  expect(chained).toBeGreaterThan(0);
});

test("a changed secret changes the recorded digest of each container that reads it, and of no other", async () => {
  const v = withServers(2);
  const first = await runProgram(v);
  const digests = (run: ProgramRun) => run.outputs.appliedContainers as Record<string, string>;
  const changedOf = async (key: keyof typeof SECRET_VALUES) => {
    const run = await runProgram(v, { ...afterUp(first), secrets: { ...SECRET_VALUES, [key]: `${SECRET_VALUES[key]}-new` } });
    return Object.keys(digests(first)).filter((node) => digests(run)[node] !== digests(first)[node]).sort();
  };
  // adminPassword: only dtable-web's first start reads it; redisPassword: every node
  expect(await changedOf("adminPassword")).toEqual(["dtable-web"]);
  expect(await changedOf("redisPassword")).toEqual(["dtable-db", "dtable-server", "dtable-server-2", "dtable-web"]);
  // the SSH key is the deploy machine's, in no container
  expect(await changedOf("sshPrivateKey")).toEqual([]);
});

describe("the plan starts from what the cluster runs, and every assumption is checked on a host", () => {
  const warnings = (logged: readonly string[]) => logged.filter((l) => l.startsWith("warning: "));

  test("the stack's state older than the proxy (restored from a backup): the plan starts from the proxy's table, says so, and moves nothing back", async () => {
    const four = await deployed(withServers(4));
    const five = afterUp(await runProgram(withServers(5), four));
    // the record says 4 servers' table; the proxy runs the 5 servers' one
    const { result: run, logged } = await logsOf(() => runProgram(withServers(5), { ...four, live: five.live }));
    expect(warnings(logged)).toEqual([
      "warning: dtable-web: the proxy's config (/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf) is not the one this stack recorded, but one this program installed: an earlier pulumi up stopped half-way. This up converges it.",
      expect.stringMatching(/^warning: the stack's record of the routing differs from what the proxy runs \(\d+ bucket\(s\).*older than the cluster/),
    ]);
    expect((run.outputs.routingChange as { bucketsMoving: number }).bucketsMoving).toBe(0);
    // the record's container digests are older than the hosts (the proxy's last verified run is not the record's):
    // every dtable-server goes down in a stage of its own, checked on its host, none restarted for routing
    const names = proxySteps(run).map(short);
    const servers = ["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4", "dtable-server-5"];
    expect((run.outputs.routingChange as { stages: { servers: string[] }[] }).stages.map((st) => st.servers)).toEqual(servers.map((x) => [`${x} (replace)`]));
    expect(names.filter((n) => /-restart-/.test(n))).toEqual([]);
    before(run, `${P}stage-5-mark-dtable-server-5`, "dtable-server-5-seatable-server");
    before(run, "dtable-server-5-seatable-server", `${P}stage-5-restarted-dtable-server-5`);
    before(run, `${P}stage-5-restarted-dtable-server-5`, `${P}stage-5-switch`);
  });

  test("in a change, every command that changes a host checks first that this run holds the lease (dtable-web) or its claim (any other host)", async () => {
    const state = await deployed(withServers(4));
    const v = withServers(5);
    v.image = "seatable/seatable-enterprise:6.1.9";
    v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup" } };
    const run = await runProgram(v, state);
    const commands = run.byType(COMMAND);
    // a step's own check (holds_lease/holds_claim at a line's start), or the check put before a node step or the backup (ON_WEB)
    const lease = (c: Registered) => /^holds_lease "/m.test(c.inputs.create as string) || scriptVars(c.inputs.create as string).ON_WEB === "yes";
    const claim = (c: Registered) => /^holds_claim "/m.test(c.inputs.create as string) || scriptVars(c.inputs.create as string).ON_WEB === "no";
    const host = (c: Registered) => JSON.stringify(c.inputs.connection).match(/"host":"([^"]+)"/)![1];
    const web = withServers(5).hosts.web.address;
    // the lease step takes it, each claim step writes the claim; everything else checks
    const checked = commands.filter((c) => c.name !== `${P}lease` && !c.name.startsWith(`${P}claim-`));
    expect(checked.length).toBeGreaterThan(20);
    for (const c of checked) expect([c.name, host(c) === web ? lease(c) : claim(c)]).toEqual([c.name, true]);
    // and a claim on a host comes after the lease, and before every step there
    for (const c of commands.filter((x) => x.name.startsWith(`${P}claim-`))) before(run, `${P}lease`, c.name);
  });

  test("a run took the lease since the record was written (it stopped half-way): the record's container digests are not trusted, every dtable-server goes down in a stage of its own, checked on its host", async () => {
    const v = withServers(4);
    const state = await deployed(v);
    // what the last verified run left: nothing to do
    expect(proxySteps(await runProgram(v, state)).every((s) => s.ignoreChanges.length > 0)).toBe(true);
    // the next run removed the proxy's name of the last verified run when it took the lease, and stopped
    const run = await runProgram(v, { ...state, live: { ...state.live!, verified: undefined } });
    const stages = (run.outputs.routingChange as { stages: { servers: string[] }[] }).stages;
    expect(stages.map((st) => st.servers)).toEqual(["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"].map((s) => [`${s} (replace)`]));
    for (const [i, s] of ["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"].entries()) before(run, `${P}stage-${i + 1}-mark-${s}`, `${s}-seatable-server`);
  });

  test("a dtable-server's address changed under the same name: refused before anything is registered, with the two ups that do it", async () => {
    const state = await deployed(withServers(4));
    const v = withServers(4);
    const old = v.hosts.servers[1].address;
    v.hosts.servers[1].address = "10.0.1.99";
    await expect(runProgram(v, state)).rejects.toThrow(
      `hosts.servers[1].address: dtable-server-2 runs at ${old} (as the proxy and the stack know it), not 10.0.1.99; its container there may still hold bases. ` +
        `Change it in two ups: remove dtable-server-2 from hosts.servers (pulumi up stops it at ${old} and moves its buckets away), then add it with address 10.0.1.99; or give the server at 10.0.1.99 a new name in one up.`,
    );
  });

  test("evict: refused while the server answers SSH; else its port 5000 is checked from dtable-web before any bucket moves, and it is recorded", async () => {
    const five = await deployed(withServers(5));
    const v = withServers(4);
    v.rollout = { evict: ["dtable-server-5"] };
    const at = withServers(5).hosts.servers[4].address;
    await expect(runProgram(v, five)).rejects.toThrow(`rollout.evict: dtable-server-5 (${at}:22) answers SSH, so it is not dead and may hold bases. Nothing was changed.`);
    const run = await runProgram(v, { ...five, unreachable: ["dtable-server-5"] });
    // checked on dtable-web before the lease is taken: a refusal leaves nothing to clear
    const lease = run.one(`${P}lease`).inputs.create as string;
    expect(scriptVars(lease)).toMatchObject({ EVICTED: `dtable-server-5 ${at}`, DTABLE_SERVER_PORT: "5000" });
    expect(lease.indexOf('if connects "$address" "$DTABLE_SERVER_PORT"; then')).toBeGreaterThan(0);
    expect(lease.indexOf('if connects "$address"')).toBeLessThan(lease.indexOf("set -C"));
    expect((run.outputs.appliedRouting as { evicted?: { name: string }[] }).evicted?.map((e) => e.name)).toEqual(["dtable-server-5"]);
  });

  test("an evicted server that answers again is fenced before anything else changes, on its own host; while it does not answer, every up warns", async () => {
    const five = await deployed(withServers(5));
    const v = withServers(4);
    v.rollout = { evict: ["dtable-server-5"] };
    const evicted = afterUp(await runProgram(v, { ...five, unreachable: ["dtable-server-5"] }));
    const { result: quietRun, logged } = await logsOf(() => runProgram(v, { ...evicted, unreachable: ["dtable-server-5"] }));
    expect(warnings(logged)).toEqual([
      `warning: dtable-server-5 (${withServers(5).hosts.servers[4].address}) was evicted as dead and does not answer; when it answers again, the next pulumi up stops its seatable-server before anything else (a fence).`,
    ]);
    expect(proxySteps(quietRun).every((s) => s.ignoreChanges.length > 0)).toBe(true);
    const back = await runProgram(v, evicted);
    const fence = back.one(`${P}fence-dtable-server-5`);
    expect(JSON.stringify(fence.inputs.connection)).toContain(`"host":"${withServers(5).hosts.servers[4].address}"`);
    expect(scriptVars(fence.inputs.create as string).CONTAINER).toBe("seatable-server");
    expect(fence.inputs.create).toContain('docker kill "$CONTAINER"');
    expect(fence.inputs.create).toContain('docker update --restart=no "$CONTAINER"');
    before(back, `${P}lease`, `${P}fence-dtable-server-5`);
    // nothing that changes a host comes before it but the lease
    for (const r of back.resources.filter((x) => (x.type === COMMAND || x.type === CONTAINER) && x.name !== `${P}lease` && x.name !== `${P}fence-dtable-server-5`)) before(back, `${P}fence-dtable-server-5`, r.name);
    // fenced: no longer on record
    expect((back.outputs.appliedRouting as { evicted?: unknown }).evicted).toBeUndefined();
  });
});
