/**
 * The writer of `bun run bench live-cost`, in its own process so the parent's CPU time is the
 * subscribers' alone: `bun bench/live-writer.ts <url> <key> <db>`. Each stdin line `<n>` puts
 * document `d<n % 50>` with `n`; prints `ready` once synced, then nothing.
 */
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage } from "../src/stowage.ts";

const [url, key, path] = process.argv.slice(2);
const db = await openStowage({ adapter: createBunSqliteAdapter({ path }), url, apiKey: key, env: {} });
await db.sync();
process.stdout.write("ready\n");
const lat = db.collection("lat");
let buf = "";
for await (const chunk of process.stdin) {
  buf += new TextDecoder().decode(chunk as Uint8Array);
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const n = Number(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    await lat.put({ id: `d${n % 50}`, n });
  }
}
await db.close();
process.exit(0);
