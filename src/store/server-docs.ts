import type { Change } from "../protocol/wire.ts";
import { all, first, placeholders, run, type Executor } from "./sql.ts";
import type { Store } from "./store.ts";
import { CURSOR_KEY } from "./sync-meta.ts";

/**
 * Applying server documents to the local document table: pulled changes, the versions a push
 * answer gave our writes, a reset's drop of the synced state. Documents with pending ops are
 * rebased instead (rebase.ts); transports decide which is which, the SQL is here.
 */

/** Rows per multi-row statement (4 parameters each). */
const ROWS = 500;

/**
 * When a pulled change replaces the local row: a newer version, or the same version with
 * other text. A row already at the change's version with the very same text (our own put,
 * whose version the push settle recorded, push.ts) is left alone: writing it would change
 * nothing but cost a row write, its index entries and triggers, for every document a bulk
 * push sends. Documents with pending ops never come here (they are rebased).
 */
export const NEWER_OR_DIFFERENT = `_stowage_docs.version is null or _stowage_docs.version < excluded.version
  or (_stowage_docs.version = excluded.version and _stowage_docs.body is not excluded.body)`;
const UPSERT_TAIL = `on conflict (collection, id) do update set body = excluded.body, version = excluded.version
  where ${NEWER_OR_DIFFERENT}`;

/**
 * Writes pulled documents without pending ops: `live` rows upserted where newer or different
 * (NEWER_OR_DIFFERENT), `dead` ones deleted; multi-row statements of ROWS documents.
 */
export async function writeChanges(trx: Executor, live: readonly Change[], dead: readonly Change[]): Promise<void> {
  for (let i = 0; i < live.length; i += ROWS) {
    const chunk = live.slice(i, i + ROWS);
    const params: unknown[] = new Array(chunk.length * 4);
    for (let j = 0; j < chunk.length; j++) {
      const c = chunk[j];
      params[j * 4] = c.collection;
      params[j * 4 + 1] = c.id;
      params[j * 4 + 2] = JSON.stringify(c.value);
      params[j * 4 + 3] = c.version;
    }
    await run(trx, `insert into _stowage_docs (collection, id, body, version) values ${placeholders(chunk.length, 4)} ${UPSERT_TAIL}`, params);
  }
  for (let i = 0; i < dead.length; i += ROWS) {
    const chunk = dead.slice(i, i + ROWS);
    const params: unknown[] = [];
    for (const c of chunk) params.push(c.collection, c.id);
    await run(trx, `delete from _stowage_docs where (collection, id) in (values ${placeholders(chunk.length, 2)})`, params);
  }
}

/** Which of the page's documents have pending ops (one outbox pass; usually the outbox is empty). */
export async function pendingKeys(db: Executor, changes: Change[]): Promise<Set<string> | null> {
  const any = await all(db, "select 1 from _stowage_outbox limit 1");
  if (any.length === 0) return null;
  const keys = new Set<string>();
  for (let i = 0; i < changes.length; i += ROWS) {
    const chunk = changes.slice(i, i + ROWS);
    const params: string[] = [];
    for (const c of chunk) params.push(c.collection, c.id);
    const rows = await all<{ collection: string; id: string }>(
      db,
      `select distinct collection, id from _stowage_outbox where (collection, id) in (values ${placeholders(chunk.length, 2)})`,
      params,
    );
    for (const r of rows) keys.add(`${r.collection}\u0000${r.id}`);
  }
  return keys;
}

/**
 * Guarantee 5: the server purged tombstones past our cursor (or its data was replaced). Drops
 * synced documents with no pending ops and the cursor, keeping every pending op and the local
 * values they produced; the next pull starts from the beginning and rebases them.
 */
export async function resetSyncedState(db: Executor & Pick<Store["db"], "transaction">): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await resetIn(trx);
    await run(trx, "delete from _stowage_pull_stage");
  });
}

/** resetSyncedState inside the caller's transaction (a staged pull after a reset applies both at once). */
export async function resetIn(trx: Executor): Promise<void> {
  await run(trx, "delete from _stowage_docs where (collection, id) not in (select collection, id from _stowage_outbox)");
  await run(trx, "update _stowage_docs set version = null");
  await run(trx, "delete from _stowage_meta where key = ?", [CURSOR_KEY]);
  // Our settled writes were dropped with the rest of the synced state (own-top.ts).
  await run(trx, "delete from _stowage_meta where key = 'own_top'");
}

/** Rows per version update (3 parameters each). */
const VERSION_ROWS = 500;

/**
 * Writes the recorded versions, a multi-row UPDATE ... FROM (VALUES ...) per 500 documents
 * (SQLite drives it from the values, probing the primary key). One statement per document
 * cost ~25 µs each through the driver, which put 12 ms of settle per 500-op batch on a bulk
 * push's critical path; this is ~1.5 ms. A version only moves forward.
 */
export async function recordVersions(trx: Executor, versions: Map<string, { collection: string; id: string; version: number }>): Promise<void> {
  const list = [...versions.values()];
  for (let i = 0; i < list.length; i += VERSION_ROWS) {
    const chunk = list.slice(i, i + VERSION_ROWS);
    const params: unknown[] = new Array(chunk.length * 3);
    for (let j = 0; j < chunk.length; j++) {
      params[j * 3] = chunk[j].collection;
      params[j * 3 + 1] = chunk[j].id;
      params[j * 3 + 2] = chunk[j].version;
    }
    await run(
      trx,
      `update _stowage_docs set version = v.column3 from (values ${placeholders(chunk.length, 3)}) as v
       where _stowage_docs.collection = v.column1 and _stowage_docs.id = v.column2
         and (_stowage_docs.version is null or _stowage_docs.version < v.column3)`,
      params,
    );
  }
}

/** A document's stored version row (undefined when there is no local row). */
export function localVersion(db: Executor, collection: string, id: string): Promise<{ version: number | null } | undefined> {
  return first<{ version: number | null }>(db, "select version from _stowage_docs where collection = ? and id = ?", [collection, id]);
}

/** A document's stored JSON text row (undefined when there is no local row). */
export function localBody(db: Executor, collection: string, id: string): Promise<{ body: string } | undefined> {
  return first<{ body: string }>(db, "select body from _stowage_docs where collection = ? and id = ?", [collection, id]);
}
