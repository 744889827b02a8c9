import { batchedLines } from "./batched-lines.ts";
export {};
/**
 * A child process of `bun run bench partial` holding some of the event streams:
 * `bun bench/partial-streams.ts <url> <key> <first> <count>`. Stream i subscribes to
 * `docs where tag = "t<i>"` (disjoint views). Prints `ready` once every stream answered, then
 * one line `<i>` per event (a `data:` message) stream i receives after that. Ends when stdin closes.
 * (One process cannot hold 1,000 fetch streams to one host: its connection pool caps them.)
 */
const [url, key, firstArg, countArg] = process.argv.slice(2);
const first = Number(firstArg);
const count = Number(countArg);
let ready = false;
const aborts: AbortController[] = [];
const emit = batchedLines();

async function open(i: number): Promise<void> {
  const ac = new AbortController();
  aborts.push(ac);
  const subs = encodeURIComponent(JSON.stringify([{ collection: "docs", where: { tag: `t${i}` } }]));
  const res = await fetch(`${url}/v1/events?changes=1&subs=${subs}`, { headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" }, signal: ac.signal });
  if (!res.ok || !res.body) throw new Error(`events answered ${res.status}: ${await res.text()}`);
  void (async () => {
    const decoder = new TextDecoder();
    let text = "";
    try {
      for await (const chunk of res.body as ReadableStream<Uint8Array>) {
        text += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = text.indexOf("\n\n")) >= 0) {
          const message = text.slice(0, end);
          text = text.slice(end + 2);
          if (ready && /^data:/m.test(message)) emit(String(i));
        }
      }
    } catch {
      // aborted at the end
    }
  })();
}

await Promise.all(Array.from({ length: count }, (_, j) => open(first + j)));
// Each stream's first event is its hello (the tenant's seq at connect): let those pass.
await Bun.sleep(300);
ready = true;
emit("ready");
for await (const _ of process.stdin) {
  // nothing is sent; the parent closes stdin to end us
}
for (const ac of aborts) ac.abort();
process.exit(0);
