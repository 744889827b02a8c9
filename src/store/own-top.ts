import { first, run, type Executor } from "./sql.ts";

/**
 * The highest version the server gave this client's own writes, kept beside the cursor.
 * Our writes apply locally at once and their answers settle them beyond the pull cursor, so
 * the local store can hold a document newer than the cursor says. A pull page is always the
 * server's latest row of each document, never older than that; a live event's changes are
 * the rows as its commit left them, and may since have been overwritten by our own write.
 * So an event whose commit is older than our newest own write is not applied: the pull it
 * falls back to brings the latest rows (chaos found an event taking our own patch back).
 */
export const OWN_TOP_KEY = "own_top";

/** Raises the mark, in the settle's transaction. */
export async function noteOwnTop(trx: Executor, version: number): Promise<void> {
  await run(
    trx,
    `insert into _stowage_meta (key, value) values (?, ?)
     on conflict (key) do update set value = excluded.value where cast(_stowage_meta.value as integer) < cast(excluded.value as integer)`,
    [OWN_TOP_KEY, String(version)],
  );
}

/** Whether an event whose commit ends at `seq` may be applied over our own writes. */
export async function ownWritesAtOrBelow(trx: Executor, seq: number): Promise<boolean> {
  const row = await first<{ value: string }>(trx, "select value from _stowage_meta where key = ?", [OWN_TOP_KEY]);
  return ownTopAllows(row?.value, seq);
}

/** ownWritesAtOrBelow for the mark already read (`value`: the meta row's, undefined when absent). */
export function ownTopAllows(value: string | null | undefined, seq: number): boolean {
  return value === null || value === undefined || Number(value) <= seq;
}
