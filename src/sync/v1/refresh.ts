import { StowageError } from "../../errors.ts";
import type { V1Context } from "./context.ts";
import { CURSOR_KEY } from "./pull.ts";
import { rebaseDocs, type ServerDoc } from "../../store/rebase.ts";
import { clearRefresh, refreshRecords, unresolvedDocs } from "../../store/refresh-records.ts";
import type { SyncResult } from "../types.ts";
import { cursorSeq } from "../../protocol/cursor.ts";

/**
 * Documents that need the server's value. A rejected op (e.g. `put q` aborted with its group)
 * leaves a local value the server never had, and no pull will ever mention `q` if the server
 * never changes it. So the transaction that records the rejection also records `q` in
 * the store's refresh records (store/refresh-records.ts, from settleBatch), and every full cycle fetches what is recorded until each
 * is resolved: a crash or a failed request between the two only delays it.
 *
 * A server value is applied outside a pull only when its version is at or below our cursor:
 * then it belongs to a state we already hold whole. A newer one may be one member of a
 * group we have not pulled yet; the pull brings it with its group (its row has a sequence
 * above our cursor), so the record is resolved either way.
 */

/** How many records one cycle resolves at most (each costs a request). */
const PER_CYCLE = 200;

/** Recording is the store's; re-exported for the push settle's callers. */
export { markForRefresh, unresolvedDocs } from "../../store/refresh-records.ts";

/** How many unresolved documents a result names at most (the status counts them all). */
const LISTED = 100;

/**
 * Fetches the recorded documents and applies what may be applied (see above). Never throws
 * for a failed request: the records stay for the next cycle (a down server fails the cycle's
 * push or pull anyway). What is still recorded afterwards is reported in `result.unresolved`:
 * those documents may still show a refused value, and a sync reporting none shows none.
 */
export async function refreshDocs(ctx: V1Context, result?: SyncResult): Promise<void> {
  await refreshRecorded(ctx);
  if (!result) return;
  const left = await unresolvedDocs(ctx.store.db, LISTED);
  if (left.length) result.unresolved = left;
  else delete result.unresolved;
}

async function refreshRecorded(ctx: V1Context): Promise<void> {
  const rows = await refreshRecords(ctx.store.db, PER_CYCLE);
  for (const row of rows) {
    let doc: ServerDoc;
    try {
      await ctx.renewLease();
      const state = await ctx.http.getDocState(row.collection, row.id);
      doc = { collection: row.collection, id: row.id, value: state.value, version: state.version };
    } catch (e) {
      if (e instanceof StowageError && e.code === "storage") throw e; // the lease moved on
      ctx.trace("refresh:failed");
      return;
    }
    await ctx.store.db.transaction().execute(async (trx) => {
      const seq = cursorSeq(await ctx.store.getMeta(CURSOR_KEY, trx)) ?? 0;
      // Unknown version (a server older than the absent-since answer): take its word, as
      // this client always did.
      const apply = doc.version === null || doc.version <= seq;
      // A newer one stays recorded (unresolved) until a pull has brought its group: the
      // local value may still be the refused one until then.
      if (!apply) return;
      await rebaseDocs(trx, [doc]);
      await clearRefresh(trx, row.collection, row.id);
      await ctx.partial?.settled?.(trx, [doc]); // partial sync: not kept outside the view
    });
  }
}
