/**
 * `bun bench/pull-scale.ts [N]` (default 1,000,000): the initial pull of N documents into an
 * empty client, against a server child process, with the peak RSS; beside it, in the same
 * run, the anchor: the same pages fetched with bare `fetch` and no local work at all.
 * The server's file is filled directly in SQL (pushing a million documents would dominate
 * the run). Documents are shaped like bench/local.ts's makeDocs.
 */
import { Database } from "bun:sqlite";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage } from "../src/stowage.ts";
import { spawnServer } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";

const N = Number(process.argv[2] ?? 1_000_000);
const dir = tempDir("stowage-bench-pull-");
const serverDb = dir.file("server.db");
const server = await spawnServer({ dbPath: serverDb });
try {
  const raw = new Database(serverDb);
  raw.exec("pragma busy_timeout = 10000");
  const tenant = (raw.query("select id from stowage_tenants where name = 'test'").get() as { id: string }).id;
  const insert = raw.prepare("insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at) values (?, 'docs', ?, ?, 0, null, ?, 0)");
  const body = "lorem ipsum dolor sit amet ".repeat(5).slice(0, 120);
  raw.transaction(() => {
    for (let i = 0; i < N; i++) {
      const id = `d${String(i).padStart(8, "0")}`;
      insert.run(tenant, id, i + 1, JSON.stringify({ id, title: `document number ${i}`, body, n: i, done: i % 2 === 0 }));
    }
    raw.query("update stowage_tenants set seq = ? where id = ?").run(N, tenant);
  })();
  raw.close();

  // Anchor: every page with bare fetch, nothing stored.
  const t0 = performance.now();
  let cursor = "";
  for (;;) {
    const res = await fetch(`${server.url}/v1/pull?limit=1000${cursor ? `&cursor=${cursor}` : ""}`, { headers: { authorization: `Bearer ${server.key}` } });
    const page = (await res.json()) as { cursor: string; more: boolean };
    cursor = page.cursor;
    if (!page.more) break;
  }
  const fetchMs = performance.now() - t0;

  let peak = 0;
  let pages = 0;
  const client = await openStowage({
    adapter: createBunSqliteAdapter({ path: dir.file("client.db") }),
    url: server.url,
    apiKey: server.key,
    env: {},
    autoSync: false,
    onTrace: (l) => {
      if (l.startsWith("pull:") && ++pages % 20 === 0) peak = Math.max(peak, process.memoryUsage().rss);
    },
  });
  Bun.gc(true);
  const base = process.memoryUsage().rss;
  const t1 = performance.now();
  const cpu0 = process.cpuUsage();
  const r = await client.sync();
  const pullMs = performance.now() - t1;
  const cpu = process.cpuUsage(cpu0);
  peak = Math.max(peak, process.memoryUsage().rss);
  if (r.pulled !== N || (await client.collection("docs").count()) !== N) throw new Error(`pulled ${r.pulled}`);
  await client.close();
  console.log(
    `initial pull of ${N.toLocaleString("en-US")} docs: ${(pullMs / 1000).toFixed(2)} s (${Math.round((N / pullMs) * 1000).toLocaleString("en-US")} docs/s), ` +
      `client CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (+${((peak - base) / 2 ** 20).toFixed(0)} over start); ` +
      `anchor, bare fetch of the same pages: ${(fetchMs / 1000).toFixed(2)} s (ratio ${(fetchMs / pullMs).toFixed(2)})`,
  );
} finally {
  await server.kill("SIGTERM");
  dir.cleanup();
}
