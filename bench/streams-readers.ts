/**
 * A child process of `bun run bench streams10k` holding some of the open event streams:
 * `bun bench/streams-readers.ts <events url> <key>…` opens one stream (`GET <events url>`,
 * e.g. `…/v1/events?changes=1`, or the bare relay's `…/events` as the memory anchor) per
 * key argument (a key may repeat: the server caps streams per key, not per client) and prints
 * `<n> <time>` when a stream receives the event of a document with `"n":<n>` (absolute time:
 * performance.timeOrigin + now(); lines batched per tick, as live-subscribers.ts does).
 * Prints `ready <opened>` once every stream answered; ends when stdin closes.
 */
import { batchedLines } from "./batched-lines.ts";

const [events, ...keys] = process.argv.slice(2);
const emit = batchedLines((flush) => setTimeout(flush, 0));
const controllers: AbortController[] = [];
const decoder = new TextDecoder();
const VALUE = /"n":(\d+)[,}]/g;
let opened = 0;
// A few at a time: 1,000 connects at once would only queue in the server's accept backlog.
for (let i = 0; i < keys.length; i += 100) {
  await Promise.all(
    keys.slice(i, i + 100).map(async (key) => {
      const ac = new AbortController();
      controllers.push(ac);
      const res = await fetch(events, { headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" }, signal: ac.signal });
      if (res.status !== 200) throw new Error(`streams-readers: the stream answered ${res.status}: ${await res.text()}`);
      opened++;
      void (async () => {
        try {
          for await (const chunk of res.body as ReadableStream<Uint8Array>) {
            const at = performance.timeOrigin + performance.now();
            const text = decoder.decode(chunk);
            for (const m of text.matchAll(VALUE)) emit(`${m[1]} ${at}`);
          }
        } catch {
          // aborted at the end
        }
      })();
    }),
  );
}
process.stdout.write(`ready ${opened}\n`);
for await (const _ of process.stdin) {
  // runs until the parent closes stdin
}
for (const ac of controllers) ac.abort();
process.exit(0);
