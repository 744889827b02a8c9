/**
 * The pull cursor of protocol v1: `v1.<seq>`, or `v1.<seq>.h<horizon>` while a scan from the
 * start is under way (server/pull.ts says why). Under sync rules (issue 34) a cursor also
 * carries `.f<fingerprint>` of the rules and the principal's claims (a cursor made under other
 * rules or claims is answered `reset`), and `.o<origin>` while a view's pull is paging: the
 * cursor the catch-up began at, so a leave whose move lies before this page is still found
 * (server/sync-rules/pull-view.ts). The protocol calls it opaque; this module is
 * the only code that builds or reads one, so the server, the sync client, chaos and the
 * conformance checks agree on it.
 */

/** A pull position: after `seq`; `horizon` set while a scan from the start is under way. */
export interface CursorPosition {
  seq: number;
  horizon?: number;
  /** Where a view's paging catch-up began (below `seq`); absent otherwise. */
  origin?: number;
  /** The rules-and-claims fingerprint the cursor was made under (cursorFingerprint). */
  fingerprint?: string;
}

/** Canonical digits only (no leading zeros, no sign), at most 16 of them; checked for safe integers below. */
const CURSOR = /^v1\.(0|[1-9][0-9]{0,15})(?:\.h(0|[1-9][0-9]{0,15}))?(?:\.o(0|[1-9][0-9]{0,15}))?(?:\.f([0-9a-z]{1,16}))?$/;

/** The cursor for a position after `seq` (with the scan's `horizon` when one is under way; a view's origin and fingerprint). */
export function formatCursor(seq: number, horizon?: number, view?: { origin?: number; fingerprint?: string }): string {
  let out = horizon === undefined ? `v1.${seq}` : `v1.${seq}.h${horizon}`;
  if (view?.origin !== undefined) out += `.o${view.origin}`;
  if (view?.fingerprint !== undefined) out += `.f${view.fingerprint}`;
  return out;
}

/** The position a cursor stands for, or null for any other string (including a seq past 2^53). */
export function parseCursor(cursor: string | null | undefined): CursorPosition | null {
  const match = cursor ? CURSOR.exec(cursor) : null;
  if (!match) return null;
  const seq = Number(match[1]);
  const horizon = match[2] === undefined ? undefined : Number(match[2]);
  const origin = match[3] === undefined ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(seq) || (horizon !== undefined && !Number.isSafeInteger(horizon)) || (origin !== undefined && !Number.isSafeInteger(origin))) return null;
  const at: CursorPosition = { seq };
  if (horizon !== undefined) at.horizon = horizon;
  if (origin !== undefined) at.origin = origin;
  if (match[4] !== undefined) at.fingerprint = match[4];
  return at;
}

/**
 * The fingerprint of sync rules and the claims they name, as a cursor carries it: 53 bits of
 * a string hash (cyrb53) in base 36. Not a secret and not a MAC: it only tells a cursor made
 * under other rules or claims from a current one.
 */
export function cursorFingerprint(text: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36);
}

/** The seq a cursor stands for (with or without a horizon), or null when it is no v1 cursor. */
export function cursorSeq(cursor: string | null | undefined): number | null {
  return parseCursor(cursor)?.seq ?? null;
}

/** The seq of a plain `v1.<seq>` cursor (a fingerprint allowed); null for a horizon or origin cursor (a scan or catch-up is under way) or any other string. */
export function plainCursorSeq(cursor: string | null | undefined): number | null {
  const p = parseCursor(cursor);
  return p && p.horizon === undefined && p.origin === undefined ? p.seq : null;
}
