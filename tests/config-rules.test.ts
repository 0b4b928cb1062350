// The config rules in-process, fast enough for every mutation run: each corpus
// file (tests/support/corpus.ts) is refused with exactly its expected lines, and
// the key path each line starts with is where the mistake is: putting back the
// dev stack's value at those paths (or removing a key dev does not have) makes
// the file valid. (invalid-configs.test.ts checks the same lines through
// `npm run plan` and the program.)
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { rawFromStackYaml, validateStackFile } from "../pure/config/stack-file";
import { validateStackConfig } from "../pure/config/validate";
import { CORPUS, expectedLines, FILES } from "./support/corpus";
import { stackValues } from "./support/stacks";

/** `hosts.servers[1].name` → ["hosts", "servers", 1, "name"] */
const segments = (keyPath: string): (string | number)[] =>
  keyPath.split(".").flatMap((part) => {
    const m = /^([^[]+)((?:\[\d+\])*)$/.exec(part)!;
    return [m[1], ...[...m[2].matchAll(/\[(\d+)\]/g)].map((i) => Number(i[1]))];
  });

/** Sets `path` in `target` to its value in `source`, or deletes it (at the first level `source` lacks). */
function restore(target: any, source: any, path: (string | number)[]): void {
  const [head, ...rest] = path;
  if (source === undefined || source === null || !(head in source)) {
    delete target[head];
  } else if (rest.length === 0 || typeof target[head] !== "object" || target[head] === null) {
    target[head] = structuredClone(source[head]);
  } else {
    restore(target[head], source[head], rest);
  }
}

/** Mistakes the dev stack has no value for: the value that fixes them. */
const FIXES: Record<string, Record<string, unknown>> = {
  // the image there is :latest, which needs a seatableVersion: a well-formed one
  "38-seatable-version-malformed.yaml": { seatableVersion: "6.1" },
  // the same for an image tag that is not a version, with a refused seatableVersion
  "88-version-5-override.yaml": { seatableVersion: "6.1" },
  "90-version-7-override.yaml": { seatableVersion: "6.1" },
  // the dev stack (6.1) has no avatar bucket; 6.2 requires one
  "92-avatar-bucket-missing-6.2.yaml": { s3: { buckets: { avatar: "seatable-dev-avatar" } } },
  // that server has no host key there: the opt-out written right
  "85-host-key-opt-out-not-boolean.yaml": { hosts: { servers: [{ ssh: { insecureSkipHostKeyCheck: true } }] } },
};

/** Files whose mistake is the file's shape, not a value at a key path: nothing to put back. */
const SHAPE_MISTAKES = ["77-stack-file-a-list.yaml", "78-config-a-list.yaml"];

describe.each(FILES)("%s", (file) => {
  const path = join(CORPUS, file);
  const text = readFileSync(path, "utf8");

  test("refused with exactly the expected line(s)", () => {
    const v = validateStackFile(path);
    expect(v.ok ? [] : v.problems).toEqual(expectedLines(text).matchers);
  });

  if (!SHAPE_MISTAKES.includes(file)) test("the key path of each line is the mistake: the dev stack's value there makes the file valid", () => {
    const raw = rawFromStackYaml(text);
    const dev = stackValues("dev");
    const values = structuredClone(raw.values) as Record<string, unknown>;
    const secretKeys = new Set(raw.secretKeys);
    for (const keyPath of expectedLines(text).keyPaths) {
      const [top] = segments(keyPath);
      secretKeys.delete(String(top)); // a setting written with --secret that should not be
      restore(values, { ...dev, ...FIXES[file] }, segments(keyPath));
    }
    const v = validateStackConfig({ values, secretKeys }, { requireSecrets: false, readFile: (p) => readFileSync(join(CORPUS, p), "utf8") });
    expect(v.ok ? [] : v.problems).toEqual([]);
  });
});
