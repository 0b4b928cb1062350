// The bad-input corpus: every tests/corpus/invalid/*.yaml is the dev stack with
// one thing wrong. A file's first lines say what it expects: `# expect: <key path>: <regex>`.
import { readdirSync } from "node:fs";
import { join } from "node:path";

export const CORPUS = join(__dirname, "..", "corpus", "invalid");
export const FILES = readdirSync(CORPUS)
  .filter((f) => f.endsWith(".yaml"))
  .sort();

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The lines a corpus file expects: their key paths, and as matchers (`<key path>: ` then the regex). */
export function expectedLines(text: string): { keyPaths: string[]; matchers: unknown[]; patterns: RegExp[] } {
  const patterns: RegExp[] = [];
  const keyPaths: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^# expect: (\S+?): (.+)$/.exec(line);
    if (!m) break;
    keyPaths.push(m[1]);
    patterns.push(new RegExp(`^${escape(m[1])}: (?:${m[2]})`));
  }
  return { keyPaths, patterns, matchers: patterns.map((p) => expect.stringMatching(p)) };
}
