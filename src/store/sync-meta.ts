import { first, run, type Executor } from "./sql.ts";

/**
 * The sync state the store keeps in its meta table for transports: the pull cursor, the
 * lease, the state a live event is checked against. Transports name keys; the SQL is here.
 */

/** Meta key holding the opaque pull cursor. */
export const CURSOR_KEY = "sync_cursor";

/** A meta value (store.getMeta for callers holding only an executor, e.g. a transaction). */
export async function readMeta(db: Executor, key: string): Promise<string | undefined> {
  return (await first<{ value: string }>(db, "select value from _stowage_meta where key = ?", [key]))?.value;
}

/** Sets a meta value (store.setMeta for callers holding only an executor). */
export async function writeMeta(db: Executor, key: string, value: string): Promise<void> {
  await run(db, "insert into _stowage_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value", [key, value]);
}

/** Deletes a meta value only while it still starts with `prefix` (a lease given up by its holder). */
export async function deleteMetaIfPrefixed(db: Executor, key: string, prefix: string): Promise<void> {
  await run(db, "delete from _stowage_meta where key = ? and substr(value, 1, ?) = ?", [key, prefix.length, prefix]);
}

/** Moves the cursor from exactly `from` to `to`, in the caller's transaction (a push's own span, v1/push.ts). */
export async function moveCursor(trx: Executor, from: string, to: string): Promise<void> {
  await run(trx, "update _stowage_meta set value = ? where key = ? and value = ?", [to, CURSOR_KEY, from]);
}

/** The state one statement reads before a live event is applied (v1/live/apply.ts). */
export interface LiveBefore {
  cursor: string | null;
  own: string | null;
  pending: number;
}

const BEFORE_SQL = `select (select value from _stowage_meta where key = ?) as cursor,
  (select value from _stowage_meta where key = ?) as own,
  exists (select 1 from _stowage_outbox) as pending`;

/** The cursor, the own-writes mark (own-top.ts) and whether anything is pending, in one statement. */
export async function readLiveBefore(trx: Executor, cursorKey: string, ownKey: string): Promise<LiveBefore> {
  return (await first<LiveBefore>(trx, BEFORE_SQL, [cursorKey, ownKey]))!;
}
