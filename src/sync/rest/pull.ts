import { StowageError, describeValue } from "../../errors.ts";
import { isDocId } from "../../names.ts";
import type { JsonObject } from "../../json.ts";
import type { CycleContext } from "../cycle.ts";
import { rebaseDocs, type ServerDoc } from "../rebase.ts";
import type { SyncResult } from "../types.ts";
import { compareServerIds, serverIdOf, type RestClient } from "./client.ts";
import { cursorKey, seenTag, sinceFor } from "./cursor.ts";
import { byLocal, byServer, setSeen, setServerId } from "./id-map.ts";
import { first, run, type Executor } from "../../store/sql.ts";
import { restPush } from "./push.ts";
import { flushRepairs, queueRepairs, type Repair } from "./repair.ts";

/**
 * Pulls each configured collection's change feed from `cursor − overlap` and applies it with
 * the new cursor in ONE local transaction. Server wins, except over pending local ops: those
 * are folded on top (rebaseDocs), never overwritten. Items are matched to local documents by
 * server id, else by the local id they carry (an item this client created but whose answer
 * was lost, or one another Stowage client created), else they get the local id
 * `srv-<server id>` (created directly on the API).
 */
export async function restPull(ctx: CycleContext, result: SyncResult, client: RestClient): Promise<void> {
  const c = client.config;
  ctx.setState("pulling");
  let needPush = false;
  for (const [collection, resource] of Object.entries(c.resources)) {
    await ctx.renewLease();
    const cursor = (await ctx.store.getMeta(cursorKey(collection))) ?? null;
    const qs = cursor === null ? "" : `?${encodeURIComponent(c.cursorParam)}=${encodeURIComponent(sinceFor(cursor, c.overlapMs))}`;
    let body: unknown;
    try {
      body = (await client.request("GET", `${resource}${c.syncPath}${qs}`)).body;
    } catch (e) {
      ctx.markOnline(e);
      throw e;
    }
    ctx.markOnline(null);
    const items = (body as Record<string, unknown> | null)?.[c.itemsField];
    const next = (body as Record<string, unknown> | null)?.[c.cursorField];
    if (!Array.isArray(items) || (typeof next !== "string" && typeof next !== "number")) {
      throw new StowageError("protocol", `GET ${resource}${c.syncPath}: expected { ${c.itemsField}: [...], ${c.cursorField} }, got ${describeValue(JSON.stringify(body)?.slice(0, 120))}`);
    }
    const { applied, requeued } = await applyItems(ctx, client, collection, items as JsonObject[], String(next));
    needPush ||= requeued > 0;
    ctx.trace(`pull:${applied}`);
    result.pulled += applied;
    if (applied > 0) ctx.store.events.emit("pulled", { collections: [collection], changes: applied });
  }
  await flushRepairs(ctx, client);
  if (needPush) await restPush(ctx, result, client);
}

async function applyItems(ctx: CycleContext, client: RestClient, collection: string, items: JsonObject[], next: string): Promise<{ applied: number; requeued: number }> {
  const c = client.config;
  let applied = 0;
  let requeued = 0;
  await ctx.store.db.transaction().execute(async (trx) => {
    const docs: ServerDoc[] = [];
    const repairs: Repair[] = [];
    for (const item of items) {
      const serverId = serverIdOf(c, item);
      if (serverId === null) throw new StowageError("protocol", `pull ${collection}: an item has no ${c.idField}: ${describeValue(JSON.stringify(item).slice(0, 120))}`);
      const tag = seenTag(item, c.updatedAtField);
      const dead = item[c.tombstoneField] !== null && item[c.tombstoneField] !== undefined;
      const carried = c.localIdField ? item[c.localIdField] : undefined;
      let localId: string;
      const known = await byServer(trx, collection, serverId);
      if (known) {
        if (known.seen === tag) continue; // the overlap brought it again
        localId = known.local_id;
      } else if (typeof carried === "string" && isDocId(carried)) {
        const mine = await byLocal(trx, collection, carried);
        if (dead && !mine) continue; // another client's item, created and deleted before we saw it
        if (mine?.server_id && mine.server_id !== serverId) {
          // Two server items for one local document: a create sent twice.
          if (dead) continue; // the extra's tombstone (ours or another client's repair)
          if (compareServerIds(serverId, mine.server_id) < 0) {
            // The kept item may be older than what went to the extra (edits pushed since the
            // retry): keep the local value and send it to the kept item, not the reverse.
            repairs.push({ collection, localId: carried, keep: serverId, extra: mine.server_id });
            await setServerId(trx, collection, carried, serverId, tag);
            requeued += await requeueLocal(trx, ctx.store.now(), collection, carried);
            continue;
          } else {
            repairs.push({ collection, localId: carried, keep: mine.server_id, extra: serverId });
            continue;
          }
        } else {
          await setServerId(trx, collection, carried, serverId);
        }
        localId = carried;
      } else {
        if (dead) continue; // never seen, already gone
        localId = `srv-${serverId}`;
        await setServerId(trx, collection, localId, serverId);
      }
      await setSeen(trx, collection, localId, tag);
      docs.push({ collection, id: localId, value: dead ? null : { ...c.fromServer(item, collection), id: localId }, version: null });
      applied++;
    }
    if (docs.length) await rebaseDocs(trx, docs);
    await queueRepairs(ctx.store, trx, repairs);
    await ctx.store.setMeta(cursorKey(collection), next, trx);
  });
  return { applied, requeued };
}

/** Queues a put of the local document as it is (to reach a newly kept server item); 0 if it is gone. */
async function requeueLocal(db: Executor, now: number, collection: string, id: string): Promise<number> {
  const doc = await first<{ body: string }>(db, "select body from _stowage_docs where collection = ? and id = ?", [collection, id]);
  if (!doc) return 0;
  await run(db, "insert into _stowage_outbox (tx, collection, id, op, body, base_version, created_at) values (null, ?, ?, 'put', ?, null, ?)", [collection, id, doc.body, now]);
  return 1;
}
