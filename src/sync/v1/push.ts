import { StowageError } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { WIRE_LIMITS, type OpResult } from "../../protocol/wire.ts";
import type { Executor } from "../../store/sql.ts";
import type { Store } from "../../store/store.ts";
import { formatCursor } from "../../protocol/cursor.ts";
import type { HttpClient } from "./http.ts";
import type { ServerDoc } from "../../store/rebase.ts";
import { noteOwnTop } from "../../store/own-top.ts";
import { markForRefresh } from "../../store/refresh-records.ts";
import { recordConflict } from "../../store/conflicts.ts";
import { outboxAfter, outboxGroupAfter, removeOutboxThrough, type OutboxRow } from "../../store/outbox.ts";
import { recordVersions } from "../../store/server-docs.ts";
import { moveCursor } from "../../store/sync-meta.ts";
import { settleIssues } from "./settle-issues.ts";
import { pageOf, type ParsedPage } from "./pull.ts";
import type { SyncIssue } from "../types.ts";

/**
 * Ops per push request: the protocol's most (a local transaction holds no more, so a group
 * always fits). 500 cost a 50,000-op bulk push 13% more: the per-request work (a round trip,
 * the server's transaction and commit) counted twice as often.
 */
export const PUSH_BATCH_OPS = WIRE_LIMITS.maxOpsPerPush;
/** Keep requests well under the server's 4 MiB body limit. */
const PUSH_BATCH_BYTES = 3 * 1024 * 1024;

/** An outbox entry as read for pushing (the store's, store/outbox.ts). */
export type { OutboxRow };

/** What one push batch did. */
export interface BatchResult {
  /** Ops sent (0 when the outbox was empty). */
  sent: number;
  /** Ops the server applied now. */
  applied: number;
  /** Ops the server had already applied (an earlier answer was lost). */
  duplicate: number;
  /** Conflicts and rejections, recorded in the store (store/conflicts.ts). */
  issues: SyncIssue[];
}

/** A batch read from the outbox and serialized, ready to send. */
export interface PreparedBatch {
  /** The outbox rows, in op id order. */
  rows: OutboxRow[];
  /** The client id, JSON-quoted. */
  client: string;
  /** The `ops` array, serialized. */
  ops: string;
  /** Highest op id in the batch. */
  lastOpId: number;
}

/**
 * The answer to one push request: results (and the pull page after `pulledFrom`, when the
 * push asked for one and the server sent it), or the failure (never a rejected promise).
 */
export type PushOutcome = { ok: true; results: OpResult[]; asSent?: boolean; page?: ParsedPage; pulledFrom?: string } | { ok: false; error: unknown };

/**
 * The oldest outbox entries after `afterOpId` (≤ PUSH_BATCH_OPS ops, whole `tx` groups only),
 * serialized; null when there are none. `isolate` takes the first group alone (after a
 * whole-batch 400, to find the bad op).
 */
export async function prepareBatch(store: Store, afterOpId: number, isolate: boolean): Promise<PreparedBatch | null> {
  const rows = await readBatch(store, afterOpId, isolate);
  if (rows.length === 0) return null;
  return { rows, client: JSON.stringify(store.clientId), ops: serializeOps(rows), lastOpId: rows[rows.length - 1].op_id };
}

/**
 * Sends a batch; the promise never rejects, so a pipelined request cannot go unhandled.
 * `settled`: every op id at or below it has its answer recorded locally (it left the outbox),
 * so the server may forget those ops' recorded refusals (gc.ts); ops above it may still be resent.
 */
export function sendBatch(http: HttpClient, batch: PreparedBatch, settled: number, pull?: { cursor: string; limit: number; subs?: string }): Promise<PushOutcome> {
  const body = `{"clientId":${batch.client},"settled":${Math.max(0, settled)},"ops":${batch.ops}}`;
  return http.push(body, pull).then(
    (response): PushOutcome => {
      if (response.results.length !== batch.rows.length) {
        return { ok: false, error: new StowageError("protocol", `push: sent ${batch.rows.length} ops, the server answered ${response.results.length} results`) };
      }
      const page = pull && response.pull !== undefined ? pageOrNull(response.pull) : null;
      const asSent = response.asSent === true;
      return page ? { ok: true, results: response.results, asSent, page, pulledFrom: pull!.cursor } : { ok: true, results: response.results, asSent };
    },
    (error): PushOutcome => ({ ok: false, error }),
  );
}

/** The pull page a push answer carried, or null when it does not check out (the cycle's own pull then fetches it). */
function pageOrNull(body: unknown): ParsedPage | null {
  try {
    return pageOf(body as Parameters<typeof pageOf>[0]);
  } catch {
    return null;
  }
}

/** A whole-request 400/413: the request as sent can never be accepted. */
export function isRefusedWhole(error: unknown): error is StowageError {
  return error instanceof StowageError && error.code === "rejected" && (error.status === 400 || error.status === 413);
}

/**
 * A whole-request 403: these credentials may not write (a read-scope key, a downgraded scope).
 * Every op of the request is refused for the same reason, whatever it holds, so the batch is
 * recorded as rejected at once (no isolating), and the cycle goes on to pull (guarantee 12).
 */
export function isForbiddenWhole(error: unknown): error is StowageError {
  return error instanceof StowageError && error.code === "rejected" && error.status === 403;
}

/** Results that reject every op of a batch the server refused whole (a lone group after a 400, every op after a 403). */
export function rejectAll(batch: PreparedBatch, error: StowageError): OpResult[] {
  const code = error.status === 403 ? "forbidden" : "invalid";
  return batch.rows.map((r) => ({ opId: r.op_id, status: "rejected", error: { code, message: error.message } }));
}

async function readBatch(store: Store, afterOpId: number, isolate: boolean): Promise<OutboxRow[]> {
  let rows = await outboxAfter(store.db, afterOpId, isolate ? 1 : PUSH_BATCH_OPS);
  if (rows.length === 0) return rows;
  const last = rows[rows.length - 1];
  if (last.tx !== null) {
    // Complete the last group, then drop it again if it does not fit beside earlier ops.
    const rest = await outboxGroupAfter(store.db, last.tx, last.op_id);
    rows = rows.concat(rest);
    if (rows.length > PUSH_BATCH_OPS) {
      const start = rows.findIndex((r) => r.tx === last.tx);
      if (start > 0) rows = rows.slice(0, start);
    }
  }
  // Byte cap: stop before the group that would pass it (the first group always goes).
  let bytes = 0;
  for (let i = 0; i < rows.length; i++) {
    bytes += (rows[i].body?.length ?? 0) + 120;
    if (bytes > PUSH_BATCH_BYTES && i > 0) {
      let cut = i;
      const tx = rows[i].tx;
      if (tx !== null) while (cut > 0 && rows[cut - 1].tx === tx) cut--;
      if (cut > 0) return rows.slice(0, cut);
    }
  }
  return rows;
}

/** Serializes the ops around the stored JSON text, without parsing it. */
function serializeOps(rows: OutboxRow[]): string {
  const ops = new Array<string>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    let s = `{"opId":${r.op_id},"collection":"${r.collection}","id":${JSON.stringify(r.id)},"op":"${r.op}"`;
    if (r.tx !== null) s += `,"tx":${r.tx}`;
    if (r.body !== null && r.op !== "delete") s += `,"value":${r.body}`;
    // 0 marks "strict, no document expected" locally; null means not strict.
    if (r.base_version !== null) s += `,"baseVersion":${r.base_version === 0 ? "null" : r.base_version}`;
    ops[i] = `${s}}`;
  }
  return `[${ops.join(",")}]`;
}

/**
 * Applies the server's answers in one local transaction: the batch's entries leave the outbox
 * (only now that the server has answered for them), conflicts and rejections are recorded.
 * `then` runs last inside that transaction (the pull page the push brought, cycle.ts).
 * `asSent`: the answer said so; with a span of our own (ownSpan) the cursor skips it.
 */
export async function settleBatch(
  store: Store,
  batch: PreparedBatch,
  results: OpResult[],
  then?: (trx: Executor) => Promise<void>,
  asSent = false,
): Promise<BatchResult> {
  const rows = batch.rows;
  const out: BatchResult = { sent: rows.length, applied: 0, duplicate: 0, issues: [] };
  /** `collection\u0000id` → the version the server gave our latest write of it. */
  const versions = new Map<string, { collection: string; id: string; version: number }>();
  const serverDocs: (ServerDoc & { at: number })[] = [];
  const duplicates: { collection: string; id: string }[] = [];
  let ownTop = 0;
  const now = store.now();
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i];
    const res = results[i];
    if (res.opId !== row.op_id) throw new StowageError("protocol", `push: result ${i} is for op ${res.opId}, expected ${row.op_id}`);
    if (res.status === "applied") {
      out.applied++;
      // Record the version the server gave our write. Strict collections need it for their
      // next write's base. For a put it also lets the pull that brings our own write back
      // skip the document (pull.ts: same version and the same text, no write): the server
      // stores a put's value as sent, so the texts match unless it changed the value. A
      // patch's server result may differ from our merge, so its version waits for the pull.
      // (The update runs while the next batch's request is in flight, see cycle.ts.)
      if (typeof res.version === "number" && res.version > ownTop) ownTop = res.version;
      if (typeof res.version === "number" && (row.base_version !== null || row.op === "put")) {
        versions.set(`${row.collection}\u0000${row.id}`, { collection: row.collection, id: row.id, version: res.version });
      }
    } else if (res.status === "duplicate") {
      out.duplicate++;
      // Applied by a request whose answer was lost, at a version we do not know: a pull
      // since then may have held back a later server change of this document behind the
      // pending op (a pending edit wins locally), and nothing will bring that change again.
      duplicates.push({ collection: row.collection, id: row.id });
    } else if (res.status === "conflict" || res.status === "rejected") {
      const serverValue = res.value ?? null;
      const serverVersion = res.version ?? null;
      out.issues.push({
        kind: res.status,
        opId: row.op_id,
        collection: row.collection,
        id: row.id,
        op: row.op,
        value: row.body === null ? null : (JSON.parse(row.body) as JsonObject),
        serverValue,
        serverVersion,
        message: res.error ? `${res.error.code}: ${res.error.message}` : res.status,
      });
      if (res.status === "conflict") serverDocs.push({ collection: row.collection, id: row.id, value: serverValue, version: serverVersion, at: i });
    } else {
      throw new StowageError("protocol", `push: unknown op status ${JSON.stringify(res.status)}`);
    }
  }
  await store.db.transaction().execute(async (trx) => {
    // The batch is the outbox's oldest entries and op ids only grow, so this is exactly the batch.
    await removeOutboxThrough(trx, batch.lastOpId);
    await recordVersions(trx, versions);
    for (const issue of out.issues) await recordConflict(trx, now, issue);
    if (out.issues.length) await settleIssues(trx, out.issues, currentConflicts(rows, results, serverDocs));
    if (duplicates.length) await markForRefresh(trx, duplicates);
    if (ownTop > 0) await noteOwnTop(trx, ownTop);
    const span = asSent && !then ? ownSpan(results) : null;
    if (span) await moveCursor(trx, formatCursor(span.lo), formatCursor(span.hi));
    await then?.(trx);
  });
  return out;
}

/**
 * The sequence numbers an answer's applied ops took, when they are exactly lo+1 … hi: no
 * other change can hold one of those numbers, so every change in (lo, hi] is ours, and with
 * `asSent` the store already holds each as a pull would bring it (or a later pending write of
 * it, which a pull keeps). The cursor then moves from v1.<lo> to v1.<hi> in the settle, only
 * from exactly there (docs/PROTOCOL.md, "Not pulling back your own writes"): a bulk push no
 * longer pulls its own writes back.
 */
export function ownSpan(results: OpResult[]): { lo: number; hi: number } | null {
  const seen = new Set<number>();
  let lo = Infinity;
  let hi = 0;
  for (const r of results) {
    if (r.status !== "applied" || typeof r.version !== "number") continue;
    seen.add(r.version);
    if (r.version < lo) lo = r.version;
    if (r.version > hi) hi = r.version;
  }
  return seen.size > 0 && hi - lo + 1 === seen.size ? { lo: lo - 1, hi } : null;
}

/**
 * The conflicts whose server value is still the document's server state once the batch is
 * answered: a later op of the same batch on the same document that was applied (or conflicted
 * again) made the server state newer than that value, and writing it would take the document
 * back (chaos found it: a stale patch refused, the put after it applied, the put's value
 * replaced by the older one until the next pull). The pull brings the newer state.
 */
function currentConflicts(rows: OutboxRow[], results: OpResult[], conflicts: (ServerDoc & { at: number })[]): ServerDoc[] {
  return conflicts.filter((c) => {
    for (let j = c.at + 1; j < rows.length; j++) {
      if (rows[j].collection !== c.collection || rows[j].id !== c.id) continue;
      const status = results[j].status;
      if (status === "applied" || status === "duplicate" || status === "conflict") return false;
    }
    return true;
  });
}
