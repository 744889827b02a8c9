import { StowageError } from "../errors.ts";
import type { JsonObject } from "../json.ts";
import { all, first, run, type Executor } from "../store/sql.ts";
import type { Store } from "../store/store.ts";
import { rebaseDocs } from "./rebase.ts";

/** Meta key holding the opaque pull cursor. */
export const CURSOR_KEY = "sync_cursor";

/** What applying one pull page did. */
export interface PageResult {
  /** Changes in the page. */
  changes: number;
  /** Collections the page touched. */
  collections: string[];
  /** True when the server has more after this page. */
  more: boolean;
  /** True when the server answered `{ reset: true }` (nothing was applied). */
  reset: boolean;
  /** The cursor stored with this page (null on reset). */
  cursor: string | null;
}

// One pass over the page in SQLite's JSON functions: no JS parse or re-serialization of
// documents on the hot path. Docs with pending ops are skipped here and rebased in JS. The
// outbox has no (collection, id) index, so it is probed with an uncorrelated IN, which SQLite
// builds into one ephemeral index per statement instead of scanning once per change.
const UPSERT_PAGE = `
insert into _stowage_docs (collection, id, body, version)
select json_extract(c.value, '$.collection'), json_extract(c.value, '$.id'),
       json_extract(c.value, '$.value'), json_extract(c.value, '$.version')
from json_each(?, '$.changes') c
where json_extract(c.value, '$.deleted') = 0 and (json_extract(c.value, '$.collection'), json_extract(c.value, '$.id'))
  not in (select collection, id from _stowage_outbox)
on conflict (collection, id) do update set body = excluded.body, version = excluded.version
where _stowage_docs.version is null or _stowage_docs.version <= excluded.version`;

const DELETE_PAGE = `
delete from _stowage_docs where (collection, id) in (
  select json_extract(c.value, '$.collection'), json_extract(c.value, '$.id')
  from json_each(?, '$.changes') c
  where json_extract(c.value, '$.deleted') = 1 and (json_extract(c.value, '$.collection'), json_extract(c.value, '$.id'))
    not in (select collection, id from _stowage_outbox))`;

const PENDING_IN_PAGE = `
select json_extract(c.value, '$.collection') as collection, json_extract(c.value, '$.id') as id,
       json_extract(c.value, '$.value') as body, json_extract(c.value, '$.version') as version
from json_each(?, '$.changes') c
where (json_extract(c.value, '$.collection'), json_extract(c.value, '$.id')) in (select collection, id from _stowage_outbox)`;

const PAGE_HEAD = `
select json_valid(?1) as valid, json_extract(?1, '$.reset') as reset, json_extract(?1, '$.cursor') as cursor,
       json_extract(?1, '$.more') as more, json_type(?1, '$.changes') as changes_type,
       json_array_length(?1, '$.changes') as n`;

/**
 * Applies one page and stores its cursor in ONE local transaction, so a crash never skips a
 * page; applying a page twice is harmless because versions only move forward.
 */
export async function applyPage(store: Store, text: string): Promise<PageResult> {
  const head = await first<{ valid: number; reset: number | null; cursor: unknown; more: number | null; changes_type: string | null; n: number | null }>(
    store.db,
    PAGE_HEAD,
    [text],
  );
  if (!head?.valid) throw new StowageError("protocol", `pull: the server's answer is not JSON: ${text.slice(0, 120)}`);
  if (head.reset === 1) return { changes: 0, collections: [], more: false, reset: true, cursor: null };
  if (head.changes_type !== "array" || typeof head.cursor !== "string" || head.more === null) {
    throw new StowageError("protocol", `pull: the server's answer is not a protocol v1 page: ${text.slice(0, 120)}`);
  }
  const n = Number(head.n ?? 0);
  let collections: string[] = [];
  await store.db.transaction().execute(async (trx) => {
    if (n > 0) {
      await run(trx, UPSERT_PAGE, [text]);
      await run(trx, DELETE_PAGE, [text]);
      if (await first(trx, "select 1 from _stowage_outbox limit 1")) {
        const pending = await all<{ collection: string; id: string; body: string | null; version: number }>(trx, PENDING_IN_PAGE, [text]);
        await rebaseDocs(
          trx,
          pending.map((p) => ({ collection: p.collection, id: p.id, value: p.body === null ? null : (JSON.parse(p.body) as JsonObject), version: p.version })),
        );
      }
      collections = (await all<{ c: string }>(trx, "select distinct json_extract(value, '$.collection') as c from json_each(?, '$.changes')", [text])).map((r) => r.c);
    }
    await store.setMeta(CURSOR_KEY, head.cursor as string, trx);
  });
  return { changes: n, collections, more: head.more === 1, reset: false, cursor: head.cursor as string };
}

/**
 * Guarantee 5: the server purged tombstones past our cursor (or its data was replaced). Drops
 * synced documents with no pending ops and the cursor, keeping every pending op and the local
 * values they produced; the next pull starts from the beginning and rebases them.
 */
export async function resetSyncedState(db: Executor & Pick<Store["db"], "transaction">): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await run(
      trx,
      `delete from _stowage_docs where not exists (
         select 1 from _stowage_outbox o where o.collection = _stowage_docs.collection and o.id = _stowage_docs.id)`,
    );
    await run(trx, "update _stowage_docs set version = null");
    await run(trx, "delete from _stowage_meta where key = ?", [CURSOR_KEY]);
  });
}
