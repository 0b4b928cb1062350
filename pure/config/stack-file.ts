// Reads a Pulumi.<stack>.yaml the way the Pulumi CLI would hand it to the program,
// for the offline plan command. Encrypted values are only noted, never decrypted.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { PROJECT } from "./schema";
import { fromConfigString, RawStackConfig, validateStackConfig, Validated } from "./validate";

/**
 * The project's keys of a stack, from (full key, value, is it a secret) entries:
 * keys of other namespaces (docker:..., pulumi:...) are not ours, and secret
 * values are replaced by a marker so that nothing after this reads them.
 */
export function rawStackConfig(entries: Iterable<{ key: string; value: unknown; secret: boolean }>): RawStackConfig {
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const { key: fullKey, value, secret } of entries) {
    const [namespace, key] = fullKey.includes(":") ? fullKey.split(/:(.*)/s, 2) : [PROJECT, fullKey];
    if (namespace !== PROJECT) continue;
    if (secret) secretKeys.add(key);
    values[key] = secret ? "[secret]" : value;
  }
  return { values, secretKeys };
}

export function rawFromStackYaml(text: string): RawStackConfig {
  const doc = (parse(text) ?? {}) as { config?: Record<string, unknown> };
  return rawStackConfig(
    Object.entries(doc.config ?? {}).map(([key, value]) => ({
      key,
      // `pulumi config set key 600` writes "600": the program gets a string either
      // way and converts it (index.ts); do the same so that plan and `up` agree
      value: typeof value === "string" ? fromConfigString(key.slice(key.indexOf(":") + 1), value) : value,
      // what `pulumi config set --secret` writes: {secure: <ciphertext>}
      secret: value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && "secure" in value,
    })),
  );
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
