/**
 * The writer of the durable relay anchor (live-anchor.ts), in its own process as Stowage's
 * writer is (live-writer.ts): `bun bench/live-relay-writer.ts <url> <db>`. Each stdin line
 * `<n>` upserts `{"id":"d<n % 50>","n":n}` into its SQLite file and POSTs it to the relay;
 * prints `ready` first and, when stdin closes, `starts <json>` (each write's start time,
 * performance.timeOrigin + now()).
 */
import { openDocs } from "./live-anchor.ts";

const [url, path] = process.argv.slice(2);
const docs = openDocs(path);
process.stdout.write("ready\n");
const starts: Record<number, number> = {};
let buf = "";
for await (const chunk of process.stdin) {
  buf += new TextDecoder().decode(chunk as Uint8Array);
  let nl: number;
  while ((nl = buf.indexOf("\n")) >= 0) {
    const n = Number(buf.slice(0, nl));
    buf = buf.slice(nl + 1);
    starts[n] = performance.timeOrigin + performance.now();
    const text = JSON.stringify({ id: `d${n % 50}`, n });
    docs.upsert.run(`d${n % 50}`, text);
    await (await fetch(`${url}/write`, { method: "POST", body: text })).text();
  }
}
process.stdout.write(`starts ${JSON.stringify(starts)}\n`);
docs.db.close();
process.exit(0);
