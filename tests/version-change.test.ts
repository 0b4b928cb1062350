// A SeaTable version change, judged from the images the nodes run: never
// down, never without a backup or a written reason; and the backup command's
// two forms.
import type { ContainerState } from "../pure/plan/live";
import type { HostContainers } from "../pure/plan/host-containers";
import { compareSeatableVersions, versionFindings } from "../pure/plan/version-change";
import { configOf, problemsOf, stackValues, validate } from "./support/stacks";

const running = (image: string): ContainerState => ({ status: "running", startedAt: "2026-12-01T10:00:00Z", image, health: "healthy" });
/** every node of dev running `image` (dtable-server-2 `other` when given) */
function reads(image: string, other?: ContainerState): HostContainers {
  const nodes = ["dtable-web", "dtable-db", "dtable-server", "dtable-server-2"];
  return Object.fromEntries(nodes.map((n) => [n, { containers: { "seatable-server": n === "dtable-server-2" && other ? other : running(image) } }]));
}
const at = (image: string, rollout?: Record<string, unknown>) => {
  const v = stackValues("dev");
  return configOf({ ...v, image, s3: { ...v.s3, buckets: { ...v.s3.buckets, avatar: "avatars" } }, ...(rollout ? { rollout } : {}) });
};
const BACKUP = { backup: { host: "dtable-db", command: "/usr/local/bin/backup-seatable" } };

test("compareSeatableVersions: by number, over the parts both give", () => {
  expect(compareSeatableVersions("6.2.13", "6.2.9")).toBeGreaterThan(0);
  expect(compareSeatableVersions("6.1.8", "6.2")).toBeLessThan(0);
  expect(compareSeatableVersions("6.2", "6.2.13")).toBe(0);
  expect(compareSeatableVersions("6.10.0", "6.9.9")).toBeGreaterThan(0);
});

test("the same version everywhere: nothing to say", () => {
  expect(versionFindings(at("seatable/seatable-enterprise:6.1.8"), reads("seatable/seatable-enterprise:6.1.8"))).toEqual({ errors: [], warnings: [], lines: [] });
});

test("an upgrade without a backup is refused; with rollout.backup it runs first; with a written reason it is a warning", () => {
  const to = "seatable/seatable-enterprise:6.2.13";
  const from = reads("seatable/seatable-enterprise:6.1.8");
  expect(versionFindings(at(to), from).errors).toEqual([
    `SeaTable moves to 6.2.13 from what runs now (dtable-web (6.1.8), dtable-db (6.1.8), dtable-server (6.1.8), dtable-server-2 (6.1.8)), and there is no way back ("Always make a full backup before upgrading", SeaTable's upgrade manual). Set rollout.backup (host and command, or commandSecret: a value in environmentSecrets) to back up before the first container stops, or write why not in rollout.versionChangeWithoutBackup.`,
  ]);
  expect(versionFindings(at(to, BACKUP), from)).toEqual({
    errors: [],
    warnings: [],
    lines: [
      "SeaTable moves to 6.2.13 from what runs now: dtable-web (6.1.8), dtable-db (6.1.8), dtable-server (6.1.8), dtable-server-2 (6.1.8); afterwards, update the plugins, as SeaTable's upgrade manual says",
      "a backup runs first on dtable-db (rollout.backup); a failure stops the change",
    ],
  });
  const reason = versionFindings(at(to, { versionChangeWithoutBackup: "snapshot of every VM taken at 02:00" }), from);
  expect([reason.errors, reason.warnings]).toEqual([[], ['SeaTable moves to 6.2.13 without a backup (rollout.versionChangeWithoutBackup: "snapshot of every VM taken at 02:00"); there is no way back without one']]);
  // one node left behind by an interrupted up counts as well
  expect(versionFindings(at(to), reads(to, running("seatable/seatable-enterprise:6.1.8"))).errors[0]).toContain("(dtable-server-2 (6.1.8))");
});

test("a downgrade is refused, backup or not, with the manual's reason; a patch release down too", () => {
  const r = versionFindings(at("seatable/seatable-enterprise:6.1.8", BACKUP), reads("seatable/seatable-enterprise:6.2.13"));
  expect(r.errors).toHaveLength(4);
  expect(r.errors[0]).toBe(
    'dtable-web runs SeaTable 6.2.13 (seatable/seatable-enterprise:6.2.13), newer than the 6.1.8 of this stack. SeaTable cannot go back to an older version: its databases were migrated on the way up ("rolling back to a previous version is not supported", SeaTable\'s upgrade manual). Keep image at 6.2.13 or newer; to go back, restore the backup taken before that upgrade.',
  );
  expect(r.lines).toEqual([]);
  expect(versionFindings(at("seatable/seatable-enterprise:6.2.12"), reads("seatable/seatable-enterprise:6.2.13")).errors).toHaveLength(4);
});

test("an image whose tag is not a version: another image may be another version (a backup), the same image is none; containers not read say nothing", () => {
  const config = at("seatable/seatable-enterprise:6.2.13");
  const digest = "registry.example.com/seatable@sha256:" + "a".repeat(64);
  expect(versionFindings(config, reads("seatable/seatable-enterprise:6.2.13", running(digest))).errors[0]).toContain(`dtable-server-2 (${digest}, version unknown)`);
  const pinned = configOf({ ...stackValues("dev"), image: digest, seatableVersion: "6.1.8" });
  expect(versionFindings(pinned, reads(digest)).errors).toEqual([]);
  expect(versionFindings(config, { "dtable-web": { unreadable: "ssh: timeout" }, "dtable-db": { containers: { "seatable-server": { status: "missing" } } } })).toEqual({ errors: [], warnings: [], lines: [] });
});

test("rollout.backup takes command or commandSecret, one of them; commandSecret names a value in environmentSecrets", () => {
  const v = stackValues("dev");
  const either = "expected either command (the backup command) or commandSecret (the name of a value in environmentSecrets holding it), not both or neither";
  expect(problemsOf({ ...v, rollout: { backup: { host: "dtable-db" } } })).toEqual([`rollout.backup: ${either}`]);
  expect(problemsOf({ ...v, rollout: { backup: { host: "dtable-db", command: "b", commandSecret: "b" } } })).toEqual([`rollout.backup: ${either}`]);
  expect(problemsOf({ ...v, rollout: { backup: { host: "dtable-db", commandSecret: "backup" } } })).toEqual([
    `rollout.backup.commandSecret: "backup" is not in environmentSecrets; run \`pulumi config set --secret --path 'environmentSecrets.backup' '<backup command>'\``,
  ]);
  expect(validate({ ...v, rollout: { backup: { host: "dtable-db", commandSecret: "backup" } }, environmentSecrets: { backup: "[secret]" } }, ["environmentSecrets"]).ok).toBe(true);
});

test("a cluster half up and half down (one node newer, one older): the downgrade is refused, and no move is announced", () => {
  const r = versionFindings(at("seatable/seatable-enterprise:6.2.5", BACKUP), reads("seatable/seatable-enterprise:6.2.13", running("seatable/seatable-enterprise:6.1.8")));
  expect(r.errors).toHaveLength(3);
  expect(r.lines).toEqual([]);
});
