/**
 * Changing a store's subscriptions (openStowage's `subscriptions`, `subscribe`, `unsubscribe`;
 * issue 34). The new list is recorded, and when it drops a subscription the held documents
 * no remaining one matches are removed in the same transaction (pending writes keep theirs),
 * so a reader goes from one consistent state to the next. Added subscriptions are backfilled
 * by the next pull (transport.ts); the caller asks the engine for it.
 */
import { emitChanges } from "../../store/changes.ts";
import type { Store } from "../../store/store.ts";
import {
  normalizeSubscription,
  normalizeSubscriptions,
  pruneOutside,
  readSubscriptions,
  subscriptionKey,
  subscriptionsMissing,
  SUBSCRIPTIONS_KEY,
  SUBSCRIPTIONS_SYNCED_KEY,
  writeSubscriptions,
  type Subscription,
} from "../../store/subscriptions.ts";
import type { PartialView } from "./view.ts";

/**
 * Sets the subscriptions to `next` (null: the whole tenant), holding the view's lock when a
 * sync engine runs, so the change never lands inside a pull. Answers whether anything changed.
 */
export async function setSubscriptions(
  store: Store,
  next: readonly unknown[] | null | ((current: Subscription[] | null) => readonly unknown[] | null),
  view: PartialView | null,
): Promise<boolean> {
  const release = view ? await view.lock.lock() : null;
  try {
    let wanted: Subscription[] | null = null;
    const outcome = await store.db.transaction().execute(async (trx) => {
      const desired = await readSubscriptions(trx, SUBSCRIPTIONS_KEY);
      const list = typeof next === "function" ? next(desired) : next;
      const want = (wanted = list === null ? null : normalizeSubscriptions(list));
      const synced = await readSubscriptions(trx, SUBSCRIPTIONS_SYNCED_KEY);
      if (same(desired, want)) return { changed: false, removed: null, synced };
      await writeSubscriptions(trx, SUBSCRIPTIONS_KEY, want);
      if (want === null) return { changed: true, removed: null, synced }; // the next pull re-reads the tenant
      // Held documents may match a dropped subscription that was asked for but never backfilled
      // (kept from an earlier view): both lists are checked (found by the fault tester, seed 19).
      const dropped = desired === null || synced === null || subscriptionsMissing(desired, want).length > 0 || subscriptionsMissing(synced, want).length > 0;
      if (!dropped) return { changed: true, removed: null, synced };
      const kept = synced === null ? want : synced.filter((s) => subscriptionsMissing([s], want).length === 0);
      const removed = await pruneOutside(trx, want);
      await writeSubscriptions(trx, SUBSCRIPTIONS_SYNCED_KEY, kept);
      return { changed: true, removed, synced: kept };
    });
    view?.set(wanted, outcome.synced);
    if (outcome.removed) emitChanges(store.events, outcome.removed);
    return outcome.changed;
  } finally {
    release?.();
  }
}

/** The subscriptions the store holds (null: the whole tenant), each with its id. */
export async function listSubscriptions(store: Store): Promise<(Subscription & { id: string })[] | null> {
  const subs = await readSubscriptions(store.db, SUBSCRIPTIONS_KEY);
  return subs === null ? null : subs.map((s) => ({ id: subscriptionKey(s), ...s }));
}

/** Adds one subscription (from the whole tenant: the view becomes just this one); answers its id. */
export async function addSubscription(store: Store, input: unknown, view: PartialView | null): Promise<string> {
  const sub = normalizeSubscription(input);
  await setSubscriptions(store, (current) => [...(current ?? []), sub], view);
  return subscriptionKey(sub);
}

/**
 * Removes subscriptions: by id (subscribe's answer), a `{ collection, where? }`, or a collection
 * name (every subscription on it). Answers how many went.
 */
export async function removeSubscriptions(store: Store, which: string | Subscription, view: PartialView | null): Promise<number> {
  let gone: (s: Subscription) => boolean;
  if (typeof which === "string" && !which.startsWith("{")) gone = (s) => s.collection === which;
  else {
    const key = typeof which === "string" ? which : subscriptionKey(normalizeSubscription(which));
    gone = (s) => subscriptionKey(s) === key;
  }
  let n = 0;
  await setSubscriptions(store, (current) => {
    if (current === null) return null;
    const rest = current.filter((s) => !gone(s));
    n = current.length - rest.length;
    return rest;
  }, view);
  return n;
}

function same(a: Subscription[] | null, b: Subscription[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((s, i) => subscriptionKey(s) === subscriptionKey(b[i]));
}
