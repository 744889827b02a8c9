import { createPostgresAdapter } from "../adapters/postgres/index.ts";
import { createTenant, openServerStore, type ServerStore } from "../src/server/index.ts";
import { pullPage } from "../src/server/pull.ts";
import { push } from "../src/server/push.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../test/helpers/pg.ts";
import type { Reporter } from "./report.ts";

/**
 * `bun run bench pg-scale` (opt-in, slow): a PostgreSQL tenant holding 10,000,000 documents
 * (STOWAGE_BENCH_PG_DOCS to change it) against one holding 10,000, same schema, same server
 * code. Push (new documents and updates of random existing ones, batches of 100) and pull
 * (1,000 changes after a recent cursor) must cost the same per op at both sizes: they touch
 * the primary key and the (tenant_id, seq) index, never the table (plans.test.ts shows the
 * plans). Rows are seeded in the database with generate_series, in chunks of 1,000,000.
 */
const BIG = Number(process.env.STOWAGE_BENCH_PG_DOCS ?? 10_000_000);
const SMALL = 10_000;
const LIMITS = { maxValueChars: 1 << 20, maxValueDepth: 64 };
const SECTION = "PostgreSQL tenant at scale (rough: shared machine)";

export default async function pgScaleBench(r: Reporter): Promise<void> {
  if (!(await pgAvailable("bench pg-scale").catch(() => false))) {
    r.log("bench pg-scale: PostgreSQL unreachable, skipped");
    return;
  }
  const schema = newSchemaName();
  const store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 4 } }) });
  try {
    const small = (await createTenant(store, "small")).id;
    const big = (await createTenant(store, "big")).id;
    let t = performance.now();
    await seed(schema, small, SMALL);
    await seed(schema, big, BIG);
    await pgQuery("analyze stowage_docs", [], schema);
    r.log(`bench pg-scale: seeded ${BIG.toLocaleString("en-US")} + ${SMALL.toLocaleString("en-US")} rows in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const size = await pgQuery<{ size: string }>("select pg_size_pretty(pg_total_relation_size('stowage_docs')) as size", [], schema);
    for (const [name, tenant, n] of [["10,000", small, SMALL], [BIG.toLocaleString("en-US"), big, BIG]] as const) {
      // Warm both the same way, then measure.
      await pushRun(store, tenant, n, 5, `warm-${name}`);
      const pushUs = await pushRun(store, tenant, n, 50, `run-${name}`);
      const pullUs = await pullRun(store, tenant);
      r.figure(SECTION, `push per op, tenant with ${name} docs`, pushUs, "µs/op", { note: "batches of 100: half new documents, half updates of random existing ones" });
      r.figure(SECTION, `pull per change, tenant with ${name} docs`, pullUs, "µs/change", { note: "1,000 changes after a recent cursor" });
    }
    r.log(`bench pg-scale: stowage_docs is ${size[0].size}`);
  } finally {
    await store.close();
    await dropSchema(schema);
  }
}

async function seed(schema: string, tenant: string, n: number): Promise<void> {
  const CHUNK = 1_000_000;
  for (let from = 1; from <= n; from += CHUNK) {
    const to = Math.min(n, from + CHUNK - 1);
    await pgQuery(
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select $1, 'docs', 'd' || g, g, 0, 'seeder', jsonb_build_object('id', 'd' || g, 'title', 'document ' || g, 'n', g, 'done', g % 2 = 0), 0
       from generate_series($2::bigint, $3::bigint) as g`,
      [tenant, from, to],
      schema,
    );
  }
  await pgQuery("update stowage_tenants set seq = $2 where id = $1", [tenant, n], schema);
}

let opIds = 0;

/** Microseconds per op over `batches` pushes of 100 ops. */
async function pushRun(store: ServerStore, tenant: string, n: number, batches: number, tag: string): Promise<number> {
  const bodies = Array.from({ length: batches }, (_, b) => ({
    clientId: `scale-client-${tag.replace(/[^A-Za-z0-9_-]/g, "")}`.slice(0, 60),
    ops: Array.from({ length: 100 }, (_, i) => {
      const id = i % 2 === 0 ? `new-${tag}-${b}-${i}` : `d${1 + Math.floor(Math.random() * n)}`;
      return { opId: ++opIds, collection: "docs", id, op: "put" as const, value: { title: `v ${b}`, n: i } };
    }),
  }));
  const start = performance.now();
  for (const body of bodies) await push(store, tenant, body, LIMITS, Date.now());
  return ((performance.now() - start) * 1000) / (batches * 100);
}

/** Microseconds per change for 1,000 changes after a cursor 3,000 behind the head, 5 times. */
async function pullRun(store: ServerStore, tenant: string): Promise<number> {
  const rows = await store.db.selectFrom("stowage_tenants").select("seq").where("id", "=", tenant).executeTakeFirstOrThrow();
  const after = Number(rows.seq) - 3000; // updates supersede some changes: 1,000 live ones lie after this
  const start = performance.now();
  for (let i = 0; i < 5; i++) {
    const page = JSON.parse(await pullPage(store, tenant, after, 1000)) as { changes: unknown[] };
    if (page.changes.length !== 1000) throw new Error(`bench: pulled ${page.changes.length}`);
  }
  return ((performance.now() - start) * 1000) / 5000;
}
