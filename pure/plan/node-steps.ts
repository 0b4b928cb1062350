// Commands around each node's seatable-server container: files it needs before
// it starts, and the conf edits after its first start (SeaTable writes conf/
// then). Same HostStep shape as the rollout; the shell is in hostscripts/.
import { PORTS, type ClusterConfig, type NodeHost } from "../config/schema";
import { COMPOSE_DIR, SEATABLE_CONTAINER, SEATABLE_DIR, SEATABLE_HOSTS, SEATABLE_NGINX_CONF, seatableHostsFile, SNAPSHOT_CLEANUP_ROLE } from "./containers";
import { hostScript } from "./host-scripts";
import { HostStep, inSequence } from "./rollout";
import { CONF_DIR, CONF_FILES_UNREAD_FROM_6_2, confEdits, editVars, versionStyle, WEB_PID_FILE, WEB_SETTINGS } from "./seatable";
import { renderSeatableNginx } from "./seatable-nginx";

export type NodeSteps = {
  /** before the container is created or changed */
  readonly before: readonly HostStep[];
  /** after it runs */
  readonly after: readonly HostStep[];
};

/** hostscripts/move-aside.sh: the conf files SeaTable 6.2 no longer reads, renamed aside (never deleted). */
export function moveAsideCommand(confDir: string = CONF_DIR): string {
  return hostScript(["move-aside"], { CONF_DIR: confDir, UNREAD_FILES: CONF_FILES_UNREAD_FROM_6_2 });
}

/**
 * `editScript` is the text of hostscripts/edit-conf.py (read by the resource
 * layer). `restartedInStage`: a dtable-server whose container is stopped or
 * unhealthy, which its stage restarts (host-containers.ts): its `running` step
 * starts it if it is stopped but does not wait for a /ping/ a hung server never
 * gives; the stage's restart waits for it.
 */
export function nodeSteps(config: ClusterConfig, host: NodeHost, editScript: string, options: { readonly restartedInStage?: boolean } = {}): NodeSteps {
  const before: Omit<HostStep, "after">[] = [
    {
      id: "prepare",
      host: host.name,
      title: `create ${SEATABLE_DIR}/seatable for SeaTable's data and the license`,
      command: hostScript(["prepare"], { DIRS: [`${SEATABLE_DIR}/seatable`, COMPOSE_DIR] }),
    },
  ];
  const hostsFile = seatableHostsFile(config, host);
  if (hostsFile !== undefined) {
    before.push({
      id: "hosts-file",
      host: host.name,
      title: `write ${SEATABLE_HOSTS}, seatable-server's /etc/hosts (an IPv6 address cannot go in extra_hosts)`,
      command: hostScript(["hosts-file"], { FILE: SEATABLE_HOSTS }),
      stdin: hostsFile,
    });
  }
  if (host.role === "dtable-web") {
    before.push({
      id: "site-upload",
      host: host.name,
      title: "upload seatable-nginx.conf (ping locations to the proxy and dtable-db), test it with nginx -t in seatable-server, reload",
      command: hostScript(["site-upload"], { SITE_DIR: `${COMPOSE_DIR}/config`, SITE_FILE: SEATABLE_NGINX_CONF, CONTAINER: SEATABLE_CONTAINER }),
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
    if (host.role === "dtable-web") {
      // as SeaTable's migration does; the plan compared it with the secret secretKey first (node-facts.ts)
      before.push({
        id: "secret-key",
        host: host.name,
        title: `remove the SECRET_KEY line from ${WEB_SETTINGS} (6.2 takes it from the environment); the file before is kept beside it`,
        command: hostScript(["secret-key"], { SETTINGS: WEB_SETTINGS }),
      });
    }
  }
  const plan = confEdits(config, host.role, { snapshotCleanup: host.role === SNAPSHOT_CLEANUP_ROLE });
  const after: Omit<HostStep, "after">[] = [];
  if (plan.edits.length > 0) {
    after.push({
      id: "conf-edits",
      host: host.name,
      title:
        plan.reloadFiles.length > 0
          ? `point ${plan.services.join(", ")} at the cluster (files under conf/); if only ${plan.reloadFiles.join(", ")} changed, reload dtable-web (gunicorn HUP), else restart seatable-server if a file changed`
          : `point ${plan.services.join(", ")} at the cluster (files under conf/), restart seatable-server if a file changed`,
      command: hostScript(
        ["conf-edits"],
        {
          ...editVars(plan.edits),
          MARKER: `${SEATABLE_DIR}/.conf-edits-restart-pending`,
          CONTAINER: SEATABLE_CONTAINER,
          STOP_TIMEOUT: config.stopTimeoutSeconds,
          RELOAD_FILES: plan.reloadFiles,
          WEB_PID_FILE,
        },
        ["edit-conf"],
      ),
      stdin: editScript,
    });
  }
  if (host.role === "dtable-server") {
    // Pulumi leaves an existing container it finds unchanged as it is, also when it is stopped (a
    // server stopped by an up that stopped half-way, then kept by the config): bases may only move
    // to a dtable-server that runs, so it is started here, before any stage
    after.push({
      id: "running",
      host: host.name,
      title: options.restartedInStage
        ? `start ${SEATABLE_CONTAINER} on ${host.name} if it is not running (its stage restarts it and waits for /ping/)`
        : `start ${SEATABLE_CONTAINER} on ${host.name} if it is not running, and wait until it answers /ping/`,
      command: hostScript(
        ["running"],
        { HOST: host.name, CONTAINER: SEATABLE_CONTAINER, DTABLE_SERVER_PORT: PORTS.dtableServer, WAIT_PING: options.restartedInStage ? "no" : "yes" },
        ["progress", "wait-ping"],
      ),
    });
  }
  return { before: inSequence(before), after: inSequence(after) };
}
