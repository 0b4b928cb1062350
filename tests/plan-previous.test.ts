// `npm run plan -- --previous routing.json` with a table whose bucket digits
// differ from the config's, as a user runs it (a process).
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { allBuckets, routingJson } from "../pure/config/routing-file";
import { ROOT } from "./support/stacks";

const run = promisify(execFile);

async function plan(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["-r", "ts-node/register/transpile-only", join(ROOT, "cli", "plan.ts"), ...args], { cwd: ROOT, timeout: 30000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "plan-previous-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** routing.json of `digits` hex digits: the first half of the buckets on dtable-server, the rest on dtable-server-2 */
function previous(digits: 1 | 2 | 3): string {
  const all = allBuckets(digits);
  const path = join(dir, "routing.json");
  writeFileSync(path, routingJson({ bucketHexDigits: digits, default: "dtable-server", buckets: Object.fromEntries(all.map((b, i) => [b, i < all.length / 2 ? "dtable-server" : "dtable-server-2"])), pins: {} }));
  return path;
}

test("a table of more hex digits than the config (2): exit 1 with the message, no stack trace", async () => {
  const path = previous(3);
  const r = await plan("--stack", "dev", "--previous", path, "--out", join(dir, "out"));
  expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
    code: 1,
    stdout: "",
    stderr: `--previous(${path}).bucketHexDigits: 3 is more than routing.bucketHexDigits (2); fewer digits would merge buckets that live on different servers\n`,
  });
});

test("a table of fewer hex digits than the config is restated: nothing moves", async () => {
  const r = await plan("--stack", "dev", "--previous", previous(1));
  expect([r.code, r.stderr]).toEqual([0, ""]);
  expect(r.stdout).toContain(`Against --previous ${join(dir, "routing.json")}: no bucket or pinned base changes server; nothing restarts.`);
});
