// `plan --where <base uuid>`: which dtable-server holds a base under a routing
// table, and why (its pin, or its bucket).
import { isUuid, normaliseUuid } from "../config/values";
import { bucketOf, ownerOf, RoutingTable } from "./routing";

export type BaseLocation = {
  /** lower-case dashed, as routing.json writes it */
  readonly uuid: string;
  readonly server: string;
  readonly bucket: string;
  readonly pinned: boolean;
};

/** A base UUID as a user types it (dashed or 32 hex digits, any case), or the problem with it. */
export function parseBaseUuid(text: string): { readonly uuid: string } | { readonly problem: string } {
  const trimmed = text.trim();
  if (isUuid(trimmed)) return { uuid: normaliseUuid(trimmed) };
  return { problem: `--where: ${JSON.stringify(text)} is not a base UUID; expected 8-4-4-4-12 hex digits or 32 hex digits, in any case` };
}

export function locateBase(table: RoutingTable, uuid: string): BaseLocation {
  return { uuid, server: ownerOf(table, uuid), bucket: bucketOf(uuid, table.bucketHexDigits), pinned: table.pins[uuid] !== undefined };
}

const holder = (l: BaseLocation) => `${l.server} (${l.pinned ? "pinned" : `bucket ${l.bucket}`})`;

/**
 * The answer of `--where`: the server under `table` (named by `source`); with
 * `after`, the table `pulumi up` would apply, whether the base moves.
 */
export function whereLines(uuid: string, table: RoutingTable, source: string, after?: RoutingTable): string[] {
  const now = locateBase(table, uuid);
  const lines = [`${uuid}: ${holder(now)}, in ${source}`];
  if (after) {
    const then = locateBase(after, uuid);
    lines.push(`after \`pulumi up\`: ${then.server === now.server ? "stays on " : "moves to "}${holder(then)}`);
  }
  return lines;
}
