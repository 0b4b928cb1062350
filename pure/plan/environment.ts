// Each node's seatable-server environment as it runs: the program's variables,
// then the stack config's `environment` (all, the role, the host; later wins).
import { ENVIRONMENT_SECRETS, environmentLayers } from "../config/environment";
import type { ClusterConfig, NodeHost, SecretRef } from "../config/schema";

export type NodeEnvironment = {
  /** plain variables */
  readonly env: Readonly<Record<string, string>>;
  /** variable → where its secret value comes from */
  readonly secretEnv: Readonly<Record<string, SecretRef>>;
  /** variables the stack config's environment sets: where, and whether it overrides the program's */
  readonly admin: Readonly<Record<string, { readonly from: string; readonly overrides: boolean }>>;
};

/** The node's environment from the program's own (`program`) and the stack config's. */
export function withAdminEnvironment(config: ClusterConfig, host: NodeHost, program: Pick<NodeEnvironment, "env" | "secretEnv">): NodeEnvironment {
  const env: Record<string, string> = { ...program.env };
  const secretEnv: Record<string, SecretRef> = { ...program.secretEnv };
  const admin: Record<string, { from: string; overrides: boolean }> = {};
  for (const layer of environmentLayers(config.environment, host.role, host.name)) {
    for (const [name, value] of Object.entries(layer.values)) {
      const overrides = name in program.env || name in program.secretEnv;
      if (typeof value === "string") {
        env[name] = value;
        delete secretEnv[name];
      } else {
        secretEnv[name] = `${ENVIRONMENT_SECRETS}.${value.secret}`;
        delete env[name];
      }
      admin[name] = { from: layer.path, overrides };
    }
  }
  return { env, secretEnv, admin };
}

const hasControl = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/** `NAME=value` lines, sorted, secret values masked; the stack config's marked with where they come from. */
export function environmentLines(environment: NodeEnvironment): string[] {
  const names = [...new Set([...Object.keys(environment.env), ...Object.keys(environment.secretEnv)])].sort();
  return names.map((name) => {
    // a value with a line break or another control character, as JSON: one line per variable
    const plain = environment.env[name];
    const value = name in environment.secretEnv ? `[secret ${environment.secretEnv[name]}]` : hasControl(plain) ? JSON.stringify(plain).split("\u007f").join("\\u007f") : plain;
    const admin = environment.admin[name];
    const note = admin ? `  (${admin.from}${admin.overrides ? ", overrides the program's value" : ""})` : "";
    return `${name}=${value}${note}`;
  });
}
