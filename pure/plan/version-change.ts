// A SeaTable version change, judged from the images the nodes run (read
// before planning), not from the stack's record: SeaTable migrates its
// databases on the way up and cannot go back ("rolling back to a previous
// version is not supported ... Always make a full backup before upgrading",
// AD upgrade/upgrade-manual.md).
import type { ClusterConfig } from "../config/schema";
import { versionFromImage } from "../config/values";
import { SEATABLE_CONTAINER } from "./containers";
import type { HostContainers } from "./host-containers";

export type VersionFindings = { readonly errors: readonly string[]; readonly warnings: readonly string[]; readonly lines: readonly string[] };

/** <0, 0, >0 over the parts both versions give ("6.2" equals "6.2.13"). */
export function compareSeatableVersions(a: string, b: string): number {
  const [x, y] = [a.split(".").map(Number), b.split(".").map(Number)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

export function versionFindings(config: ClusterConfig, reads: HostContainers): VersionFindings {
  const target = config.seatableVersion;
  const errors: string[] = [];
  const warnings: string[] = [];
  const changing: string[] = [];
  for (const node of [config.hosts.web, config.hosts.db, ...config.hosts.servers]) {
    const read = reads[node.name];
    const state = read && "containers" in read ? read.containers[SEATABLE_CONTAINER] : undefined;
    if (state === undefined || !("image" in state)) continue;
    const running = versionFromImage(state.image);
    if (running === undefined) {
      // a tag that is not a version: another image may be another version
      if (state.image !== config.image) changing.push(`${node.name} (${state.image}, version unknown)`);
      continue;
    }
    if (compareSeatableVersions(running, target) > 0) {
      errors.push(
        `${node.name} runs SeaTable ${running} (${state.image}), newer than the ${target} of this stack. SeaTable cannot go back to an older version: its databases were migrated on the way up ("rolling back to a previous version is not supported", SeaTable's upgrade manual). Keep image at ${running} or newer; to go back, restore the backup taken before that upgrade.`,
      );
    } else if (compareSeatableVersions(running, target) < 0) changing.push(`${node.name} (${running})`);
  }
  const lines: string[] = [];
  if (changing.length > 0 && errors.length === 0) {
    lines.push(`SeaTable moves to ${target} from what runs now: ${changing.join(", ")}; afterwards, update the plugins, as SeaTable's upgrade manual says`);
    const { backup, versionChangeWithoutBackup: reason } = config.rollout;
    if (backup !== undefined) lines.push(`a backup runs first on ${backup.host} (rollout.backup); a failure stops the change`);
    else if (reason !== undefined) warnings.push(`SeaTable moves to ${target} without a backup (rollout.versionChangeWithoutBackup: ${JSON.stringify(reason)}); there is no way back without one`);
    else {
      errors.push(
        `SeaTable moves to ${target} from what runs now (${changing.join(", ")}), and there is no way back ("Always make a full backup before upgrading", SeaTable's upgrade manual). Set rollout.backup (host and command, or commandSecret: a value in environmentSecrets) to back up before the first container stops, or write why not in rollout.versionChangeWithoutBackup.`,
      );
    }
  }
  return { errors, warnings, lines };
}
