/**
 * Partial sync's local side (issue 34): which subscriptions a store holds, and the removal of
 * documents no subscription covers. A subscription is a collection and an optional `where` in
 * `list`'s syntax; the store holds exactly the union of its subscriptions plus the documents
 * its own pending writes touch. Whether a held document matches is decided with `list`'s own
 * filter SQL (query.ts filterSql), so `list` with a subscription's `where` shows exactly the
 * documents that subscription keeps.
 *
 * Two lists are kept in `_stowage_meta`, as JSON arrays (absent = the whole tenant):
 * - `subscriptions`: what the application asked for (openStowage, subscribe, unsubscribe).
 * - `subscriptions_synced`: what the held documents and the pull cursor cover. The sync
 *   engine moves it to `subscriptions` (a backfill for added ones, src/sync/partial/) in the
 *   transaction that applies the backfill, so a crash never leaves a half-done backfill
 *   counted as done.
 */
import { StowageError, describeValue } from "../errors.ts";
import { assertCollectionName } from "../names.ts";
import { noteChanged, type ChangedIds } from "./changes.ts";
import { filterSql } from "./query.ts";
import { all, placeholders, run, type Executor } from "./sql.ts";
import { CURSOR_KEY } from "./sync-meta.ts";
import type { FieldFilter } from "./types.ts";

/** One subscription: a whole collection, or the documents of it `where` matches (as in `list`). */
export interface Subscription {
  collection: string;
  where?: Record<string, FieldFilter>;
}

/** Meta key: the subscriptions the application asked for. */
export const SUBSCRIPTIONS_KEY = "subscriptions";
/** Meta key: the subscriptions the held documents and the cursor cover. */
export const SUBSCRIPTIONS_SYNCED_KEY = "subscriptions_synced";

/** The protocol allows 1–64 subscriptions per request (PARTIAL-SYNC-CONTRACT.md). */
export const MAX_SUBSCRIPTIONS = 64;

/**
 * Checks a subscription and answers its canonical form: keys in a fixed order, so two equal
 * subscriptions have the same key (subscriptionKey) whatever order their `where` was written in.
 */
export function normalizeSubscription(input: unknown): Subscription {
  if (input === null || typeof input !== "object" || Array.isArray(input)) {
    throw new StowageError("input", `a subscription is { collection, where? }, got ${describeValue(input)}`);
  }
  const { collection, where, ...rest } = input as { collection?: unknown; where?: unknown };
  const extra = Object.keys(rest);
  if (extra.length) throw new StowageError("input", `unknown subscription field ${JSON.stringify(extra[0])}: a subscription is { collection, where? }`);
  const name = assertCollectionName(collection);
  if (where === undefined || (where !== null && typeof where === "object" && !Array.isArray(where) && Object.keys(where).length === 0)) return { collection: name };
  if (where === null || typeof where !== "object" || Array.isArray(where)) {
    throw new StowageError("input", `subscription where must be an object of field filters (as in list), got ${describeValue(where)}`);
  }
  filterSql(name, where as Record<string, FieldFilter>); // throws on a bad field, operator or value
  return { collection: name, where: sortKeys(where) as Record<string, FieldFilter> };
}

/** Checks a list of subscriptions, dropping duplicates (first kept). */
export function normalizeSubscriptions(input: unknown): Subscription[] {
  if (!Array.isArray(input)) throw new StowageError("input", `subscriptions must be an array of { collection, where? }, got ${describeValue(input)}`);
  const out: Subscription[] = [];
  const seen = new Set<string>();
  for (const s of input) {
    const n = normalizeSubscription(s);
    const key = subscriptionKey(n);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(n);
  }
  if (out.length > MAX_SUBSCRIPTIONS) throw new StowageError("input", `at most ${MAX_SUBSCRIPTIONS} subscriptions, got ${out.length}`);
  return out;
}

/** A subscription's identity: its canonical JSON (what `unsubscribe` and `subscriptions()` use as its id). */
export function subscriptionKey(s: Subscription): string {
  return JSON.stringify(s.where === undefined ? { collection: s.collection } : { collection: s.collection, where: s.where });
}

/** Subscriptions in `a` that are not in `b` (by key). */
export function subscriptionsMissing(a: readonly Subscription[], b: readonly Subscription[]): Subscription[] {
  const keys = new Set(b.map(subscriptionKey));
  return a.filter((s) => !keys.has(subscriptionKey(s)));
}

/** Whether two lists hold the same subscriptions (null = the whole tenant). */
export function sameSubscriptions(a: readonly Subscription[] | null, b: readonly Subscription[] | null): boolean {
  if (a === null || b === null) return a === b;
  return subscriptionsMissing(a, b).length === 0 && subscriptionsMissing(b, a).length === 0;
}

/** Reads a subscription list from meta; null when absent (the whole tenant). */
export async function readSubscriptions(db: Executor, key: string): Promise<Subscription[] | null> {
  const rows = await all<{ value: string }>(db, "select value from _stowage_meta where key = ?", [key]);
  if (rows.length === 0) return null;
  try {
    return normalizeSubscriptions(JSON.parse(rows[0].value));
  } catch (e) {
    throw new StowageError("storage", `the local store's ${key} are unreadable: ${(e as Error).message}`, { cause: e });
  }
}

/** Writes a subscription list to meta; null removes it (the whole tenant). */
export async function writeSubscriptions(db: Executor, key: string, subs: readonly Subscription[] | null): Promise<void> {
  if (subs === null) await run(db, "delete from _stowage_meta where key = ?", [key]);
  else await run(db, "insert into _stowage_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value", [key, JSON.stringify(subs)]);
}

/**
 * The SQL condition a `_stowage_docs` row meets when some subscription holds it, with its
 * parameters. Never NULL: a filter on a missing field (json_extract gives NULL) does not match.
 */
export function viewCondition(subs: readonly Subscription[]): { sql: string; params: unknown[] } {
  if (subs.length === 0) return { sql: "0", params: [] };
  const params: unknown[] = [];
  const parts = subs.map((s) => {
    const f = filterSql(s.collection, s.where ?? {});
    params.push(s.collection, ...f.params);
    return `(${["collection = ?", ...f.clauses].join(" and ")})`;
  });
  return { sql: `coalesce(${parts.join(" or ")}, 0)`, params };
}

/** Rows per multi-row delete (2 parameters each). */
const ROWS = 400;

/**
 * Removes, inside the caller's transaction, every held document no subscription in `subs`
 * matches, except those with pending writes (they stay until pushed). Local removals only:
 * nothing enters the outbox. Answers the removed ids, for `change` events after the commit.
 */
export async function pruneOutside(trx: Executor, subs: readonly Subscription[]): Promise<ChangedIds> {
  const view = viewCondition(subs);
  const rows = await all<{ collection: string; id: string }>(
    trx,
    `select collection, id from _stowage_docs
     where not (${view.sql}) and (collection, id) not in (select collection, id from _stowage_outbox)`,
    view.params,
  );
  const changed: ChangedIds = new Map();
  for (let i = 0; i < rows.length; i += ROWS) {
    const chunk = rows.slice(i, i + ROWS);
    const params: string[] = [];
    for (const r of chunk) {
      params.push(r.collection, r.id);
      noteChanged(changed, r.collection, r.id);
    }
    await run(trx, `delete from _stowage_docs where (collection, id) in (values ${placeholders(chunk.length, 2)})`, params);
  }
  return changed;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== "object") return value;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value).sort()) out[k] = sortKeys((value as Record<string, unknown>)[k]);
  return out;
}

/**
 * Back to the whole tenant after a partial view: the covered subscriptions and the pull
 * cursor go, so the next pull reads the tenant from the
 * start and is applied as a first pull is (held documents it does not list go; pending
 * writes stay). Inside the caller's transaction.
 */
export async function forgetPartialCursor(trx: Executor): Promise<void> {
  await run(trx, "delete from _stowage_meta where key in (?, ?)", [SUBSCRIPTIONS_SYNCED_KEY, CURSOR_KEY]);
}

/** Both lists in one read (every pull step asks): what is asked for, and what is covered. */
export async function readSubscriptionState(db: Executor): Promise<{ desired: Subscription[] | null; synced: Subscription[] | null }> {
  const rows = await all<{ key: string; value: string }>(db, "select key, value from _stowage_meta where key in (?, ?)", [SUBSCRIPTIONS_KEY, SUBSCRIPTIONS_SYNCED_KEY]);
  const parse = (key: string): Subscription[] | null => {
    const row = rows.find((r) => r.key === key);
    if (!row) return null;
    try {
      return normalizeSubscriptions(JSON.parse(row.value));
    } catch (e) {
      throw new StowageError("storage", `the local store's ${key} are unreadable: ${(e as Error).message}`, { cause: e });
    }
  };
  return { desired: parse(SUBSCRIPTIONS_KEY), synced: parse(SUBSCRIPTIONS_SYNCED_KEY) };
}

/**
 * pruneOutside for just these documents (those whose pending writes were just settled, or whose
 * server value was just fetched again), inside the caller's transaction, so no reader ever sees
 * them held outside the view. Noted in `changed` for the caller's `change` events.
 */
export async function pruneDocsOutside(trx: Executor, subs: readonly Subscription[], docs: readonly { collection: string; id: string }[], changed: ChangedIds): Promise<void> {
  if (docs.length === 0) return;
  const view = viewCondition(subs);
  const keys = new Map<string, { collection: string; id: string }>();
  for (const d of docs) keys.set(`${d.collection}\u0000${d.id}`, { collection: d.collection, id: d.id });
  const list = [...keys.values()];
  for (let i = 0; i < list.length; i += ROWS) {
    const chunk = list.slice(i, i + ROWS);
    const params: unknown[] = [];
    for (const d of chunk) params.push(d.collection, d.id);
    const rows = await all<{ collection: string; id: string }>(
      trx,
      `select collection, id from _stowage_docs
       where (collection, id) in (values ${placeholders(chunk.length, 2)}) and not (${view.sql})
         and (collection, id) not in (select collection, id from _stowage_outbox)`,
      [...params, ...view.params],
    );
    if (rows.length === 0) continue;
    const del: string[] = [];
    for (const r of rows) {
      del.push(r.collection, r.id);
      noteChanged(changed, r.collection, r.id);
    }
    await run(trx, `delete from _stowage_docs where (collection, id) in (values ${placeholders(rows.length, 2)})`, del);
  }
}
