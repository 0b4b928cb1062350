// The host scripts (hostscripts/*.sh) as files and as the commands the plan
// builds from them: shellcheck finds nothing, dash and bash parse them, every
// value a script reads is in its header or set by the script, every file is
// used, and a header value arrives on the host exactly as the plan wrote it.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { offlineGraph } from "../pure/plan/graph";
import { NODE_FACTS_COMMAND } from "../pure/plan/node-facts";
import { DEPRECATED_CONF_READ_COMMAND } from "../pure/plan/conf-migration";
import { hostScript, HOSTSCRIPTS_DIR, scriptHeader, scriptText } from "../pure/plan/host-scripts";
import { LIVE_READ_COMMAND } from "../pure/plan/live";
import { moveAsideCommand } from "../pure/plan/node-steps";
import { leaseCheck, rolloutSteps, ServerHost } from "../pure/plan/rollout";
import { confEdits, editCommand } from "../pure/plan/seatable";
import { ContainerChange, planStages } from "../pure/plan/stages";
import { configOf, ipv6Values, withServers } from "./support/stacks";

const RUN = { stack: "organization/seatable-cluster/prod", id: "run-1" };
const SHELLS = ["dash", "bash"] as const;

const files = [...readdirSync(HOSTSCRIPTS_DIR).filter((f) => f.endsWith(".sh")), ...readdirSync(join(HOSTSCRIPTS_DIR, "lib")).map((f) => join("lib", f))].sort();

/** shellcheck's findings for a file or a command (POSIX sh: a bashism is a finding). */
function shellcheck(args: string[], input?: string): string {
  const r = spawnSync("shellcheck", ["--shell=sh", "--format=gcc", ...args], { input, encoding: "utf8" });
  if (r.error) throw r.error;
  return `${r.stdout}${r.stderr}`.trim();
}

/** The syntax errors each shell finds (empty: none). */
const parses = (text: string) => SHELLS.map((sh) => [sh, spawnSync(sh, ["-n"], { input: text, encoding: "utf8" }).stderr.trim()]);

// ---- every command the plan builds ----------------------------------------------------------

const same = (plan: ClusterPlan): Record<string, ContainerChange> => Object.fromEntries([plan.config.hosts.web, plan.config.hosts.db, ...plan.config.hosts.servers].map((h) => [h.name, "same"]));
function rollout(plan: ClusterPlan, previous: ClusterPlan, extra: { containers?: Record<string, ContainerChange>; evict?: string[]; fences?: ServerHost[]; evicted?: ServerHost[] } = {}) {
  const previousServers = previous.config.hosts.servers;
  const stages = planStages({ plan, previousServers, containers: { ...same(plan), ...extra.containers }, maxRestarting: 1, evict: extra.evict ?? [] });
  return rolloutSteps({ plan, stages, previousServers, run: RUN, nodesChanging: true, ...(extra.fences ? { fences: extra.fences } : {}), ...(extra.evicted ? { evicted: extra.evicted } : {}) });
}

function everyCommand(): { name: string; command: string }[] {
  const withBackup = (n: number) => ({ ...withServers(n), rollout: { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } } });
  const four = buildPlan(configOf(withServers(4)));
  const five = buildPlan(configOf(withBackup(5)), four.routing);
  const fiveServers = five.config.hosts.servers;
  const scaledIn = buildPlan(configOf({ ...withServers(4), rollout: { evict: ["dtable-server-5"] } }), five.routing);
  const steps = [
    // scale-out with a backup: lease, claims, backup, quarantine, restart, switch, verify
    ...rollout(five, four),
    // a replaced server (mark, restarted) and a fenced one
    ...rollout(four, four, { containers: { "dtable-server-2": "replace" }, fences: [fiveServers[4]], evicted: [fiveServers[4]] }),
    // a server leaves (stop), and one is evicted as dead
    ...rollout(buildPlan(configOf(withServers(4)), five.routing), buildPlan(configOf(withServers(5)))),
    ...rollout(scaledIn, buildPlan(configOf(withServers(5))), { evict: ["dtable-server-5"] }),
  ];
  const nodes = ["6.1.8", "6.2.0"].flatMap((version) => {
    const config = configOf(withServers(3));
    const plan = buildPlan({ ...config, seatableVersion: version, s3: { ...config.s3, buckets: { ...config.s3.buckets, avatar: "avatars" } } }, four.routing);
    return offlineGraph(plan, true, "EDIT").graph.nodes.flatMap((n) => (n.kind === "step" ? [{ name: `${version} ${n.id}`, command: n.step.command }] : []));
  });
  // an IPv6 cluster: seatable-server's /etc/hosts is a file of its own
  const ipv6 = offlineGraph(buildPlan(configOf(ipv6Values())), false, "EDIT").graph.nodes.flatMap((n) => (n.kind === "step" ? [{ name: `IPv6 ${n.id}`, command: n.step.command }] : []));
  return [
    ...steps.map((s) => ({ name: s.id, command: s.command })),
    ...nodes,
    ...ipv6,
    { name: "live read", command: LIVE_READ_COMMAND },
    { name: "edit command", command: editCommand(confEdits(configOf(), "dtable-web").edits, "EDIT").command },
    { name: "move aside", command: moveAsideCommand() },
    { name: "deprecated conf read", command: DEPRECATED_CONF_READ_COMMAND },
    { name: "node facts", command: NODE_FACTS_COMMAND },
    { name: "lease check", command: leaseCheck("dtable-db", "dtable-web", RUN, "x") },
  ];
}

const commands = everyCommand();

test("shellcheck finds nothing in any host script, checked as POSIX sh", () => {
  expect(files.length).toBeGreaterThan(15);
  expect(shellcheck(files.map((f) => join(HOSTSCRIPTS_DIR, f)))).toBe("");
});

test("dash and bash parse every host script", () => {
  for (const f of files) expect([f, parses(scriptText(f))]).toEqual([f, SHELLS.map((sh) => [sh, ""])]);
});

test("every command the plan builds passes shellcheck and parses in dash and bash", () => {
  expect(commands.length).toBeGreaterThan(40);
  for (const c of commands) {
    expect([c.name, shellcheck(["-"], c.command)]).toEqual([c.name, ""]);
    expect([c.name, parses(c.command)]).toEqual([c.name, SHELLS.map((sh) => [sh, ""])]);
  }
});

test("every host script file is used by a command the plan builds", () => {
  const used = (f: string) => commands.some((c) => c.command.includes(scriptText(f).trimEnd()));
  expect(files.filter((f) => !used(f))).toEqual([]);
});

test("every upper-case value a command reads is in its header or set by the command", () => {
  // what the shell or the host provides
  const outside = new Set(["PATH", "HOME"]);
  for (const c of commands) {
    const set = new Set([...c.command.matchAll(/(?:^|[\s;(])([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]));
    const read = new Set([...c.command.matchAll(/\$\{?([A-Z][A-Z0-9_]*)/g)].map((m) => m[1]));
    expect([c.name, [...read].filter((v) => !set.has(v) && !outside.has(v))]).toEqual([c.name, []]);
  }
});

test("a header value reaches the host exactly as the plan wrote it, in dash and bash: quotes, $(…), backticks, newlines", () => {
  const value = fc.string({ unit: "binary", maxLength: 60 }).filter((s) => !s.includes("\0"));
  fc.assert(
    fc.property(value, fc.array(value, { maxLength: 3 }), (one, lines) => {
      const command = [...scriptHeader({ ONE: one, LINES: lines }), 'printf "%s\\0%s" "$ONE" "$LINES"'].join("\n");
      for (const sh of SHELLS) expect(execFileSync(sh, ["-c", command], { encoding: "utf8" })).toBe(`${one}\0${lines.join("\n")}`);
    }),
    { numRuns: 150 },
  );
  expect(() => hostScript([], { lower: "x" })).toThrow('host script header: "lower" is not an upper-case shell name');
});
