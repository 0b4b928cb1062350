// Commands around each node's seatable-server container: files it needs before
// it starts, and the conf edits after its first start (SeaTable writes conf/
// then). Same HostStep shape as the rollout.
import type { ClusterConfig, NodeHost } from "../config/schema";
import { COMPOSE_DIR, containerRunning, SEATABLE_CONTAINER, SEATABLE_DIR, SEATABLE_NGINX_CONF, SNAPSHOT_CLEANUP_ROLE } from "./containers";
import { HostStep, inSequence, PROGRESS, waitPing } from "./rollout";
import { CONF_DIR, CONF_FILES_UNREAD_FROM_6_2, confEdits, editCommand, shellQuote, versionStyle } from "./seatable";
import { renderSeatableNginx } from "./seatable-nginx";
import { ensureDir } from "./shell";

export type NodeSteps = {
  /** before the container is created or changed */
  readonly before: readonly HostStep[];
  /** after it runs */
  readonly after: readonly HostStep[];
};

const running = containerRunning(SEATABLE_CONTAINER);

/**
 * Renames each conf file SeaTable 6.2 no longer reads to
 * `<file>.moved-by-seatable-cluster-<UTC time>` (never deletes, never
 * overwrites) and prints what it moved; where none is left it changes nothing.
 */
export function moveAsideCommand(confDir: string = CONF_DIR): string {
  return [
    "set -eu",
    `D=${shellQuote(confDir)}`,
    'T=$(date -u +%Y%m%dT%H%M%SZ)',
    "n=0",
    `for f in ${CONF_FILES_UNREAD_FROM_6_2.join(" ")}; do`,
    '  [ -e "$D/$f" ] || [ -L "$D/$f" ] || continue',
    '  to="$D/$f.moved-by-seatable-cluster-$T"',
    '  if [ -e "$to" ] || [ -L "$to" ]; then echo "$to exists already; $D/$f left where it is" >&2; exit 1; fi',
    '  mv "$D/$f" "$to"',
    '  echo "moved $D/$f to $to (SeaTable 6.2 no longer reads it)"',
    "  n=$((n + 1))",
    "done",
    'if [ "$n" = 0 ]; then echo "no conf file that SeaTable 6.2 no longer reads in $D"; fi',
  ].join("\n");
}

/** `editScript` is the text of hostscripts/edit-conf.py (read by the resource layer). */
export function nodeSteps(config: ClusterConfig, host: NodeHost, editScript: string): NodeSteps {
  const before: Omit<HostStep, "after">[] = [
    {
      id: "prepare",
      host: host.name,
      title: `create ${SEATABLE_DIR}/seatable for SeaTable's data and the license`,
      command: ["set -eu", ensureDir(`${SEATABLE_DIR}/seatable`), ensureDir(COMPOSE_DIR)].join("\n"),
    },
  ];
  if (host.role === "dtable-web") {
    before.push({
      id: "site-upload",
      host: host.name,
      title: "upload seatable-nginx.conf (ping locations to the proxy and dtable-db), test it with nginx -t in seatable-server, reload",
      command: [
        "set -eu",
        ensureDir(`${COMPOSE_DIR}/config`),
        `F=${SEATABLE_NGINX_CONF}`,
        'cat > "$F.next"',
        `if [ -f "$F" ] && ${running}; then`,
        // Written in place, as the container mounts this one file (it would
        // not see a renamed one), so nginx inside can test it. What nginx
        // runs stays in $F.prev until the reload: a run that stopped half-way
        // left it there, and it is the one to come back to.
        '  [ -e "$F.prev" ] || cp -p "$F" "$F.prev"',
        '  cat "$F.next" > "$F"',
        `  if ! out=$(docker exec ${SEATABLE_CONTAINER} nginx -t 2>&1); then`,
        '    cat "$F.prev" > "$F"',
        '    rm -f "$F.prev" "$F.next"',
        "    printf '%s\\n' \"$out\" >&2",
        '    echo "nginx -t in seatable-server failed for the new $F; the live file and the running nginx are unchanged" >&2',
        "    exit 1",
        "  fi",
        `  docker exec ${SEATABLE_CONTAINER} nginx -s reload`,
        "else",
        // no nginx runs this file yet: the container starts with it
        '  cat "$F.next" > "$F"',
        "fi",
        'rm -f "$F.next" "$F.prev"',
      ].join("\n"),
      stdin: renderSeatableNginx(config),
    });
  }
  if (versionStyle(config.seatableVersion) === "6.2") {
    // the upgrade notice: gone before 6.2 starts (a 6.1 container still running has read them already)
    before.push({
      id: "move-aside",
      host: host.name,
      title: `rename the conf files SeaTable 6.2 no longer reads (${CONF_FILES_UNREAD_FROM_6_2.join(", ")}) to <file>.moved-by-seatable-cluster-<time>`,
      command: moveAsideCommand(),
    });
  }
  const plan = confEdits(config, host.role, { snapshotCleanup: host.role === SNAPSHOT_CLEANUP_ROLE });
  const after: Omit<HostStep, "after">[] = [];
  if (plan.edits.length > 0) {
    const { command, stdin } = editCommand(plan.edits, editScript);
    after.push({
      id: "conf-edits",
      host: host.name,
      title: `point ${plan.services.join(", ")} at the cluster (files under conf/), restart seatable-server if a file changed`,
      command: [
        "set -eu",
        // a marker survives a lost restart, so that running the step again restarts
        `M=${SEATABLE_DIR}/.conf-edits-restart-pending`,
        `if ! out=$(${command}); then printf "%s\\n" "$out"; exit 1; fi`,
        'printf "%s\\n" "$out"',
        `if printf "%s\\n" "$out" | grep -q '^changed '; then touch "$M"; fi`,
        `if [ -e "$M" ]; then docker restart -t ${config.stopTimeoutSeconds} ${SEATABLE_CONTAINER} >/dev/null; rm -f "$M"; echo "restarted ${SEATABLE_CONTAINER}"; fi`,
      ].join("\n"),
      stdin,
    });
  }
  if (host.role === "dtable-server") {
    // Pulumi leaves an existing container it finds unchanged as it is, also when it is stopped (a
    // server stopped by an up that stopped half-way, then kept by the config): bases may only move
    // to a dtable-server that runs, so it is started here, before any stage
    after.push({
      id: "running",
      host: host.name,
      title: `start ${SEATABLE_CONTAINER} on ${host.name} if it is not running, and wait until it answers /ping/`,
      command: [
        "set -eu",
        ...PROGRESS,
        `if ! ${running}; then docker start ${SEATABLE_CONTAINER} >/dev/null; echo "started ${SEATABLE_CONTAINER} on ${host.name}: it was not running"; fi`,
        ...waitPing(host.name),
      ].join("\n"),
    });
  }
  return { before: inSequence(before), after: inSequence(after) };
}
