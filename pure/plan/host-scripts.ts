// The shell a step runs on a host: scripts kept as files under hostscripts/
// (checked by shellcheck, dash and bash in tests/hostscripts.lint.test.ts),
// preceded by a header of the values the plan decided. The plan layer still
// says what runs and with which values; the files only say how.
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** The folder of the host scripts, beside pure/ in the program. */
export const HOSTSCRIPTS_DIR = join(__dirname, "..", "..", "hostscripts");

/** Function libraries (hostscripts/lib/<name>.sh) and scripts (hostscripts/<name>.sh). */
export type ScriptLib = "progress" | "probe" | "lease" | "done-step" | "live-guard" | "wait-ping" | "edit-conf";

/** A header value: a string, a number, or lines (joined with newlines, read back with `while read`). */
type ScriptValue = string | number | readonly string[];

/** Header names: upper case, so that shellcheck takes them as set by the caller. */
const NAME = /^[A-Z][A-Z0-9_]*$/;

const texts = new Map<string, string>();
/** A host script's text as shipped with the program. */
export function scriptText(file: string): string {
  let text = texts.get(file);
  if (text === undefined) {
    // shellcheck's directives are for the file as it is checked, not for the host
    text = readFileSync(join(HOSTSCRIPTS_DIR, file), "utf8").replace(/^# shellcheck .*\n/gm, "");
    texts.set(file, text);
  }
  return text;
}

/** POSIX shell single quotes. */
function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `NAME='value'` lines for a header. */
export function scriptHeader(vars: Readonly<Record<string, ScriptValue>>): string[] {
  return Object.entries(vars).map(([name, value]) => {
    if (!NAME.test(name)) throw new Error(`host script header: ${JSON.stringify(name)} is not an upper-case shell name`);
    const text = typeof value === "string" ? value : typeof value === "number" ? String(value) : value.join("\n");
    return `${name}=${shellQuote(text)}`;
  });
}

/**
 * The command for a step: `set -eu`, the header, the libraries, then the
 * scripts in order (a step may run two, as a fence runs the claim first).
 */
export function hostScript(scripts: readonly string[], vars: Readonly<Record<string, ScriptValue>>, libs: readonly ScriptLib[] = []): string {
  return [
    "set -eu",
    ...scriptHeader(vars),
    ...libs.map((l) => scriptText(join("lib", `${l}.sh`)).trimEnd()),
    ...scripts.map((s) => scriptText(`${s}.sh`).trimEnd()),
  ].join("\n");
}
