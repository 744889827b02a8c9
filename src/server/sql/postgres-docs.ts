import { all, run } from "../../store/sql.ts";
import { SET_ALL, type Db, type DocStateRow, type DocWriteRow } from "../docs-sql.ts";

/** PostgreSQL's document statements of a push (docs-sql.ts says why they are raw SQL). */

/** PostgreSQL: the current rows of `ids` in one collection. */
export function pgSelectDocStates(db: Db, tenantId: string, collection: string, ids: string[]): Promise<DocStateRow[]> {
  return all<DocStateRow>(db, PG_SELECT_STATES, [tenantId, collection, JSON.stringify(ids)]);
}

/**
 * PostgreSQL: a push's document read, `$1` tenant, `$2` collection, `$3` ids (plans.test.ts
 * checks its plan): one primary-key probe per id, written so that no other plan is possible.
 * As `id = any($3)` its plan followed the statistics: with none (a table never analyzed) the
 * planner guessed the tenant holds one row and scanned all of it, filtering on the ids (1.85
 * ms per push at 10,000 documents, growing with each); with them, 1,400 ids were costed one
 * by one (2 ms of planning) into a sequential scan (4.8 ms, against 1.7 probing). A lateral
 * subquery with a LIMIT is not flattened into a join, so each id is looked up by the whole key.
 * The ids come as a JSON array, not a text[]: the planner counts the elements of an array
 * value (unnest's support function) but not of a parameter, so with `unnest($3::text[])` a
 * plan made for the values always looked cheaper than the generic one, and PostgreSQL
 * re-planned the named push read on every run (pg_prepared_statements: 600 custom plans of
 * 600; 0.30 -> 0.07-0.12 ms per run served generic). jsonb_array_elements_text has no such
 * function: both plans are costed alike and the generic one is kept after five runs.
 */
export const PG_SELECT_STATES = pgSelectStatesAt(2, 3, "id, seq, deleted, writer, body");

/** The same read with its collection at `$<c>` and ids at `$<i>`, also answering the collection (push.ts reads several in one statement). */
export function pgSelectStates(c: number, i: number): string {
  return pgSelectStatesAt(c, i, "collection, id, seq, deleted, writer, body");
}

function pgSelectStatesAt(c: number, i: number, columns: string): string {
  return `select ${columns.replace(/\w+/g, "d.$&")} from jsonb_array_elements_text($${i}::jsonb) as u(id)
  cross join lateral (select * from stowage_docs where tenant_id = $1 and collection = $${c} and id = u.id limit 1) as d`;
}

/**
 * PostgreSQL: new document rows, every row in one statement of parallel arrays, each array a
 * JSON array (`$3`…`$8`) zipped with the others by `rows from`. JSON because the bodies are
 * JSON text already, so joining them costs nothing, and JSON.stringify writes the other
 * arrays natively, where node-postgres builds a text[] literal element by element, escaping
 * every quote of every body (that was the top of an in-process push profile: 8 -> 3 µs of
 * JS per row, inside the tenant's lock; the database's work is the same). A tombstone's body
 * is JSON `null` in the array, stored as SQL NULL (a document is always an object).
 */
export const PG_INSERT_DOCS = pgInsertDocs(3);

/** PostgreSQL: rows that replace stored ones, likewise (`on conflict` finds each through the primary key). */
export const PG_UPSERT_DOCS = pgUpsertDocs(3);

/** PG_INSERT_DOCS with its six arrays at `$<p>`…`$<p+5>` (tenant `$1`, time `$2`). */
function pgInsertDocs(p: number): string {
  return `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
  select $1, c, i, s::bigint, d::int, w, nullif(b, 'null'::jsonb), $2
  from rows from (jsonb_array_elements_text($${p}::jsonb), jsonb_array_elements_text($${p + 1}::jsonb), jsonb_array_elements_text($${p + 2}::jsonb),
    jsonb_array_elements_text($${p + 3}::jsonb), jsonb_array_elements_text($${p + 4}::jsonb), jsonb_array_elements($${p + 5}::jsonb)) as u(c, i, s, d, w, b)`;
}

function pgUpsertDocs(p: number): string {
  return `${pgInsertDocs(p)}
  on conflict (tenant_id, collection, id) do update set ${SET_ALL}`;
}

/**
 * PostgreSQL: both document writes of a push as CTEs of the statement that also writes the
 * client marks and the counter (push.ts), so that a push's writes are one round trip: new
 * rows `$3`…`$8`, stored rows `$9`…`$14` (pgWriteDocsParams), either may be empty.
 */
export const PG_WRITE_DOCS_CTES = `fresh_docs as (${pgInsertDocs(3)}),
  stored_docs as (${pgUpsertDocs(9)})`;

/** `$1`…`$14` of PG_WRITE_DOCS_CTES; undefined when the bodies are too large for one statement (then upsertDocRows writes them). */
export function pgWriteDocsParams(tenantId: string, now: number, rows: DocWriteRow[]): unknown[] | undefined {
  let chars = 0;
  for (const r of rows) chars += (r.body?.length ?? 4) + 1;
  if (chars > PG_BODY_CHARS) return undefined;
  const fresh = pgRowParams(tenantId, now, rows.filter((r) => !r.stored));
  const stored = pgRowParams(tenantId, now, rows.filter((r) => r.stored));
  return [...fresh, ...stored.slice(2)];
}

/** PostgreSQL: inserts or replaces document rows (the caller holds the tenant's counter lock). */
export async function pgUpsertDocRows(db: Db, tenantId: string, now: number, rows: DocWriteRow[]): Promise<void> {
  if (rows.length === 0) return;
  const fresh = rows.filter((r) => !r.stored);
  for (const chunk of byBodySize(fresh)) await run(db, PG_INSERT_DOCS, pgRowParams(tenantId, now, chunk));
  if (fresh.length < rows.length) for (const chunk of byBodySize(rows.filter((r) => r.stored))) await run(db, PG_UPSERT_DOCS, pgRowParams(tenantId, now, chunk));
}

/**
 * Body characters per statement: one jsonb value holds at most 256 MB, and a group of pushes
 * may carry more than that (64 pushes of 4 MB); a UTF-16 character is at most 3 UTF-8 bytes.
 */
const PG_BODY_CHARS = 32 * 1024 * 1024;

/** The rows in runs whose bodies stay within PG_BODY_CHARS (one run for any usual push). */
function byBodySize(rows: DocWriteRow[]): DocWriteRow[][] {
  const out: DocWriteRow[][] = [];
  let start = 0;
  let chars = 0;
  for (let i = 0; i < rows.length; i++) {
    const n = rows[i].body?.length ?? 4;
    if (i > start && chars + n > PG_BODY_CHARS) {
      out.push(rows.slice(start, i));
      start = i;
      chars = 0;
    }
    chars += n + 1;
  }
  if (start < rows.length) out.push(start === 0 ? rows : rows.slice(start));
  return out;
}

/** `$1`…`$8` of PG_INSERT_DOCS / PG_UPSERT_DOCS: the rows as parallel JSON arrays. */
function pgRowParams(tenantId: string, now: number, rows: DocWriteRow[]): unknown[] {
  const n = rows.length;
  const collections = new Array<string>(n);
  const ids = new Array<string>(n);
  const seqs = new Array<number>(n);
  const deleted = new Array<number>(n);
  const writers = new Array<string | null>(n);
  const bodies = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const r = rows[i];
    collections[i] = r.collection;
    ids[i] = r.id;
    seqs[i] = r.seq;
    deleted[i] = r.deleted;
    writers[i] = r.writer;
    bodies[i] = r.body ?? "null";
  }
  return [tenantId, now, JSON.stringify(collections), JSON.stringify(ids), JSON.stringify(seqs), JSON.stringify(deleted), JSON.stringify(writers), `[${bodies.join(",")}]`];
}
