import type { Kysely } from "kysely";
import type { ErrorInfo, OpResult, PushRequest, PushResponse } from "../protocol/wire.ts";
import { applyOps, noteValueJson, storableJson, type WriteOp, type WrittenDoc } from "./apply.ts";
import { commitChanges } from "./events/changes.ts";
import { enqueuePush, type PushAnswer, type QueuedPush } from "./push-group.ts";
import { MAX_ROWS_PER_STATEMENT } from "./dialect-sql.ts";
import type { ServerDialect } from "./sql/dialect.ts";
import { SQLITE } from "./sql/sqlite.ts";
import { num, type ServerTables } from "./tables.ts";
import { compiledOnce } from "./compiled.ts";
import { HttpError } from "./http.ts";
import type { ServerStore } from "./store.ts";
import { writeTransaction } from "./tx.ts";
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
  const texts = new Array<string | undefined>(req.ops.length);
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
      const { problem, json } = inspectValue(op.value, op.id, limits, dialect);
      if (problem) issues.push({ path: ["ops", i, "value"], message: problem });
      else texts[i] = storableJson(op.value, json!);
    }
    if (issues.length >= 20) break;
  }
  if (issues.length === 0) opTexts.set(req, texts);
  return issues;
}

/**
 * The JSON text of each op's value of a checked push, by op index (what checkPush wrote to
 * measure them): the transaction stores a put's text as is. One entry per request, where a
 * map per value cost 0.2-0.5 ms of a 1,000-op push (a WeakMap set and get per op).
 */
const opTexts = new WeakMap<PushRequest, (string | undefined)[]>();

/** Why a document value (or patch) is refused, or undefined when it is fine. */
export function checkValue(value: Record<string, unknown>, id: string, limits: PushLimits, dialect: ServerDialect = SQLITE): string | undefined {
  const { problem, json } = inspectValue(value, id, limits, dialect);
  if (json !== undefined) noteValueJson(value, json);
  return problem;
}

/** checkValue's verdict, with the value's JSON text once it was written. */
function inspectValue(value: Record<string, unknown>, id: string, limits: PushLimits, dialect: ServerDialect): { problem?: string; json?: string } {
  if ("id" in value && value.id !== id) return { problem: `value.id ${JSON.stringify(value.id)?.slice(0, 80)} does not match the document id ${JSON.stringify(id)}` };
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (depth > limits.maxValueDepth) return { problem: `value is nested deeper than ${limits.maxValueDepth} levels` };
    if (v === null || typeof v !== "object") continue;
    for (const k in v) {
      // JSON.parse makes `__proto__` an own key, but merging it would set a prototype instead.
      if (k === "__proto__") return { problem: "value has a field named __proto__, which is not allowed" };
      const child = (v as Record<string, unknown>)[k];
      if (child !== null && typeof child === "object") stack.push([child, depth + 1]);
    }
  }
  const json = JSON.stringify(value);
  if (json.length > limits.maxValueChars) return { problem: `value is ${json.length} characters of JSON; the limit is ${limits.maxValueChars}`, json };
  // What this store cannot keep (PostgreSQL jsonb: U+0000, lone surrogates) is a 400, not a 500.
  return { problem: dialect.unstorableJson(json), json };
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
    // The tenant's lock; PostgreSQL also reads the marks and every document the group touches, in one round trip.
    const { tenant, read } = await store.dialect.lockAndRead(tx, tenantId, group);
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
      // Op ids increase (checkPush), so `mine` is the ops from index `seen` on.
      const texts = opTexts.get(req);
      const answered: OpResult[] = [];
      if (seen > 0) {
        const recorded = await recordedResults(trx, tenantId, req.clientId, req.ops.slice(0, seen).map((o) => o.opId));
        for (const op of req.ops.slice(0, seen)) answered.push(recorded.get(op.opId) ?? { opId: op.opId, status: "duplicate" });
      }
      fresh.push(mine);
      results.push(answered);
      // `tx` numbers are the client's own: renumber them so two pushes' groups never merge.
      let lastTx: number | undefined;
      for (let j = 0; j < mine.length; j++) {
        const op = mine[j];
        if (op.tx !== undefined && op.tx !== lastTx) txGroup++;
        lastTx = op.tx;
        writes.push({
          opId: op.opId,
          tx: op.tx === undefined ? undefined : txGroup,
          collection: op.collection,
          id: op.id,
          op: op.op,
          value: op.op === "delete" ? undefined : op.value,
          json: op.op === "put" ? texts?.[seen + j] : undefined,
          baseVersion: op.baseVersion,
          writer: req.clientId,
          rules,
        });
      }
    }
    const limits = group[0].limits;
    // The documents are written with the marks and the counter, below (the dialect's commitPush).
    const { outcomes, seq, written, rows } = writes.length
      ? await applyOps(trx, { tenantId, seq: tenant.seq, writer: null, now, maxValueChars: limits.maxValueChars, dialect: store.dialect, deferWrites: true, states: read?.states, moves: movesOf(store) }, writes)
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
    // The dialect writes the documents, the client marks and the counter (PostgreSQL: in one
    // statement sent with the COMMIT; SQLite: one statement each).
    await store.dialect.commitPush(tx, { tenantId, now, tenantSeq: tenant.seq, seq, moved, rows: rows ?? [] });
    for (const r of rows ?? []) if (!r.stored) added++;
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

/** A lone push's mark read (the usual case), compiled once (compiled.ts says why). */
const MARK_OF = compiledOnce(2, (db, _dialect, tenantId: string, clientId: string) =>
  db.selectFrom("stowage_clients").select("last_op_id").where("tenant_id", "=", tenantId).where("client_id", "=", clientId),
);

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
