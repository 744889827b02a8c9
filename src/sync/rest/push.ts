import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { nextDeleteOf, nextOutboxEntry, removeDocOpsThrough, removeOutboxEntry } from "../../store/outbox.ts";
import { localBody } from "../../store/server-docs.ts";
import type { CycleContext } from "../transport.ts";
import type { OutboxRow } from "../../store/outbox.ts";
import type { SyncResult } from "../types.ts";
import { RestClient, compareServerIds, serverIdOf } from "./client.ts";
import { readFeed } from "./feed.ts";
import { resourceOf } from "./config.ts";
import { getOne } from "./get-one.ts";
import { DELETED, NO_ID, byLocal, forget, markCreateSent, markDeleted, markNoId, setServerId } from "../../store/id-map.ts";
import { settleRefusal } from "./refusal.ts";
import { flushRepairs } from "./repair.ts";
import { fillBody, fillPath } from "./template.ts";

/**
 * Drains the outbox one op at a time, strictly in op id order (REST has no batch endpoint and
 * no transactions, so a `store.transaction` group reaches the API op by op). Each op leaves
 * the outbox only in the local transaction that records its answer (and the server id of a
 * create), so a crash or a lost answer means the op is sent again with the same
 * Idempotency-Key (`<clientId>-<opId>`). Routes and bodies come from the config's mapping.
 */
export async function restPush(ctx: CycleContext, result: SyncResult, client: RestClient): Promise<void> {
  await flushRepairs(ctx, client).catch((e) => {
    ctx.markOnline(e);
    throw e;
  });
  let after = 0;
  for (;;) {
    const row = await nextOutboxEntry(ctx.store.db, after);
    if (!row) return;
    after = row.op_id;
    ctx.setState("pushing");
    try {
      await pushOne(ctx, client, row, result);
      ctx.markOnline(null);
    } catch (e) {
      ctx.markOnline(e);
      throw e;
    }
  }
}

/**
 * A 4xx that refuses this op's content. Not: 401/407 (the key: the op stays queued, as with
 * protocol v1, so a bad key never drops writes), 408/429 (transport), 404/405 (the route:
 * handled per operation).
 */
function refusal(e: unknown): StowageError | null {
  if (!(e instanceof StowageError) || (e.code !== "rejected" && e.code !== "conflict")) return null;
  const s = e.status ?? 0;
  return s >= 400 && s < 500 && ![401, 404, 405, 407, 408, 429].includes(s) ? e : null;
}

function routeError(method: string, path: string, status: number, key: string): StowageError {
  return new StowageError("config", `${method} ${path} answered ${status}: no such route; check ${key} in the rest config`, { status });
}

async function pushOne(ctx: CycleContext, client: RestClient, row: OutboxRow, result: SyncResult, keySuffix = ""): Promise<void> {
  const c = client.config;
  const db = ctx.store.db;
  const resource = resourceOf(c, row.collection);
  if (!resource) throw new StowageError("config", `no REST resource is configured for collection ${describeValue(row.collection)}`);
  const row0 = await byLocal(db, row.collection, row.id);
  // Deleted through this client earlier: for this op the document has no server item.
  const mapped = row0?.seen === DELETED ? undefined : row0;
  // A retry against another item needs a key of its own (the first one's 404 may be stored).
  const key = `${ctx.store.clientId}-${row.op_id}${keySuffix}`;
  const done = async (serverId: string | null) => {
    await db.transaction().execute(async (trx) => {
      await removeOutboxEntry(trx, row.op_id);
      if (serverId !== null) await setServerId(trx, row.collection, row.id, serverId);
      // A later put of the same local id is a new item; the old id stays known (store/id-map.ts DELETED).
      else if (row.op === "delete") await markDeleted(trx, row.collection, row.id);
    });
    result.pushed++;
  };
  /** A refused update or delete: the document returns to the API's state (read back), or follows it if gone. */
  const refusedOnItem = async (e: StowageError, serverId: string) => {
    const server = await getOne(client, resource, serverId);
    await settleRefusal(ctx, result, row, server
      ? { kind: "rejected", message: e.message, serverValue: c.fromServer(server, row.collection), status: e.status }
      : { kind: "gone", message: `${e.message}; the item is gone from the API`, serverValue: null, status: e.status });
  };

  if (row.op === "delete") {
    // Never reached the server (no create sent): nothing to delete there.
    if (!mapped?.server_id) {
      // A create whose answer was lost may have landed: keep the row, marked, so a pull that finds it deletes it.
      if (row0) await markDeleted(db, row.collection, row.id);
      ctx.trace("push:skip-delete");
      return done(null);
    }
    await ctx.renewLease();
    const op = c.delete;
    const path = fillPath(op.path, { resource, serverId: mapped.server_id, localId: row.id });
    try {
      const body = op.body === null ? undefined : fillBody(op.body, { resource, serverId: mapped.server_id, localId: row.id, doc: {} });
      const answer = await client.request(op.method, path, { body, allow404: true, idempotencyKey: key });
      if (answer.status === 404) {
        // Already gone (another client, this delete's lost answer) — unless that was a duplicate
        // another client repaired away and the document lives on as the kept item: delete that.
        // (Once: an API whose listing and item routes disagree must not make this loop.)
        const other = keySuffix ? null : await otherItem(client, resource, row.id, mapped.server_id);
        if (other !== null) {
          await setServerId(db, row.collection, row.id, other);
          ctx.trace("push:delete-moved");
          return pushOne(ctx, client, row, result, `-to-${other}`);
        }
      }
      ctx.trace(answer.status === 404 ? "push:delete-gone" : "push:delete");
      return done(null);
    } catch (e) {
      if (e instanceof StowageError && e.status === 405) throw routeError(op.method, path, 405, "delete");
      const r = refusal(e);
      if (!r) throw e;
      return refusedOnItem(r, mapped.server_id);
    }
  }

  if (!mapped) {
    // A create followed by a delete, neither sent yet: cancel both (and everything between).
    const del = await nextDeleteOf(db, row.collection, row.id, row.op_id);
    if (del) {
      const n = await removeDocOpsThrough(db, row.collection, row.id, del.op_id);
      ctx.trace(`push:cancel:${n}`);
      return;
    }
  }

  // The document as it is now locally: what a whole-document update and a create send.
  let doc: JsonObject | null;
  if (row.op === "put") doc = { ...(JSON.parse(row.body ?? "{}") as JsonObject), id: row.id };
  else {
    const local = await localBody(db, row.collection, row.id);
    doc = local ? (JSON.parse(local.body) as JsonObject) : null;
    if (!doc) {
      ctx.trace("push:skip-patch"); // deleted locally since; the delete op follows
      return done(null);
    }
  }
  const sentDoc = c.toServer(doc, row.collection);
  if (c.localIdField) sentDoc[c.localIdField] = row.id;

  const create = async (idempotencyKey: string) => {
    const op = c.create;
    const path = fillPath(op.path, { resource, localId: row.id });
    await markCreateSent(db, row.collection, row.id);
    await ctx.renewLease();
    let answer;
    try {
      answer = await client.request(op.method, path, { body: fillBody(op.body, { resource, localId: row.id, doc: sentDoc }), idempotencyKey, allow404: true });
    } catch (e) {
      if (e instanceof StowageError && e.status === 405) throw routeError(op.method, path, 405, "create");
      const r = refusal(e);
      if (!r) throw e;
      // Refused: the document never existed on the API, so locally it goes too (kept in the issue).
      return settleRefusal(ctx, result, row, { kind: "rejected", message: r.message, serverValue: null, status: r.status });
    }
    // No such route: the config is wrong, not the op; it stays queued.
    if (answer.status === 404) throw routeError(op.method, path, 404, `create.path (or resources.${row.collection})`);
    const serverId = serverIdOf(c, answer.body, op.id);
    if (serverId === null) {
      await markNoId(db, row.collection, row.id);
      throw new StowageError("protocol", `${op.method} ${path}: the answer has no server id at create.id ${describeValue(op.id)} (fix create.id or item.id in the rest config): ${JSON.stringify(answer.body)?.slice(0, 160)}`);
    }
    ctx.trace("push:create");
    return done(serverId);
  };
  if (!mapped?.server_id) {
    // Answered before, without an id: not sent again; the pull maps it by its local id.
    if (mapped?.seen === NO_ID) return ctx.trace("push:wait-id");
    return create(key);
  }

  await ctx.renewLease();
  const op = c.update;
  const serverId = mapped.server_id;
  const path = fillPath(op.path, { resource, serverId, localId: row.id });
  const patch = row.op === "patch" ? (JSON.parse(row.body ?? "{}") as JsonObject) : undefined;
  let answer;
  try {
    answer = await client.request(op.method, path, { body: fillBody(op.body, { resource, serverId, localId: row.id, doc: sentDoc, patch }), idempotencyKey: key, allow404: true });
  } catch (e) {
    if (e instanceof StowageError && e.status === 405) throw routeError(op.method, path, 405, "update");
    const r = refusal(e);
    if (!r) throw e;
    return refusedOnItem(r, serverId);
  }
  if (answer.status === 404) {
    // A duplicate repaired away by another client: the document lives on as the kept item.
    const other = keySuffix ? null : await otherItem(client, resource, row.id, serverId);
    if (other !== null) {
      await setServerId(db, row.collection, row.id, other);
      ctx.trace("push:update-moved");
      return pushOne(ctx, client, row, result, `-to-${other}`);
    }
    const why = `${op.method} ${path} answered 404: the item was deleted on the API`;
    if (c.recreateOnMissing) {
      // Asked for: create it again, under a key of its own (the update's key has its 404 stored).
      await forget(db, row.collection, row.id);
      ctx.trace("push:recreate");
      return create(`${key}-create`);
    }
    return settleRefusal(ctx, result, row, { kind: "gone", message: `${why}; the local document follows (deleted). Set recreateOnMissing: true to re-create instead`, serverValue: null, status: 404 });
  }
  ctx.trace("push:update");
  return done(null);
}

/**
 * After a 404 on the item a document maps to: another live item carrying its local id (the
 * lowest, as duplicate repair keeps), found in a full listing; null when there is none or items
 * carry no local id. Rare (only after a 404), so a listing is affordable.
 */
async function otherItem(client: RestClient, resource: string, localId: string, gone: string): Promise<string | null> {
  if (client.config.item.localId === null) return null;
  const ids = (await readFeed(client, resource, null)).items.filter((i) => i.localId === localId && !i.dead && i.serverId !== gone).map((i) => i.serverId);
  return ids.length ? ids.sort(compareServerIds)[0] : null;
}
