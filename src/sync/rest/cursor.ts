/**
 * The overlapping timestamp cursor. A feed keyed on `updated_at > since` misses a commit that
 * was stamped before the reader's `server_time` but became visible after it (a slow
 * transaction, a writer whose clock is behind, two commits in one millisecond). So each pull
 * asks from `cursor − overlap`, and items seen already (same updated_at and same content,
 * kept per document in the id map's `seen` column) are skipped rather than re-applied.
 */

/** Meta key of a collection's cursor (the feed's last `server_time`, as the server wrote it). */
export function cursorKey(collection: string): string {
  return `rest_cursor:${collection}`;
}

/**
 * The `since` to send: the stored cursor moved back by `overlapMs`. Numeric cursors (epoch ms
 * or s as the server sent them) stay numeric; ISO-8601 text stays ISO-8601 (UTC, milliseconds).
 * A cursor that is neither is sent as is (no overlap possible: documented).
 */
export function sinceFor(cursor: string, overlapMs: number): string {
  const s = cursor.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    // Seconds look like 1.7e9, milliseconds like 1.7e12.
    const back = n < 1e11 ? overlapMs / 1000 : overlapMs;
    return String(Math.max(0, n - back));
  }
  // Only ISO-8601 dates: Date.parse also "understands" many strings that are not times.
  const t = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/.test(s) ? Date.parse(s) : NaN;
  if (!Number.isFinite(t)) return s;
  const iso = new Date(Math.max(0, t - overlapMs)).toISOString();
  // Keep the API's own spelling (PocketBase writes "2024-01-02 03:04:05.678Z"): feeds often compare text.
  return s[10] === " " ? iso.replace("T", " ") : iso;
}

/** What "already seen" compares: the change time and a hash of the item's JSON. */
export function seenTag(item: Record<string, unknown>, updatedAt: unknown): string {
  return `${String(updatedAt ?? "")}#${fnv1a(JSON.stringify(item))}`;
}

function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(36);
}
