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
 * keeps it), then goes: after a push, held documents outside the view are removed. Documents
 * fetched again after a refusal (v1/refresh.ts) likewise.
 */
import { StowageError } from "../../errors.ts";
import { emitChanges, noteChanged, type ChangedIds } from "../../store/changes.ts";
import {
  forgetPartialCursor,
  pruneOutside,
  readSubscriptions,
  readSubscriptionState,
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
import { clearStage, stagePage } from "../v1/stage.ts";
import { subsParam, type PartialView } from "./view.ts";

/** Protocol v1's steps (`inner`, v1/cycle.ts protocolV1) with the store's subscriptions. */
export function withSubscriptions(inner: SyncTransport, http: HttpClient, view: PartialView): SyncTransport {
  return {
    async push(ctx, result) {
      // What this process knows (set at open, by subscribe/unsubscribe and by every pull): no
      // read here, so a push of the whole tenant costs what it did before subscriptions.
      const v1 = Object.assign(ctx, { http }) as V1Context;
      // Any partial state (even the way back to the whole tenant) asks its pull itself.
      if (view.active) v1.partial = {};
      const before = result.pushed;
      await inner.push(ctx, result);
      if (view.desired !== null && result.pushed > before) await pruneHeld(ctx, view);
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


async function pullView(ctx: V1Context, result: SyncResult, view: PartialView, inner: SyncTransport): Promise<void> {
  const store = ctx.store;
  const { desired, synced: before } = await readSubscriptionState(store.db);
  let synced = before;
  view.set(desired, synced);
  if (desired === null && synced === null) {
    delete ctx.partial;
    return inner.pull(ctx, result);
  }
  if (desired === null) {
    await store.db.transaction().execute((trx) => forgetPartialCursor(trx, CURSOR_KEY));
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
    // Without a cursor the pull reads the whole view from the start anyway (applied as a reset).
    if ((await store.getMeta(CURSOR_KEY)) !== undefined) {
      backfilled = await backfill(ctx, result, added, synced);
      partial.prestaged = true;
    }
  }
  ctx.partial = partial;
  await inner.pull(ctx, result);
  if (added.length > 0) view.set(desired, desired);
  if (backfilled && backfilled.size > 0) {
    emitChanges(store.events, backfilled);
    store.events.emit("pulled", { collections: [...backfilled.keys()], changes: count(backfilled) });
  }
  // Refused writes come back with their server value (v1/refresh.ts), in the view or not.
  if (result.issues.length > 0) await pruneHeld(ctx, view, false);
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
    if (page.reset) throw new StowageError("protocol", "backfill: the server asked for a reset of a pull from the start");
    await stagePage(ctx.store, page.changes);
    for (const c of page.changes) noteChanged(changed, c.collection, c.id);
    ctx.trace(`backfill:${page.changes.length}`);
    result.pulled += page.changes.length;
    if (!page.more) return changed;
    cursor = page.cursor;
  }
}

/** Removes held documents outside the view once no pending write keeps them (after a push or a refusal). */
async function pruneHeld(ctx: CycleContext, view: PartialView, lock = true): Promise<void> {
  const release = lock ? await view.lock.lock() : null;
  try {
    const desired = await readSubscriptions(ctx.store.db, SUBSCRIPTIONS_KEY);
    if (desired === null) return;
    const changed = await ctx.store.db.transaction().execute((trx) => pruneOutside(trx, desired));
    if (changed.size === 0) return;
    emitChanges(ctx.store.events, changed);
    ctx.trace(`subs:prune:${count(changed)}`);
  } finally {
    release?.();
  }
}

function count(changed: ChangedIds): number {
  let n = 0;
  for (const ids of changed.values()) n += ids.size;
  return n;
}
