/**
 * A child process of `bun run bench streams10k` holding some of the open event streams:
 * `bun bench/streams-readers.ts <events url> <key>…` opens one stream (`GET <events url>`,
 * e.g. `…/v1/events?changes=1`, or the bare relay's `…/events` as the memory anchor) per
 * key argument (a key may repeat: the server caps streams per key, not per client) and notes
 * when each stream receives the event of a document with `"n":<n>`. Prints `ready <opened>` once
 * every stream answered; on each stdin line `dump` prints `dump <json>` (`{n: [times…]}`,
 * absolute times: performance.timeOrigin + now()) and forgets them; ends when stdin closes.
 */
export {};

const [events, ...keys] = process.argv.slice(2);
const arrivals = new Map<number, number[]>();
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
            for (const m of text.matchAll(VALUE)) {
              const n = Number(m[1]);
              const list = arrivals.get(n);
              if (list) list.push(at);
              else arrivals.set(n, [at]);
            }
          }
        } catch {
          // aborted at the end
        }
      })();
    }),
  );
}
process.stdout.write(`ready ${opened}\n`);
let buf = "";
for await (const chunk of process.stdin) {
  buf += decoder.decode(chunk as Uint8Array);
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    if (line !== "dump") continue;
    process.stdout.write(`dump ${JSON.stringify(Object.fromEntries(arrivals))}\n`);
    arrivals.clear();
  }
}
for (const ac of controllers) ac.abort();
process.exit(0);
