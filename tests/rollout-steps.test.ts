// The rollout's host steps over plain plans (no Pulumi): their order, the
// files each installs, what each checks, and which run they belong to.
import { routingJson } from "../pure/config/routing-file";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { proxyFiles, probePath, probeUuid, rolloutSteps, sha256, serverProbes, HostStep } from "../pure/plan/rollout";
import { shellQuote } from "../pure/plan/seatable";
import { ContainerChange, planStages } from "../pure/plan/stages";
import { configOf, withServers } from "./support/stacks";

const RUN = { stack: "organization/seatable-cluster/prod", id: "run-1" };
const planOf = (values: Record<string, any>, applied?: ClusterPlan) => buildPlan(configOf(values), applied?.routing);
const same = (plan: ClusterPlan): Record<string, ContainerChange> => Object.fromEntries([plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers].map((h) => [h.name, "same"]));

function stepsOf(plan: ClusterPlan, opts: { previous?: ClusterPlan; containers?: Record<string, ContainerChange>; nodesChanging?: boolean; run?: typeof RUN; recorded?: { conf: string; hosts: string } } = {}) {
  const previousServers = (opts.previous ?? plan).config.hosts.servers;
  const stages = planStages({ plan, previousServers, containers: { ...same(plan), ...opts.containers }, maxRestarting: plan.config.rollout.maxRestarting, evict: plan.config.rollout.evict });
  const steps = rolloutSteps({ plan, stages, previousServers, run: opts.run ?? RUN, nodesChanging: opts.nodesChanging ?? false, recorded: opts.recorded });
  const byId = (id: string) => steps.find((s) => s.id === id)!;
  return { stages, steps, byId, order: steps.map((s) => `${s.id} <- ${s.after.join(",") || "-"} @${s.host}`) };
}

const four = planOf(withServers(4));
const five = planOf(withServers(5), four);
/** the hashes a guard accepts for a file, from its `case` line */
const guardHashes = (step: HostStep, file: string) => {
  const lines = step.command.split("\n");
  const at = lines.findIndex((l) => l === `if [ -e ${file} ]; then`);
  return lines[at + 2].trim().replace(/\) ;;$/, "").split("|");
};

describe("without stages", () => {
  test("lease, then the switch once every node is ready, then verify with the proxy container; the lease is released at the end", () => {
    const { order, byId } = stepsOf(planOf(withServers(4), four));
    expect(order).toEqual(["lease <- - @dtable-web", "switch <- ready-all,lease @dtable-web", "verify <- switch,proxy @dtable-web"]);
    expect(byId("verify").command).toMatch(/\nrm -f \/opt\/seatable-compose\/dtable-server-proxy\/lease\necho "verified; lease released"$/);
    expect(byId("switch").command).toContain("mv -f \"$T/routing.json\" /opt/seatable-compose/dtable-server-proxy/routing.json");
  });

  test("the backup runs after the lease and the pulls when a container changes, and gates the switch; not otherwise", () => {
    const v = withServers(4);
    v.rollout = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };
    const plan = planOf(v, four);
    expect(stepsOf(plan).steps.map((s) => s.id)).toEqual(["lease", "switch", "verify"]);
    const { order, byId } = stepsOf(plan, { nodesChanging: true });
    expect(order).toEqual(["lease <- - @dtable-web", "backup <- lease,pulled @dtable-db", "switch <- ready-all,backup @dtable-web", "verify <- switch,proxy @dtable-web"]);
    expect(byId("backup").command).toBe(`set -eu\n# rollout stack=${RUN.stack} run=${RUN.id}\n/usr/local/bin/backup-seatable`);
    // with stages, the backup comes before the first quarantine
    const v5 = withServers(5);
    v5.rollout = v.rollout;
    const staged = stepsOf(planOf(v5, four));
    expect(staged.byId("backup").after).toEqual(["lease", "pulled"]);
    expect(staged.byId("stage-1-quarantine").after).toEqual(["ready-all", "backup"]);
  });
});

describe("scale-out 4 → 5", () => {
  const scaled = () => stepsOf(five);

  test("per stage: quarantine → restart → switch → verify, each stage after the one before; the last verify waits for the proxy", () => {
    const { steps, order } = scaled();
    const servers = ["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4"];
    expect(order).toEqual([
      "lease <- - @dtable-web",
      ...servers.flatMap((s, i) => {
        const k = `stage-${i + 1}`;
        return [
          `${k}-quarantine <- ${i === 0 ? "ready-all" : `stage-${i}-verify`},lease @dtable-web`,
          `${k}-restart-${s} <- ${k}-quarantine @${s}`,
          `${k}-switch <- ${k}-quarantine,${k}-restart-${s} @dtable-web`,
          `${k}-verify <- ${k}-switch${i === 3 ? ",proxy" : ""} @dtable-web`,
        ];
      }),
    ]);
    // only the last verify releases the lease
    expect(steps.filter((s) => s.command.includes('echo "verified; lease released"')).map((s) => s.id)).toEqual(["stage-4-verify"]);
  });

  test("a restart waits up to stopTimeoutSeconds for the save, then for /ping/, and names this run (a new run gives a new command)", () => {
    const { byId } = scaled();
    const restart = byId("stage-1-restart-dtable-server");
    expect(restart.command).toContain("docker restart -t 600 seatable-server >/dev/null");
    expect(restart.command).toContain(`# rollout stack=${RUN.stack} run=${RUN.id}`);
    expect(restart.command).toContain("curl -fsS -m 5 http://127.0.0.1:5000/ping/");
    expect(restart.command).toContain("-ge 600 ]; then echo \"dtable-server did not answer /ping/ within 600 s of its restart\" >&2; exit 1; fi");
    expect(restart.title).toBe("restart dtable-server so that it drops every base it holds (its buckets answer 503 meanwhile), and wait for /ping/");
    const next = stepsOf(five, { run: { ...RUN, id: "run-2" } });
    expect(next.byId("stage-1-restart-dtable-server").command).not.toBe(restart.command);
  });

  test("a quarantine installs the table before the stage with its server's buckets answering 503, and checks one of them", () => {
    const { byId, stages } = scaled();
    const q = byId("stage-1-quarantine");
    const paused = stages.stages[0].paused.buckets;
    expect((q.stdin!.match(/ quarantine;/g) ?? []).length).toBe(paused.length);
    expect(q.command).toContain(`wait_answers "$P${probePath(probeUuid(stages.stages[0].before, paused[0]))}" quarantine - 503 60`);
    expect(q.title).toBe(`stage 1: quarantine ${paused.length} bucket(s) and 0 pinned base(s) (503 with Retry-After) for dtable-server (restart: it gives up buckets or pinned bases)`);
    // the pinned base's server: its pin is paused too (the dashed and the 32-hex form)
    const q3 = byId("stage-3-quarantine");
    expect((q3.stdin!.match(/ quarantine;/g) ?? []).length).toBe(stages.stages[2].paused.buckets.length + 2);
  });

  test("each switch installs the stage's table and checks that every server gets its bases from its own address", () => {
    const { byId, stages } = scaled();
    const sw = byId("stage-1-switch");
    const probes = serverProbes(stages.stages[0].after);
    expect(probes.map((p) => p.server).sort()).toEqual(["dtable-server", "dtable-server-2", "dtable-server-3", "dtable-server-4", "dtable-server-5"]);
    const addresses = Object.fromEntries(five.config.hosts.servers.map((s) => [s.name, s.address]));
    for (const p of probes) expect(sw.command).toContain(`wait_answers "$P${probePath(p.uuid)}" '${p.server}' '${addresses[p.server]}:5000' "*" 60`);
    expect(sw.command).toContain(`printf %s ${shellQuote(routingJson(stages.stages[0].after))} > "$T/routing.json"`);
    const last = byId("stage-4-switch");
    expect(last.stdin).toBe(proxyFiles(five).conf);
  });

  test("a verify checks every server directly, dtable-web, the default and each server's bases through the proxy, and fails on any", () => {
    const { byId, stages } = scaled();
    const v = byId("stage-2-verify");
    for (const s of five.config.hosts.servers) expect(v.command).toContain(`check "${s.name} answers /ping/ directly" "$(probe http://${s.address}:5000/ping/ | cut -d' ' -f1)" 200`);
    expect(v.command).toContain(`check "dtable-web answers /api2/ping/ on 8000" "$(probe http://198.51.100.10:8000/api2/ping/ | cut -d' ' -f1)" 200`);
    const after = stages.stages[1].after;
    expect(v.command).toContain(`check "the proxy sends requests without a base to ${after.default}"`);
    for (const p of serverProbes(after)) expect(v.command).toContain(`check "a base of ${p.server} (${p.uuid}) reaches ${p.server} through the proxy"`);
    expect(v.command).toContain(`check "the proxy runs this step's config" "$(sha256sum < /opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf | cut -c1-64)" ${sha256(byId("stage-2-switch").stdin!)}`);
    expect(v.command).toMatch(/\n\[ "\$failed" = 0 \]$/);
  });

  test("every proxy step refuses live files that are neither recorded nor this run's; the lease step accepts exactly those", () => {
    const { byId } = scaled();
    const recorded = { conf: "a".repeat(64), hosts: "b".repeat(64) };
    const run = stepsOf(five, { recorded });
    const proxySteps = run.steps.filter((s) => s.stdin !== undefined);
    const own = [...new Set(proxySteps.map((s) => sha256(s.stdin!)))];
    for (const s of [run.byId("lease"), ...proxySteps]) {
      expect(guardHashes(s, "/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf").sort()).toEqual([recorded.conf, ...own].sort());
      // no server leaves: the hosts file during the stages is the final one
      expect(guardHashes(s, "/opt/seatable-compose/dtable-server-proxy/hosts")).toEqual([recorded.hosts, sha256(proxyFiles(five).hosts)]);
    }
    // without a record, this run's own files only
    expect(guardHashes(byId("lease"), "/opt/seatable-compose/dtable-server-proxy/nginx-proxy.conf").sort()).toEqual(own.sort());
  });

  test("every step but the lease checks that this run holds the lease", () => {
    const { steps } = scaled();
    for (const s of steps.filter((x) => x.host === "dtable-web" && x.id !== "lease")) expect([s.id, s.command.includes(`LEASE='stack=${RUN.stack} run=${RUN.id}'`) && s.command.includes("this run does not hold the lease")]).toEqual([s.id, true]);
  });
});

test("a replaced server needs no restart: its stage's switch waits for its new container", () => {
  const plan = planOf(withServers(4), four);
  const { order } = stepsOf(plan, { containers: { "dtable-server-2": "replace" } });
  expect(order).toEqual([
    "lease <- - @dtable-web",
    "stage-1-quarantine <- ready-all,lease @dtable-web",
    "stage-1-switch <- stage-1-quarantine,ready-dtable-server-2 @dtable-web",
    "stage-1-verify <- stage-1-switch,proxy @dtable-web",
  ]);
});

test("a server that leaves is stopped on its own host, last, and the proxy's hosts file keeps its address until the end", () => {
  const plan = planOf(withServers(4), five);
  const { byId, steps } = stepsOf(plan, { previous: planOf(withServers(5)) });
  const stop = steps.find((s) => /-stop-/.test(s.id))!;
  expect(stop.id).toMatch(/^stage-\d+-stop-dtable-server-5$/);
  expect(stop.host).toBe("dtable-server-5");
  expect(stop.command).toContain("docker stop -t 600 seatable-server >/dev/null");
  expect(stop.command).not.toContain("/ping/");
  expect(stop.title).toBe("stop dtable-server-5: it leaves the cluster (its buckets answer 503 meanwhile)");
  const k = stop.id.replace(/-stop-.*/, "");
  expect(byId(`${k}-quarantine`).command).toContain("dtable-server-5");
  expect(byId(`${k}-verify`).command).not.toContain("dtable-server-5 answers /ping/");
});
