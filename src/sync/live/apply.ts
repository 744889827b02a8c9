/**
 * Live events that carry their commit's changes (docs/PROTOCOL.md, "Events that carry the
 * changes"): applied without a pull when they continue our cursor exactly.
 *
 * An event's data is the one-page pull answer for cursor `v1.<prev>`, plus `seq` and `prev`.
 * It is applied through the same function a one-page pull uses (pull.ts applyParsed: pending
 * edits rebased, not overwritten; one transaction with the cursor; `change` events after
 * commit), and only when the stored cursor is exactly `v1.<prev>`, checked inside that
 * transaction, so changes are still applied strictly in sequence order. Anything else (a gap,
 * a horizon cursor `v1.<n>.h<h>`, no cursor yet) answers false and the caller pulls.
 */
import type { ParsedPage } from "../pull.ts";
import { applyParsed, pageOf } from "../pull.ts";
import type { CycleContext } from "../cycle.ts";
import type { SyncResult } from "../types.ts";

/** A change event with its commit's changes: the page takes a client from `v1.<prev>` to `v1.<seq>`. */
export interface LiveChanges {
  prev: number;
  seq: number;
  page: Extract<ParsedPage, { reset: false }>;
}

/**
 * The changes an event's parsed data carries, or null for a plain poke or anything that does
 * not check out as a one-page answer from `v1.<prev>` to `v1.<seq>` (the caller then pulls).
 */
export function liveChangesOf(data: unknown, seq: number | null): LiveChanges | null {
  if (seq === null || data === null || typeof data !== "object") return null;
  const body = data as { prev?: unknown; changes?: unknown; cursor?: unknown; more?: unknown };
  const prev = body.prev;
  if (body.changes === undefined || typeof prev !== "number" || !Number.isSafeInteger(prev) || prev < 0 || prev >= seq) return null;
  if (body.cursor !== `v1.${seq}` || body.more !== false) return null;
  try {
    const page = pageOf(body);
    return page.reset ? null : { prev, seq, page };
  } catch {
    return null;
  }
}

/**
 * Applies `events` (each continuing the previous) in order, as a pull-only cycle would apply
 * a one-page pull. Answers false at the first one that does not continue the stored cursor;
 * those before it stay applied, and the caller's pull goes on from there.
 */
export async function applyLiveChanges(ctx: CycleContext, events: readonly LiveChanges[], result: SyncResult): Promise<boolean> {
  for (const e of events) {
    if (!(await applyParsed(ctx.store, e.page, `v1.${e.prev}`))) {
      ctx.trace("live:gap");
      return false;
    }
    const n = e.page.changes.length;
    ctx.trace(`live:apply:${n}`);
    result.pulled += n;
    if (n > 0) ctx.store.events.emit("pulled", { collections: e.page.collections, changes: n });
  }
  return true;
}
