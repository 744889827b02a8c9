/**
 * A child process of `bun run bench live` holding some of the durable relay's subscribers
 * (live-anchor.ts relaySpreadLatencies): `bun bench/live-relay-readers.ts <url> <dir> <first>
 * <count>`. Each stream upserts every event's document into its own SQLite file
 * (`<dir>/relay-sub<i>.db`), then reports `<n> <time>` (performance.timeOrigin + now(), as
 * live-subscribers.ts does). Prints `ready` once every stream is open; ends when stdin closes.
 */
import { openDocs } from "./live-anchor.ts";
import { batchedLines } from "./batched-lines.ts";

const [url, dir, first, count] = process.argv.slice(2);
// Batched writes, as live-subscribers.ts: one write per burst of deliveries.
const emit = batchedLines();
const controllers: AbortController[] = [];
await Promise.all(
  Array.from({ length: Number(count) }, async (_, i) => {
    const docs = openDocs(`${dir}/relay-sub${Number(first) + i}.db`);
    const ac = new AbortController();
    controllers.push(ac);
    const res = await fetch(`${url}/events`, { signal: ac.signal });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true as const }));
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!event.startsWith("data: ")) continue;
          const text = event.slice(6);
          const doc = JSON.parse(text) as { id: string; n: number };
          docs.upsert.run(doc.id, text);
          emit(`${doc.n} ${performance.timeOrigin + performance.now()}`);
        }
      }
    })();
  }),
);
emit("ready");
for await (const _ of process.stdin) {
  // runs until the parent closes stdin
}
for (const ac of controllers) ac.abort();
process.exit(0);
