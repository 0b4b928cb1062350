// The program's version kept with the stack's state (pure/plan/program-version.ts):
// a state written by a newer version is refused, one with no version accepted.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compareVersions, parseVersion, programRecordProblem, PROGRAM_OUTPUT } from "../pure/plan/program-version";

const THIS = { name: "seatable-cluster", version: "0.2.0" };
const v = (text: string) => {
  const parsed = parseVersion(text);
  if (!parsed) throw new Error(`not a version: ${text}`);
  return parsed;
};

test("package.json's version is a semantic version, and the output is called program", () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, "..", "package.json"), "utf8")) as { name: string; version: string };
  expect(pkg.name).toBe("seatable-cluster");
  expect(parseVersion(pkg.version)).toBeDefined();
  expect(PROGRAM_OUTPUT).toBe("program");
});

test("versions: MAJOR.MINOR.PATCH, an optional pre-release, build metadata ignored", () => {
  expect(parseVersion("0.2.0")).toEqual({ core: [0, 2, 0], pre: [] });
  expect(parseVersion("10.20.30-rc.1")).toEqual({ core: [10, 20, 30], pre: ["rc", 1] });
  expect(parseVersion("1.0.0-rc.10.x7")).toEqual({ core: [1, 0, 0], pre: ["rc", 10, "x7"] });
  expect(parseVersion("1.0.0-alpha-1.0a+build.5")).toEqual({ core: [1, 0, 0], pre: ["alpha-1", "0a"] });
  expect(parseVersion("1.0.0+20261207")).toEqual({ core: [1, 0, 0], pre: [] });
  for (const bad of ["", "1", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-", "1.2.3-01", "1.2.3-a..b", "1.2.3+", " 1.2.3", "1.2.3 ", "1.2.x"]) {
    expect([bad, parseVersion(bad)]).toEqual([bad, undefined]);
  }
});

test("precedence: each part numerically, a pre-release before its release, identifiers in semver's order", () => {
  // semver.org's own example, in order
  const ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.10.0", "2.0.0"];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) {
      const c = Math.sign(compareVersions(v(ordered[i]), v(ordered[j])));
      expect([ordered[i], ordered[j], c]).toEqual([ordered[i], ordered[j], Math.sign(i - j)]);
    }
  }
  expect(compareVersions(v("0.10.0"), v("0.9.9"))).toBeGreaterThan(0);
  expect(compareVersions(v("1.0.0+a"), v("1.0.0+b"))).toBe(0);
  expect(compareVersions(v("1.0.0-2"), v("1.0.0-10"))).toBeLessThan(0);
});

test("no record (a state written before versions were kept) is accepted", () => {
  expect(programRecordProblem(undefined, THIS)).toBeUndefined();
  expect(programRecordProblem(null, THIS)).toBeUndefined();
});

test("a record of this version or an older one is accepted", () => {
  for (const version of ["0.2.0", "0.1.0", "0.2.0-rc.1", "0.0.1", "0.2.0+other-build"]) {
    expect([version, programRecordProblem({ name: "seatable-cluster", version }, THIS)]).toEqual([version, undefined]);
  }
});

test("a record of a newer version is refused, naming both versions and how to update", () => {
  for (const version of ["0.2.1", "0.3.0", "1.0.0", "0.10.0", "0.2.1-rc.1"]) {
    expect(programRecordProblem({ name: "seatable-cluster", version }, THIS)).toBe(
      `this stack was last written by seatable-cluster ${version}, newer than this copy of the program (0.2.0). ` +
        "An older program may not understand what a newer one recorded, and its up would rewrite it. " +
        `Update this checkout to ${version} or later (git pull, then npm ci) and run again.`,
    );
  }
  // a pre-release of this program refuses the release it leads to
  expect(programRecordProblem({ name: "seatable-cluster", version: "0.2.0" }, { ...THIS, version: "0.2.0-rc.1" })).toMatch(/^this stack was last written by seatable-cluster 0\.2\.0, newer than this copy of the program \(0\.2\.0-rc\.1\)/);
});

test("another program's record is refused", () => {
  expect(programRecordProblem({ name: "other-program", version: "0.1.0" }, THIS)).toBe(
    'this stack was last written by the program "other-program" 0.1.0, not by seatable-cluster: refusing to change a stack another program manages. Select this program\'s stack (pulumi stack select).',
  );
});

test("a damaged record is refused, quoting it", () => {
  for (const damaged of ["0.2.0", 3, [], [THIS], {}, { name: "seatable-cluster" }, { version: "0.1.0" }, { name: 1, version: "0.1.0" }, { name: "seatable-cluster", version: "latest" }, { name: "seatable-cluster", version: 2 }]) {
    expect(programRecordProblem(damaged, THIS)).toBe(
      `the stack output \`program\` (the program that last wrote this stack) is damaged: expected { name, version } with a semantic version, found ${JSON.stringify(damaged)}. ` +
        "Restore the stack's state from a backup (pulumi stack export/import), or run the program that wrote it.",
    );
  }
});

test("this program's own version must be a semantic version", () => {
  expect(() => programRecordProblem({ name: "seatable-cluster", version: "0.1.0" }, { ...THIS, version: "two" })).toThrow(/this program's version "two" \(package\.json\) is not a semantic version/);
  // even with no record to compare
  expect(() => programRecordProblem(undefined, { ...THIS, version: "two" })).toThrow(/is not a semantic version/);
});
