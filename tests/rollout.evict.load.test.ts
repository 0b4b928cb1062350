// Evicting a dtable-server, and servers whose container Pulumi leaves alone,
// under load, for real, on this machine (tests/support/load.ts: the world, the
// writers, the outcome; tests/support/graph-runner.ts: each up as index.ts
// plans it and the Pulumi engine runs it).
//
// Each scenario in a world of its own, under both stand-in models, writers
// sending acknowledged writes to one base per bucket through the proxy
// throughout:
// 1. Evicting a server that still runs is refused: (a) its SSH answers → the up
//    is refused before anything runs; (b) its SSH does not answer but its
//    process runs → the lease step refuses naming port 5000 before it takes the lease, and nothing moves;
//    then the admin does the right thing (SSH back, the server removed without
//    evict: stopped before its buckets move).
// 2. A dead server evicted, then coming back, is fenced before it saves. The
//    realistic "dead" that comes back with bases in memory is a network
//    partition (FakeDocker.partition: SSH and port 5000 unreachable, the process
//    lives with its unsaved writes and cannot save). It is evicted (its buckets
//    move), writes go on to their new owners, the partition heals, and the next
//    up (same config) must fence it (docker kill, restart policy no) before any
//    other step, so that it never saves its stale copies.
// 3. The first up after upgrading the program (the stack recorded no container
//    digests: every existing container `unknown`, planned as replaced) with a
//    scale-out 3 → 4 (every server gives up buckets), while Pulumi finds
//    nothing to change for those containers (same image, same spec): each
//    server must be restarted inside its quarantine by `stage-N-restarted-<server>`.
// 4. A hung dtable-server (frozen: SIGSTOP; Docker calls it running, its health
//    check fails until Docker calls it unhealthy) and an up with the same config
//    (no routing change): the program reads each node's container before
//    planning, so the hung server gets a stage of its own, action restart:
//    quarantine (its buckets answer 503) → `docker restart` → switch → verify.
//    A control first: the same up with nothing frozen is quiet; and the up after
//    it is quiet again.
//
// Each scenario's flow goes on whatever the program does (a step that does not
// fail, an up that is not refused), so that its figures say what happened
// with any version of the program; the assertions come after.
//
// Figures go to their own section of docs/rollout-load-test.md when asked:
//   ROLLOUT_FIGURES=1 npx jest tests/rollout.evict.load.test.ts
import { existsSync, readFileSync, rmSync } from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { performance } from "perf_hooks";
import type { ClusterConfig } from "../pure/config/schema";
import { PORTS } from "../pure/config/schema";
import { SEATABLE_CONTAINER } from "../pure/plan/containers";
import { containerFindings } from "../pure/plan/host-containers";
import { containerReadCommand, parseContainerRead } from "../pure/plan/live";
import type { RoutingTable } from "../pure/plan/routing";
import { bucketOf, ownerOf } from "../pure/plan/routing";
import type { StageServer } from "../pure/plan/stages";
import { stageNotes } from "../pure/plan/summary";
import { DoubleHold, durableContents, readEvents, StandinEvent, StandinModel } from "./support/dtable-standin";
import type { FakeDocker } from "./support/fake-docker";
import { NodeTiming, prepareUp, runGraph, up, UpResult } from "./support/graph-runner";
import { addressesOf } from "./support/loopback-cluster";
import { Counts, deployed, LostWrite, MODELS, OPTIONS, outcome, P, REQUEST_TIMEOUT_MS, SAVE_INTERVAL_MS, sleep, stopWorlds, unfinished, World, Writers, writeReportSection } from "./support/load";

jest.setTimeout(150_000);

const EVICT_SECTION = "tests/rollout.evict.load.test.ts";
const WARMUP_MS = 1_500; // load before the first change: every base loaded, writes unsaved on every server
const SETTLE_MS = 1_000; // load between and after the changes
const S3 = "dtable-server-3";
// worlds of their own: rollout.load.test.ts uses 0-5, rollout.recovery.load.test.ts 10-13
const WORLD = { refused: 30, partition: 32, unknown: 34, hung: 36 } as const;

// ---- what an admin sees -----------------------------------------------------------------

/** The proxy's files on dtable-web, and the lease (undefined where there is none). */
function proxyFolder(world: FakeDocker): Record<string, string | undefined> {
  const read = (f: string) => (existsSync(path.join(world.proxyDir, f)) ? readFileSync(path.join(world.proxyDir, f), "utf8") : undefined);
  return Object.fromEntries(["nginx-proxy.conf", "hosts", "routing.json", "servers.json", "lease"].map((f) => [f, read(f)]));
}

const evictedInServersJson = (world: FakeDocker): string[] => {
  const text = proxyFolder(world)["servers.json"];
  return text ? ((JSON.parse(text) as { evicted?: { name: string }[] }).evicted ?? []).map((s) => s.name) : [];
};

/** The nodes of an up that did something (pulls are no-ops here). */
const ran = (r: { timings: readonly NodeTiming[] }) => r.timings.filter((t) => t.kind !== "pull").map((t) => t.id);

/** `id`'s timing in an up, if it ran. */
const timingOf = (r: { timings: readonly NodeTiming[] }, id: string) => r.timings.find((t) => t.id === id);

/** A direct request to a dtable-server's port 5000, as anything that still knows its address would send one. */
function direct(address: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.get({ host: address, port: PORTS.dtableServer, path: "/ping/", agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(`HTTP ${res.statusCode}`));
    });
    req.setTimeout(2_000, () => req.destroy(new Error("no answer within 2 s")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** The events of `server`'s processes since `since` (process.hrtime.bigint()). */
const eventsOf = (world: FakeDocker, server: string, since: bigint): StandinEvent[] => readEvents(world.eventLog).filter((e) => e.server === server && e.t >= since);

// ---- figures ----------------------------------------------------------------------------

type Figure = {
  readonly scenario: 1 | 2 | 3 | 4;
  readonly model: StandinModel;
  readonly total: Counts;
  readonly byPhase: ReadonlyMap<string, Counts>;
  /** lost, acknowledged in a phase before the eviction on a bucket of the evicted server */
  readonly lostBefore: readonly LostWrite[];
  /** every other write lost */
  readonly lostAfter: readonly LostWrite[];
  readonly doubleHeld: readonly DoubleHold[];
  /** what happened, for the report */
  readonly story: readonly string[];
  readonly ms: number;
};

/** The outcome of a world once its writers stopped, with its lost writes split at the eviction. */
async function figureOf(
  w: World,
  writers: Writers,
  o: { scenario: Figure["scenario"]; model: StandinModel; before: RoutingTable; phasesBefore: readonly string[]; story: string[]; started: number },
): Promise<Figure> {
  const { lost, doubleHeld } = await outcome(w.world, writers);
  const evictedBefore = (l: LostWrite) => o.phasesBefore.includes(l.phase) && o.before.buckets[bucketOf(l.base, o.before.bucketHexDigits)] === S3;
  return {
    scenario: o.scenario,
    model: o.model,
    total: writers.total(),
    byPhase: writers.counts,
    lostBefore: lost.filter(evictedBefore),
    lostAfter: lost.filter((l) => !evictedBefore(l)),
    doubleHeld,
    story: o.story,
    ms: performance.now() - o.started,
  };
}

const bases = (holds: readonly DoubleHold[]) => new Set(holds.map((d) => d.base)).size;
const describeUp = (r: UpResult) => unfinished(r) ?? "done";
/** The first line of why an up did not finish (or "done"), without its trailing colon. */
const headline = (r: string) => r.split("\n")[0].replace(/:$/, "");

// ---- 1. evicting a server that still runs ----------------------------------------------

type Refused = Figure & {
  /** (a) SSH answers */
  readonly a: { refused?: string; ran: string[]; proxyUnchanged: boolean; dockerCalls: number };
  /** (b) SSH does not answer, port 5000 does */
  readonly b: { refused?: string; failed?: { id: string; stderr: string }; ran: string[]; routingUnchanged: boolean; confUnchanged: boolean; leaseLeft: boolean };
  /** the admin's way: SSH back, removed without evict */
  readonly fix: { refusedFirst?: string; result: string; stopBeforeSwitch: boolean; actions: string };
};

async function refusedEviction(n: number, model: StandinModel): Promise<Refused> {
  const started = performance.now();
  const w = await deployed(n, model, 3);
  const before = w.state.applied!.table;
  const writers = new Writers(w.proxyPort, `e${n}-`);
  const story: string[] = [];
  writers.start();
  let a: Refused["a"];
  let b: Refused["b"];
  let fix: Refused["fix"];
  try {
    await sleep(WARMUP_MS);
    const evicting = w.config({ servers: 2, evict: [S3] });

    // (a) dtable-server-3 runs and its SSH answers
    writers.phase = "evict while its SSH answers";
    const folderA = proxyFolder(w.world);
    const callsA = w.world.calls.length;
    const ra = await up(w.world, w.state, evicting, OPTIONS);
    a = { ...(ra.prepared.refused ? { refused: ra.prepared.refused } : {}), ran: ran(ra), proxyUnchanged: JSON.stringify(proxyFolder(w.world)) === JSON.stringify(folderA), dockerCalls: w.world.calls.slice(callsA).filter((c) => c.args[0] !== "inspect").length };
    story.push(`(a) evict, SSH answers: ${ra.prepared.refused ? `refused before anything ran (${a.dockerCalls} docker calls but the read's inspect, the proxy's files ${a.proxyUnchanged ? "unchanged" : "changed"}): "${ra.prepared.refused}"` : `not refused: ${describeUp(ra)}, ${a.ran.length} node(s) ran`}`);
    await sleep(SETTLE_MS / 2);

    // (b) its SSH does not answer (a firewall, sshd down), but its process runs and listens
    w.world.setReachable(S3, false);
    writers.phase = "evict while its port 5000 answers";
    const folderB = proxyFolder(w.world);
    const rb = await up(w.world, w.state, evicting, OPTIONS);
    const folderB2 = proxyFolder(w.world);
    b = {
      ...(rb.prepared.refused ? { refused: rb.prepared.refused } : {}),
      ...(rb.failed ? { failed: { id: rb.failed.id, stderr: rb.failed.stderr } } : {}),
      ran: ran(rb),
      routingUnchanged: folderB2["routing.json"] === folderB["routing.json"],
      confUnchanged: folderB2["nginx-proxy.conf"] === folderB["nginx-proxy.conf"] && folderB2.hosts === folderB.hosts,
      leaseLeft: folderB2.lease !== undefined,
    };
    const message = rb.failed?.stderr.trim().split("\n").find((l) => l.includes(S3));
    story.push(
      `(b) evict, SSH down, port 5000 answers: ${headline(describeUp(rb))}${message ? `: "${message}"` : ""}; routing.json ${b.routingUnchanged ? "unchanged" : "changed"}${b.leaseLeft ? "; the lease stays held" : ""}`,
    );
    await sleep(SETTLE_MS / 2);

    // the admin does the right thing: SSH back, dtable-server-3 removed without evict
    w.world.setReachable(S3, true);
    writers.phase = "removed without evict";
    const removing = w.config({ servers: 2 });
    let rc = await up(w.world, w.state, removing, OPTIONS);
    let refusedFirst: string | undefined;
    if (rc.prepared.refused?.includes("lease")) {
      // the failed up left its lease; the refusal says to remove it when no up runs
      refusedFirst = rc.prepared.refused;
      rmSync(path.join(w.world.proxyDir, "lease"));
      rc = await up(w.world, w.state, removing, OPTIONS);
    }
    const stage = rc.prepared.graph.stages.stages.find((st) => st.servers.some((s) => s.name === S3));
    const stop = stage && timingOf(rc, `${P}stage-${stage.index}-stop-${S3}`);
    const sw = stage && timingOf(rc, `${P}stage-${stage.index}-switch`);
    fix = {
      ...(refusedFirst ? { refusedFirst } : {}),
      result: describeUp(rc),
      stopBeforeSwitch: stop !== undefined && sw !== undefined && stop.end <= sw.start,
      actions: rc.prepared.graph.stages.stages.map((st) => st.servers.map((s) => `${s.name} (${s.action})`).join(" + ")).join(" → ") || "no stage",
    };
    story.push(
      `removed without evict${refusedFirst ? " (first refused: the failed up's lease, removed by hand as the refusal says)" : ""}: ${headline(fix.result)}; stages ${fix.actions}` +
        (stop ? `; stopped ${fix.stopBeforeSwitch ? "before" : "not before"} its buckets moved` : ""),
    );
    writers.phase = "after";
    await sleep(SETTLE_MS);
  } finally {
    await writers.stop();
  }
  // an eviction that went ahead (none should) moves dtable-server-3's buckets in (a)'s up
  return { ...(await figureOf(w, writers, { scenario: 1, model, before, phasesBefore: ["warm-up", "evict while its SSH answers"], story, started })), a, b, fix };
}

// ---- 2. a partitioned server evicted, then back ----------------------------------------

type Partitioned = Figure & {
  readonly evict: { result: string; evictCheck?: string; actions: string; evictedListed: boolean };
  readonly fence: { fenced: boolean; result: string; startedBeforeFence: string[]; killCalls: number; evictedListed: boolean };
  /** writes acknowledged after the eviction on the evicted server's buckets (by their new owners) */
  readonly movedAcked: number;
  /** the evicted server's bases, and those of them their new owners acknowledged a write to before the next up */
  readonly moved: { bases: number; writtenBeforeFence: number };
  /** the evicted server's processes, since it was cut off (before its eviction) */
  readonly afterEviction: { answers: number; saves: number; events: string[] };
  readonly restartPolicy?: string;
  /** a direct request to its port 5000 at the end */
  readonly directly: string;
  /** without a fence (thawed before the up): its first save, and the acknowledged writes it took out of storage */
  readonly staleSave?: { saved: boolean; bases: number; writes: number };
  /** bases held twice by two servers neither of which is the evicted one */
  readonly heldTwiceElsewhere: readonly DoubleHold[];
};

const PARTITION_PHASES = ["warm-up", "partitioned", "evict up", "evicted", "healed", "fence up", "fenced"] as const;

async function partitionedEviction(n: number, model: StandinModel): Promise<Partitioned> {
  const started = performance.now();
  const w = await deployed(n, model, 3);
  const before = w.state.applied!.table;
  const address = addressesOf(n).servers.find((s) => s.name === S3)!.address;
  const writers = new Writers(w.proxyPort, `e${n}-`);
  const story: string[] = [];
  writers.start();
  let evict: Partitioned["evict"];
  let fence: Partitioned["fence"];
  let cutAt = 0n;
  let directly = "";
  let staleSave: Partitioned["staleSave"];
  try {
    // longer than a save interval: dtable-server-3 has saved, and holds writes it has not saved yet
    await sleep(SAVE_INTERVAL_MS + 500);
    // it is cut off with what it holds: writes it acknowledged since its last save are unsaved
    writers.phase = "partitioned";
    const partitionedAt = performance.now();
    cutAt = process.hrtime.bigint();
    await w.world.partition(S3);
    await sleep(SETTLE_MS / 2);

    writers.phase = "evict up";
    const config = w.config({ servers: 2, evict: [S3] });
    const re = await up(w.world, w.state, config, OPTIONS);
    writers.phase = "evicted";
    evict = {
      result: describeUp(re),
      ...(re.prepared.graph.nodes.some((x) => x.kind === "step" && x.id === `${P}lease` && x.step.command.includes("(rollout.evict): no answer on port"))
        ? { evictCheck: timingOf(re, `${P}lease`)?.what ?? "not run" }
        : {}),
      actions: re.prepared.graph.stages.stages.map((st) => st.servers.map((s) => `${s.name} (${s.action})`).join(" + ")).join(" → ") || "no stage",
      evictedListed: evictedInServersJson(w.world).includes(S3),
    };
    story.push(`partitioned, evicted: ${headline(evict.result)}; the lease step's check of port 5000 ${evict.evictCheck ?? "not in the graph"}; stages ${evict.actions}`);
    // A request the proxy sent on a connection opened before the partition hangs (proxy_read_timeout
    // is 600 s) until its writer gives up: with 8 writers for every base, they may all wait on such
    // requests for a while. Load on the new owners for a second once they gave up, so that the new
    // owners hold dtable-server-3's bases (and it still holds them) when the partition heals.
    await sleep(Math.max(SETTLE_MS, partitionedAt + REQUEST_TIMEOUT_MS + SETTLE_MS - performance.now()));

    // The partition heals: SSH answers, it listens. A real server saves its copies from before
    // the partition at its next save, which may come before the next up or after it: no program
    // can fence a server before an up runs. Kept from saving (frozen) until the next up, which is
    // the case the fence is for: the next up must kill it before it can save.
    writers.phase = "healed";
    await w.world.heal(S3);
    await w.world.freeze(S3);
    await sleep(SETTLE_MS / 2);

    writers.phase = "fence up";
    const prepared = await prepareUp(w.world, w.state, config);
    const fenceId = `${P}fence-${S3}`;
    const fenced = prepared.graph.nodes.some((x) => x.id === fenceId);
    if (!fenced) {
      // nothing in this up stops it: what happens when it runs on (thawed) until an up gets to it.
      // Its first save after the heal is overdue: it comes as it runs again.
      const durable = () => durableContents(w.world.storage, w.world.opLog);
      const stored = durable();
      const thawed = process.hrtime.bigint();
      await w.world.thaw(S3);
      const deadline = performance.now() + SAVE_INTERVAL_MS + 2_000;
      while (!eventsOf(w.world, S3, thawed).some((e) => e.event === "saved") && performance.now() < deadline) await sleep(10);
      // what a load finds right after its save: acknowledged writes its older copies took out of storage
      const after = durable();
      const gone = [...stored].map(([uuid, writes]) => {
        const kept = new Set(after.get(uuid) ?? []);
        return writes.filter((x) => !kept.has(x)).length;
      }).filter((k) => k > 0);
      staleSave = { saved: eventsOf(w.world, S3, thawed).some((e) => e.event === "saved"), bases: gone.length, writes: gone.reduce((a, b) => a + b, 0) };
      story.push(
        `the next up has no fence: dtable-server-3 thawed (it runs on until something stops it). ${staleSave.saved ? "Its first save" : "Nothing it saved"}` +
          ` took ${staleSave.writes} acknowledged write(s) of ${staleSave.bases} base(s) out of storage (what a load found just before it, not just after)`,
      );
      await sleep(SETTLE_MS);
    }
    const calls = w.world.calls.length;
    const rf = prepared.refused ? undefined : await runGraph(w.world, prepared.graph, config, OPTIONS);
    if (rf && !rf.failed && !rf.interrupted) prepared.record();
    const f = rf && timingOf(rf, fenceId);
    fence = {
      fenced: fenced && f?.what === "ran",
      result: prepared.refused ? `refused: ${prepared.refused}` : describeUp({ ...rf!, prepared }),
      startedBeforeFence: rf && f ? rf.timings.filter((t) => t.kind !== "pull" && t.id !== `${P}lease` && t.id !== fenceId && t.start < f.end).map((t) => t.id) : [],
      killCalls: w.world.calls.slice(calls).filter((c) => c.host === S3 && c.args[0] === "kill" && c.code === 0).length,
      evictedListed: evictedInServersJson(w.world).includes(S3),
    };
    story.push(`healed, next up: ${headline(fence.result)}${fenced ? `; ${fenceId} ${f?.what ?? "did not run"}` : ""}`);
    // whatever is left of it runs again; a save it makes would come within one save interval
    await w.world.thaw(S3);
    writers.phase = "fenced";
    await sleep(SAVE_INTERVAL_MS + 500);
    directly = await direct(address);
  } finally {
    await writers.stop();
  }
  const restartPolicy = w.world.restartPolicy(S3) ?? w.world.deletedContainer(S3)?.restartPolicy;
  const figure = await figureOf(w, writers, { scenario: 2, model, before, phasesBefore: ["warm-up", "partitioned"], story, started });
  // after the outcome's final stop: what dtable-server-3's processes did since they were cut off (before the eviction)
  const since = eventsOf(w.world, S3, cutAt);
  const afterPhases = PARTITION_PHASES.slice(PARTITION_PHASES.indexOf("evict up"));
  const movedBases = writers.bases.filter((b) => before.buckets[b.bucket] === S3);
  const movedAcked = movedBases.reduce((k, b) => k + b.acked.filter((x) => (afterPhases as readonly string[]).includes(x.phase)).length, 0);
  const moved = { bases: movedBases.length, writtenBeforeFence: movedBases.filter((b) => b.acked.some((x) => ["evict up", "evicted", "healed"].includes(x.phase))).length };
  const answers = since.filter((e) => e.event === "answer").length;
  const saves = since.filter((e) => e.event === "saved" || e.event === "release").length;
  const heldTwiceElsewhere = figure.doubleHeld.filter((d) => !d.first.startsWith(`${S3} `) && !d.second.startsWith(`${S3} `));
  story.push(
    `after the eviction: ${movedAcked} writes acknowledged by the new owners of its buckets (${moved.writtenBeforeFence} of its ${moved.bases} bases written before the next up); since it was cut off dtable-server-3 answered ${answers} request(s) and saved ${saves} time(s) (stand-in events: ${[...new Set(since.map((e) => e.event))].join(", ") || "none"}); ` +
      `restart policy ${restartPolicy ?? "unknown"}; a direct request to its port 5000 at the end: ${directly}; bases held twice apart from dtable-server-3: ${bases(heldTwiceElsewhere)}`,
  );
  return {
    ...figure,
    evict,
    fence,
    movedAcked,
    moved,
    afterEviction: { answers, saves, events: [...new Set(since.map((e) => e.event))] },
    ...(restartPolicy ? { restartPolicy } : {}),
    directly,
    ...(staleSave ? { staleSave } : {}),
    heldTwiceElsewhere,
  };
}

// ---- 3. containers of unknown spec, Pulumi changes nothing ------------------------------

type Unknown = Figure & {
  readonly result: string;
  readonly actions: string;
  /** what the engine did with each old server's container */
  readonly containers: Record<string, string | undefined>;
  /** `docker restart` calls per old server in the up */
  readonly restarts: Record<string, number>;
  /** each old server's stage-N-restarted step ran between its quarantine and its switch */
  readonly insideQuarantine: Record<string, boolean>;
};

async function unknownContainers(n: number, model: StandinModel): Promise<Unknown> {
  const started = performance.now();
  const w = await deployed(n, model, 3);
  const before = w.state.applied!.table;
  const old = w.config({ servers: 3 }).hosts.servers.map((s) => s.name);
  const writers = new Writers(w.proxyPort, `e${n}-`);
  writers.start();
  let r: UpResult;
  let calls: FakeDocker["calls"];
  try {
    await sleep(WARMUP_MS);
    // the program upgraded from a version that recorded no container digests
    delete w.state.containers;
    writers.phase = "scale-out 3 → 4, no digests recorded";
    const from = w.world.calls.length;
    r = await up(w.world, w.state, w.config({ servers: 4 }), OPTIONS);
    calls = w.world.calls.slice(from);
    writers.phase = "after";
    await sleep(SETTLE_MS);
  } finally {
    await writers.stop();
  }
  const stages = r.prepared.graph.stages.stages;
  const stageOf = (s: string) => stages.find((st) => st.servers.some((x) => x.name === s))?.index;
  const inside = (s: string) => {
    const k = stageOf(s);
    const q = timingOf(r, `${P}stage-${k}-quarantine`);
    const done = timingOf(r, `${P}stage-${k}-restarted-${s}`);
    const sw = timingOf(r, `${P}stage-${k}-switch`);
    return q !== undefined && done !== undefined && sw !== undefined && q.end <= done.start && done.end <= sw.start;
  };
  const actions = stages.map((st) => st.servers.map((s) => `${s.name} (${s.action})`).join(" + ")).join(" → ") || "no stage";
  const result = describeUp(r);
  const restarts = Object.fromEntries(old.map((s) => [s, calls.filter((c) => c.host === s && c.args[0] === "restart" && c.code === 0).length]));
  const containers = Object.fromEntries(old.map((s) => [s, timingOf(r, `container-${s}`)?.what]));
  const story = [
    `scale-out 3 → 4 with no digests recorded: ${headline(result)}; stages ${actions}; Pulumi: ${old.map((s) => `${s} ${containers[s]}`).join(", ")}; docker restarts: ${old.map((s) => `${s} ${restarts[s]}`).join(", ")}`,
  ];
  return {
    ...(await figureOf(w, writers, { scenario: 3, model, before, phasesBefore: [], story, started })),
    result,
    actions,
    containers,
    restarts,
    insideQuarantine: Object.fromEntries(old.map((s) => [s, inside(s)])),
  };
}

// ---- 4. a hung server, restarted inside its own quarantine -------------------------------

/** The stage's why for a dtable-server whose container Docker calls unhealthy (written out: the test holds the program to it). */
const UNHEALTHY = "its seatable-server container is unhealthy on its host: restarted inside its quarantine";
const HUNG_PHASES = { before: ["warm-up", "control up", "hung"], after: ["after", "next up"] } as const;

type Hung = Figure & {
  /** the same config's up before the freeze, nothing frozen */
  readonly control: { result: string; quiet: boolean; stages: number; restarts: Record<string, number> };
  /** from the freeze until Docker showed it unhealthy (undefined: not within 10 s), and what Docker showed as the up began */
  readonly unhealthyAfterMs?: number;
  readonly healthAtUp?: string;
  /** the up with the same config: why it did not finish (or "done"), whether quiet, each stage's servers */
  readonly result: string;
  readonly quiet: boolean;
  readonly stages: readonly (readonly StageServer[])[];
  /** what the stage with dtable-server-3 pauses, and dtable-server-3's buckets before */
  readonly paused?: { readonly buckets: readonly string[]; readonly pins: readonly string[] };
  readonly itsBuckets: readonly string[];
  /** what the engine did with its container */
  readonly container?: string;
  /** `docker restart` calls that succeeded in the up, by host */
  readonly restarts: Record<string, number>;
  /** its stage's restart step ran after the stage's quarantine and before its switch */
  readonly insideQuarantine: boolean;
  /** what the admin reads: prepareUp's warnings; the container lines and the stage notes index.ts logs; the quarantine step's title */
  readonly warnings: readonly string[];
  readonly lines: readonly string[];
  readonly notes: readonly string[];
  readonly title?: string;
  /** after the up: its container, a direct request to its port 5000, writes acknowledged on its bases through the proxy since */
  readonly after: { running: boolean; frozen: boolean; health?: string; directly: string; ackedOnItsBases: number };
  /** the next up, the same config */
  readonly next: { result: string; quiet: boolean; stages: number };
  /**
   * what the writers saw: 503 on its bases (outside its stage: before its quarantine's start or over
   * half a second after its switch's end; all of them when either did not run) and elsewhere; 502 on
   * its bases and elsewhere; no answer within 5 s on its bases; from its first 503 to its last; its
   * stage's quarantine start to its switch's end
   */
  readonly answers: { s503: number; s503Outside: number; s503Elsewhere: number; s502: number; s502Elsewhere: number; noAnswer: number; spanMs: number; stageMs?: number };
  /** from the freeze until its quarantine was live (its bases' requests hang meanwhile), and the up's own time */
  readonly hungMs?: number;
  readonly upMs: number;
};

/** `docker restart` calls that succeeded, by host. */
const restartsIn = (calls: FakeDocker["calls"]) =>
  calls.filter((c) => c.args[0] === "restart" && c.code === 0).reduce<Record<string, number>>((m, c) => ({ ...m, [c.host]: (m[c.host] ?? 0) + 1 }), {});

/** The lines index.ts logs for the dtable-servers' containers before planning (found.lines), read as prepareUp reads them. */
async function containerLines(world: FakeDocker, config: ClusterConfig): Promise<string[]> {
  const reads = await Promise.all(
    config.hosts.servers.map(async (h) => {
      const r = await world.runStep({ host: h.name, command: containerReadCommand([SEATABLE_CONTAINER]) });
      return [h.name, r.code === 0 ? { containers: parseContainerRead(r.stdout, h.name) } : { unreadable: r.stderr.trim() }] as const;
    }),
  );
  return [...containerFindings(config, Object.fromEntries(reads), {}, undefined).lines];
}

/** A step ran after the quarantine was live and was done before the switch began. */
const insideOf = (quarantine?: NodeTiming, step?: NodeTiming, sw?: NodeTiming) => quarantine !== undefined && step !== undefined && sw !== undefined && quarantine.end <= step.start && step.end <= sw.start;

async function hungServer(n: number, model: StandinModel): Promise<Hung> {
  const started = performance.now();
  const w = await deployed(n, model, 3);
  const before = w.state.applied!.table;
  const address = addressesOf(n).servers.find((s) => s.name === S3)!.address;
  const itsBuckets = Object.keys(before.buckets).filter((b) => before.buckets[b] === S3).sort();
  const config = w.config({ servers: 3 });
  const writers = new Writers(w.proxyPort, `e${n}-`);
  const story: string[] = [];
  writers.start();
  let control: Hung["control"];
  let unhealthyAfterMs: number | undefined;
  let healthAtUp: string | undefined;
  let lines: string[];
  let r: UpResult;
  let calls: FakeDocker["calls"];
  let frozenAt = 0;
  let upMs = 0;
  let now: Omit<Hung["after"], "ackedOnItsBases">;
  let next: Hung["next"];
  try {
    await sleep(WARMUP_MS);
    // the control: the same config, nothing frozen
    writers.phase = "control up";
    const c0 = w.world.calls.length;
    const rc = await up(w.world, w.state, config, OPTIONS);
    control = { result: describeUp(rc), quiet: rc.prepared.graph.quiet, stages: rc.prepared.graph.stages.stages.length, restarts: restartsIn(w.world.calls.slice(c0)) };

    // dtable-server-3 hangs (SIGSTOP): it answers nothing and saves nothing; Docker calls it running,
    // and its health check fails until Docker calls it unhealthy
    writers.phase = "hung";
    frozenAt = performance.now();
    await w.world.freeze(S3);
    while (w.world.healthStatus(S3) !== "unhealthy" && performance.now() < frozenAt + 10_000) await sleep(20);
    if (w.world.healthStatus(S3) === "unhealthy") unhealthyAfterMs = performance.now() - frozenAt;

    // the admin runs the same up again
    healthAtUp = w.world.healthStatus(S3);
    lines = await containerLines(w.world, config);
    writers.phase = "up";
    const c1 = w.world.calls.length;
    const t0 = performance.now();
    r = await up(w.world, w.state, config, OPTIONS);
    upMs = performance.now() - t0;
    calls = w.world.calls.slice(c1);
    writers.phase = "after";
    // Docker checks its health every 0.2 s: a restarted server is healthy long before this
    await sleep(SETTLE_MS);
    const health = w.world.healthStatus(S3);
    now = { running: w.world.running(S3), frozen: w.world.frozen(S3), ...(health ? { health } : {}), directly: await direct(address) };

    // the next up, the same config: nothing is wrong any more
    writers.phase = "next up";
    const rn = await up(w.world, w.state, config, OPTIONS);
    next = { result: describeUp(rn), quiet: rn.prepared.graph.quiet, stages: rn.prepared.graph.stages.stages.length };
  } finally {
    await writers.stop();
  }
  const figure = await figureOf(w, writers, { scenario: 4, model, before, phasesBefore: HUNG_PHASES.before, story, started });

  const stages = r.prepared.graph.stages.stages;
  const stage = stages.find((st) => st.servers.some((s) => s.name === S3));
  const k = `${P}stage-${stage?.index}`;
  const quarantine = timingOf(r, `${k}-quarantine`);
  const restart = timingOf(r, `${k}-restart-${S3}`);
  const sw = timingOf(r, `${k}-switch`);
  const quarantineNode = r.prepared.graph.nodes.find((x) => x.id === `${k}-quarantine`);
  // its bases (by the table before), and the answers the writers saw on them and elsewhere
  const itsBases = writers.bases.filter((b) => ownerOf(before, b.uuid) === S3);
  const others = writers.bases.filter((b) => ownerOf(before, b.uuid) !== S3);
  const seen = (bs: typeof itsBases, status: number) => bs.flatMap((b) => b.seen.filter((x) => x.status === status).map((x) => x.t));
  const t503 = seen(itsBases, 503);
  // a writer notes an answer after its pause (PACE_MS) on a busy event loop: half a second of slack
  const inStage = (t: number) => quarantine !== undefined && sw !== undefined && t >= quarantine.start && t <= sw.end + 500;
  const answers: Hung["answers"] = {
    s503: t503.length,
    s503Outside: t503.filter((t) => !inStage(t)).length,
    s503Elsewhere: seen(others, 503).length,
    s502: seen(itsBases, 502).length,
    s502Elsewhere: seen(others, 502).length,
    noAnswer: seen(itsBases, -1).length,
    spanMs: t503.length > 0 ? Math.max(...t503) - Math.min(...t503) : 0,
    ...(quarantine && sw ? { stageMs: sw.end - quarantine.start } : {}),
  };
  const after = { ...now, ackedOnItsBases: itsBases.reduce((a, b) => a + b.acked.filter((x) => (HUNG_PHASES.after as readonly string[]).includes(x.phase)).length, 0) };
  const restarts = restartsIn(calls);
  const hung = figure.byPhase.get("hung");
  const hungMs = quarantine ? quarantine.end - frozenAt : undefined;
  const s = (ms: number | undefined) => (ms === undefined ? "—" : `${(ms / 1000).toFixed(1)} s`);
  const actions = stages.map((st) => st.servers.map((x) => `${x.name} (${x.action}: ${x.why})`).join(" + ")).join(" → ") || "no stage";
  story.push(
    `control, the same config with nothing frozen: ${headline(control.result)}, ${control.quiet ? "quiet" : "not quiet"}, ${control.stages} stage(s)`,
    `dtable-server-3 frozen: Docker showed it ${healthAtUp ?? "without a container"}${unhealthyAfterMs !== undefined ? ` ${s(unhealthyAfterMs)} after the freeze` : " (not unhealthy within 10 s)"}; ` +
      `its container line: "${lines.find((l) => l.startsWith(`${S3}:`)) ?? "none"}"; prepareUp's warnings: ${r.prepared.warnings.length > 0 ? r.prepared.warnings.map((x) => `"${x}"`).join(", ") : "none"}`,
    `the same config's up: ${headline(describeUp(r))} in ${s(upMs)}, ${r.prepared.graph.quiet ? "quiet" : "not quiet"}; stages ${actions}; ${stage?.paused.buckets.length ?? 0} bucket(s) paused (its ${itsBuckets.length}); ` +
      `Pulumi: its container ${timingOf(r, `container-${S3}`)?.what ?? "not in the up"}; docker restarts: ${Object.entries(restarts).map(([h, c]) => `${h} ${c}`).join(", ") || "none"}; ` +
      `the restart ran ${insideOf(quarantine, restart, sw) ? "inside" : "not inside"} its quarantine`,
    `its bases: no answer for ${s(hungMs)} from the freeze until its quarantine was live (${answers.noAnswer} writes to them unanswered within 5 s; ${hung?.acked ?? 0} writes acknowledged in the ${s(unhealthyAfterMs)} until Docker called it unhealthy); ` +
      `then 503 for ${s(answers.spanMs)} from the first to the last (${answers.s503}; ${answers.s503Outside} outside its stage, which took ${s(answers.stageMs)} from its quarantine's start to its switch's end; ${answers.s503Elsewhere} elsewhere); 502: ${answers.s502} (${answers.s502Elsewhere} elsewhere)`,
    `after the up: it ${after.running ? "runs" : "does not run"}${after.frozen ? " (still frozen)" : ""}, Docker shows it ${after.health ?? "without a container"}, a direct request to its port 5000: ${after.directly}; ` +
      `${after.ackedOnItsBases} writes acknowledged on its bases since; the next up, the same config: ${headline(next.result)}, ${next.quiet ? "quiet" : "not quiet"}`,
  );
  return {
    ...figure,
    control,
    ...(unhealthyAfterMs !== undefined ? { unhealthyAfterMs } : {}),
    ...(healthAtUp !== undefined ? { healthAtUp } : {}),
    result: describeUp(r),
    quiet: r.prepared.graph.quiet,
    stages: stages.map((st) => st.servers),
    ...(stage ? { paused: { buckets: [...stage.paused.buckets].sort(), pins: stage.paused.pins } } : {}),
    itsBuckets,
    ...(timingOf(r, `container-${S3}`) ? { container: timingOf(r, `container-${S3}`)!.what } : {}),
    restarts,
    insideQuarantine: insideOf(quarantine, restart, sw),
    warnings: r.prepared.warnings,
    lines,
    notes: stageNotes(r.prepared.graph.stages),
    ...(quarantineNode?.kind === "step" ? { title: quarantineNode.step.title } : {}),
    after,
    next,
    answers,
    ...(hungMs !== undefined ? { hungMs } : {}),
    upMs,
  };
}

// ---- the report ----------------------------------------------------------------------------

const figures: Figure[] = [];
const TITLES: Record<Figure["scenario"], string> = {
  1: "1. Evicting a server that still runs: (a) SSH answers, (b) SSH down but port 5000 answers; then removed without evict",
  2: "2. A partitioned server evicted, then back: fenced before it saves",
  3: "3. First up after the program upgrade (no container digests) with a scale-out 3 → 4, Pulumi changing no container",
  4: "4. A hung dtable-server (frozen, Docker calls it unhealthy), the same config's up: restarted inside its own quarantine",
};

function writeReport(): void {
  // only when asked: a plain `npm test` leaves the committed report alone
  if (!process.env.ROLLOUT_FIGURES || figures.length === 0) return;
  const ms = (x: number) => `${(x / 1000).toFixed(1)} s`;
  const row = (f: Figure) => {
    const s502 = f.total.restarting502;
    const split = f.scenario === 3 ? `- | **${f.lostAfter.length}**` : `${f.lostBefore.length} | **${f.lostAfter.length}**`;
    return `| ${f.model} | ${f.total.acked} | **${bases(f.doubleHeld)}** | ${split} | ${s502} | ${f.total.other} | ${ms(f.ms)} |`;
  };
  const scenarios = ([1, 2, 3, 4] as const).filter((k) => figures.some((f) => f.scenario === k));
  writeReportSection(EVICT_SECTION, [
    "## Evicting a dtable-server, and containers Pulumi leaves alone, under load",
    "",
    "Generated by `tests/rollout.evict.load.test.ts`; rerun with",
    "",
    "```",
    "ROLLOUT_FIGURES=1 npx jest tests/rollout.evict.load.test.ts",
    "```",
    "",
    `Figures from one run on ${os.cpus().length} core(s), ${new Date().toISOString().slice(0, 10)}; the world, the writers and the two`,
    "stand-in models are those of the section above. Each scenario in a world of its own: 3 dtable-servers",
    "deployed by the program's up, 1.5 s of load, then the scenario with the writers running throughout.",
    "",
    "- **lost before eviction**: acknowledged writes a load does not find, acknowledged before the eviction",
    "  on a bucket of the evicted server, so by that server alone and not saved by it: what `rollout.evict`",
    "  gives up (`saves-on-sigterm` has nothing else; `crash-only` replays them from the operation log).",
    "  Scenario 4: acknowledged before dtable-server-3 hung, on its buckets, and not saved by it (a hung",
    "  process saves nothing, and `docker restart` ends it with SIGKILL).",
    "- **lost otherwise**: every other acknowledged write a load does not find; it must be 0.",
    "- **held twice**: bases two server processes held at once (stand-ins' event log). An evicted server",
    "  holds its bases in memory until it is killed, so scenario 2 counts those it held while their new",
    "  owners loaded them; it neither answers nor saves meanwhile.",
    "- **502**: writes answered 502 (a partitioned server's buckets until they move; a request the hung",
    "  server never answered, when its restart kills it); **other**: no answer within 5 s or a connection",
    "  closed (a request on a connection to the partitioned server hangs, as does one to the hung server).",
    "",
    "Scenario 2's partition (`FakeDocker.partition`, described in `tests/support/fake-docker.ts`): dtable-server-3's",
    "SSH does not answer, its port 5000 refuses connections (a real partition times out instead), a request on a",
    "connection opened before is neither applied nor answered, and it saves nothing (S3 and the operation log are",
    "across the partition), while the process lives with what it holds. 2.5 s of load first, so that it has saved",
    "and holds writes it has not. The up with it in `rollout.evict` moves its buckets; load goes on to their new",
    "owners until they hold its bases too; then the partition heals (SSH answers, it listens) and it is kept from",
    "saving (frozen) until the next up, the same config, which must fence it first; then it is thawed. Without a",
    "fence in the program, it is thawed before that up instead: what a server that comes back does when nothing",
    "stops it. The fence up's end deletes its container (the test's engine deletes a container the graph no",
    "longer declares on a host that answers), so its restart policy is read from what Docker showed just before.",
    "",
    "Scenario 4's hung server (`FakeDocker.freeze`: SIGSTOP): Docker still calls its container running, and its",
    "health check (the program's, 100 times faster: every 0.2 s, 3 retries) fails until Docker calls it unhealthy.",
    "First a control, the up of the same config with nothing frozen; then the freeze, and once Docker shows it",
    "unhealthy the up of the same config (no routing change), which reads each node's container before planning;",
    "then 1 s of load and the next up, the same config again. Requests to its bases hang (each writer gives up",
    "after 5 s) until its quarantine answers 503 for them.",
    "",
    ...scenarios.flatMap((k) => [
      `### ${TITLES[k]}`,
      "",
      "| model | acknowledged | held twice | lost before eviction | lost otherwise | 502 | other | whole run |",
      "| --- | --- | --- | --- | --- | --- | --- | --- |",
      ...figures.filter((f) => f.scenario === k).map(row),
      "",
      ...figures.filter((f) => f.scenario === k).flatMap((f) => [`${f.model}:`, "", ...f.story.map((s) => `- ${s}`), ""]),
    ]),
  ]);
}

afterAll(async () => {
  writeReport();
  await stopWorlds();
});

// ---- the scenarios -----------------------------------------------------------------------

describe.each(MODELS.map((m, i) => [m, i] as const))("stand-in model %s", (model, i) => {
  test("1. evicting a server that runs is refused: its SSH answers → before anything runs; its port 5000 answers → the lease step refuses, nothing moves and no lease is left; removed without evict → 0 held twice, 0 lost", async () => {
    const f = await refusedEviction(WORLD.refused + i, model);
    figures.push(f);
    // (a) refused before anything ran: no step, no docker call but the read-only inspect of dtable-web's containers, the proxy's files as they were
    expect(f.a.refused).toMatch(new RegExp(`^rollout\\.evict: ${S3} \\(.*\\) answers SSH, so it is not dead and may hold bases\\. Nothing was changed\\. Remove it from rollout\\.evict`));
    expect([f.a.ran, f.a.dockerCalls, f.a.proxyUnchanged]).toEqual([[], 0, true]);
    // (b) the lease step refuses naming port 5000 before it takes the lease; nothing ran; the proxy routes as before
    expect(f.b.refused).toBeUndefined();
    expect(f.b.failed?.id).toBe(`${P}lease`);
    expect(f.b.failed?.stderr).toContain(`${S3} (`);
    expect(f.b.failed?.stderr).toContain(`answers on port ${PORTS.dtableServer} from dtable-web: it runs and may hold bases, so it cannot be evicted. Nothing was changed.`);
    // only the lease step ran, and it refused before taking the lease: nothing to clear
    expect([f.b.ran, f.b.leaseLeft]).toEqual([[`${P}lease`], false]);
    expect([f.b.routingUnchanged, f.b.confUnchanged]).toEqual([true, true]);
    // the admin's way: stopped before its buckets moved
    expect(f.fix.result).toBe("done");
    // (other servers may go down too, each in a quarantine of its own: the program's choice after a stopped up)
    expect(f.fix.actions.split(" → ")).toContain(`${S3} (stop)`);
    expect(f.fix.stopBeforeSwitch).toBe(true);
    // what an admin cares about: nothing lost, no base open twice, no 502
    expect(f.total.acked).toBeGreaterThan(1000);
    expect([...f.lostBefore, ...f.lostAfter]).toEqual([]);
    expect(f.doubleHeld).toEqual([]);
    expect(f.total.restarting502).toBe(0);
  });

  test("2. a partitioned server evicted, then back: its buckets move, the next up fences it before any other step (killed, no save, restart policy no), 0 writes lost after the eviction", async () => {
    const f = await partitionedEviction(WORLD.partition + i, model);
    figures.push(f);
    // the eviction: the lease step's check passed (port 5000 unreachable from dtable-web), its buckets moved
    expect(f.evict.result).toBe("done");
    expect(f.evict.evictCheck).toBe("ran");
    expect(f.evict.actions).toBe(`${S3} (evict)`);
    expect(f.evict.evictedListed).toBe(true);
    expect(f.movedAcked).toBeGreaterThan(100);
    // the case the fence is for: the new owners hold its bases while it still does
    expect(f.moved.writtenBeforeFence).toBeGreaterThan(f.moved.bases / 2);
    // back: fenced first, killed once, then no longer listed as evicted
    expect(f.fence.result).toBe("done");
    expect(f.fence.fenced).toBe(true);
    expect(f.fence.startedBeforeFence).toEqual([]);
    expect(f.fence.killCalls).toBe(1);
    expect(f.fence.evictedListed).toBe(false);
    expect(f.restartPolicy).toBe("no");
    // the only bases held twice are those the evicted server kept in memory, answering and saving nothing
    expect(f.heldTwiceElsewhere).toEqual([]);
    // it never answered nor saved after the eviction, and nothing answers at its address
    expect(f.afterEviction.answers).toBe(0);
    expect(f.afterEviction.saves).toBe(0);
    expect(f.afterEviction.events).toContain("killed");
    expect(f.directly).toBe("ECONNREFUSED");
    // no write acknowledged after the eviction (or on another server) lost
    expect(f.total.acked).toBeGreaterThan(1000);
    expect(f.lostAfter).toEqual([]);
    // the operation log replays what it had not saved; saves-on-sigterm loses it (reported)
    if (model === "crash-only") expect(f.lostBefore).toEqual([]);
  });

  test("3. first up after the program upgrade (no container digests) with a scale-out 3 → 4 while Pulumi changes no container: each server restarted once inside its quarantine, 0 held twice, 0 lost", async () => {
    const f = await unknownContainers(WORLD.unknown + i, model);
    figures.push(f);
    expect(f.result).toBe("done");
    // planned as replaced (no digest recorded), and the engine found nothing to change
    expect(f.actions).toBe(["dtable-server", "dtable-server-2", S3].map((s) => `${s} (replace)`).join(" → "));
    expect(f.containers).toEqual({ "dtable-server": "same", "dtable-server-2": "same", [S3]: "same" });
    // so each was restarted by its stage-N-restarted step, inside its quarantine, once
    expect(f.restarts).toEqual({ "dtable-server": 1, "dtable-server-2": 1, [S3]: 1 });
    expect(f.insideQuarantine).toEqual({ "dtable-server": true, "dtable-server-2": true, [S3]: true });
    expect(f.total.acked).toBeGreaterThan(1000);
    expect(f.lostAfter).toEqual([]);
    expect(f.doubleHeld).toEqual([]);
    expect(f.total.restarting502).toBe(0);
    expect(f.byPhase.get("scale-out 3 → 4, no digests recorded")?.quarantined503 ?? 0).toBeGreaterThan(0);
  });

  test("4. a hung dtable-server (frozen: Docker calls it running, its health check fails) is seen before planning and restarted inside its own quarantine: the same config's up has one stage, dtable-server-3 restart; then it runs, healthy, and answers; 0 held twice, 0 lost after it hung", async () => {
    const f = await hungServer(WORLD.hung + i, model);
    figures.push(f);
    // the control: the same config with nothing frozen is a quiet up, no stage, no restart
    expect(f.control).toEqual({ result: "done", quiet: true, stages: 0, restarts: {} });
    // Docker's health check called it unhealthy before the up
    expect(f.healthAtUp).toBe("unhealthy");
    // what the admin reads before anything runs: its container's line (only its own unhealthy), the stage note, the quarantine step's title
    expect(f.lines).toContainEqual(expect.stringMatching(new RegExp(`^${S3}: seatable-server running, unhealthy, image `)));
    expect(f.lines.filter((l) => l.includes("unhealthy"))).toHaveLength(1);
    expect(f.notes).toContain(`  stage 1: ${S3} restart (${UNHEALTHY})`);
    expect(f.title).toContain(`${S3} (restart: ${UNHEALTHY})`);
    // not a warning: the up restarts it (a hung dtable-web or dtable-db would be one)
    expect(f.warnings).toEqual([]);
    // the up: not quiet, one stage of its own, all its buckets paused and nothing else, its container left as it is
    expect(f.result).toBe("done");
    expect(f.quiet).toBe(false);
    expect(f.stages).toEqual([[{ name: S3, action: "restart", why: UNHEALTHY }]]);
    expect(f.itsBuckets.length).toBeGreaterThan(0);
    expect(f.paused).toEqual({ buckets: f.itsBuckets, pins: [] });
    expect(f.container).toBe("same");
    // restarted once, by its stage's restart step, after its quarantine went live and before its switch
    expect(f.restarts).toEqual({ [S3]: 1 });
    expect(f.insideQuarantine).toBe(true);
    // its bases answered 503 inside its stage and never outside it; no other base did
    expect(f.answers.s503).toBeGreaterThan(0);
    expect(f.answers.s503Outside).toBe(0);
    expect(f.answers.s503Elsewhere).toBe(0);
    // after the up: it runs, not frozen, healthy, and answers, directly and through the proxy
    expect([f.after.running, f.after.frozen, f.after.health, f.after.directly]).toEqual([true, false, "healthy", "HTTP 200"]);
    expect(f.after.ackedOnItsBases).toBeGreaterThan(100);
    // the next up, the same config, is quiet again
    expect(f.next).toEqual({ result: "done", quiet: true, stages: 0 });
    // no base open twice; nothing lost but, without an operation log, what it acknowledged before it hung and had not saved
    expect(f.total.acked).toBeGreaterThan(1000);
    expect(f.doubleHeld).toEqual([]);
    expect(f.lostAfter).toEqual([]);
    if (model === "crash-only") expect(f.lostBefore).toEqual([]);
  });
});
