// hostscripts/edit-conf.py killed mid-write: SeaTable must never find a conf
// file half written. The script is run on a large settings file and SIGKILLed
// many times, at random moments and at the first sign of a change to the file
// (a file written in place shows a truncated or growing file there); after each
// kill the file holds either the old or the new content, whole.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { withTimeout } from "./support/standins";
import { seededRandom } from "./support/random";
import { ROOT } from "./support/stacks";

jest.setTimeout(180_000);

const SCRIPT = join(ROOT, "hostscripts", "edit-conf.py");
const FILE = "dtable_web_settings.py";
const EDITS = JSON.stringify([{ file: FILE, format: "python", key: "INNER_DTABLE_SERVER_URL", value: "http://dtable-web:5000/" }]);
const ROUNDS = 16;
const SEED = Math.floor(Math.random() * 2 ** 31);

// tmpfs when there is one: the kills should land in the write, not in a slow disk's fsync
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(existsSync("/dev/shm") ? "/dev/shm" : tmpdir(), "edit-conf-atomic-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Starts the script on `dir`; resolves with its exit code (null when killed) once it ended. */
function start(): { pid: number; ended: Promise<number | null> } {
  const child = spawn("python3", [SCRIPT, "--conf-dir", dir, "--timeout", "30", "--settle", "0"], {
    env: { ...process.env, SEATABLE_CONF_EDITS: EDITS },
    stdio: "ignore",
  });
  const ended = withTimeout(new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code))), 60_000, "edit-conf.py to end");
  return { pid: child.pid!, ended };
}

test(`SIGKILL at any moment leaves the old or the new file, whole (seed ${SEED})`, async () => {
  const rng = seededRandom(SEED);
  const path = join(dir, FILE);
  // ~2 MB of settings, the key to set not among them: the script appends it
  const old = Array.from({ length: 10_000 }, (_, i) => `SETTING_${i} = "${"x".repeat(180)}"\n`).join("");
  writeFileSync(path, old);
  const full = start();
  const began = Date.now();
  expect(await full.ended).toBe(0);
  const took = Date.now() - began;
  const updated = readFileSync(path, "utf8");
  expect(updated).toBe(`${old}INNER_DTABLE_SERVER_URL = 'http://dtable-web:5000/'\n`);

  const seen: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    writeFileSync(path, old);
    const before = statSync(path);
    const run = start();
    if (round % 2 === 0) {
      // at the first change of the file: its size or its inode
      const deadline = Date.now() + 2 * took + 1000;
      for (;;) {
        const now = statSync(path, { throwIfNoEntry: false });
        if (!now || now.size !== before.size || now.ino !== before.ino || Date.now() > deadline) break;
      }
    } else {
      await new Promise((r) => setTimeout(r, rng() * took));
    }
    try {
      process.kill(run.pid, "SIGKILL");
    } catch {
      // it had ended
    }
    await run.ended;
    const after = readFileSync(path, "utf8");
    seen.push(after === old ? "old" : after === updated ? "new" : `torn (${after.length} of ${old.length} or ${updated.length} characters)`);
    for (const f of readdirSync(dir)) if (f !== FILE) rmSync(join(dir, f)); // a killed run's temporary file
  }
  expect(seen.filter((s) => s.startsWith("torn"))).toEqual([]);
});
