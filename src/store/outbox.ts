import { all, first, INTEGER_PARAM, run, type Executor } from "./sql.ts";

/**
 * The outbox as transports read and settle it (store/writes.ts adds to it). An entry leaves
 * only in the local transaction that records the server's answer for it.
 */

/** An outbox entry as read for pushing. */
export interface OutboxRow {
  op_id: number;
  tx: number | null;
  collection: string;
  id: string;
  op: string;
  body: string | null;
  base_version: number | null;
}

const COLS = "op_id, tx, collection, id, op, body, base_version";

/** The oldest `limit` entries after `afterOpId`, in op id order. */
export function outboxAfter(db: Executor, afterOpId: number, limit: number): Promise<OutboxRow[]> {
  return all<OutboxRow>(db, `select ${COLS} from _stowage_outbox where op_id > ? order by op_id limit ${INTEGER_PARAM}`, [afterOpId, limit]);
}

/** The rest of group `tx` after `afterOpId`, in op id order. */
export function outboxGroupAfter(db: Executor, tx: number, afterOpId: number): Promise<OutboxRow[]> {
  return all<OutboxRow>(db, `select ${COLS} from _stowage_outbox where tx = ? and op_id > ? order by op_id`, [tx, afterOpId]);
}

/** The oldest entry after `afterOpId`, if any. */
export function nextOutboxEntry(db: Executor, afterOpId: number): Promise<OutboxRow | undefined> {
  return first<OutboxRow>(db, `select ${COLS} from _stowage_outbox where op_id > ? order by op_id limit 1`, [afterOpId]);
}

/** Removes every entry up to `lastOpId` (a settled batch: the outbox's oldest entries). */
export async function removeOutboxThrough(trx: Executor, lastOpId: number): Promise<void> {
  await run(trx, "delete from _stowage_outbox where op_id <= ?", [lastOpId]);
}

/** Removes one entry. */
export async function removeOutboxEntry(trx: Executor, opId: number): Promise<void> {
  await run(trx, "delete from _stowage_outbox where op_id = ?", [opId]);
}

/** The first pending delete of a document after `afterOpId`. */
export function nextDeleteOf(db: Executor, collection: string, id: string, afterOpId: number): Promise<{ op_id: number } | undefined> {
  return first<{ op_id: number }>(
    db,
    "select op_id from _stowage_outbox where collection = ? and id = ? and op = 'delete' and op_id > ? order by op_id limit 1",
    [collection, id, afterOpId],
  );
}

/** Removes a document's entries up to `opId`; answers how many. */
export function removeDocOpsThrough(db: Executor, collection: string, id: string, opId: number): Promise<number> {
  return run(db, "delete from _stowage_outbox where collection = ? and id = ? and op_id <= ?", [collection, id, opId]);
}

/** A document's entries from `opId` on. */
export function docOpsFrom(db: Executor, collection: string, id: string, opId: number): Promise<{ op_id: number }[]> {
  return all<{ op_id: number }>(db, "select op_id from _stowage_outbox where collection = ? and id = ? and op_id >= ?", [collection, id, opId]);
}

/** Removes a document's entries from `opId` on. */
export async function removeDocOpsFrom(db: Executor, collection: string, id: string, opId: number): Promise<void> {
  await run(db, "delete from _stowage_outbox where collection = ? and id = ? and op_id >= ?", [collection, id, opId]);
}

/** Queues a lone put of a document's stored text (no group, not strict). */
export async function queuePut(db: Executor, collection: string, id: string, body: string, now: number): Promise<void> {
  await run(db, "insert into _stowage_outbox (tx, collection, id, op, body, base_version, created_at) values (null, ?, ?, 'put', ?, null, ?)", [collection, id, body, now]);
}
