/**
 * The pull cursor of protocol v1: `v1.<seq>`, or `v1.<seq>.h<horizon>` while a scan from the
 * start is under way (server/pull.ts says why). The protocol calls it opaque; this module is
 * the only code that builds or reads one, so the server, the sync client, chaos and the
 * conformance checks agree on it.
 */

/** A pull position: after `seq`; `horizon` set while a scan from the start is under way. */
export interface CursorPosition {
  seq: number;
  horizon?: number;
}

/** Canonical digits only (no leading zeros, no sign), at most 16 of them; checked for safe integers below. */
const CURSOR = /^v1\.(0|[1-9][0-9]{0,15})(?:\.h(0|[1-9][0-9]{0,15}))?$/;

/** The cursor for a position after `seq` (with the scan's `horizon` when one is under way). */
export function formatCursor(seq: number, horizon?: number): string {
  return horizon === undefined ? `v1.${seq}` : `v1.${seq}.h${horizon}`;
}

/** The position a cursor stands for, or null for any other string (including a seq past 2^53). */
export function parseCursor(cursor: string | null | undefined): CursorPosition | null {
  const match = cursor ? CURSOR.exec(cursor) : null;
  if (!match) return null;
  const seq = Number(match[1]);
  const horizon = match[2] === undefined ? undefined : Number(match[2]);
  if (!Number.isSafeInteger(seq) || (horizon !== undefined && !Number.isSafeInteger(horizon))) return null;
  return horizon === undefined ? { seq } : { seq, horizon };
}

/** The seq a cursor stands for (with or without a horizon), or null when it is no v1 cursor. */
export function cursorSeq(cursor: string | null | undefined): number | null {
  return parseCursor(cursor)?.seq ?? null;
}

/** The seq of a plain `v1.<seq>` cursor; null for a horizon cursor (its scan is under way) or any other string. */
export function plainCursorSeq(cursor: string | null | undefined): number | null {
  const p = parseCursor(cursor);
  return p && p.horizon === undefined ? p.seq : null;
}
