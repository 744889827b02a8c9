/**
 * The feed view streams listen to: the handler's feed, with the rows of every commit. A commit
 * this process made arrives with its rows (events/changes.ts) and passes at once; one made by
 * another process or instance arrives as a bare seq, and its rows are read here once (one
 * query for all of this process's streams of the tenant, plus the moves in that range for what
 * the documents were before), so each stream's view still decides whether it wakes
 * (fanout.ts) instead of every stream being poked. Commits are passed on in seq order per
 * tenant; a range too large to read (or a read that fails) passes on as a bare seq (a plain
 * poke to every stream, as before).
 */
import { sql } from "kysely";
import type { WrittenDoc } from "../apply.ts";
import { ChangeFeed } from "../events/feed.ts";
import type { CommitChanges } from "../events/changes.ts";
import type { ServerStore } from "../store.ts";
import { num } from "../tables.ts";

/** Most rows one cross-process range is read for; past it, its streams are poked. */
const MAX_ROWS = 1000;

type Row = { collection: string; id: string; seq: number | string; deleted: number; writer: string | null; body: string | null };

/** A feed of `source`'s commits with their rows, for view streams. */
export function viewFeed(store: ServerStore, source: ChangeFeed, readSeq: (tenantId: string) => Promise<number | undefined>): ChangeFeed {
  const tenants = new Map<string, { last: number | undefined; queue: Promise<void>; stop: () => void }>();
  const out: ChangeFeed = new ChangeFeed({
    readSeq,
    source: {
      watch(tenantId) {
        const t = { last: undefined as number | undefined, queue: Promise.resolve(), stop: () => {} };
        tenants.set(tenantId, t);
        t.stop = source.subscribe(tenantId, (seq, changes) => {
          t.queue = t.queue.then(async () => {
            const from = t.last;
            t.last = Math.max(seq, from ?? 0);
            if (from !== undefined && seq <= from) return;
            // This process's commit right after the last one: its rows came with it.
            if (from === undefined || (changes && changes.prev === from)) return out.publish(tenantId, seq, changes);
            // Another process's commit, or commits between whose pokes were merged: read the range.
            const loaded = await loadCommits(store, tenantId, from, seq).catch(() => undefined);
            out.publish(tenantId, seq, loaded);
          });
        });
        // The first commit after this starts the chain: until then the range's start is unknown.
        void readSeq(tenantId).then(
          (seq) => {
            if (seq !== undefined && t.last === undefined) t.last = seq;
          },
          () => {},
        );
        return () => {
          t.stop();
          if (tenants.get(tenantId) === t) tenants.delete(tenantId);
        };
      },
    },
  });
  return out;
}

/** The rows of (from, to] as one commit's changes, each with its state before the range (moves.ts). */
async function loadCommits(store: ServerStore, tenantId: string, from: number, to: number): Promise<CommitChanges | undefined> {
  const { rows } = await sql<Row>`select collection, id, seq, deleted, writer, body from stowage_docs
    where tenant_id = ${tenantId} and seq > ${from} and seq <= ${to} order by seq limit ${MAX_ROWS + 1}`.execute(store.db);
  if (rows.length === 0 || rows.length > MAX_ROWS) return undefined;
  const moves = await sql<{ collection: string; id: string; seq: number | string; body: string }>`select collection, id, seq, body from stowage_doc_moves
    where tenant_id = ${tenantId} and seq > ${from} and seq <= ${to} order by seq`.execute(store.db);
  const earliest = new Map<string, string>();
  for (const m of moves.rows) {
    const k = `${m.collection}\u0000${m.id}`;
    if (!earliest.has(k)) earliest.set(k, m.body);
  }
  const written: WrittenDoc[] = rows.map((r) => {
    const state = { seq: num(r.seq), deleted: Number(r.deleted) === 1, writer: r.writer, body: r.body };
    const moved = earliest.get(`${r.collection}\u0000${r.id}`);
    // No move in the range: its indexed fields, so every view's verdict, are what they are now.
    const before = moved !== undefined ? { seq: from, deleted: false, writer: null, body: moved } : state;
    return { collection: r.collection, id: r.id, state, before };
  });
  return { prev: from, seq: to, rows: written, dialect: store.dialect };
}
