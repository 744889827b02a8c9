/**
 * A child process of `bun run bench live` holding some of the subscribers (BENCH_LIVE_PROCS):
 * `bun bench/live-subscribers.ts <url> <dir> <first> <key>…`. Each key is one client with the
 * same live query as the in-process layout. Prints `ready` once every stream is connected,
 * then one line `<n> <time>` per delivery: the change's number and the absolute time of the
 * callback (performance.timeOrigin + now(), comparable across processes on one machine).
 * Ends when stdin closes.
 */
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { batchedLines } from "./batched-lines.ts";

const [url, dir, first, ...keys] = process.argv.slice(2);
const open: Stowage[] = [];
// Batched writes: 100 subscribers' lines in one write, not 100 writes on the measured path.
const emit = batchedLines();

for (let i = 0; i < keys.length; i++) {
  const db = await openStowage({ adapter: createBunSqliteAdapter({ path: `${dir}/sub${Number(first) + i}.db` }), url, apiKey: keys[i], env: {} });
  open.push(db);
  let seen = -1;
  db.collection("lat").watch({ orderBy: "-n", limit: 1 }, (items) => {
    const n = (items[0]?.n as number | undefined) ?? -1;
    if (n !== seen && n >= 0) emit(`${n} ${performance.timeOrigin + performance.now()}`);
    seen = n;
  });
}
const end = Date.now() + 30_000;
while (Date.now() < end) {
  const states = await Promise.all(open.map(async (d) => (await d.status()).live.connected));
  if (states.every(Boolean)) break;
  await new Promise((res) => setTimeout(res, 20));
}
emit("ready");

for await (const _ of process.stdin) {
  // nothing is sent; the parent closes stdin to end us
}
for (const db of open) await db.close().catch(() => {});
process.exit(0);
