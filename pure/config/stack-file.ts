// Reads a Pulumi.<stack>.yaml the way the Pulumi CLI would hand it to the program,
// for the offline plan command. Encrypted values are only noted, never decrypted.
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse } from "yaml";
import { describe, keyPath, quote, suggestion } from "./problems";
import { PROJECT } from "./schema";
import { ENVIRONMENT_SECRETS } from "./environment";
import { fromConfigString, RawStackConfig, validateStackConfig, Validated } from "./validate";

/** The top level of a stack file, as the Pulumi CLI reads it; anything else there is ignored by it. */
const STACK_FILE_KEYS = ["config", "environment", "secretsprovider", "encryptedkey", "encryptionsalt"];

/** A namespace that looks meant to be the project's: its keys would be silently ignored. */
const nearMiss = (namespace: string) => /seatable/i.test(namespace) || suggestion(namespace, [PROJECT]) !== "";

const isMap = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === "object" && !Array.isArray(value);

/** What `pulumi config set --secret` writes: {secure: <ciphertext>}. */
const isSecure = (value: unknown) => isMap(value) && Object.keys(value).length === 1 && "secure" in value;

/**
 * Whether Pulumi takes a key as a secret: its value is secure, or holds a
 * secure value at any depth (`--secret --path` writes one under a map; config
 * object.go's Secure() in pulumi/pulumi counts a map holding one as secure).
 */
const holdsSecure = (value: unknown): boolean => isSecure(value) || (Array.isArray(value) ? value.some(holdsSecure) : isMap(value) && Object.values(value).some(holdsSecure));

/**
 * environmentSecrets as the plan may see it: its names (never its values), or
 * the marker when it is one encrypted value whose names only `pulumi up` sees.
 * `pulumi up` hands it over as JSON, the stack file as a map.
 */
function secretNamesOnly(value: unknown): unknown {
  let map = value;
  if (typeof value === "string") {
    try {
      map = JSON.parse(value);
    } catch {
      return "[secret]";
    }
  }
  return isMap(map) && !isSecure(map) ? Object.fromEntries(Object.keys(map).map((k) => [k, "[secret]"])) : "[secret]";
}

/**
 * The project's keys of a stack, from (full key, value, is it a secret) entries:
 * keys of other namespaces (docker:..., pulumi:...) are not ours, and secret
 * values are replaced by a marker so that nothing after this reads them. A
 * namespace that is a near miss of the project's, and one setting written
 * twice ("image" and "seatable-cluster:image"), are problems.
 */
export function rawStackConfig(entries: Iterable<{ key: string; value: unknown; secret: boolean }>): RawStackConfig {
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  const problems: string[] = [];
  const writtenAs = new Map<string, string>();
  for (const { key: fullKey, value, secret } of entries) {
    const [namespace, key] = fullKey.includes(":") ? fullKey.split(/:(.*)/s, 2) : [PROJECT, fullKey];
    if (namespace !== PROJECT) {
      if (nearMiss(namespace)) {
        problems.push(`${keyPath([fullKey])}: the namespace ${quote(namespace)} is not this project's, so nothing reads this setting; write "${PROJECT}:${keyPath([key])}"`);
      }
      continue;
    }
    const first = writtenAs.get(key);
    if (first !== undefined) {
      problems.push(`${keyPath([key])}: set twice, as ${quote(first)} and as ${quote(fullKey)}; keep one`);
      continue;
    }
    writtenAs.set(key, fullKey);
    if (secret) secretKeys.add(key);
    values[key] = key === ENVIRONMENT_SECRETS && secret ? secretNamesOnly(value) : secret ? "[secret]" : value;
  }
  return { values, secretKeys, ...(problems.length > 0 ? { problems } : {}) };
}

export function rawFromStackYaml(text: string): RawStackConfig {
  const doc: unknown = parse(text) ?? {};
  if (!isMap(doc)) {
    return { values: {}, secretKeys: new Set(), problems: [`config: missing; the stack file holds ${describe(doc)}, expected a map with a "config:" section`] };
  }
  const problems: string[] = [];
  for (const key of Object.keys(doc).filter((k) => !STACK_FILE_KEYS.includes(k))) {
    problems.push(`${keyPath([key])}: outside "config:", where nothing reads it; indent it under config: (the top level of a stack file holds only ${STACK_FILE_KEYS.join(", ")})`);
  }
  const config = doc.config ?? {};
  if (!isMap(config)) problems.push(`config: expected a map of settings ("${PROJECT}:<key>: <value>"), found ${describe(config)}`);
  const raw = rawStackConfig(
    Object.entries(isMap(config) ? config : {}).map(([key, value]) => ({
      key,
      // `pulumi config set key 600` writes "600": the program gets a string either
      // way and converts it (index.ts); do the same so that plan and `up` agree
      value: typeof value === "string" ? fromConfigString(key.slice(key.indexOf(":") + 1), value) : value,
      // `--secret --path environmentSecrets.<name>` writes a map of {secure: …}, which the CLI hands over as one secret
      secret: holdsSecure(value),
    })),
  );
  return { ...raw, problems: [...problems, ...(raw.problems ?? [])] };
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
  // with no setting read, "missing" for each required one would only hide the reason
  if (Object.keys(raw.values).length === 0 && raw.problems?.length) return { ok: false, problems: raw.problems };
  const base = dirname(resolve(path));
  return validateStackConfig(raw, { requireSecrets, readFile: (p) => readFileSync(resolve(base, p), "utf8") });
}
