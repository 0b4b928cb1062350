// The node steps' directory set-up run for real through OpenSSH on loopback, in
// a private mount namespace where /opt is a temporary folder (so the steps'
// own paths are used): a directory the admin tightened stays as it is, a
// missing one is created 0755.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { COMPOSE_DIR, SEATABLE_DIR, SEATABLE_NGINX_CONF } from "../pure/plan/containers";
import { HostStep } from "../pure/plan/rollout";
import { nodeSteps } from "../pure/plan/node-steps";
import { runOverSsh, Sshd, startSshd, stopSshd } from "./support/sshd";
import { configOf } from "./support/stacks";

let sshd: Sshd | undefined;
let work: string;

beforeAll(async () => {
  sshd = await startSshd();
  work = mkdtempSync(join(tmpdir(), "host-dirs-"));
}, 30000);

afterAll(async () => {
  await stopSshd(sshd);
  rmSync(work, { recursive: true, force: true });
});

const config = configOf();
const webSteps = () => nodeSteps(config, config.hosts.web, "").before;
const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

/** Runs a step over ssh with `opt` mounted on /opt. */
async function runOnHost(step: HostStep, opt: string) {
  const script = join(work, `${step.id}.sh`);
  writeFileSync(script, step.command);
  return runOverSsh(sshd as Sshd, {
    command: `unshare -m --propagation private sh -c 'mount --bind ${opt} /opt && exec sh ${script}'`,
    stdin: step.stdin ?? "",
  });
}

async function runStep(step: HostStep, opt: string): Promise<void> {
  const r = await runOnHost(step, opt);
  expect([step.id, r.status, r.stderr]).toEqual([step.id, 0, ""]);
}

const onHost = (opt: string, path: string) => join(opt, path.replace(/^\/opt\//, ""));

test("dtable-web's steps keep directories the admin tightened to 0700, twice", async () => {
  const opt = mkdtempSync(join(work, "opt-"));
  const dirs = [SEATABLE_DIR, `${SEATABLE_DIR}/seatable`, COMPOSE_DIR, `${COMPOSE_DIR}/config`];
  for (const d of dirs) {
    mkdirSync(onHost(opt, d), { recursive: true });
    chmodSync(onHost(opt, d), 0o700);
  }
  for (let run = 0; run < 2; run++) for (const step of webSteps()) await runStep(step, opt);
  expect(dirs.map((d) => [d, mode(onHost(opt, d))])).toEqual(dirs.map((d) => [d, "700"]));
  expect(readFileSync(onHost(opt, SEATABLE_NGINX_CONF), "utf8")).toBe(webSteps().find((s) => s.id === "site-upload")?.stdin);
});

test("dtable-web's steps create missing directories 0755", async () => {
  const opt = mkdtempSync(join(work, "opt-"));
  for (const step of webSteps()) await runStep(step, opt);
  const dirs = [`${SEATABLE_DIR}/seatable`, COMPOSE_DIR, `${COMPOSE_DIR}/config`];
  expect(dirs.map((d) => [d, mode(onHost(opt, d))])).toEqual(dirs.map((d) => [d, "755"]));
});

test("a directory a step cannot make fails that step (a file where the folder should be)", async () => {
  for (const [id, dir] of [
    ["prepare", SEATABLE_DIR],
    ["site-upload", `${COMPOSE_DIR}/config`],
  ]) {
    const opt = mkdtempSync(join(work, "opt-"));
    mkdirSync(onHost(opt, COMPOSE_DIR), { recursive: true });
    writeFileSync(onHost(opt, dir), "a file, not a folder\n");
    const r = await runOnHost(webSteps().find((s) => s.id === id)!, opt);
    expect([id, r.status === 0]).toEqual([id, false]);
  }
});
