// Reads a Pulumi.<stack>.yaml the way the Pulumi CLI would hand it to the program,
// for the offline plan command. Encrypted values are only noted, never decrypted.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { PROJECT } from "./schema";
import { RawStackConfig, validateStackConfig, Validated } from "./validate";

export function rawFromStackYaml(text: string): RawStackConfig {
  const doc = (parse(text) ?? {}) as { config?: Record<string, unknown> };
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, value] of Object.entries(doc.config ?? {})) {
    const [namespace, key] = fullKey.includes(":") ? fullKey.split(/:(.*)/s, 2) : [PROJECT, fullKey];
    if (namespace !== PROJECT) continue; // provider settings such as docker:... are not ours
    const secure = value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value;
    if (secure) secretKeys.add(key);
    values[key] = secure ? "[secret]" : value;
  }
  return { values, secretKeys };
}

/** Validates a stack file; files it names (routing.start.file) are relative to it. */
export function validateStackFile(path: string, requireSecrets = false): Validated {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { ok: false, problems: [`${path}: cannot read the stack file: ${(e as Error).message}`] };
  }
  let raw: RawStackConfig;
  try {
    raw = rawFromStackYaml(text);
  } catch (e) {
    return { ok: false, problems: [`${path}: not valid YAML: ${(e as Error).message.split("\n")[0]}`] };
  }
  const base = dirname(resolve(path));
  return validateStackConfig(raw, { requireSecrets, readFile: (p) => readFileSync(resolve(base, p), "utf8") });
}
