import { all, run } from "../../store/sql.ts";
import { SET_ALL, type Db, type DocStateRow, type DocWriteRow } from "../docs-sql.ts";

/** SQLite's document statements of a push (docs-sql.ts says why they are raw SQL). */

/** SQLite's bound-parameter budget per statement, in rows. */
const SQLITE_ROWS = 500;

/** SQLite: the current rows of `ids` in one collection, within the bound-parameter budget. */
export async function sqliteSelectDocStates(db: Db, tenantId: string, collection: string, ids: string[]): Promise<DocStateRow[]> {
  const out: DocStateRow[] = [];
  for (let i = 0; i < ids.length; i += SQLITE_ROWS) {
    const chunk = ids.slice(i, i + SQLITE_ROWS);
    const rows = await all<DocStateRow>(
      db,
      `select id, seq, deleted, writer, body from stowage_docs where tenant_id = ? and collection = ? and id in (${new Array(chunk.length).fill("?").join(",")})`,
      [tenantId, collection, ...chunk],
    );
    for (const r of rows) out.push(r);
  }
  return out;
}

/** SQLite: inserts or replaces document rows (the caller holds the tenant's counter lock). */
export async function sqliteUpsertDocRows(db: Db, tenantId: string, now: number, rows: DocWriteRow[]): Promise<void> {
  if (rows.length === 0) return;
  for (let i = 0; i < rows.length; i += SQLITE_ROWS) {
    const chunk = rows.slice(i, i + SQLITE_ROWS);
    const params: unknown[] = new Array(chunk.length * 8);
    for (let j = 0; j < chunk.length; j++) {
      const r = chunk[j];
      const k = j * 8;
      params[k] = tenantId;
      params[k + 1] = r.collection;
      params[k + 2] = r.id;
      params[k + 3] = r.seq;
      params[k + 4] = r.deleted;
      params[k + 5] = r.writer;
      params[k + 6] = r.body;
      params[k + 7] = now;
    }
    await run(
      db,
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       values ${new Array(chunk.length).fill("(?,?,?,?,?,?,?,?)").join(",")}
       on conflict (tenant_id, collection, id) do update set ${SET_ALL}`,
      params,
    );
  }
}
