/**
 * The floor under any live sync over HTTP, as the anchor of `bun run bench live`: a bare
 * Server-Sent Events relay with no storage, no auth and no protocol. `POST /write` sends its
 * body as one event to every open `GET /events` stream. Run as its own process (as `stowage
 * serve` is in the bench): `bun bench/naive/relay.ts` prints `{"url"}` when ready.
 */
const streams = new Set<ReadableStreamDefaultController<Uint8Array>>();
const encoder = new TextEncoder();

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
      const event = encoder.encode(`data: ${await req.text()}\n\n`);
      for (const c of streams) c.enqueue(event);
      return new Response("ok");
    }
    return new Response("not found", { status: 404 });
  },
});
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}` })}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
