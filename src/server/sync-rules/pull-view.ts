/**
 * A pull through a view (rules and/or subscriptions): the same page shape as pull.ts's, with
 * only the view's changes. Rows after the cursor are read in seq order; each is sent
 *   - as it is, when the document is in the view now;
 *   - as a leave (`value: null, deleted: true, left: true`) when it is not, but was after the
 *     catch-up's origin: one of its recorded moves (moves.ts) after the origin starts inside
 *     the view;
 *   - as an ordinary tombstone when it was deleted and was in the view after the origin;
 *   - not at all otherwise (a reader never learns of documents it cannot see).
 * The origin is the cursor the catch-up began at, carried in the cursor while `more` is true:
 * a document's move may lie on an earlier page than its current row (rows are read by their
 * latest seq), so every page of one catch-up asks about moves since the same origin. A pull
 * from the start sends no leaves and no tombstones: its reader holds nothing of the view yet.
 *
 * The cursor advances over rows the view does not want, so a reader's next page starts after
 * them. A page reads at most SCAN_ROWS rows; when they hold fewer than `limit` changes the
 * answer says `more` and the reader asks again from further on.
 */
import type { JsonObject } from "../../json.ts";
import { formatCursor, type CursorPosition } from "../../protocol/cursor.ts";
import { pullQuery } from "../pull.ts";
import { ReplicaBehind } from "../replica.ts";
import type { ServerStore } from "../store.ts";
import { num } from "../tables.ts";
import { movesAfter } from "./moves.ts";
import type { View } from "./view.ts";

/** Rows one page reads at most, whatever it finds in them. */
export const SCAN_ROWS = 10_000;
const BATCH = 1_000;

type Row = { collection: string; id: string; seq: number | string; deleted: number; body: string | null };

/** One page of the view's changes after `at`, as JSON text; `info` as pullPage fills it. */
export async function pullViewPage(
  store: ServerStore,
  tenantId: string,
  at: CursorPosition,
  limit: number,
  view: View,
  info?: { changes: number; cursor: number; reset: boolean },
): Promise<string> {
  const reset = () => {
    if (info) info.reset = true;
    return '{"reset":true}';
  };
  // A cursor made under other rules or other claims: the reader's copy may hold what it may no longer see.
  if ((at.seq > 0 || at.horizon !== undefined) && at.fingerprint !== view.fingerprint) return reset();
  const after = at.seq;
  const origin = Math.min(at.origin ?? after, after);
  const started = after === 0 && at.horizon === undefined ? await counters(store, tenantId).then((c) => c.purged) : at.horizon;
  const parts: string[] = [];
  let last = after;
  let scanned = 0;
  let more = false;
  let rows: Row[] = [];
  for (;;) {
    rows = (await pullQuery(store.db, store.dialect, tenantId, last, BATCH).execute()) as Row[];
    const outside = origin > 0 ? await leftCandidates(store, tenantId, rows, view, origin) : undefined;
    let i = 0;
    for (; i < rows.length && parts.length < limit; i++) {
      const r = rows[i];
      const seq = num(r.seq);
      last = seq;
      const deleted = Number(r.deleted) === 1;
      const value = deleted || r.body === null ? null : view.covers(r.collection) ? (JSON.parse(r.body) as JsonObject) : null;
      if (value !== null && view.has(r.collection, value)) {
        parts.push(`{"collection":${JSON.stringify(r.collection)},"id":${JSON.stringify(r.id)},"version":${seq},"value":${r.body},"deleted":false}`);
      } else if (outside?.has(`${r.collection}\u0000${r.id}`)) {
        parts.push(`{"collection":${JSON.stringify(r.collection)},"id":${JSON.stringify(r.id)},"version":${seq},"value":null,"deleted":true${deleted ? "" : ',"left":true'}}`);
      }
    }
    scanned += i;
    if (i < rows.length || (rows.length === BATCH && (parts.length >= limit || scanned >= SCAN_ROWS))) {
      more = true;
      break;
    }
    if (rows.length < BATCH) break;
  }
  const { seq: tenantSeq, purged } = await counters(store, tenantId);
  const scanning = started !== undefined && started === purged;
  if (store.replica && (after > tenantSeq || (at.horizon !== undefined && purged < at.horizon))) throw new ReplicaBehind();
  // As pullPage: behind the horizon a purged tombstone or move may be missing, unless this is an unbroken scan from the start.
  if ((origin > 0 && origin < purged && !scanning) || after > tenantSeq || (at.horizon !== undefined && at.horizon !== purged && after < purged)) return reset();
  if (info) {
    info.changes = parts.length;
    info.cursor = last;
  }
  const fingerprint = view.fingerprint;
  const viewPart = { origin: more && origin > 0 ? origin : undefined, fingerprint };
  const cursor = !scanning || last >= purged ? formatCursor(last, undefined, viewPart) : more ? formatCursor(last, purged, viewPart) : formatCursor(purged, undefined, viewPart);
  return `{"changes":[${parts.join(",")}],"cursor":"${cursor}","more":${more}}`;
}

/**
 * Of these rows, the documents not in the view now that were in it after `origin`: a
 * tombstone or a live value outside the view, with a recorded move since `origin` whose
 * earlier value is in the view. Without rules, membership follows the collection alone, so a
 * covered collection's tombstone was in the view and nothing ever leaves otherwise.
 */
async function leftCandidates(store: ServerStore, tenantId: string, rows: Row[], view: View, origin: number): Promise<Set<string>> {
  const out = new Set<string>();
  const byCollection = new Map<string, string[]>();
  for (const r of rows) {
    if (!view.covers(r.collection)) continue;
    const deleted = Number(r.deleted) === 1 || r.body === null;
    if (!view.bound) {
      if (deleted) out.add(`${r.collection}\u0000${r.id}`);
      continue;
    }
    if (!deleted && view.has(r.collection, JSON.parse(r.body!) as JsonObject)) continue;
    let ids = byCollection.get(r.collection);
    if (!ids) byCollection.set(r.collection, (ids = []));
    ids.push(r.id);
  }
  for (const [collection, ids] of byCollection) {
    const moves = await movesAfter(store.db, tenantId, collection, ids, origin);
    for (const [id, bodies] of moves) {
      if (bodies.some((b) => view.has(collection, JSON.parse(b) as JsonObject))) out.add(`${collection}\u0000${id}`);
    }
  }
  return out;
}

async function counters(store: ServerStore, tenantId: string): Promise<{ seq: number; purged: number }> {
  const row = await store.db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenantId).executeTakeFirst();
  return { seq: num(row?.seq), purged: num(row?.purged_seq) };
}
