import { sql, type ExpressionBuilder, type OnConflictDatabase, type OnConflictTables } from "kysely";
import { compiledOnce } from "../compiled.ts";
import { MAX_ROWS_PER_STATEMENT } from "../dialect-sql.ts";
import type { ServerTables } from "../tables.ts";
import type { PushCommit, ServerDialect, WriteTx } from "./dialect.ts";

/**
 * SQLite's push commit (ServerDialect.commitPush): the documents, then the client marks and
 * the counter, one statement each (a lone push's compiled once). SQLite's write lock is the
 * tenant's lock, so there is nothing to pipeline.
 */

/** A client's marks on conflict (SQLite): the op mark as pushed, the settled mark only ever up (a late copy of an older request carries an older one). */
function markUpdate(eb: ExpressionBuilder<OnConflictDatabase<ServerTables, "stowage_clients">, OnConflictTables<"stowage_clients">>) {
  return {
    last_op_id: eb.ref("excluded.last_op_id"),
    settled_op_id: sql<number>`max(coalesce(stowage_clients.settled_op_id, 0), coalesce(excluded.settled_op_id, 0))`,
  };
}

const MARK_ONE = compiledOnce(4, (db, _dialect, tenantId: string, clientId: string, lastOpId: number, settled: number | null) =>
  db
    .insertInto("stowage_clients")
    .values({ tenant_id: tenantId, client_id: clientId, last_op_id: lastOpId, settled_op_id: settled })
    .onConflict((oc) => oc.columns(["tenant_id", "client_id"]).doUpdateSet(markUpdate)),
);
const SET_SEQ = compiledOnce(2, (db, _dialect, seq: number, tenantId: string) => db.updateTable("stowage_tenants").set({ seq }).where("id", "=", tenantId));

/** The group's documents, marks and counter (push.ts pushGroup). */
export async function sqliteCommitPush(tx: WriteTx, dialect: ServerDialect, c: PushCommit): Promise<void> {
  const trx = tx.db;
  const { tenantId, now, moved, seq, rows } = c;
  await dialect.upsertDocRows(trx, tenantId, now, rows);
  if (moved.length === 1) {
    const m = moved[0];
    await MARK_ONE.run(trx, dialect, tenantId, m.client_id, m.last_op_id, m.settled_op_id);
  } else {
    for (let i = 0; i < moved.length; i += MAX_ROWS_PER_STATEMENT) {
      await trx
        .insertInto("stowage_clients")
        .values(moved.slice(i, i + MAX_ROWS_PER_STATEMENT))
        .onConflict((oc) => oc.columns(["tenant_id", "client_id"]).doUpdateSet(markUpdate))
        .execute();
    }
  }
  if (seq !== c.tenantSeq) await SET_SEQ.run(trx, dialect, seq, tenantId);
}
