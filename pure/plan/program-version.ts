// The version of this program kept with the stack's state: each run writes its
// name and version (package.json) as the stack output `program`, and reads back
// the one the last run wrote. An older program refuses a state a newer one
// wrote: it may not understand what that version recorded (the proxy's record,
// the rollout's steps) and its `up` would rewrite it. A state with no `program`
// output was written before versions were kept (0.1.0) and is accepted.

/** The stack output that names the program which last wrote the stack. */
export const PROGRAM_OUTPUT = "program";

export type ProgramId = { readonly name: string; readonly version: string };

type Version = { readonly core: readonly [number, number, number]; readonly pre: readonly (number | string)[] };

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

/** A semantic version (MAJOR.MINOR.PATCH, an optional pre-release, build metadata ignored), or undefined. */
export function parseVersion(text: string): Version | undefined {
  const m = SEMVER.exec(text);
  if (!m) return undefined;
  return {
    core: [Number(m[1]), Number(m[2]), Number(m[3])],
    pre: m[4] === undefined ? [] : m[4].split(".").map((id) => (/^\d+$/.test(id) ? Number(id) : id)),
  };
}

/** Negative if `a` comes before `b`, 0 if they are the same release, positive if `a` is newer (semver precedence). */
export function compareVersions(a: Version, b: Version): number {
  for (const i of [0, 1, 2]) if (a.core[i] !== b.core[i]) return a.core[i] - b.core[i];
  // a pre-release comes before its release
  if (a.pre.length === 0 || b.pre.length === 0) return b.pre.length - a.pre.length;
  for (let i = 0; i < Math.min(a.pre.length, b.pre.length); i++) {
    const x = a.pre[i];
    const y = b.pre[i];
    if (x === y) continue;
    // numeric identifiers come before alphanumeric ones; each kind compares in its own order
    if (typeof x !== typeof y) return typeof x === "number" ? -1 : 1;
    return x < y ? -1 : 1;
  }
  return a.pre.length - b.pre.length;
}

/**
 * Why this program (`current`) must not go on with the state whose `program`
 * output is `recorded`, or undefined when it may: no record (a state from
 * before versions were kept), or one of this program at this version or older.
 */
export function programRecordProblem(recorded: unknown, current: ProgramId): string | undefined {
  const ours = parseVersion(current.version);
  if (!ours) throw new Error(`internal: this program's version ${JSON.stringify(current.version)} (package.json) is not a semantic version`);
  if (recorded === undefined || recorded === null) return undefined;
  const r = recorded as { name?: unknown; version?: unknown };
  const theirs = typeof r.version === "string" ? parseVersion(r.version) : undefined;
  if (typeof r.name !== "string" || !theirs) {
    return `the stack output \`${PROGRAM_OUTPUT}\` (the program that last wrote this stack) is damaged: expected { name, version } with a semantic version, found ${JSON.stringify(recorded)}. Restore the stack's state from a backup (pulumi stack export/import), or run the program that wrote it.`;
  }
  if (r.name !== current.name) {
    return `this stack was last written by the program ${JSON.stringify(r.name)} ${r.version}, not by ${current.name}: refusing to change a stack another program manages. Select this program's stack (pulumi stack select).`;
  }
  if (compareVersions(theirs, ours) > 0) {
    return (
      `this stack was last written by ${current.name} ${r.version}, newer than this copy of the program (${current.version}). ` +
      `An older program may not understand what a newer one recorded, and its up would rewrite it. ` +
      `Update this checkout to ${r.version} or later (git pull, then npm ci) and run again.`
    );
  }
  return undefined;
}
