import { Database } from "bun:sqlite";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { spawnServer } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { percentile, type Reporter } from "./report.ts";

/**
 * `bun run bench pull1m` (opt-in, slow): a client pulls 1,000,000 documents (STOWAGE_BENCH_1M
 * to change it) from a server in its own process, with its peak RSS growth; then the small
 * sync (put one, sync) is timed on that client and on one holding 10,000, against the same
 * server, so "flat from 10,000 to 1,000,000 stored" is one ratio. The server's file is seeded
 * in SQL (a recursive CTE), not through a million pushes.
 */
const N = Number(process.env.STOWAGE_BENCH_1M ?? 1_000_000);
const SECTION = "1M-document client (rough: shared machine)";

export default async function pull1mBench(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-1m-");
  const open: Stowage[] = [];
  const server = await spawnServer({ dbPath: dir.file("server.db") });
  const other = await spawnServer({ dbPath: dir.file("server-10k.db") });
  try {
    seed(dir.file("server.db"), N);
    seed(dir.file("server-10k.db"), 10_000);
    const client = async (name: string, s = server) => {
      const c = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`${name}.db`) }), url: s.url, apiKey: s.key, env: {}, autoSync: false });
      open.push(c);
      return c;
    };
    const big = await client("big");
    let peak = 0;
    big.on("pulled", () => (peak = Math.max(peak, process.memoryUsage().rss)));
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const t = performance.now();
    const res = await big.sync();
    const s = (performance.now() - t) / 1000;
    if (res.pulled !== N) throw new Error(`bench: pulled ${res.pulled} of ${N}`);
    r.figure(SECTION, `initial pull of ${N.toLocaleString("en-US")} documents`, s, "s", { note: `${Math.round(N / s).toLocaleString("en-US")} docs/s; aim ≤ 3 s` });
    r.figure(SECTION, "initial pull: peak RSS growth", (peak - before) / 2 ** 20, "MiB");

    // The small sync (put one, full sync) on this client, and on one holding 10,000 from a
    // second server seeded alike.
    const small = await client("small", other);
    await small.sync();
    const timeSync = async (c: Stowage, tag: string) => {
      const times: number[] = [];
      for (let i = 0; i < 120; i++) {
        const start = performance.now();
        await c.collection("docs").put({ id: `${tag}-${i}`, n: i });
        await c.sync();
        if (i >= 20) times.push(performance.now() - start);
      }
      return percentile(times.sort((a, b) => a - b), 50);
    };
    const atBig = await timeSync(big, "rt-big");
    const atSmall = await timeSync(small, "rt-small");
    r.figure(SECTION, `small sync (put one + sync), ${N.toLocaleString("en-US")} stored, p50`, atBig, "ms", {
      note: `${(atBig / atSmall).toFixed(2)}x the same on a client holding 10,000 (${atSmall.toFixed(2)} ms)`,
    });
  } finally {
    for (const c of open) await c.close().catch(() => {});
    await server.kill("SIGTERM");
    await other.kill("SIGTERM");
    dir.cleanup();
  }
}

function seed(path: string, n: number): void {
  const db = new Database(path);
  db.exec("pragma busy_timeout = 10000;");
  const tenant = (db.query("select id from stowage_tenants where name = 'test'").get() as { id: string }).id;
  db.transaction(() => {
    db.query(
      `with recursive g(x) as (select 1 union all select x + 1 from g where x < ?)
       insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select ?, 'docs', 'd' || x, x, 0, 'seeder', json_object('id', 'd' || x, 'title', 'document ' || x, 'n', x, 'done', x % 2 = 0), 0 from g`,
    ).run(n, tenant);
    db.query("update stowage_tenants set seq = ? where id = ?").run(n, tenant);
  })();
  db.close();
}
