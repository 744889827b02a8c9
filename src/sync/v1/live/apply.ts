/**
 * Live events that carry their commit's changes (docs/PROTOCOL.md, "Events that carry the
 * changes"): applied without a pull when they continue our cursor exactly.
 *
 * An event's data is the one-page pull answer for cursor `v1.<prev>`, plus `seq` and `prev`.
 * It is applied as a one-page pull would be (pull.ts applyParsed: versions only move forward;
 * one transaction with the cursor; `change` events after commit), and only when the stored
 * cursor is exactly `v1.<prev>`, checked inside that transaction, so changes are still applied
 * strictly in sequence order. An event the stored cursor already covers (`v1.<n>`, n ≥ seq)
 * is done. Anything else (a gap, a horizon cursor `v1.<n>.h<h>`, no cursor yet, a commit older
 * than our own newest write: store/own-top.ts) answers false and the caller pulls.
 *
 * This is the path every subscriber takes for every write, so it is kept to the few
 * statements it needs (one read of cursor, own-top mark and outbox; the upsert; the cursor):
 * with pending local edits it hands the page to applyParsed instead, which rebases them.
 */
import type { Change } from "../../../protocol/wire.ts";
import { changedIdsOf, emitChanges } from "../../../store/changes.ts";
import type { Store } from "../../../store/store.ts";
import { formatCursor, parseCursor, plainCursorSeq } from "../../../protocol/cursor.ts";
import type { ParsedPage } from "../pull.ts";
import { applyParsed, CURSOR_KEY, pageOf, writeChanges } from "../pull.ts";
import { OWN_TOP_KEY, ownTopAllows } from "../../../store/own-top.ts";
import { readLiveBefore } from "../../../store/sync-meta.ts";
import type { CycleContext } from "../../transport.ts";
import type { SyncResult } from "../../types.ts";

/** A change event with its commit's changes: the page takes a client from `v1.<prev>` to `v1.<seq>`. */
export interface LiveChanges {
  prev: number;
  seq: number;
  page: Extract<ParsedPage, { reset: false }>;
  /** The stored cursor the event continues: `v1.<prev>`, with the event cursor's rules fingerprint if any (issue 34). */
  after: string;
  /** The `subs=` of the stream that carried it (partial sync; the engine checks it is still the view). */
  subs?: string | null;
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
  // Under sync rules the cursor carries the rules' fingerprint (protocol/cursor.ts): same for both ends.
  const at = typeof body.cursor === "string" ? parseCursor(body.cursor) : null;
  if (!at || at.seq !== seq || at.horizon !== undefined || at.origin !== undefined || body.more !== false) return null;
  try {
    const page = pageOf(body);
    return page.reset ? null : { prev, seq, page, after: formatCursor(prev, undefined, { fingerprint: at.fingerprint }) };
  } catch {
    return null;
  }
}

/**
 * Applies `events` (each continuing the previous) in order, as a pull-only cycle would apply
 * a one-page pull. Answers false at the first one that does not continue the stored cursor;
 * those before it stay applied, and the caller's pull goes on from there. Events the stored
 * cursor already covers are skipped (a duplicate poke, or one a pull overtook).
 */
export async function applyLiveChanges(ctx: CycleContext, events: readonly LiveChanges[], result: SyncResult): Promise<boolean> {
  for (const e of events) {
    const outcome = await applyLive(ctx.store, e);
    if (outcome === "gap") {
      ctx.trace("live:gap");
      return false;
    }
    if (outcome === "covered") {
      ctx.trace("live:covered");
      continue;
    }
    const n = e.page.changes.length;
    ctx.trace(`live:apply:${n}`);
    result.pulled += n;
  }
  return true;
}

/**
 * One event in one local transaction. `change` and `pulled` go out after the commit in one
 * synchronous stretch, so a live query wakes once (watch.ts).
 */
async function applyLive(store: Store, e: LiveChanges): Promise<"applied" | "covered" | "gap"> {
  const after = e.after;
  const { changes, cursor } = e.page;
  const outcome = await store.db.transaction().execute(async (trx) => {
    const before = await readLiveBefore(trx, CURSOR_KEY, OWN_TOP_KEY);
    if (before.cursor !== after) return covers(before.cursor, e.seq) ? "covered" : "gap";
    if (!ownTopAllows(before.own, e.seq)) return "gap";
    // Pending local edits are rebased, not overwritten: applyParsed's path (below, after this commit).
    if (before.pending) return "pending";
    const live: Change[] = [];
    const dead: Change[] = [];
    for (const c of changes) (c.deleted ? dead : live).push(c);
    await writeChanges(trx, live, dead);
    await store.setMeta(CURSOR_KEY, cursor, trx);
    return "applied";
  });
  if (outcome === "pending" && !(await applyParsed(store, e.page, after))) return "gap";
  if (outcome === "applied") emitChanges(store.events, changedIdsOf(changes)); // live queries, after commit (applyParsed emits its own)
  if (outcome === "covered" || outcome === "gap") return outcome;
  if (changes.length > 0) store.events.emit("pulled", { collections: e.page.collections, changes: changes.length });
  return "applied";
}

/** Whether a stored `v1.<n>` cursor already holds everything up to `seq` (a horizon cursor never does: its scan is under way). */
function covers(cursor: string | null, seq: number): boolean {
  const at = plainCursorSeq(cursor);
  return at !== null && at >= seq;
}
