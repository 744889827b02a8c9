import { StowageError } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { first, run } from "../../store/sql.ts";
import type { CycleContext } from "../cycle.ts";
import type { OutboxRow } from "../push.ts";
import { rebaseDocs } from "../rebase.ts";
import type { SyncIssue } from "../push.ts";
import type { SyncResult } from "../types.ts";
import { RestClient, serverIdOf } from "./client.ts";
import { resourceOf } from "./config.ts";
import { byLocal, forget, markCreateSent, setServerId } from "./id-map.ts";
import { flushRepairs, recordIssue } from "./repair.ts";

/**
 * Drains the outbox one op at a time, strictly in op id order (REST has no batch endpoint and
 * no transactions, so a `store.transaction` group reaches the API op by op). Each op leaves
 * the outbox only in the local transaction that records its answer (and the server id of a
 * create), so a crash or a lost answer means the op is sent again with the same
 * Idempotency-Key (`<clientId>-<opId>`).
 */
export async function restPush(ctx: CycleContext, result: SyncResult, client: RestClient): Promise<void> {
  await flushRepairs(ctx, client).catch((e) => {
    ctx.markOnline(e);
    throw e;
  });
  let after = 0;
  for (;;) {
    const row = await first<OutboxRow>(
      ctx.store.db,
      "select op_id, tx, collection, id, op, body, base_version from _stowage_outbox where op_id > ? order by op_id limit 1",
      [after],
    );
    if (!row) return;
    after = row.op_id;
    ctx.setState("pushing");
    try {
      await pushOne(ctx, client, row, result);
      ctx.markOnline(null);
    } catch (e) {
      ctx.markOnline(e);
      if (refusesOp(e)) {
        await reject(ctx, row, e, result);
        continue;
      }
      throw e;
    }
  }
}

async function pushOne(ctx: CycleContext, client: RestClient, row: OutboxRow, result: SyncResult): Promise<void> {
  const c = client.config;
  const db = ctx.store.db;
  const resource = resourceOf(c, row.collection);
  if (!resource) throw new StowageError("rejected", `no REST resource is configured for collection ${row.collection}`);
  const mapped = await byLocal(db, row.collection, row.id);
  const key = `${ctx.store.clientId}-${row.op_id}`;
  const done = async (serverId: string | null) => {
    await db.transaction().execute(async (trx) => {
      await run(trx, "delete from _stowage_outbox where op_id = ?", [row.op_id]);
      if (serverId !== null) await setServerId(trx, row.collection, row.id, serverId);
    });
    result.pushed++;
  };

  if (row.op === "delete") {
    // Never reached the server (no create sent): nothing to delete there.
    if (!mapped?.server_id) {
      if (mapped) await forget(db, row.collection, row.id);
      ctx.trace("push:skip-delete");
      return done(null);
    }
    await ctx.renewLease();
    await client.request("DELETE", `${resource}/${encodeURIComponent(mapped.server_id)}`, { allow404: true, idempotencyKey: key });
    ctx.trace("push:delete");
    return done(null);
  }

  if (!mapped) {
    // A create followed by a delete, neither sent yet: cancel both (and everything between).
    const del = await first<{ op_id: number }>(
      db,
      "select op_id from _stowage_outbox where collection = ? and id = ? and op = 'delete' and op_id > ? order by op_id limit 1",
      [row.collection, row.id, row.op_id],
    );
    if (del) {
      const n = await run(db, "delete from _stowage_outbox where collection = ? and id = ? and op_id <= ?", [row.collection, row.id, del.op_id]);
      ctx.trace(`push:cancel:${n}`);
      return;
    }
  }

  // The document as it is now locally: what PUT sends for a patch, and what a create sends.
  let doc: JsonObject | null;
  if (row.op === "put") doc = { ...(JSON.parse(row.body ?? "{}") as JsonObject), id: row.id };
  else {
    const local = await first<{ body: string }>(db, "select body from _stowage_docs where collection = ? and id = ?", [row.collection, row.id]);
    doc = local ? (JSON.parse(local.body) as JsonObject) : null;
    if (!doc) {
      ctx.trace("push:skip-patch"); // deleted locally since; the delete op follows
      return done(null);
    }
  }
  const body = c.toServer(doc, row.collection);
  if (c.localIdField) body[c.localIdField] = row.id;

  const create = async (idempotencyKey: string) => {
    await markCreateSent(db, row.collection, row.id);
    await ctx.renewLease();
    const answer = await client.request("POST", resource, { body, idempotencyKey, allow404: true });
    // No such route: the config is wrong, not the op; it stays queued.
    if (answer.status === 404) throw new StowageError("config", `POST ${c.baseUrl}${resource} answered 404: check the resource path for ${row.collection}`);
    const serverId = serverIdOf(c, answer.body);
    if (serverId === null) throw new StowageError("protocol", `POST ${resource}: the answer has no ${c.idField}: ${JSON.stringify(answer.body)?.slice(0, 120)}`);
    ctx.trace("push:create");
    return done(serverId);
  };
  if (!mapped?.server_id) return create(key);
  await ctx.renewLease();
  const path = `${resource}/${encodeURIComponent(mapped.server_id)}`;
  const sent = c.updateMethod === "PATCH" && row.op === "patch" ? (JSON.parse(row.body ?? "{}") as JsonObject) : body;
  const answer = await client.request(c.updateMethod, path, { body: sent, idempotencyKey: key, allow404: true });
  if (answer.status === 404) {
    // Deleted on the server meanwhile. A put creates or replaces (as with protocol v1): create
    // it again, under a key of its own (the update's key has its 404 stored). A patch has
    // nothing to apply to: refused.
    if (row.op !== "put") throw new StowageError("rejected", `${c.updateMethod} ${path} answered 404: the item was deleted on the server`, { status: 404 });
    await forget(db, row.collection, row.id);
    return create(`${key}-create`);
  }
  ctx.trace("push:update");
  return done(null);
}

/**
 * Statuses that refuse this op's content for good (record it, drop it, go on). Anything else
 * (401/403 bad key, 404 on a create = wrong path, 405…) is about the setup, not the op: the
 * op stays queued and the cycle fails, as with protocol v1, so a bad key never drops writes.
 */
function refusesOp(e: unknown): e is StowageError {
  return e instanceof StowageError && (e.code === "rejected" || e.code === "conflict") && [400, 404, 409, 410, 413, 422].includes(e.status ?? 0);
}

/** The API refused the op for good: record it, drop it, and take the server's side. */
async function reject(ctx: CycleContext, row: OutboxRow, error: StowageError, result: SyncResult): Promise<void> {
  const issue: SyncIssue = {
    kind: "rejected",
    opId: row.op_id,
    collection: row.collection,
    id: row.id,
    op: row.op,
    value: row.body === null ? null : (JSON.parse(row.body) as JsonObject),
    serverValue: null,
    serverVersion: null,
    message: error.message,
  };
  await ctx.store.db.transaction().execute(async (trx) => {
    await run(trx, "delete from _stowage_outbox where op_id = ?", [row.op_id]);
    await recordIssue(trx, ctx.store.now(), issue);
    const mapped = await byLocal(trx, row.collection, row.id);
    if (mapped && mapped.server_id === null) await forget(trx, row.collection, row.id);
    // Gone on the server (404 on update): the local copy goes too, pending ops folded on top.
    if (error.status === 404) await rebaseDocs(trx, [{ collection: row.collection, id: row.id, value: null, version: null }]);
  });
  ctx.trace("push:rejected");
  result.issues.push(issue);
  ctx.emitIssue(issue);
}
