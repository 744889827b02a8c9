// A writer process for the SIGKILL test: commits `count` documents locally, then syncs with the
// REST API until killed. Args: dbPath url key count
import { openRest } from "./helpers.ts";

const [path, url, key, count] = process.argv.slice(2);
const s = await openRest(path, url, key, {}, { leaseTtlMs: 300 });
const items = s.collection("items");
for (let i = 0; i < Number(count); i++) await items.put({ id: `k${String(i).padStart(4, "0")}`, n: i });
process.stdout.write("written\n");
for (;;) await s.sync().catch(() => {});
