// What runs on each host, read before planning: the container read (its
// script, run by dash and bash against a docker that answers as Docker does,
// and its parser) and what the plan makes of it (host-containers.ts).
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PROXY_CONTAINER, SEATABLE_CONTAINER } from "../pure/plan/containers";
import { containerFindings, describeContainer, HostContainers, liveProxyImage } from "../pure/plan/host-containers";
import { ContainerState, containerReadCommand, parseContainerRead, parseLiveRead } from "../pure/plan/live";
import type { ContainerChange } from "../pure/plan/stages";
import { configOf, withServers } from "./support/stacks";

const STARTED = "2026-12-07T09:00:00.123456789Z";
type Read = Extract<ContainerState, { startedAt: string }>;
const running = (health?: "starting" | "healthy" | "unhealthy", image = "seatable/seatable-enterprise:6.1.8"): Read => ({ status: "running", startedAt: STARTED, image, ...(health ? { health } : {}) });

describe("the container read on a host", () => {
  // a docker that answers `inspect -f FORMAT NAME` as Docker does: a line for a container it has, "No such object" for one it lacks
  const dir = mkdtempSync(join(tmpdir(), "container-read-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const withDocker = (body: string) => {
    writeFileSync(join(dir, "docker"), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
    return (shell: string) => execFileSync(shell, ["-c", containerReadCommand([SEATABLE_CONTAINER, PROXY_CONTAINER])], { encoding: "utf8", env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
  };

  test("each container's state, health, image and start time; a missing one; and a docker that does not answer — in dash and bash", () => {
    const read = withDocker(
      [
        'case "$4" in',
        `  ${SEATABLE_CONTAINER}) echo "running ${STARTED} seatable/seatable-enterprise:6.1.8 unhealthy" ;;`,
        `  *) echo "" ; echo "Error: No such object: $4" >&2; exit 1 ;;`,
        "esac",
      ].join("\n"),
    );
    for (const shell of ["dash", "bash"]) {
      expect(parseContainerRead(read(shell), "dtable-server-2")).toEqual({ [SEATABLE_CONTAINER]: running("unhealthy"), [PROXY_CONTAINER]: { status: "missing" } });
    }
    const down = withDocker('echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2; exit 1');
    expect(parseContainerRead(down("dash"), "dtable-server-2")[SEATABLE_CONTAINER]).toEqual({
      status: "unreadable",
      reason: "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
    });
    // no health check: the field is empty, the line ends in a space
    const plain = withDocker(`echo "exited ${STARTED} nginx:1.27.5-alpine "`);
    expect(parseContainerRead(plain("bash"), "dtable-web")[PROXY_CONTAINER]).toEqual({ status: "exited", startedAt: STARTED, image: "nginx:1.27.5-alpine" });
  });

  test("anything else is an error that names the host, never a guess", () => {
    expect(() => parseContainerRead("container seatable-server sleeping 2026 x", "dtable-server-2")).toThrow('reading the containers on dtable-server-2: unexpected line "container seatable-server sleeping 2026 x"');
    expect(() => parseContainerRead(`container seatable-server running ${STARTED} img sick`, "h")).toThrow("unexpected line");
    expect(parseContainerRead("\n", "h")).toEqual({});
  });

  test("dtable-web's containers come with the proxy's live read", () => {
    expect(parseLiveRead(`container ${PROXY_CONTAINER} running ${STARTED} nginx:1.27.5-alpine healthy\ncontainer ${SEATABLE_CONTAINER} missing`)).toEqual({
      containers: { [PROXY_CONTAINER]: running("healthy", "nginx:1.27.5-alpine"), [SEATABLE_CONTAINER]: { status: "missing" } },
    });
  });
});

describe("what the plan makes of them", () => {
  const config = configOf(withServers(4));
  const same: Record<string, ContainerChange> = Object.fromEntries([config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => [h.name, "same"]));
  const reads = (over: Record<string, ContainerState | { unreadable: string }>): HostContainers =>
    Object.fromEntries(
      [config.hosts.web, config.hosts.db, ...config.hosts.servers].map((h) => {
        const r = over[h.name] ?? running("healthy");
        return [h.name, "unreadable" in r ? { unreadable: r.unreadable } : { containers: { [SEATABLE_CONTAINER]: r } }];
      }),
    );

  test("all well: nothing to restart, nothing to say but one line per container", () => {
    const f = containerFindings(config, reads({}), same, undefined);
    expect([f.unwell, f.errors, f.warnings]).toEqual([{}, [], []]);
    expect(f.lines).toHaveLength(6);
    expect(f.lines[0]).toBe(`dtable-web: seatable-server running, healthy, image seatable/seatable-enterprise:6.1.8, started ${STARTED}`);
  });

  test("a dtable-server stopped, dead or unhealthy is restarted in a stage; one still starting, or running without a health check, is not", () => {
    const f = containerFindings(
      config,
      reads({ "dtable-server": { ...running(), status: "exited" }, "dtable-server-2": running("unhealthy"), "dtable-server-3": running("starting"), "dtable-server-4": running() }),
      same,
      undefined,
    );
    expect(f.unwell).toEqual({ "dtable-server": "its seatable-server container is exited on its host", "dtable-server-2": "its seatable-server container is unhealthy on its host" });
    expect([f.errors, f.warnings]).toEqual([[], []]);
    for (const status of ["created", "restarting", "paused", "dead"] as const)
      expect(containerFindings(config, reads({ "dtable-server-4": { ...running("healthy"), status } }), same, undefined).unwell).toEqual({ "dtable-server-4": `its seatable-server container is ${status} on its host` });
  });

  test("dtable-web or dtable-db unwell: a warning that says what to do (no base lives there, nothing to stage)", () => {
    const f = containerFindings(config, reads({ "dtable-db": running("unhealthy") }), same, undefined);
    expect(f.unwell).toEqual({});
    expect(f.warnings).toEqual([
      "dtable-db (dtable-db): its seatable-server container is unhealthy on its host; pulumi up does not restart it. Look at `docker logs seatable-server` there, and `docker restart seatable-server` once the cause is fixed.",
    ]);
  });

  test("a container the stack has but the host lacks is refused with the refresh to run; one this up creates is fine", () => {
    const f = containerFindings(config, reads({ "dtable-server-2": { status: "missing" } }), same, undefined);
    expect(f.errors).toEqual([
      "dtable-server-2: the seatable-server container is missing on the host, although the stack has it. Pulumi does not see that without a refresh: run `pulumi refresh`, then `pulumi up` creates it (it holds no base: nothing is lost).",
    ]);
    expect(containerFindings(config, reads({ "dtable-server-2": { status: "missing" } }), { ...same, "dtable-server-2": "create" }, undefined).errors).toEqual([]);
  });

  test("a host that cannot be read, or whose docker does not answer: a warning, never fatal", () => {
    const f = containerFindings(config, reads({ "dtable-server-3": { unreadable: "ssh: connect to host 10.0.1.22 port 22: Connection timed out" }, "dtable-server-4": { status: "unreadable", reason: "Cannot connect to the Docker daemon" } }), same, undefined);
    expect([f.unwell, f.errors]).toEqual([{}, []]);
    expect(f.warnings).toEqual([
      `dtable-server-3 (${config.hosts.servers[2].address}): its containers could not be read (ssh: connect to host 10.0.1.22 port 22: Connection timed out); the plan takes them as running`,
      "dtable-server-4: docker did not answer (Cannot connect to the Docker daemon); pulumi up cannot change this host until it does",
    ]);
  });

  test("the proxy: its image is what the plan compares; stopped, unhealthy or missing is said", () => {
    const live = (proxy: ContainerState) => ({ conf: "a".repeat(64), containers: { [PROXY_CONTAINER]: proxy } });
    expect(liveProxyImage(live(running("healthy", "nginx:1.27.5-alpine")))).toBe("nginx:1.27.5-alpine");
    expect(liveProxyImage(live({ status: "missing" }))).toBeUndefined();
    expect(liveProxyImage(undefined)).toBeUndefined();
    expect(containerFindings(config, {}, same, live({ ...running(undefined, "nginx:1.27.5-alpine"), status: "exited" })).warnings).toEqual([
      "dtable-web: the dtable-server-proxy container is exited: no base reaches any dtable-server. This up starts it in its switch step.",
    ]);
    expect(containerFindings(config, {}, same, live(running("unhealthy", "nginx:1.27.5-alpine"))).warnings).toEqual(["dtable-web: the dtable-server-proxy container is unhealthy; look at `docker logs dtable-server-proxy` there"]);
    expect(containerFindings(config, {}, same, live({ status: "missing" })).errors).toEqual([
      "dtable-web: the dtable-server-proxy container is missing on the host, although the stack has it. Pulumi does not see that without a refresh: run `pulumi refresh`, then `pulumi up` creates it.",
    ]);
    // before the first deployment there is neither a proxy nor its files
    expect(containerFindings(config, {}, same, { containers: { [PROXY_CONTAINER]: { status: "missing" } } }).errors).toEqual([]);
    expect(describeContainer({ status: "unreadable", reason: "x" })).toBe("could not be read (x)");
  });

  test("the lines plan --live and up print: one per container as read, the proxy's last; what was not read says so", () => {
    const live = { conf: "a".repeat(64), containers: { [PROXY_CONTAINER]: running("healthy", "nginx:1.27.5-alpine") } };
    const f = containerFindings(
      config,
      { ...reads({ "dtable-db": { status: "missing" }, "dtable-server": { unreadable: "ssh: timeout" }, "dtable-server-2": { ...running(), status: "exited" } }), "dtable-server-3": { containers: {} } },
      { ...same, "dtable-db": "create" },
      live,
    );
    expect(f.lines).toEqual([
      `dtable-web: seatable-server running, healthy, image seatable/seatable-enterprise:6.1.8, started ${STARTED}`,
      "dtable-db: seatable-server missing",
      "dtable-server: seatable-server could not be read",
      `dtable-server-2: seatable-server exited, image seatable/seatable-enterprise:6.1.8, started ${STARTED}`,
      `dtable-server-4: seatable-server running, healthy, image seatable/seatable-enterprise:6.1.8, started ${STARTED}`,
      `dtable-web: dtable-server-proxy running, healthy, image nginx:1.27.5-alpine, started ${STARTED}`,
    ]);
    // a proxy that runs and is healthy, or whose docker does not answer, is no warning of its own
    expect(f.warnings).toEqual([`dtable-server (${config.hosts.servers[0].address}): its containers could not be read (ssh: timeout); the plan takes them as running`]);
    expect(containerFindings(config, {}, same, { containers: { [PROXY_CONTAINER]: { status: "unreadable", reason: "x" } } }).warnings).toEqual([]);
    expect(containerFindings(config, {}, same, { containers: { [PROXY_CONTAINER]: running(undefined, "nginx:1.27.5-alpine") } }).warnings).toEqual([]);
  });

  test("missing on dtable-web or dtable-db: the refresh, without the dtable-server's reassurance", () => {
    expect(containerFindings(config, reads({ "dtable-db": { status: "missing" } }), same, undefined).errors).toEqual([
      "dtable-db: the seatable-server container is missing on the host, although the stack has it. Pulumi does not see that without a refresh: run `pulumi refresh`, then `pulumi up` creates it.",
    ]);
  });
});
