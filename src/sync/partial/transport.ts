/**
 * Partial sync's cycle steps (issue 34, PARTIAL-SYNC-CONTRACT.md): protocol v1's push and pull
 * with the store's subscriptions. Each pull step reads the subscriptions the application asked
 * for (`subscriptions`) and those the held documents cover (`subscriptions_synced`), and moves
 * the store from one to the other:
 *
 * - Removed ones: held documents no remaining subscription matches go, in one transaction
 *   (store/subscriptions.ts pruneOutside), except those with pending writes.
 * - Added ones: a backfill, `subs=[added]&have=[kept]` from an empty cursor, staged on disk
 *   page by page as a multi-page pull is (v1/stage.ts); the server leaves out what `have`
 *   matches, so nothing held is downloaded again. Then the catch-up pull of the union from
 *   the stored cursor is staged onto it and both are applied in ONE local transaction, which
 *   also records the added subscriptions as covered. Sound for the same reason a staged pull
 *   is: every staged row is the document's latest state when read, the catch-up reads every
 *   view change after the cursor, and the stage keeps the highest version per document.
 * - Back to the whole tenant (`subscriptions: null` after a partial view): the cursor is
 *   dropped and the tenant pulled from the start, applied as a first pull (pending writes kept).
 *
 * A document a push sends out of the view stays until the push is answered (its pending op
 * keeps it), then goes in the transaction that settles the push; a server value fetched again
 * (v1/refresh.ts) likewise in the transaction that applies it. Documents fetched again after a refusal or a
 * duplicate answer (v1/refresh.ts) likewise (found by the fault tester: a resend answered
 * `duplicate` refreshed a document outside the view, which nothing removed).
 */
import { StowageError } from "../../errors.ts";
import { emitChanges, noteChanged, type ChangedIds } from "../../store/changes.ts";
import {
  forgetPartialCursor,
  pruneDocsOutside,
  pruneOutside,
  readSubscriptions,
  readSubscriptionState,
  sameSubscriptions,
  subscriptionsMissing,
  SUBSCRIPTIONS_KEY,
  SUBSCRIPTIONS_SYNCED_KEY,
  writeSubscriptions,
  type Subscription,
} from "../../store/subscriptions.ts";
import type { CycleContext, SyncTransport } from "../transport.ts";
import type { SyncResult } from "../types.ts";
import type { PartialPull, V1Context } from "../v1/context.ts";
import type { HttpClient } from "../v1/http.ts";
import { CURSOR_KEY, parsePage } from "../v1/pull.ts";
import { cursorSeq } from "../../protocol/cursor.ts";
import { clearStage, stagePage } from "../../store/pull-stage.ts";
import { subsParam, type PartialView } from "./view.ts";

/** Protocol v1's steps (`inner`, v1/cycle.ts protocolV1) with the store's subscriptions. */
export function withSubscriptions(inner: SyncTransport, http: HttpClient, view: PartialView): SyncTransport {
  return {
    async push(ctx, result) {
      // What this process knows (set at open, by subscribe/unsubscribe and by every pull): no
      // read here, so a push of the whole tenant costs what it did before subscriptions.
      const v1 = Object.assign(ctx, { http }) as V1Context;
      // A settled view's page may ride on the push (`subs=`); any other partial state (a backfill
      // waiting, the way back to the whole tenant) leaves the pull to the pull step.
      const desired = view.desired;
      const changed: ChangedIds = new Map();
      if (view.active) {
        // The page is applied in the settle only if no subscribe/unsubscribe came in between.
        const subs = desired && desired.length > 0 && !view.pending ? subsParam(desired) : undefined;
        v1.partial = subs === undefined ? {} : { subs, stillCurrent: async (trx) => {
          const now = await readSubscriptionState(trx);
          return now.desired !== null && sameSubscriptions(now.desired, now.synced) && subsParam(now.desired) === subs;
        } };
        if (desired !== null) v1.partial.settled = pruneSettled(changed);
      }
      try {
        await inner.push(ctx, result);
      } finally {
        noteRemoved(ctx, changed);
      }
    },
    async pull(ctx, result) {
      const release = await view.lock.lock();
      try {
        await pullView(Object.assign(ctx, { http }) as V1Context, result, view, inner);
      } finally {
        release();
      }
    },
  };
}

/** One pull step through the store's subscriptions (the steps in this file's header). */
async function pullView(ctx: V1Context, result: SyncResult, view: PartialView, inner: SyncTransport): Promise<void> {
  const store = ctx.store;
  const known = view.desired;
  const { desired, synced: before } = await readSubscriptionState(store.db);
  let synced = before;
  view.set(desired, synced);
  if (desired !== null && !sameSubscriptions(known, desired)) {
    // Another process on this file changed the subscriptions (and pruned): this process may
    // have applied live events of the old view since. Held documents outside the view go.
    const changed = await store.db.transaction().execute((trx) => pruneOutside(trx, desired));
    noteRemoved(ctx, changed);
  }
  if (desired === null && synced === null) {
    delete ctx.partial;
    return inner.pull(ctx, result);
  }
  if (desired === null) {
    await store.db.transaction().execute((trx) => forgetPartialCursor(trx));
    view.set(null, null);
    ctx.trace("subs:all");
    ctx.partial = {};
    return inner.pull(ctx, result);
  }
  if (synced === null || subscriptionsMissing(synced, desired).length > 0) {
    // Some subscriptions went (another process's unsubscribe, or options at open): held
    // documents only they matched go first, in one transaction.
    const kept = synced === null ? desired : synced.filter((s) => subscriptionsMissing([s], desired).length === 0);
    const changed = await store.db.transaction().execute(async (trx) => {
      const removed = await pruneOutside(trx, desired);
      await writeSubscriptions(trx, SUBSCRIPTIONS_SYNCED_KEY, kept);
      return removed;
    });
    emitChanges(store.events, changed);
    ctx.trace(`subs:prune:${count(changed)}`);
    synced = kept;
    view.set(desired, synced);
  }
  if (desired.length === 0) return; // nothing subscribed: nothing to pull
  const added = subscriptionsMissing(desired, synced);
  const partial: PartialPull = { subs: subsParam(desired) };
  let backfilled: ChangedIds | null = null;
  if (added.length > 0) {
    partial.onApply = (trx) => writeSubscriptions(trx, SUBSCRIPTIONS_SYNCED_KEY, desired);
    // Without a cursor, or from `v1.0` (v1/cycle.ts: a start through a view), the pull reads the
    // whole view from the start anyway, applied as a reset. A backfill staged under it would be
    // wrong: such a pull sends no tombstones, so a document the backfill read and that was
    // deleted since would come back (found by the partial fault tester, seed 3).
    if ((cursorSeq(await store.getMeta(CURSOR_KEY)) ?? 0) > 0) {
      backfilled = await backfill(ctx, result, added, synced);
      partial.prestaged = true;
    }
  }
  // A server value fetched again (v1/refresh.ts: refusals, duplicates) may be outside the view.
  const refreshed: ChangedIds = new Map();
  partial.settled = pruneSettled(refreshed);
  ctx.partial = partial;
  try {
    await inner.pull(ctx, result);
  } finally {
    noteRemoved(ctx, refreshed);
  }
  if (added.length > 0) view.set(desired, desired);
  if (backfilled && backfilled.size > 0) {
    emitChanges(store.events, backfilled);
    store.events.emit("pulled", { collections: [...backfilled.keys()], changes: count(backfilled) });
  }
}

/**
 * Removes documents just settled (push) or refreshed that are outside the view, in the
 * transaction that settled them, so no reader sees them held (the fault tester read such a
 * state between a settle and a later prune). The subscriptions are read in that transaction.
 */
function pruneSettled(changed: ChangedIds): NonNullable<PartialPull["settled"]> {
  return async (trx, docs) => {
    const desired = await readSubscriptions(trx, SUBSCRIPTIONS_KEY);
    if (desired !== null) await pruneDocsOutside(trx, desired, docs, changed);
  };
}

/** `change` events for documents pruneSettled removed (after their transactions committed). */
function noteRemoved(ctx: CycleContext, changed: ChangedIds): void {
  if (changed.size === 0) return;
  emitChanges(ctx.store.events, changed);
  ctx.trace(`subs:prune:${count(changed)}`);
}

/**
 * Stages the documents `added` brings that `have` does not already hold, every page from an
 * empty cursor (the catch-up pull applies them). Answers their ids, for `change` events
 * after that apply.
 */
async function backfill(ctx: V1Context, result: SyncResult, added: Subscription[], have: Subscription[]): Promise<ChangedIds> {
  ctx.setState("pulling");
  await clearStage(ctx.store);
  const query = { subs: subsParam(added), ...(have.length > 0 ? { have: subsParam(have) } : {}) };
  const changed: ChangedIds = new Map();
  let cursor: string | null = null;
  let resets = 0;
  for (;;) {
    await ctx.renewLease();
    let text: string;
    try {
      text = await ctx.http.pull(cursor, ctx.pullLimit, ctx.store.clientId, query);
      ctx.markOnline(null);
    } catch (e) {
      ctx.markOnline(e);
      throw e;
    }
    const page = parsePage(text);
    if (page.reset) {
      // A purge or a change of the rules while it paged: start it again (a few times at most).
      if (++resets > 3) throw new StowageError("transport", "backfill: the server asked for a reset of a pull from the start again and again; retrying later");
      ctx.trace("backfill:reset");
      await clearStage(ctx.store);
      changed.clear();
      cursor = null;
      continue;
    }
    // Only documents: a backfill's leave (the server may send one for a document that moved
    // out after its first page read it) says nothing the catch-up pull does not say at its
    // true version, and staged it could remove a document the kept subscriptions still hold.
    const docs = page.changes.filter((c) => !c.deleted);
    await stagePage(ctx.store, docs);
    for (const c of docs) noteChanged(changed, c.collection, c.id);
    ctx.trace(`backfill:${docs.length}`);
    result.pulled += docs.length;
    if (!page.more) return changed;
    cursor = page.cursor;
  }
}

function count(changed: ChangedIds): number {
  let n = 0;
  for (const ids of changed.values()) n += ids.size;
  return n;
}
