// The host scripts (hostscripts/*.sh) as files and as the commands the plan
// builds from them: shellcheck finds nothing, dash and bash parse them, every
// value a script reads is in its header or set by the script, every file is
// used, and a header value arrives on the host exactly as the plan wrote it.
import { execFileSync, spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { buildPlan, ClusterPlan } from "../pure/plan";
import { offlineGraph } from "../pure/plan/graph";
import { nodeFactsCommand } from "../pure/plan/node-facts";
import { DEPRECATED_CONF_READ_COMMAND } from "../pure/plan/conf-migration";
import { hostScript, HOSTSCRIPTS_DIR, scriptHeader, scriptText } from "../pure/plan/host-scripts";
import { LIVE_READ_COMMAND } from "../pure/plan/live";
import { moveAsideCommand, nodeSteps } from "../pure/plan/node-steps";
import { seatableHostsFile } from "../pure/plan/containers";
import { leaseCheck, rolloutSteps, ServerHost } from "../pure/plan/rollout";
import { confEdits, editCommand } from "../pure/plan/seatable";
import { probeTargets, webProbesCommand } from "../pure/plan/status";
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
    { name: "node facts", command: nodeFactsCommand() },
    { name: "dtable-web's facts, with MariaDB", command: nodeFactsCommand({ mariadb: true }) },
    { name: "lease check", command: leaseCheck("dtable-db", "dtable-web", RUN, "x") },
    { name: "status: what dtable-web sees", command: webProbesCommand(configOf(withServers(4)), probeTargets(configOf(withServers(4)), {})) },
    { name: "status: what dtable-web sees (IPv6)", command: webProbesCommand(configOf(ipv6Values()), probeTargets(configOf(ipv6Values()), {})) },
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

test("a command is the header, then each library and script as its file has it, without shellcheck's directive lines, and no trailing newline", () => {
  for (const f of files) {
    const lines = readFileSync(join(HOSTSCRIPTS_DIR, f), "utf8").split("\n");
    expect(lines[0]).toBe("# shellcheck shell=sh");
    expect(scriptText(f)).toBe(lines.filter((l) => !l.startsWith("# shellcheck ")).join("\n"));
  }
  const command = hostScript(["lease"], { A: "1" }, ["progress"]);
  expect(command).toBe(["set -eu", "A='1'", scriptText("lib/progress.sh").trimEnd(), scriptText("lease.sh").trimEnd()].join("\n"));
  expect(command.endsWith("\n")).toBe(false);
  expect(hostScript([], {}, ["progress"]).endsWith("\n")).toBe(false);
});

test("a header name is an upper-case shell name, whole", () => {
  for (const name of ["aB", "Ab", "A-B", "1A", ""]) expect(() => scriptHeader({ [name]: "x" })).toThrow(`host script header: ${JSON.stringify(name)} is not an upper-case shell name`);
  expect(scriptHeader({ A_1: 2, LINES: ["x", "y"] })).toEqual(["A_1='2'", "LINES='x\ny'"]);
});

test("node steps: the hosts-file step on an IPv6 node only, and the running step's two titles", () => {
  const v4 = configOf(withServers(2));
  const v6 = configOf(ipv6Values());
  for (const n of [v4.hosts.web, v4.hosts.db, ...v4.hosts.servers]) expect(nodeSteps(v4, n, "EDIT").before.map((s) => s.id)).not.toContain("hosts-file");
  for (const n of [v6.hosts.web, v6.hosts.db, ...v6.hosts.servers]) {
    const step = nodeSteps(v6, n, "EDIT").before.find((s) => s.id === "hosts-file")!;
    expect(step.title).toBe("write /opt/seatable-compose/seatable-server-hosts, seatable-server's /etc/hosts (an IPv6 address cannot go in extra_hosts)");
    expect(step.command).toBe(hostScript(["hosts-file"], { FILE: "/opt/seatable-compose/seatable-server-hosts" }));
    expect(step.stdin).toBe(seatableHostsFile(v6, n));
  }
  const server = v4.hosts.servers[0];
  const running = (restartedInStage: boolean) => nodeSteps(v4, server, "EDIT", { restartedInStage }).after.find((s) => s.id === "running")!.title;
  expect(running(false)).toBe(`start seatable-server on ${server.name} if it is not running, and wait until it answers /ping/`);
  expect(running(true)).toBe(`start seatable-server on ${server.name} if it is not running (its stage restarts it and waits for /ping/)`);
});
