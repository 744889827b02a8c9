/**
 * The floor under any live sync over HTTP, as the anchor of `bun run bench live`: a bare
 * Server-Sent Events relay with no auth and no protocol. `POST /write` sends its body as one
 * event to every open `GET /events` stream. Run as its own process (as `stowage serve` is in
 * the bench): `bun bench/naive/relay.ts [server.db]` prints `{"url"}` when ready.
 *
 * With a file argument it is the durable relay: each write's JSON body is upserted into that
 * SQLite file (WAL, synchronous=normal: Stowage's default durability, src/adapter.ts) before
 * the event goes out, so an event never tells of a write the relay could lose in a crash.
 */
import { Database } from "bun:sqlite";

const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
const encoder = new TextEncoder();
const path = process.argv[2];
const db = path ? new Database(path) : undefined;
db?.exec("pragma journal_mode = wal; pragma synchronous = normal; create table if not exists docs (id text primary key, body text not null)");
const upsert = db?.prepare("insert into docs (id, body) values (?, ?) on conflict (id) do update set body = excluded.body");

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  idleTimeout: 0,
  async fetch(req) {
    const path = new URL(req.url).pathname;
    if (req.method === "GET" && path === "/events") {
      let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
          streams.add(c);
          c.enqueue(encoder.encode(": open\n\n"));
        },
        cancel() {
          if (controller) streams.delete(controller);
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream", "cache-control": "no-store" } });
    }
    if (req.method === "POST" && path === "/write") {
      const text = await req.text();
      if (upsert) {
        const doc = JSON.parse(text) as { id: string };
        upsert.run(doc.id, text);
      }
      const event = encoder.encode(`data: ${text}\n\n`);
      for (const c of streams) c.enqueue(event);
      return new Response("ok");
    }
    return new Response("not found", { status: 404 });
  },
});
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}` })}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  db?.close();
  process.exit(0);
});
