import { Database } from "bun:sqlite";
import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { createPostgresAdapter } from "../adapters/postgres/index.ts";
import { createKey, openServerStore } from "../src/server/index.ts";
import { openStowage, type Stowage } from "../src/stowage.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../test/helpers/pg.ts";
import { spawnServer } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { spawnPgServer } from "../test/postgres/spawn.ts";
import { bareCopy, spawnBareServer } from "./bare/copy.ts";
import { percentile, type Reporter } from "./report.ts";

/**
 * `bun run bench pull1m` (opt-in, slow): a client pulls 1,000,000 documents (STOWAGE_BENCH_1M
 * to change it) from a server in its own process, with its peak RSS; beside it, in the same
 * run, the anchor of issue 35: a bare copy of the same rows from the server's store into a
 * new SQLite file over loopback HTTP (bench/bare/: `select` → JSON pages → `insert`). The
 * same again with the server on PostgreSQL (skipped when it is unreachable). Then the small
 * sync (put one, sync) is timed on the SQLite client and on one holding 10,000, against the
 * same server, so "flat from 10,000 to 1,000,000 stored" is one ratio. The servers' stores
 * are seeded in SQL (a recursive CTE, generate_series), not through a million pushes.
 */
/** Issue 35's aims for the initial pull at scale. */
const AIM_RATIO = 1.5;
const AIM_RSS_MIB = 200;
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
    const second = await client("big2");
    await pullAtScale(r, "SQLite", [big, second], ["sqlite", dir.file("server.db")], dir.file("bare-sqlite.db"));
    await second.close(); // its million documents are not needed below
    await pgPull(r, dir);

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

/**
 * Times initial pulls of N into empty clients (`clients`, each synced once) with the process's
 * peak RSS, and bare copies of the same rows (`bareArgs`: bench/bare/server.ts's), alternating
 * bare, Stowage, Stowage, bare: a machine that gets busier or quieter during the run moves
 * both alike. Each figure is the mean of its two runs.
 */
async function pullAtScale(r: Reporter, store: string, clients: [Stowage, Stowage], bareArgs: string[], barePath: string): Promise<void> {
  const bareRuns: Awaited<ReturnType<typeof bareCopy>>[] = [];
  const bare = async (k: number) => {
    const server = await spawnBareServer(bareArgs);
    try {
      Bun.gc(true);
      const run = await bareCopy(server.url, `${barePath}-${k}`);
      if (run.rows !== N) throw new Error(`bench: the bare copy copied ${run.rows} of ${N}`);
      bareRuns.push(run);
    } finally {
      await server.stop();
    }
  };
  const pulls: { s: number; peak: number; before: number }[] = [];
  const pull = async (c: Stowage) => {
    let peak = 0;
    const off = c.on("pulled", () => (peak = Math.max(peak, process.memoryUsage().rss)));
    const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    Bun.gc(true);
    const before = process.memoryUsage().rss;
    const t = performance.now();
    const res = await c.sync();
    const s = (performance.now() - t) / 1000;
    clearInterval(sample);
    off();
    peak = Math.max(peak, process.memoryUsage().rss);
    if (res.pulled !== N) throw new Error(`bench: pulled ${res.pulled} of ${N}`);
    pulls.push({ s, peak, before });
  };
  await bare(0);
  await pull(clients[0]);
  await pull(clients[1]);
  await bare(1);
  const count = N.toLocaleString("en-US");
  const s = (pulls[0].s + pulls[1].s) / 2;
  const bareS = (bareRuns[0].ms + bareRuns[1].ms) / 2000;
  const top = pulls[0].peak >= pulls[1].peak ? pulls[0] : pulls[1];
  const mib = top.peak / 2 ** 20;
  const each = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(", ");
  r.figure(SECTION, `initial pull of ${count} documents, ${store} server`, s, "s", {
    note: `${Math.round(N / s).toLocaleString("en-US")} docs/s (${each(pulls.map((p) => p.s))} s); bare copy ${bareS.toFixed(2)} s (${each(bareRuns.map((b) => b.ms / 1000))} s): ${(s / bareS).toFixed(2)}x`,
  });
  r.figure(SECTION, `initial pull, ${store} server: peak RSS`, mib, "MiB", {
    note: `+${((top.peak - top.before) / 2 ** 20).toFixed(0)} MiB over the start; the bare copy peaked at ${(Math.max(...bareRuns.map((b) => b.peakRss)) / 2 ** 20).toFixed(0)} MiB`,
  });
  r.aim({ row: `initial pull ${count}, ${store} server`, figure: s, unit: "s", anchor: { name: "bare copy, select → JSON pages → insert", value: bareS }, ratio: s / bareS, aim: { at: "most", target: AIM_RATIO } });
  r.aim({ row: `initial pull ${count}, ${store} server: peak RSS`, figure: mib, unit: "MiB", anchor: { name: "budget", value: AIM_RSS_MIB }, ratio: mib / AIM_RSS_MIB, aim: { at: "most", target: 1 } });
}

/** The same pull from a server on PostgreSQL: a schema of its own, seeded with generate_series. */
async function pgPull(r: Reporter, dir: ReturnType<typeof tempDir>): Promise<void> {
  if (!(await pgAvailable("bench pull1m").catch(() => false))) {
    r.log("bench pull1m: PostgreSQL unreachable, no PostgreSQL figures");
    return;
  }
  const schema = newSchemaName();
  try {
    const store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    let key: string;
    try {
      key = (await createKey(store, "test", { createIfMissing: true })).key;
    } finally {
      await store.close();
    }
    const [{ id: tenant }] = await pgQuery<{ id: string }>("select id from stowage_tenants where name = 'test'", [], schema);
    await pgQuery(
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select $1, 'docs', 'd' || g, g, 0, 'seeder', jsonb_build_object('id', 'd' || g, 'title', 'document ' || g, 'n', g, 'done', g % 2 = 0), 0
       from generate_series(1, $2::bigint) as g`,
      [tenant, N],
      schema,
    );
    await pgQuery("update stowage_tenants set seq = $2 where id = $1", [tenant, N], schema);
    await pgQuery("vacuum analyze stowage_docs", [], schema);
    const server = await spawnPgServer(PG_URL, schema);
    const open = (k: number) => openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`pg-client-${k}.db`) }), url: server.url, apiKey: key, env: {}, autoSync: false });
    const clients: [Stowage, Stowage] = [await open(0), await open(1)];
    try {
      await pullAtScale(r, "PostgreSQL", clients, ["postgres", PG_URL, schema], dir.file("bare-pg.db"));
    } finally {
      for (const c of clients) await c.close();
      await server.kill("SIGTERM");
    }
  } finally {
    await dropSchema(schema);
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
