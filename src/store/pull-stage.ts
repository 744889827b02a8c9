import type { JsonObject } from "../json.ts";
import type { Change } from "../protocol/wire.ts";
import { PULL_STAGE_DDL } from "./migrations.ts";
import { all, placeholders, run, type Executor } from "./sql.ts";
import type { Store } from "./store.ts";
import { NEWER_OR_DIFFERENT, resetIn } from "./server-docs.ts";
import { CURSOR_KEY } from "./sync-meta.ts";
import { rebaseDocs } from "./rebase.ts";

/**
 * Guarantee 9 for a pull longer than one page. The server keeps one row per document (its
 * latest version) and a page is the rows after the cursor in sequence order, so a page can
 * end inside a transaction group, and a group whose member was overwritten later arrives
 * without that member. Applying page by page would show a reader part of a group.
 *
 * What is sound instead: every page of one pull is staged here (on disk: memory stays one
 * page however large the pull), and the union is applied with the final cursor in ONE local
 * transaction once a page says `more: false`. That union is the server's state at the last
 * read: each page reads every row after the previous page's cursor, and a document written
 * after we read it gets a higher sequence number, so we read it again later (the stage keeps
 * the highest version per document). The server applies groups atomically and allocates
 * sequence numbers in commit order, so its state at any instant holds every group whole;
 * documents absent from the union did not change since our previous consistent state.
 *
 * Crash safety: the cursor moves only with the final apply, so a stage left by a crash is
 * simply discarded by the next multi-page pull (it re-reads from the stored cursor).
 */

/** A staged delete's body: never a document's (a document is a JSON object's text). */
const TOMBSTONE = "";

/** Rows per multi-row statement (4 parameters each). */
const ROWS = 500;

/** Empties the stage (the start of a multi-page pull discards whatever a crash left). */
export async function clearStage(store: Store): Promise<void> {
  await run(store.db, "delete from _stowage_pull_stage");
}

/** One staged change: a document's JSON text, or TOMBSTONE ("") for a delete. */
export interface StageRow {
  collection: string;
  id: string;
  version: number;
  body: string;
}

/** Adds one page to the stage in one local transaction, keeping each document's highest version. */
export async function stagePage(store: Store, changes: Change[]): Promise<void> {
  await stageRows(
    store,
    changes.map((c) => ({ collection: c.collection, id: c.id, version: c.version, body: c.deleted ? TOMBSTONE : JSON.stringify(c.value) })),
  );
}

/** stagePage for changes whose values are JSON text already (a page read by lines, sync/v1/page-lines.ts). */
export async function stageRows(store: Store, rows: StageRow[]): Promise<void> {
  if (rows.length === 0) return;
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += ROWS) {
      const n = Math.min(ROWS, rows.length - i);
      const params: unknown[] = new Array(n * 4);
      for (let j = 0; j < n; j++) {
        const r = rows[i + j];
        params[j * 4] = r.collection;
        params[j * 4 + 1] = r.id;
        params[j * 4 + 2] = r.body;
        params[j * 4 + 3] = r.version;
      }
      await run(
        trx,
        `insert into _stowage_pull_stage (collection, id, body, version) values ${placeholders(n, 4)}
         on conflict (collection, id) do update set body = excluded.body, version = excluded.version
         where excluded.version > _stowage_pull_stage.version`,
        params,
      );
    }
  });
}

/**
 * Applies the stage and the final cursor in one local transaction, then empties the stage.
 * `tombstones`: false when no staged change was a delete (skips a scan of the stage).
 * Into an empty store the stage is adopted as the document table instead (adoptStage).
 * `reset`: the server asked for a full resync at the start of this pull; the synced state is
 * dropped in the same transaction, so a reader never sees the emptied store either.
 * Documents with pending ops are rebased (guarantee 4); the rest go in set-based statements.
 * `also` runs first in the same transaction (partial sync records the subscriptions the
 * applied state covers).
 */
export async function applyStage(store: Store, cursor: string, reset: boolean, tombstones = true, also?: (trx: Executor) => Promise<void>): Promise<void> {
  await store.db.transaction().execute(async (trx) => {
    await also?.(trx);
    if (reset) await resetIn(trx);
    await rebasePending(trx);
    if (!(await adoptStage(trx, tombstones))) {
      // The SELECT's WHERE keeps SQLite's upsert parse unambiguous.
      await run(
        trx,
        `insert into _stowage_docs (collection, id, body, version)
         select collection, id, body, version from _stowage_pull_stage where body <> ''
         on conflict (collection, id) do update set body = excluded.body, version = excluded.version
         where ${NEWER_OR_DIFFERENT}`,
      );
      if (tombstones) {
        await run(trx, "delete from _stowage_docs where (collection, id) in (select collection, id from _stowage_pull_stage where body = '')");
      }
    }
    await store.setMeta(CURSOR_KEY, cursor, trx);
    await run(trx, "delete from _stowage_pull_stage");
  });
}

/**
 * The initial pull into an empty store (no documents, nothing pending left in the stage):
 * the stage, minus its tombstones, IS the new document table. Renaming it saves writing
 * every document a second time; the empty table's indexes (expression indexes declared
 * by collections) are rebuilt on it, and a new empty stage is created. All inside the
 * caller's transaction: other connections see the old empty table or the full new one.
 */
async function adoptStage(trx: Executor, tombstones: boolean): Promise<boolean> {
  if ((await all(trx, "select 1 from _stowage_docs limit 1")).length > 0) return false;
  // Triggers on the table (full-text indexes) would be dropped with it and never see the
  // adopted rows: then the set-based copy runs instead, through the triggers.
  if ((await all(trx, "select 1 from sqlite_master where type = 'trigger' and tbl_name = '_stowage_docs' limit 1")).length > 0) return false;
  if (tombstones) await run(trx, "delete from _stowage_pull_stage where body = ''");
  const indexes = await all<{ sql: string }>(trx, "select sql from sqlite_master where type = 'index' and tbl_name = '_stowage_docs' and sql is not null");
  // The collections' SQL views (views.ts) name the table: SQLite refuses the rename under
  // them, so they (and their read-only triggers) are set aside and made again, in order.
  const views = await all<{ name: string; sql: string }>(trx, "select name, sql from sqlite_master where type = 'view' order by rowid");
  const viewTriggers = await all<{ sql: string }>(
    trx,
    "select sql from sqlite_master where type = 'trigger' and tbl_name in (select name from sqlite_master where type = 'view') order by rowid",
  );
  for (const v of views) await run(trx, `drop view "${v.name.replaceAll('"', '""')}"`);
  await run(trx, "drop table _stowage_docs");
  await run(trx, "alter table _stowage_pull_stage rename to _stowage_docs");
  for (const ix of indexes) await run(trx, ix.sql);
  for (const v of views) await run(trx, v.sql);
  for (const t of viewTriggers) await run(trx, t.sql);
  await run(trx, PULL_STAGE_DDL);
  return true;
}

/** Staged documents with pending ops: rebased one by one, then taken out of the set-based apply. */
async function rebasePending(trx: Executor): Promise<void> {
  const any = await all(trx, "select 1 from _stowage_outbox limit 1");
  if (any.length === 0) return;
  // Driven by the outbox (small: unacknowledged ops), probing the stage by its key.
  const rows = await all<{ collection: string; id: string; body: string; version: number }>(
    trx,
    `select s.collection, s.id, s.body, s.version
     from (select distinct collection, id from _stowage_outbox) o
     cross join _stowage_pull_stage s on s.collection = o.collection and s.id = o.id`,
  );
  if (rows.length === 0) return;
  await rebaseDocs(trx, rows.map((r) => ({ collection: r.collection, id: r.id, value: r.body === TOMBSTONE ? null : (JSON.parse(r.body) as JsonObject), version: r.version })));
  for (let i = 0; i < rows.length; i += ROWS) {
    const chunk = rows.slice(i, i + ROWS);
    const params: string[] = [];
    for (const r of chunk) params.push(r.collection, r.id);
    await run(trx, `delete from _stowage_pull_stage where (collection, id) in (values ${placeholders(chunk.length, 2)})`, params);
  }
}
