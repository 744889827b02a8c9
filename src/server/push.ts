import { sql, type ExpressionBuilder, type OnConflictDatabase, type Kysely, type OnConflictTables } from "kysely";
import type { ErrorInfo, OpResult, PushRequest, PushResponse } from "../protocol/wire.ts";
import { applyOps, docStates, noteValueJson, type WriteOp, type WrittenDoc } from "./apply.ts";
import { commitChanges } from "./events/changes.ts";
import { enqueuePush, type PushAnswer, type QueuedPush } from "./push-group.ts";
import { lockedTenant, lockTenant, MAX_ROWS_PER_STATEMENT, TENANT_LOCK } from "./dialect-sql.ts";
import { PG_WRITE_DOCS_CTES, pgSelectStates, pgWriteDocsParams } from "./docs-sql.ts";
import type { ServerDialect } from "./sql/dialect.ts";
import { SQLITE } from "./sql/sqlite.ts";
import { num, type ServerTables } from "./tables.ts";
import { all, run } from "../store/sql.ts";
import { REUSABLE_PLAN } from "../adapter.ts";
import { compiledOnce } from "./compiled.ts";
import { HttpError } from "./http.ts";
import type { ServerStore } from "./store.ts";
import { writeTransaction, type WriteTx } from "./tx.ts";
import type { StowageErrorIssue } from "../errors.ts";
import type { RuleRunner } from "./rules.ts";
import type { PushLimits } from "./push-limits.ts";
import { movesOf } from "./sync-rules/moves.ts";

export type { PushLimits };

/**
 * The checks zod cannot express: op ids strictly increasing, `tx` groups contiguous, values
 * within size and depth, `id` fields matching. Any issue refuses the whole request (400).
 */
export function checkPush(req: PushRequest, limits: PushLimits, dialect: ServerDialect = SQLITE): StowageErrorIssue[] {
  const issues: StowageErrorIssue[] = [];
  const closedTx = new Set<number>();
  let previousTx: number | undefined;
  for (let i = 0; i < req.ops.length; i++) {
    const op = req.ops[i];
    if (i > 0 && op.opId <= req.ops[i - 1].opId) {
      issues.push({ path: ["ops", i, "opId"], message: `opId ${op.opId} is not above the previous op's ${req.ops[i - 1].opId}` });
    }
    if (op.tx !== previousTx) {
      if (previousTx !== undefined) closedTx.add(previousTx);
      if (op.tx !== undefined && closedTx.has(op.tx)) {
        issues.push({ path: ["ops", i, "tx"], message: `ops of tx ${op.tx} are not contiguous` });
      }
      previousTx = op.tx;
    }
    if (op.op !== "delete") {
      const problem = checkValue(op.value, op.id, limits, dialect);
      if (problem) issues.push({ path: ["ops", i, "value"], message: problem });
    }
    if (issues.length >= 20) break;
  }
  return issues;
}

/** Why a document value (or patch) is refused, or undefined when it is fine. */
export function checkValue(value: Record<string, unknown>, id: string, limits: PushLimits, dialect: ServerDialect = SQLITE): string | undefined {
  if ("id" in value && value.id !== id) return `value.id ${JSON.stringify(value.id)?.slice(0, 80)} does not match the document id ${JSON.stringify(id)}`;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (depth > limits.maxValueDepth) return `value is nested deeper than ${limits.maxValueDepth} levels`;
    if (v === null || typeof v !== "object") continue;
    for (const k in v) {
      // JSON.parse makes `__proto__` an own key, but merging it would set a prototype instead.
      if (k === "__proto__") return "value has a field named __proto__, which is not allowed";
      const child = (v as Record<string, unknown>)[k];
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  const json = JSON.stringify(value);
  noteValueJson(value, json);
  if (json.length > limits.maxValueChars) return `value is ${json.length} characters of JSON; the limit is ${limits.maxValueChars}`;
  // What this store cannot keep (PostgreSQL jsonb: U+0000, lone surrogates) is a 400, not a 500.
  return dialect.unstorableJson(json);
}

/**
 * Applies a validated push: ops at or below the client's recorded mark are answered from the
 * record (duplicate, or the stored conflict/rejected result), the rest are applied, and the
 * new mark is written in the same transaction as their effects. Concurrent pushes of one
 * tenant share a transaction (group commit, push-group.ts), each with its own results.
 */
export async function push(store: ServerStore, tenantId: string, req: PushRequest, limits: PushLimits, now: number, rules?: RuleRunner): Promise<PushResponse> {
  return (await pushWithSeq(store, tenantId, req, limits, now, rules)).response;
}

/** push(), also answering the tenant's seq after the commit when the push moved it (live pokes publish it). */
export async function pushWithSeq(
  store: ServerStore,
  tenantId: string,
  req: PushRequest,
  limits: PushLimits,
  now: number,
  rules?: RuleRunner,
): Promise<PushAnswer> {
  return enqueuePush(store, tenantId, { req, limits, now, rules }, (group) => pushGroup(store, tenantId, group));
}

/**
 * One transaction for a group of pushes of one tenant (each from a different client, see
 * push-group.ts), with the effect of committing them one after another in arrival order:
 * all their fresh ops go through ONE applyOps call (one multi-row read and one multi-row
 * upsert per 500 documents), each op carrying its own writer, and every client's mark and
 * refusals are written with one multi-row statement each.
 */
async function pushGroup(store: ServerStore, tenantId: string, group: QueuedPush[]): Promise<PushAnswer[]> {
  let added = 0;
  const answered = await writeTransaction(store, async (tx) => {
    const trx = tx.db;
    // PostgreSQL locks and reads the marks and every document the group touches in one round trip.
    const { tenant, read } = store.dialect.pipelinedPush ? await pgLockAndRead(tx, store.dialect, tenantId, group) : { tenant: await lockTenant(trx, store.dialect, tenantId), read: undefined };
    // Deleted (console) after the request was authenticated, e.g. through a token's cached
    // tenant (auth/principal.ts): a retry finds the tenant as it is now.
    if (!tenant) throw new HttpError(503, "tenant_gone", `tenant ${tenantId} was deleted; retry`, { headers: { "retry-after": "1" } });
    const marks = read?.marks ?? (await loadMarks(trx, store.dialect, tenantId, group));
    const writes: WriteOp[] = [];
    const fresh: PushRequest["ops"][] = [];
    const results: OpResult[][] = [];
    let txGroup = 0;
    let now = 0;
    for (const { req, now: at, rules } of group) {
      now = Math.max(now, at);
      const mark = marks.get(req.clientId) ?? 0;
      const mine = req.ops.filter((op) => op.opId > mark);
      const seen = req.ops.length - mine.length;
      const answered: OpResult[] = [];
      if (seen > 0) {
        const recorded = await recordedResults(trx, tenantId, req.clientId, req.ops.slice(0, seen).map((o) => o.opId));
        for (const op of req.ops.slice(0, seen)) answered.push(recorded.get(op.opId) ?? { opId: op.opId, status: "duplicate" });
      }
      fresh.push(mine);
      results.push(answered);
      // `tx` numbers are the client's own: renumber them so two pushes' groups never merge.
      let lastTx: number | undefined;
      for (const op of mine) {
        if (op.tx !== undefined && op.tx !== lastTx) txGroup++;
        lastTx = op.tx;
        writes.push({
          opId: op.opId,
          tx: op.tx === undefined ? undefined : txGroup,
          collection: op.collection,
          id: op.id,
          op: op.op,
          value: op.op === "delete" ? undefined : op.value,
          baseVersion: op.baseVersion,
          writer: req.clientId,
          rules,
        });
      }
    }
    const limits = group[0].limits;
    // PostgreSQL writes the documents in the same statement as the marks and the counter, below.
    const deferWrites = store.dialect.pipelinedPush;
    const { outcomes, seq, written, rows } = writes.length
      ? await applyOps(trx, { tenantId, seq: tenant.seq, writer: null, now, maxValueChars: limits.maxValueChars, dialect: store.dialect, deferWrites, states: read?.states, moves: movesOf(store) }, writes)
      : { outcomes: [], seq: tenant.seq, written: [], rows: [] };
    const refusals: { tenant_id: string; client_id: string; op_id: number; result: string; created_at: number }[] = [];
    const moved: { tenant_id: string; client_id: string; last_op_id: number; settled_op_id: number | null }[] = [];
    const responses: PushResponse[] = [];
    let at = 0;
    for (let p = 0; p < group.length; p++) {
      const { req, now: pushedAt, rules } = group[p];
      const mine = fresh[p];
      const out = results[p];
      // docs/PROTOCOL.md "asSent": SQLite keeps a put's text as JSON.stringify of the value
      // sent (PostgreSQL's jsonb orders keys its own way); rules may change values, a patch merges.
      let asSent = store.dialect.keepsJsonText && rules === undefined;
      let applied = false;
      for (const op of mine) {
        const o = outcomes[at++];
        if (o.status === "applied") {
          applied = true;
          if (op.op === "patch" || (op.op === "put" && op.value?.id !== op.id)) asSent = false;
        }
        const result: OpResult = { opId: op.opId, status: o.status };
        if (o.version !== undefined) result.version = o.version;
        if (o.status === "conflict") result.value = o.value ?? null;
        if (o.error) result.error = o.error as ErrorInfo;
        out.push(result);
        if (o.status !== "applied") {
          refusals.push({ tenant_id: tenantId, client_id: req.clientId, op_id: result.opId, result: JSON.stringify(result), created_at: pushedAt });
        }
      }
      const lastOpId = mine.length ? mine[mine.length - 1].opId : (marks.get(req.clientId) ?? 0);
      if (mine.length) moved.push({ tenant_id: tenantId, client_id: req.clientId, last_op_id: lastOpId, settled_op_id: req.settled ?? null });
      responses.push(asSent && applied ? { results: out, lastOpId, asSent: true } : { results: out, lastOpId });
    }
    for (let i = 0; i < refusals.length; i += MAX_ROWS_PER_STATEMENT) {
      await trx
        .insertInto("stowage_op_results")
        .values(refusals.slice(i, i + MAX_ROWS_PER_STATEMENT))
        .onConflict((oc) => oc.columns(["tenant_id", "client_id", "op_id"]).doNothing())
        .execute();
    }
    if (store.dialect.pipelinedPush) {
      // One round trip for the documents, the marks and the counter while the tenant's lock is
      // held (rows are only written by fresh ops, so `moved` is not empty when there are rows).
      if (moved.length > 0) {
        const marks = [moved.map((m) => m.client_id), moved.map((m) => m.last_op_id), moved.map((m) => m.settled_op_id), seq];
        const docs = pgWriteDocsParams(tenantId, now, rows ?? []);
        // The transaction's last statement: sent with its COMMIT (tx.ts).
        if (docs) {
          await tx.close({ text: PG_COMMIT_PUSHES, values: [...docs, ...marks] });
        } else {
          await store.dialect.upsertDocRows(trx, tenantId, now, rows ?? []);
          await tx.close({ text: PG_MARKS_AND_SEQ, values: [tenantId, ...marks] });
        }
      }
      for (const r of rows ?? []) if (!r.stored) added++;
      return answers(responses, tenant.seq, seq, written, store.dialect);
    }
    if (moved.length === 1) {
      const m = moved[0];
      await MARK_ONE.run(trx, store.dialect, tenantId, m.client_id, m.last_op_id, m.settled_op_id);
    } else {
      for (let i = 0; i < moved.length; i += MAX_ROWS_PER_STATEMENT) {
        await trx
          .insertInto("stowage_clients")
          .values(moved.slice(i, i + MAX_ROWS_PER_STATEMENT))
          .onConflict((oc) => oc.columns(["tenant_id", "client_id"]).doUpdateSet(markUpdate))
          .execute();
      }
    }
    if (seq !== tenant.seq) await SET_SEQ.run(trx, store.dialect, seq, tenantId);
    return answers(responses, tenant.seq, seq, written, store.dialect);
  });
  if (added > 0) store.added?.(added);
  return answered;
}

/**
 * Every push of a group reports the group's new seq and the group's changes (one object,
 * shared): a poke for it is one poke, however many publish it.
 */
function answers(responses: PushResponse[], before: number, after: number, written: WrittenDoc[], dialect: ServerDialect): PushAnswer[] {
  if (after === before) return responses.map((response) => ({ response }));
  const changes = commitChanges(before, after, written, dialect);
  return responses.map((response) => (changes ? { response, seq: after, changes } : { response, seq: after }));
}

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
 * stored ones upserted: docs-sql.ts) as CTEs of PG_MARKS_AND_SEQ. The CTEs touch disjoint
 * rows, and all of them run to completion whatever the outer statement reads. (PostgreSQL
 * runs such CTEs last first: the documents are written before the marks, as when they were
 * separate statements: crash.test.ts holds a mark's row lock to stop a push right there.)
 */
export const PG_COMMIT_PUSHES = pgMarksAndSeq(15, `,\n  ${PG_WRITE_DOCS_CTES}`);

/** A client's marks on conflict (SQLite): the op mark as pushed, the settled mark only ever up (a late copy of an older request carries an older one). */
function markUpdate(eb: ExpressionBuilder<OnConflictDatabase<ServerTables, "stowage_clients">, OnConflictTables<"stowage_clients">>) {
  return {
    last_op_id: eb.ref("excluded.last_op_id"),
    settled_op_id: sql<number>`max(coalesce(stowage_clients.settled_op_id, 0), coalesce(excluded.settled_op_id, 0))`,
  };
}

/** A lone push's statements (the usual case), compiled once (compiled.ts says why). */
const MARK_OF = compiledOnce(2, (db, _dialect, tenantId: string, clientId: string) =>
  db.selectFrom("stowage_clients").select("last_op_id").where("tenant_id", "=", tenantId).where("client_id", "=", clientId),
);
const MARK_ONE = compiledOnce(4, (db, _dialect, tenantId: string, clientId: string, lastOpId: number, settled: number | null) =>
  db
    .insertInto("stowage_clients")
    .values({ tenant_id: tenantId, client_id: clientId, last_op_id: lastOpId, settled_op_id: settled })
    .onConflict((oc) => oc.columns(["tenant_id", "client_id"]).doUpdateSet(markUpdate)),
);
const SET_SEQ = compiledOnce(2, (db, _dialect, seq: number, tenantId: string) => db.updateTable("stowage_tenants").set({ seq }).where("id", "=", tenantId));

/**
 * The op marks of every client in the group, in one statement. Read after the tenant's lock
 * is held and in a statement of its own: under READ COMMITTED a new statement sees every mark
 * committed before the lock was granted (a join with the locking read would not).
 */
async function loadMarks(trx: Kysely<ServerTables>, dialect: ServerDialect, tenantId: string, group: QueuedPush[]): Promise<Map<string, number>> {
  const ids = [...new Set(group.map((p) => p.req.clientId))];
  const marks = new Map<string, number>();
  if (ids.length === 1) {
    const [row] = await MARK_OF.all<{ last_op_id: number | string }>(trx, dialect, tenantId, ids[0]);
    if (row) marks.set(ids[0], num(row.last_op_id));
    return marks;
  }
  for (let i = 0; i < ids.length; i += MAX_ROWS_PER_STATEMENT) {
    const rows = await trx
      .selectFrom("stowage_clients")
      .select(["client_id", "last_op_id"])
      .where("tenant_id", "=", tenantId)
      .where("client_id", "in", ids.slice(i, i + MAX_ROWS_PER_STATEMENT))
      .execute();
    for (const r of rows) marks.set(r.client_id, num(r.last_op_id));
  }
  return marks;
}

/**
 * PostgreSQL: the tenant's lock, then the op marks of every client in the group and the stored
 * rows of every document its ops name (the ops a mark answers included: a few rows more, never
 * one less) in one statement: one branch per collection, each the document read of docs-sql.ts
 * (PG_SELECT_STATES, whose plan plans.test.ts checks). Both go with the transaction's BEGIN
 * (tx.ts). The read is a statement of its own after the lock, as loadMarks is, so it sees every
 * commit made before the lock was granted.
 */
async function pgLockAndRead(
  tx: WriteTx,
  dialect: ServerDialect,
  tenantId: string,
  group: QueuedPush[],
): Promise<{ tenant: { seq: number; purged_seq: number } | undefined; read: { marks: Map<string, number>; states: ReturnType<typeof docStates> } }> {
  const byCollection = new Map<string, Set<string>>();
  for (const { req } of group) {
    for (const op of req.ops) {
      let ids = byCollection.get(op.collection);
      if (!ids) byCollection.set(op.collection, (ids = new Set()));
      ids.add(op.id);
    }
  }
  // JSON arrays, not text[]: docs-sql.ts PG_SELECT_STATES says why (the plan is kept, not remade).
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
 * not depend on what is stored (docs-sql.ts PG_SELECT_STATES says why; plans.test.ts checks
 * it, generic and on a new empty table too), so it is marked reusable: named, it is parsed
 * once per connection, and since its arrays are JSON (docs-sql.ts says why) planned once too,
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

async function recordedResults(trx: Kysely<ServerTables>, tenantId: string, clientId: string, opIds: number[]): Promise<Map<number, OpResult>> {
  const out = new Map<number, OpResult>();
  for (let i = 0; i < opIds.length; i += MAX_ROWS_PER_STATEMENT) {
    const rows = await trx
      .selectFrom("stowage_op_results")
      .select(["op_id", "result"])
      .where("tenant_id", "=", tenantId)
      .where("client_id", "=", clientId)
      .where("op_id", "in", opIds.slice(i, i + MAX_ROWS_PER_STATEMENT))
      .execute();
    for (const r of rows) out.set(num(r.op_id), JSON.parse(r.result) as OpResult);
  }
  return out;
}
