// A detached child that leads its own process group (nginx's master and its
// workers, a shell and what it execs), stopped as a whole: SIGTERM, then SIGKILL.
import { ChildProcess, spawn } from "node:child_process";
import { withTimeout } from "./standins";

export type ProcessGroup = {
  readonly pid: number;
  /** the child's exit code (-1 when a signal or a spawn error ended it) */
  readonly exited: Promise<number>;
  hasExited(): boolean;
  /** SIGTERM, SIGKILL if it takes longer than `stopTimeoutMs`; then SIGKILL to whatever is left in the group. Safe to call twice. */
  stop(): Promise<void>;
};

export function spawnGroup(command: string, args: readonly string[], logFd: number, what: string, stopTimeoutMs = 5_000): ProcessGroup {
  const child: ChildProcess = spawn(command, [...args], { detached: true, stdio: ["ignore", logFd, logFd] });
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not spawn ${command} (${what})`);
  let done = false;
  const exited = new Promise<number>((resolve) => {
    child.once("error", () => resolve(-1));
    child.once("exit", (code) => resolve(code ?? -1));
  }).then((code) => {
    done = true;
    return code;
  });
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // gone already
    }
  };
  // last resort if the test process ends without stop()
  const onExit = () => killGroup("SIGKILL");
  process.once("exit", onExit);
  let stopping: Promise<void> | undefined;
  return {
    pid,
    exited,
    hasExited: () => done,
    stop: () =>
      (stopping ??= (async () => {
        process.off("exit", onExit);
        if (!done) {
          killGroup("SIGTERM");
          await withTimeout(exited, stopTimeoutMs, `${what} to stop`).catch(async () => {
            killGroup("SIGKILL");
            await withTimeout(exited, stopTimeoutMs, `${what} to die after SIGKILL`).catch(() => undefined);
          });
        }
        // workers left behind by the master (should not happen)
        killGroup("SIGKILL");
      })()),
  };
}
