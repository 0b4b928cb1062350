// Long steps (a restart that waits minutes for /ping/) print a line every 10 s,
// so that an SSH session through a NAT is never silent long enough to be dropped.
import { execFileSync } from "node:child_process";
import { scriptText } from "../pure/plan/host-scripts";

/** The clock `progress` reads, fixed: two reads of the real one can straddle a second (9 s waited would read as 10). */
const NOW = 1_764_000_000;

/** What `progress` prints when called once per `seconds` since the wait began (each whole second, as a loop would). */
function printed(seconds: number[]): string {
  const calls = seconds.map((s) => `progress ${NOW - s} "dtable-server-2 to answer /ping/"`).join("\n");
  return execFileSync("bash", ["-c", [scriptText("lib/progress.sh"), `date() { echo ${NOW}; }`, calls].join("\n")], { encoding: "utf8" });
}

test("a line after every 10 s of waiting, however often or seldom the loop polls", () => {
  const line = (t: number) => `still waiting for dtable-server-2 to answer /ping/ (${t} s)\n`;
  expect(printed([0, 1, 9])).toBe("");
  expect(printed([10])).toBe(line(10));
  // a loop that polls several times a second: one line per 10 s
  expect(printed([10, 10, 10, 11, 19, 20, 20, 30])).toBe([10, 20, 30].map(line).join(""));
  // a loop whose probe takes seconds never lands on a multiple of 10: it is not silent
  expect(printed([7, 14, 19, 26, 33, 39])).toBe([14, 26, 39].map(line).join(""));
});
