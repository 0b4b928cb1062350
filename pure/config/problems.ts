// Turns zod issues into the lines a user reads: "<key path>: <what was found, what is expected>".
import type { z } from "zod";
import { closest, distance } from "fastest-levenshtein";

/** How much of a value a problem echoes: enough to recognise it, never a whole pasted file. */
const ECHO_MAX = 60;

/** A string as a problem echoes it: quoted, and cut after ECHO_MAX characters (`"abc…"… (5000 characters)`). */
export function quote(value: string): string {
  return value.length <= ECHO_MAX ? JSON.stringify(value) : `${JSON.stringify(value.slice(0, ECHO_MAX))}… (${value.length} characters)`;
}

/** ["hosts", "servers", 2, "address"] → "hosts.servers[2].address"; a key longer than ECHO_MAX is cut. */
export function keyPath(path: readonly PropertyKey[], prefix = ""): string {
  let out = prefix;
  for (const part of path) {
    const key = String(part).length > ECHO_MAX ? `${String(part).slice(0, ECHO_MAX)}…` : String(part);
    if (typeof part === "number") out += `[${part}]`;
    else out += out === "" ? key : `.${key}`;
  }
  return out;
}

/** "did you mean …?" for a mistyped key, when one known key is close enough. */
export function suggestion(key: string, known: readonly string[]): string {
  if (known.length === 0) return "";
  const best = closest(key, [...known]);
  return distance(key.toLowerCase(), best.toLowerCase()) <= Math.max(2, Math.floor(best.length / 3)) ? `; did you mean "${best}"?` : "";
}

/** What a value is, for "found …": `"2" (a string)`, `1.5 (a number)`, `a list`. */
export function describe(input: unknown): string {
  if (input === undefined) return "nothing";
  if (input === null) return "null";
  if (Array.isArray(input)) return "a list";
  if (typeof input === "object") return "an object";
  return `${typeof input === "string" ? quote(input) : JSON.stringify(input)} (a ${typeof input})`;
}

/** "a number", "an array", "an object" */
const article = (what: string) => `${/^[aeiou]/i.test(what) ? "an" : "a"} ${what}`;

type Issue = z.core.$ZodIssue & { input?: unknown };

/**
 * One line per issue. `knownKeys(path)` lists the keys allowed at a path, for
 * suggestions on unknown keys.
 */
export function formatIssues(issues: readonly Issue[], prefix = "", knownKeys?: (path: readonly PropertyKey[]) => string[]): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    const where = keyPath(issue.path, prefix);
    if (issue.code === "unrecognized_keys") {
      const known = knownKeys?.(issue.path) ?? [];
      for (const key of issue.keys) {
        const at = keyPath([...issue.path, key], prefix);
        lines.push(`${at}: unknown key${suggestion(key, known)}${known.length ? ` (known here: ${known.join(", ")})` : ""}`);
      }
    } else if (issue.code === "invalid_key") {
      // a record's key failed its own check (a pin's UUID): say that check's words
      lines.push(`${where}: ${issue.issues[0]?.message ?? issue.message}`);
    } else if (issue.code === "invalid_type" && issue.input === undefined) {
      lines.push(`${where}: missing; expected ${issue.expected === "object" ? "a section" : article(issue.expected)}`);
    } else if (issue.code === "invalid_type" && !issue.message.startsWith("Invalid input")) {
      // the schema's own words (e.g. "expected a whole number from 1 to 1000, found 1.5"), not zod's
      lines.push(`${where}: ${issue.message}`);
    } else if (issue.code === "invalid_type") {
      lines.push(`${where}: expected ${article(issue.expected)}, found ${describe(issue.input)}`);
    } else if (issue.code === "invalid_value") {
      lines.push(`${where}: expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, found ${describe(issue.input)}`);
    } else {
      lines.push(`${where}: ${issue.message}`);
    }
  }
  return lines;
}
