// Commands around each node's seatable-server container: files it needs before
// it starts, and the conf edits after its first start (SeaTable writes conf/
// then). Same HostStep shape as the rollout.
import type { ClusterConfig, NodeHost } from "../config/schema";
import { COMPOSE_DIR, containerRunning, SEATABLE_CONTAINER, SEATABLE_DIR, SEATABLE_NGINX_CONF, SNAPSHOT_CLEANUP_ROLE } from "./containers";
import { HostStep, inSequence } from "./rollout";
import { confEdits, editCommand } from "./seatable";
import { renderSeatableNginx } from "./seatable-nginx";
import { ensureDir } from "./shell";

export type NodeSteps = {
  /** before the container is created or changed */
  readonly before: readonly HostStep[];
  /** after it runs */
  readonly after: readonly HostStep[];
};

const running = containerRunning(SEATABLE_CONTAINER);

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
      title: "upload seatable-nginx.conf (ping locations to the proxy and dtable-db) and reload nginx in seatable-server",
      command: [
        "set -eu",
        ensureDir(`${COMPOSE_DIR}/config`),
        // in place: the container mounts this one file
        `cat > ${SEATABLE_NGINX_CONF}`,
        `if ${running}; then docker exec ${SEATABLE_CONTAINER} nginx -s reload; fi`,
      ].join("\n"),
      stdin: renderSeatableNginx(config),
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
  return { before: inSequence(before), after: inSequence(after) };
}
