import { all, placeholders, run, type Executor } from "./sql.ts";

/**
 * Documents recorded for a refresh: they need their server value (a rejected op left a local
 * value the server never had; v1/refresh.ts explains when). The records live in the store so
 * a crash between recording and fetching only delays the fetch.
 */

/** Records documents that need their server value; inside the caller's transaction. */
export async function markForRefresh(trx: Executor, docs: { collection: string; id: string }[]): Promise<void> {
  for (let i = 0; i < docs.length; i += 400) {
    const chunk = docs.slice(i, i + 400);
    const params: string[] = [];
    for (const d of chunk) params.push(d.collection, d.id);
    await run(trx, `insert or ignore into _stowage_refresh (collection, id) values ${placeholders(chunk.length, 2)}`, params);
  }
}

/** Documents still waiting for their server value (at most `limit`). */
export function unresolvedDocs(db: Executor, limit: number): Promise<{ collection: string; id: string }[]> {
  return all<{ collection: string; id: string }>(db, `select collection, id from _stowage_refresh order by collection, id limit ${Math.max(0, Math.floor(limit))}`);
}

/** Up to `limit` recorded documents, in no particular order (one cycle's share). */
export function refreshRecords(db: Executor, limit: number): Promise<{ collection: string; id: string }[]> {
  return all<{ collection: string; id: string }>(db, `select collection, id from _stowage_refresh limit ${limit}`);
}

/** Drops one record (its server value was applied). */
export async function clearRefresh(trx: Executor, collection: string, id: string): Promise<void> {
  await run(trx, "delete from _stowage_refresh where collection = ? and id = ?", [collection, id]);
}

/** How many documents are recorded. */
export async function countRefresh(db: Executor): Promise<number> {
  return Number((await all<{ n: number }>(db, "select count(*) as n from _stowage_refresh"))[0]?.n ?? 0);
}
