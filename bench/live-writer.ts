/**
 * The writer A of `bun run bench live` and `live-cost`, in its own process (as another device
 * is): `bun bench/live-writer.ts <url> <key> <db>`. Each stdin line `<n>` puts document
 * `d<n % 50>` with `n`; prints `ready` once synced. When stdin closes it prints one line
 * `starts <json>`: each put's start time (performance.timeOrigin + now(), comparable with the
 * subscribers' callback times on one machine), kept in memory until then so the measured path
 * writes nothing to a pipe.
 */
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage } from "../src/stowage.ts";

const [url, key, path] = process.argv.slice(2);
const db = await openStowage({ adapter: createBunSqliteAdapter({ path }), url, apiKey: key, env: {} });
await db.sync();
process.stdout.write("ready\n");
const lat = db.collection("lat");
/** Set by live-probe.ts when the live profile preloads it. */
const mark = (globalThis as { __benchMark?: (kind: string) => void }).__benchMark;
const starts: Record<number, number> = {};
let buf = "";
for await (const chunk of process.stdin) {
  buf += new TextDecoder().decode(chunk as Uint8Array);
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const n = Number(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    mark?.("put");
    starts[n] = performance.timeOrigin + performance.now();
    await lat.put({ id: `d${n % 50}`, n });
    mark?.("putDone");
  }
}
process.stdout.write(`starts ${JSON.stringify(starts)}\n`);
await db.close();
process.exit(0);
