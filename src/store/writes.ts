import { StowageError } from "../errors.ts";
import { WIRE_LIMITS } from "../protocol/wire.ts";
import { noteChanged, type ChangedIds } from "./changes.ts";
import { BATCH_ROWS, all, placeholders, run, type Executor } from "./sql.ts";
import type { OpKind } from "./types.ts";

/** Everything a write needs inside one open local transaction. */
export interface WriteContext {
  db: Executor;
  /** Server-atomic group id (store.transaction), or null for a lone write. */
  tx: number | null;
  now: number;
  /** Collections touched, for the `write` event after commit. */
  touched: Set<string>;
  ops: number;
  /** Ids written, by collection, for the `change` events after commit. */
  changed?: ChangedIds;
}

export interface NewOp {
  collection: string;
  id: string;
  op: OpKind;
  body: string | null;
  baseVersion: number | null;
}

/** Largest group pushed as one server transaction: a group must fit in one push request. */
export const MAX_TX_OPS = WIRE_LIMITS.maxOpsPerPush;

/** Writes documents (upsert, keeping the last server version seen) in multi-row statements. */
export async function upsertDocs(db: Executor, collection: string, rows: { id: string; body: string }[]): Promise<void> {
  for (let i = 0; i < rows.length; i += BATCH_ROWS) {
    const chunk = rows.slice(i, i + BATCH_ROWS);
    const params: unknown[] = [];
    for (const row of chunk) params.push(collection, row.id, row.body);
    await run(
      db,
      `insert into _stowage_docs (collection, id, body) values ${placeholders(chunk.length, 3)}
       on conflict (collection, id) do update set body = excluded.body`,
      params,
    );
  }
}

/** Appends ops to the outbox; callers run this in the same transaction as the doc change. */
export async function appendOutbox(ctx: WriteContext, ops: NewOp[]): Promise<void> {
  if (ctx.tx !== null && ctx.ops + ops.length > MAX_TX_OPS) {
    throw new StowageError("input", `a transaction may hold at most ${MAX_TX_OPS} writes; split it or use putMany`);
  }
  for (let i = 0; i < ops.length; i += BATCH_ROWS) {
    const chunk = ops.slice(i, i + BATCH_ROWS);
    const params: unknown[] = [];
    for (const op of chunk) params.push(ctx.tx, op.collection, op.id, op.op, op.body, op.baseVersion, ctx.now);
    await run(
      ctx.db,
      `insert into _stowage_outbox (tx, collection, id, op, body, base_version, created_at) values ${placeholders(chunk.length, 7)}`,
      params,
    );
  }
  ctx.ops += ops.length;
  for (const op of ops) {
    ctx.touched.add(op.collection);
    if (ctx.changed) noteChanged(ctx.changed, op.collection, op.id);
  }
}

/** Server versions last seen for `ids` (strict collections send them as baseVersion). */
export async function versionsOf(db: Executor, collection: string, ids: string[]): Promise<Map<string, number | null>> {
  const found = new Map<string, number | null>();
  for (let i = 0; i < ids.length; i += BATCH_ROWS) {
    const chunk = ids.slice(i, i + BATCH_ROWS);
    const rows = await all<{ id: string; version: number | null }>(
      db,
      `select id, version from _stowage_docs where collection = ? and id in (${chunk.map(() => "?").join(",")})`,
      [collection, ...chunk],
    );
    for (const row of rows) found.set(row.id, row.version);
  }
  return found;
}

/** The next op id the outbox will hand out; used as the id of a transaction group. */
export async function nextOpId(db: Executor): Promise<number> {
  const row = (await all<{ seq: number }>(db, "select seq from sqlite_sequence where name = '_stowage_outbox'"))[0];
  return (row?.seq ?? 0) + 1;
}
