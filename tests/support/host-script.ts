// Reading a step's command back: the header of values the plan put before its
// host scripts (pure/plan/host-scripts.ts writes `NAME='value'` lines).

/** The header's values by name; lines values (EXPECT, PROBES, …) as one string with newlines. */
export function scriptVars(command: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const m of command.matchAll(/^([A-Z][A-Z0-9_]*)='((?:[^']|'\\'')*)'$/gm)) vars[m[1]] = m[2].replace(/'\\''/g, "'");
  return vars;
}

/** A lines value as its lines (none for an empty value). */
export const scriptLines = (command: string, name: string): string[] => {
  const value = scriptVars(command)[name];
  if (value === undefined) throw new Error(`no ${name} in the command's header`);
  return value === "" ? [] : value.split("\n");
};
