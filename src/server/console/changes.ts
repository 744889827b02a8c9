/**
 * The console's live change feed: an SSE stream per tenant. The ChangeFeed only pokes with a
 * seq; after each poke the stream reads the rows with `seq > last` (at most 200 at a time, in
 * seq order) and sends them, so the page shows what changed, not just that something did.
 * The browser reads it with fetch (not EventSource) so the admin key travels in a header.
 */
import type { ChangeFeed } from "../events/feed.ts";
import { readTenantSeq } from "../events/endpoint.ts";
import { opaqueParam } from "../dialect-sql.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";

export interface ChangeRow {
  seq: number;
  collection: string;
  id: string;
  deleted: boolean;
  writer: string | null;
  updatedAt: number;
  value: unknown;
}

const BATCH = 200;
const HEARTBEAT_MS = 15_000;

export async function readChanges(store: ServerStore, tenantId: string, after: number, limit = BATCH): Promise<ChangeRow[]> {
  const rows = await store.db
    .selectFrom("stowage_docs")
    .select(["seq", "collection", "id", "deleted", "writer", "updated_at", "body"])
    .where("tenant_id", "=", opaqueParam(store.dialect, tenantId, "text"))
    .where("seq", ">", after)
    .orderBy("seq")
    .limit(opaqueParam(store.dialect, limit, "integer"))
    .execute();
  return rows.map((r) => ({
    seq: num(r.seq),
    collection: r.collection,
    id: r.id,
    deleted: Number(r.deleted) === 1,
    writer: r.writer,
    updatedAt: num(r.updated_at),
    value: r.body == null ? null : JSON.parse(r.body),
  }));
}

/** Open console change streams, so shutdown can end them. */
export class ChangeStreams {
  readonly #open = new Set<() => void>();

  get size(): number {
    return this.#open.size;
  }

  /** Starts at `after` (default: the tenant's current seq, i.e. only new changes). */
  async open(store: ServerStore, feed: ChangeFeed | undefined, tenantId: string, after?: number): Promise<Response> {
    const head = (await readTenantSeq(store, tenantId)) ?? 0;
    let last = after ?? head;
    const enc = new TextEncoder();
    let stop = () => {};
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        let reading = false;
        let again = false;
        let closed = false;
        const send = (text: string) => {
          if (!closed) controller.enqueue(enc.encode(text));
        };
        // Pokes may arrive while a read runs; one more read afterwards covers them all.
        const drain = async () => {
          if (reading) return void (again = true);
          reading = true;
          try {
            do {
              again = false;
              const rows = await readChanges(store, tenantId, last);
              if (rows.length) {
                last = rows[rows.length - 1].seq;
                send(`id: ${last}\nevent: changes\ndata: ${JSON.stringify(rows)}\n\n`);
                if (rows.length === BATCH) again = true;
              }
            } while (again && !closed);
          } catch {
            // A failed read is retried on the next poke; the stream stays up.
          } finally {
            reading = false;
          }
        };
        const unsubscribe = feed?.subscribe(tenantId, () => void drain()) ?? (() => {});
        const timer = setInterval(() => send(": ping\n\n"), HEARTBEAT_MS);
        stop = () => {
          if (closed) return;
          closed = true;
          clearInterval(timer);
          unsubscribe();
          this.#open.delete(stop);
          try {
            controller.close();
          } catch {
            // Already closed by the reader going away.
          }
        };
        this.#open.add(stop);
        send(`retry: 2000\n\nevent: head\ndata: ${JSON.stringify({ seq: head })}\n\n`);
        if (last < head) void drain();
      },
      cancel: () => stop(),
    });
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" } });
  }

  close(): void {
    for (const stop of [...this.#open]) stop();
  }
}
