/**
 * A child process of `bun run bench live` standing in for the other devices of the fan-out
 * rows: `bun bench/live-readers.ts <url> <key>…` opens one `GET /v1/events?changes=1` stream per
 * key and reads every byte the server sends (a device's own CPU would then apply it; here it
 * only has to be received, so the server really writes to every stream). Prints `ready` once
 * every stream has answered 200, then `<bytes>` when stdin closes, and ends.
 */
export {};

const [url, ...keys] = process.argv.slice(2);
let bytes = 0;
const controllers: AbortController[] = [];
await Promise.all(
  keys.map(async (key) => {
    const ac = new AbortController();
    controllers.push(ac);
    const res = await fetch(`${url}/v1/events?changes=1`, { headers: { authorization: `Bearer ${key}`, accept: "text/event-stream" }, signal: ac.signal });
    if (res.status !== 200) throw new Error(`live-readers: the stream answered ${res.status}`);
    void (async () => {
      try {
        for await (const chunk of res.body as ReadableStream<Uint8Array>) bytes += chunk.byteLength;
      } catch {
        // aborted at the end
      }
    })();
  }),
);
process.stdout.write("ready\n");
for await (const _ of process.stdin) {
  // runs until the parent closes stdin
}
for (const ac of controllers) ac.abort();
process.stdout.write(`${bytes}\n`);
process.exit(0);
