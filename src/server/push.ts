import type { Transaction } from "kysely";
import type { ErrorInfo, OpResult, PushRequest, PushResponse } from "../protocol/wire.ts";
import { applyOps, type WriteOp } from "./apply.ts";
import { lockTenant, MAX_ROWS_PER_STATEMENT, unstorableJson, type SqlFamily } from "./dialect-sql.ts";
import { num, type ServerTables } from "./schema.ts";
import type { ServerStore } from "./store.ts";
import type { StowageErrorIssue } from "../errors.ts";
import type { RuleRunner } from "./rules.ts";

/** Push limits the server enforces beyond the zod schema. */
export interface PushLimits {
  /** Largest JSON text of one value, in characters. */
  maxValueChars: number;
  /** Deepest nesting of a value. */
  maxValueDepth: number;
}

/**
 * The checks zod cannot express: op ids strictly increasing, `tx` groups contiguous, values
 * within size and depth, `id` fields matching. Any issue refuses the whole request (400).
 */
export function checkPush(req: PushRequest, limits: PushLimits, family: SqlFamily = "sqlite"): StowageErrorIssue[] {
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
      const problem = checkValue(op.value, op.id, limits, family);
      if (problem) issues.push({ path: ["ops", i, "value"], message: problem });
    }
    if (issues.length >= 20) break;
  }
  return issues;
}

/** Why a document value (or patch) is refused, or undefined when it is fine. */
export function checkValue(value: Record<string, unknown>, id: string, limits: PushLimits, family: SqlFamily = "sqlite"): string | undefined {
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
  if (json.length > limits.maxValueChars) return `value is ${json.length} characters of JSON; the limit is ${limits.maxValueChars}`;
  // What this store cannot keep (PostgreSQL jsonb: U+0000, lone surrogates) is a 400, not a 500.
  return unstorableJson(family, json);
}

/**
 * Applies a validated push in one transaction: ops at or below the client's recorded mark are
 * answered from the record (duplicate, or the stored conflict/rejected result), the rest are
 * applied, and the new mark is written in the same transaction as their effects.
 */
export async function push(store: ServerStore, tenantId: string, req: PushRequest, limits: PushLimits, now: number, rules?: RuleRunner): Promise<PushResponse> {
  return (await pushWithSeq(store, tenantId, req, limits, now, rules)).response;
}

/** push(), also answering the tenant's seq after the commit when the push moved it (live pokes publish it). */
export async function pushWithSeq(store: ServerStore, tenantId: string, req: PushRequest, limits: PushLimits, now: number, rules?: RuleRunner): Promise<{ response: PushResponse; seq?: number }> {
  return store.db.transaction().execute(async (trx) => {
    const tenant = await lockTenant(trx, store.family, tenantId);
    if (!tenant) throw new Error(`tenant ${tenantId} vanished during a push`);
    const markRow = await trx
      .selectFrom("stowage_clients")
      .select("last_op_id")
      .where("tenant_id", "=", tenantId)
      .where("client_id", "=", req.clientId)
      .executeTakeFirst();
    const mark = num(markRow?.last_op_id);
    const fresh = req.ops.filter((op) => op.opId > mark);
    const seen = req.ops.length - fresh.length;
    const results: OpResult[] = [];
    if (seen > 0) {
      const recorded = await recordedResults(trx, tenantId, req.clientId, req.ops.slice(0, seen).map((o) => o.opId));
      for (const op of req.ops.slice(0, seen)) results.push(recorded.get(op.opId) ?? { opId: op.opId, status: "duplicate" });
    }
    if (fresh.length === 0) return { response: { results, lastOpId: mark } };

    const writes: WriteOp[] = fresh.map((op) => ({
      opId: op.opId,
      tx: op.tx,
      collection: op.collection,
      id: op.id,
      op: op.op,
      value: op.op === "delete" ? undefined : op.value,
      baseVersion: op.baseVersion,
    }));
    const { outcomes, seq } = await applyOps(trx, { tenantId, seq: tenant.seq, writer: req.clientId, now, maxValueChars: limits.maxValueChars, rules }, writes);
    const refusals: { tenant_id: string; client_id: string; op_id: number; result: string; created_at: number }[] = [];
    for (let i = 0; i < fresh.length; i++) {
      const o = outcomes[i];
      const result: OpResult = { opId: fresh[i].opId, status: o.status };
      if (o.version !== undefined) result.version = o.version;
      if (o.status === "conflict") result.value = o.value ?? null;
      if (o.error) result.error = o.error as ErrorInfo;
      results.push(result);
      if (o.status !== "applied") {
        refusals.push({ tenant_id: tenantId, client_id: req.clientId, op_id: result.opId, result: JSON.stringify(result), created_at: now });
      }
    }
    for (let i = 0; i < refusals.length; i += MAX_ROWS_PER_STATEMENT) {
      await trx
        .insertInto("stowage_op_results")
        .values(refusals.slice(i, i + MAX_ROWS_PER_STATEMENT))
        .onConflict((oc) => oc.columns(["tenant_id", "client_id", "op_id"]).doNothing())
        .execute();
    }
    const lastOpId = fresh[fresh.length - 1].opId;
    await trx
      .insertInto("stowage_clients")
      .values({ tenant_id: tenantId, client_id: req.clientId, last_op_id: lastOpId })
      .onConflict((oc) => oc.columns(["tenant_id", "client_id"]).doUpdateSet({ last_op_id: lastOpId }))
      .execute();
    if (seq !== tenant.seq) await trx.updateTable("stowage_tenants").set({ seq }).where("id", "=", tenantId).execute();
    return { response: { results, lastOpId }, seq: seq !== tenant.seq ? seq : undefined };
  });
}

async function recordedResults(trx: Transaction<ServerTables>, tenantId: string, clientId: string, opIds: number[]): Promise<Map<number, OpResult>> {
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
