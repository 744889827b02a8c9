import { REUSABLE_PLAN } from "../../adapter.ts";
import { all } from "../../store/sql.ts";
import { docStates } from "../apply.ts";
import { lockedTenant, TENANT_LOCK } from "../dialect-sql.ts";
import { num } from "../tables.ts";
import type { PushCommit, PushGroupOps, PushRead, ServerDialect, WriteTx } from "./dialect.ts";
import { PG_WRITE_DOCS_CTES, pgSelectStates, pgWriteDocsParams } from "./postgres-docs.ts";

/**
 * PostgreSQL's push (ServerDialect.lockAndRead and commitPush): the lock and every read go
 * with BEGIN, the documents, marks and counter in one statement with the COMMIT (tx.ts), so a
 * push is two round trips to the database whatever it holds.
 */

/**
 * PostgreSQL: the tenant's lock, then the op marks of every client in the group and the stored
 * rows of every document its ops name (the ops a mark answers included: a few rows more, never
 * one less) in one statement: one branch per collection, each the document read of postgres-docs.ts
 * (PG_SELECT_STATES, whose plan plans.test.ts checks). Both go with the transaction's BEGIN
 * (tx.ts). The read is a statement of its own after the lock, as loadMarks is, so it sees every
 * commit made before the lock was granted.
 */
export async function pgLockAndRead(
  tx: WriteTx,
  dialect: ServerDialect,
  tenantId: string,
  group: readonly PushGroupOps[],
): Promise<PushRead> {
  const byCollection = new Map<string, Set<string>>();
  for (const { req } of group) {
    for (const op of req.ops) {
      let ids = byCollection.get(op.collection);
      if (!ids) byCollection.set(op.collection, (ids = new Set()));
      ids.add(op.id);
    }
  }
  // JSON arrays, not text[]: postgres-docs.ts PG_SELECT_STATES says why (the plan is kept, not remade).
  const params: unknown[] = [tenantId, JSON.stringify([...new Set(group.map((p) => p.req.clientId))])];
  for (const [collection, ids] of byCollection) params.push(collection, JSON.stringify([...ids]));
  const read = { text: pgMarksAndStatesSql(byCollection.size), values: params };
  const lock = TENANT_LOCK.statement(tx.db, dialect, tenantId)!;
  // A read of more collections than pgMarksAndStatesSql keeps has a text of its own: not one
  // to prepare on every connection, so it follows in a round trip of its own.
  const [locked, rows] = byCollection.size < MARKS_AND_STATES_KEPT ? await tx.open([lock, read]) : [(await tx.open([lock]))[0], await all(tx.db, read.text, read.values)];
  const marks = new Map<string, number>();
  const docs: { collection: string; id: string; seq: number | string; deleted: number; writer: string | null; body: string | null }[] = [];
  for (const r of rows as { collection: string | null; id: string; seq: number | string; deleted: number; writer: string | null; body: string | null }[]) {
    if (r.collection === null) marks.set(r.id, num(r.seq));
    else docs.push(r as (typeof docs)[number]);
  }
  return { tenant: lockedTenant(locked), read: { marks, states: docStates(docs) } };
}

/**
 * pgMarksAndStates' statement for `collections` collections: `$1` tenant, `$2` client ids,
 * then a collection and its ids per branch. Marks come back as rows with a null collection
 * (a document always has one). Every branch is one primary-key probe per id, a plan that does
 * not depend on what is stored (postgres-docs.ts PG_SELECT_STATES says why; plans.test.ts checks
 * it, generic and on a new empty table too), so it is marked reusable: named, it is parsed
 * once per connection, and since its arrays are JSON (postgres-docs.ts says why) planned once too,
 * not once per push (measured by pg_prepared_statements: 0.30 -> 0.085 ms a run).
 */
export function pgMarksAndStatesSql(collections: number): string {
  let text = MARKS_AND_STATES[collections];
  if (text !== undefined) return text;
  text = `${REUSABLE_PLAN}select null::text as collection, m.client_id as id, m.last_op_id as seq, null::int as deleted, null::text as writer, null::jsonb as body
  from jsonb_array_elements_text($2::jsonb) as c(id)
  cross join lateral (select client_id, last_op_id from stowage_clients where tenant_id = $1 and client_id = c.id limit 1) as m`;
  for (let k = 0; k < collections; k++) text += `\n  union all ${pgSelectStates(3 + 2 * k, 4 + 2 * k)}`;
  if (collections < MARKS_AND_STATES_KEPT) MARKS_AND_STATES[collections] = text;
  return text;
}
const MARKS_AND_STATES: string[] = [];
const MARKS_AND_STATES_KEPT = 16;

/**
 * PostgreSQL: the group's client marks (`$2` ids, `$3` op marks, `$4` settled marks) and the
 * tenant's counter (`$5`) in one statement; the counter row is written only when it moved, so
 * the NOTIFY trigger and the row version follow real changes only. `greatest` skips nulls.
 */
const PG_MARKS_AND_SEQ = pgMarksAndSeq(2);

/** The marks and the counter with the client arrays at `$<p>`… and the new seq after them. */
function pgMarksAndSeq(p: number, ctes = ""): string {
  // Inserts of parameter rows (conflicts found through primary keys) and the counter row by
  // its key: a plan that does not depend on what is stored, so it may be reused.
  return `${REUSABLE_PLAN}with marks as (
    insert into stowage_clients (tenant_id, client_id, last_op_id, settled_op_id)
    select $1, c, o, s from unnest($${p}::text[], $${p + 1}::bigint[], $${p + 2}::bigint[]) as u(c, o, s)
    on conflict (tenant_id, client_id) do update set last_op_id = excluded.last_op_id,
      settled_op_id = greatest(stowage_clients.settled_op_id, excluded.settled_op_id)
  )${ctes}
  update stowage_tenants set seq = $${p + 3} where id = $1 and seq <> $${p + 3}`;
}

/**
 * PostgreSQL: a group's whole write in one statement, its document rows (new ones inserted,
 * stored ones upserted: postgres-docs.ts) as CTEs of PG_MARKS_AND_SEQ. The CTEs touch disjoint
 * rows, and all of them run to completion whatever the outer statement reads. (PostgreSQL
 * runs such CTEs last first: the documents are written before the marks, as when they were
 * separate statements: crash.test.ts holds a mark's row lock to stop a push right there.)
 */
export const PG_COMMIT_PUSHES = pgMarksAndSeq(15, `,\n  ${PG_WRITE_DOCS_CTES}`);

/** The group's documents, marks and counter (push.ts pushGroup), the transaction's last statement. */
export async function pgCommitPush(tx: WriteTx, dialect: ServerDialect, c: PushCommit): Promise<void> {
  const { tenantId, now, seq, moved, rows } = c;
  // One round trip for the documents, the marks and the counter while the tenant's lock is
  // held (rows are only written by fresh ops, so `moved` is not empty when there are rows).
  if (moved.length > 0) {
    const marks = [moved.map((m) => m.client_id), moved.map((m) => m.last_op_id), moved.map((m) => m.settled_op_id), seq];
    const docs = pgWriteDocsParams(tenantId, now, rows);
    // The transaction's last statement: sent with its COMMIT (tx.ts).
    if (docs) {
      await tx.close({ text: PG_COMMIT_PUSHES, values: [...docs, ...marks] });
    } else {
      await dialect.upsertDocRows(tx.db, tenantId, now, rows);
      await tx.close({ text: PG_MARKS_AND_SEQ, values: [tenantId, ...marks] });
    }
  }
}
