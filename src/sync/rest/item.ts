import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { serverIdOf } from "./client.ts";
import type { ResolvedRestConfig } from "./config.ts";
import { seenTag } from "./cursor.ts";
import { resolvePointer } from "./pointer.ts";

/** One item of an API answer, read through the item mapping. */
export interface ItemView {
  serverId: string;
  /** The local id the item carries (a Stowage client's), if any. */
  localId: string | null;
  /** Soft-deleted: the tombstone pointer names a value that is neither null nor false. */
  dead: boolean;
  /** The change time as the API wrote it (undefined when the item has none). */
  updatedAt: unknown;
  /** What "already seen" compares (cursor.ts). */
  tag: string;
  raw: JsonObject;
}

/** Reads an item; an item without a server id is an error naming the pointer, never a new document. */
export function viewItem(c: ResolvedRestConfig, raw: unknown, where: string): ItemView {
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new StowageError("protocol", `${where}: an item is not a JSON object: ${describeValue(JSON.stringify(raw)?.slice(0, 120))}`);
  const serverId = serverIdOf(c, raw);
  if (serverId === null) {
    throw new StowageError("protocol", `${where}: an item has no server id at item.id ${describeValue(c.item.id)} (fix item.id in the rest config): ${JSON.stringify(raw).slice(0, 160)}`);
  }
  const carried = c.item.localId === null ? undefined : resolvePointer(raw, c.item.localId);
  const tomb = c.item.tombstone === null ? null : resolvePointer(raw, c.item.tombstone);
  const updatedAt = resolvePointer(raw, c.item.updatedAt);
  return {
    serverId,
    localId: typeof carried === "string" && carried !== "" ? carried : null,
    dead: tomb !== null && tomb !== undefined && tomb !== false,
    updatedAt,
    tag: seenTag(raw as JsonObject, updatedAt),
    raw: raw as JsonObject,
  };
}

/** Compares two `updated_at` values as the API wrote them: numbers as numbers, ISO text as times, else as text. */
export function compareTimes(a: unknown, b: unknown): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  const ta = typeof a === "string" ? Date.parse(a) : NaN;
  const tb = typeof b === "string" ? Date.parse(b) : NaN;
  if (Number.isFinite(ta) && Number.isFinite(tb)) return ta - tb;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}
