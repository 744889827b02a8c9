import type { CycleContext } from "../transport.ts";
import { rebaseDocs, type ServerDoc } from "../../store/rebase.ts";
import type { SyncResult } from "../types.ts";
import { isDocId } from "../../names.ts";
import type { Executor } from "../../store/sql.ts";
import { queuePut } from "../../store/outbox.ts";
import { localBody } from "../../store/server-docs.ts";
import { compareServerIds, type RestClient } from "./client.ts";
import { cursorKey } from "./cursor.ts";
import { readFeed } from "./feed.ts";
import { findHardDeletes, fullListDue } from "./hard-deletes.ts";
import type { ItemView } from "./item.ts";
import { DELETED, byLocal, byServer, countNoId, forget, isOwn, seenTagOf, setSeen, setServerId } from "../../store/id-map.ts";
import { StowageError, describeValue } from "../../errors.ts";
import { restPush } from "./push.ts";
import { flushRepairs, queueRepairs, type Repair } from "./repair.ts";

/**
 * Pulls each configured collection's feed from `cursor − overlap` and applies it with the new
 * cursor in ONE local transaction. Server wins, except over pending local ops: those are
 * folded on top (rebaseDocs), never overwritten. Items are matched to local documents by
 * server id, else by the local id they carry (an item this client created but whose answer
 * was lost, or one another Stowage client created), else they get the local id
 * `srv-<server id>` (created directly on the API). For APIs that delete for good, a full
 * listing is compared with the id map when due (hard-deletes.ts).
 */
export async function restPull(ctx: CycleContext, result: SyncResult, client: RestClient): Promise<void> {
  ctx.setState("pulling");
  let needPush = false;
  for (const [collection, resource] of Object.entries(client.config.resources)) {
    await ctx.renewLease();
    const cursor = (await ctx.store.getMeta(cursorKey(collection))) ?? null;
    let feed;
    let gone: string[] = [];
    try {
      feed = await readFeed(client, resource, cursor);
      if (await fullListDue(ctx.store, client.config, collection, cursor)) gone = await findHardDeletes(ctx, client, collection, resource);
    } catch (e) {
      ctx.markOnline(e);
      throw e;
    }
    ctx.markOnline(null);
    const { applied, requeued } = await applyItems(ctx, client, collection, feed.items, feed.next, gone);
    needPush ||= requeued > 0;
    ctx.trace(`pull:${applied}`);
    result.pulled += applied;
    if (applied > 0) ctx.store.events.emit("pulled", { collections: [collection], changes: applied });
  }
  await flushRepairs(ctx, client);
  if (needPush) await restPush(ctx, result, client);
  const waiting = await countNoId(ctx.store.db);
  if (waiting > 0) {
    // Their ops stay queued and are not re-sent (store/id-map.ts NO_ID); the cycle says why, every time.
    throw new StowageError("protocol", `${waiting} create${waiting === 1 ? " was" : "s were"} answered without a server id at create.id ${describeValue(client.config.create.id)} and no pulled item carries ${waiting === 1 ? "its" : "their"} local id: fix create.id (or item.localId) in the rest config`);
  }
}

async function applyItems(ctx: CycleContext, client: RestClient, collection: string, items: ItemView[], next: string | null, gone: string[]): Promise<{ applied: number; requeued: number }> {
  const c = client.config;
  let applied = 0;
  let requeued = 0;
  await ctx.store.db.transaction().execute(async (trx) => {
    const docs: ServerDoc[] = [];
    const repairs: Repair[] = [];
    const waiting = await countNoId(trx, collection);
    for (const item of items) {
      const { serverId, tag, dead } = item;
      const carried = item.localId;
      let localId: string;
      const known = await byServer(trx, collection, serverId);
      if (known) {
        if (seenTagOf(known.seen) === tag) continue; // the overlap brought it again
        // Deleted through this client: its tombstone (or a late view of it) changes nothing.
        if (known.seen === DELETED) continue;
        localId = known.local_id;
      } else if (carried !== null && isDocId(carried)) {
        const mine = await byLocal(trx, collection, carried);
        if (dead && !mine) continue; // another client's item, created and deleted before we saw it
        if (mine?.seen === DELETED && mine.server_id !== serverId) {
          // A second item of a document this client deleted (a create retried after a lost answer): it goes too.
          if (!dead) repairs.push({ collection, localId: carried, keep: mine.server_id ?? "(none: deleted locally)", extra: serverId });
          continue;
        }
        if (mine?.server_id && mine.server_id !== serverId) {
          // Two server items for one local document: a create sent twice.
          if (dead) continue; // the extra's tombstone (ours or another client's repair)
          if (compareServerIds(serverId, mine.server_id) < 0) {
            // The kept item may be older than what went to the extra (edits pushed since the
            // retry): its creator sends its local value to the kept item. Nobody else does: a
            // reader's copy may be older than the creator's latest edit; a reader takes the
            // kept item's content (the creator's value reaches it later, as a change).
            repairs.push({ collection, localId: carried, keep: serverId, extra: mine.server_id });
            const own = isOwn(mine.seen);
            await setServerId(trx, collection, carried, serverId, own ? tag : null);
            if (own) {
              requeued += await requeueLocal(trx, ctx.store.now(), collection, carried);
              continue;
            }
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
        // It may be one of this client's creates answered without an id: not a new document
        // until that is settled (the pull is rolled back, the cursor stays).
        if (waiting > 0) {
          throw new StowageError("protocol", `pull ${collection}: item ${serverId} carries no local id at item.localId ${describeValue(c.item.localId)} while ${waiting} create${waiting === 1 ? "" : "s"} answered without a server id at create.id ${describeValue(c.create.id)} wait for theirs: fix create.id or item.localId in the rest config`);
        }
        localId = `srv-${serverId}`;
        await setServerId(trx, collection, localId, serverId);
      }
      await setSeen(trx, collection, localId, tag);
      docs.push({ collection, id: localId, value: dead ? null : { ...c.fromServer(item.raw, collection), id: localId }, version: null });
      applied++;
    }
    for (const serverId of gone) {
      const known = await byServer(trx, collection, serverId);
      if (!known) continue;
      await forget(trx, collection, known.local_id);
      docs.push({ collection, id: known.local_id, value: null, version: null });
      applied++;
    }
    if (docs.length) await rebaseDocs(trx, docs);
    await queueRepairs(ctx.store, trx, repairs);
    if (next !== null) await ctx.store.setMeta(cursorKey(collection), next, trx);
  });
  return { applied, requeued };
}

/** Queues a put of the local document as it is (to reach a newly kept server item); 0 if it is gone. */
async function requeueLocal(db: Executor, now: number, collection: string, id: string): Promise<number> {
  const doc = await localBody(db, collection, id);
  if (!doc) return 0;
  await queuePut(db, collection, id, doc.body, now);
  return 1;
}
