import { createPostgresAdapter } from "../adapters/postgres/index.ts";
import { createTenant, openServerStore, type ServerStore } from "../src/server/index.ts";
import { PG_INSERT_DOCS, PG_SELECT_STATES, PG_UPSERT_DOCS } from "../src/server/sql/postgres-docs.ts";
import { pullPage } from "../src/server/pull.ts";
import { push } from "../src/server/push.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../test/helpers/pg.ts";
import type { Reporter } from "./report.ts";

/**
 * `bun run bench pg-scale` (opt-in, slow): a PostgreSQL tenant holding 10,000,000 documents
 * (STOWAGE_BENCH_PG_DOCS to change it) against one holding 10,000, same schema, same server
 * code. Push (batches of 100: new documents; updates of random existing ones) and pull (1,000
 * changes after a recent cursor) go through the primary key and the (tenant_id, seq) index,
 * never the table (plans.test.ts asserts the plans). Rows are seeded in the database with
 * generate_series, in chunks of 1,000,000, then vacuumed and checkpointed so that neither
 * size measures the other's seeding. The sizes alternate, three rounds, medians reported.
 *
 * What the figures can and cannot show: an index probe is one page deeper at 10M (B-tree
 * depth), and an update of a RANDOM document among 10M touches a heap page and index leaf
 * that are not in shared_buffers (the table is GBs), so it reads them from the OS cache and
 * logs a full-page image at its first change after a checkpoint; among 10,000 they are all
 * hot. The buffer counts printed beside the timings (EXPLAIN ANALYZE BUFFERS of the same
 * statements, rolled back) show which of the two a difference is.
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
    r.log(`bench pg-scale: seeded ${BIG.toLocaleString("en-US")} + ${SMALL.toLocaleString("en-US")} rows in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    t = performance.now();
    await pgQuery("vacuum analyze stowage_docs", [], schema);
    await pgQuery("checkpoint", [], schema).catch((e) => r.log(`bench pg-scale: no checkpoint (${(e as Error).message})`));
    r.log(`bench pg-scale: vacuum analyze + checkpoint in ${((performance.now() - t) / 1000).toFixed(0)} s`);
    const size = await pgQuery<{ size: string }>("select pg_size_pretty(pg_total_relation_size('stowage_docs')) as size", [], schema);
    const sizes = [
      { name: "10,000", tenant: small, n: SMALL },
      { name: BIG.toLocaleString("en-US"), tenant: big, n: BIG },
    ];
    const runs = new Map<string, { fresh: number[]; update: number[]; pull: number[] }>();
    for (const { name, tenant, n } of sizes) await pushRun(store, tenant, n, 5, "update", `warm-${name}`); // the same warm-up for both
    for (let round = 0; round < 3; round++) {
      for (const { name, tenant, n } of sizes) {
        const m = runs.get(name) ?? { fresh: [], update: [], pull: [] };
        runs.set(name, m);
        m.fresh.push(await pushRun(store, tenant, n, 20, "fresh", `r${round}-${name}`));
        m.update.push(await pushRun(store, tenant, n, 20, "update", `r${round}-${name}`));
        m.pull.push(await pullRun(store, tenant));
      }
    }
    for (const { name, tenant, n } of sizes) {
      const m = runs.get(name)!;
      const b = await buffers(schema, tenant, n);
      r.figure(SECTION, `push per op, new documents, tenant with ${name} docs`, median(m.fresh), "µs/op", { note: `batches of 100; ${b.insert} buffers per op` });
      r.figure(SECTION, `push per op, updates of random documents, ${name} docs`, median(m.update), "µs/op", { note: `batches of 100; ${b.update} buffers per op (${b.updateRead} not in shared_buffers)` });
      r.figure(SECTION, `pull per change, tenant with ${name} docs`, median(m.pull), "µs/change", { note: `1,000 changes after a recent cursor; ${b.pull} buffers per change` });
    }
    r.log(`bench pg-scale: stowage_docs is ${size[0].size}`);
  } finally {
    await store.close();
    await dropSchema(schema);
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

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

/** Microseconds per op over `batches` pushes of 100 ops: all new documents, or all updates of random existing ones. */
async function pushRun(store: ServerStore, tenant: string, n: number, batches: number, kind: "fresh" | "update", tag: string): Promise<number> {
  const clientId = `scale-client-${kind}-${tag.replace(/[^A-Za-z0-9_-]/g, "")}`.slice(0, 60);
  const bodies = Array.from({ length: batches }, (_, b) => ({
    clientId,
    ops: Array.from({ length: 100 }, (_, i) => {
      const id = kind === "fresh" ? `new-${kind}-${tag.replace(/[^A-Za-z0-9]/g, "")}-${b}-${i}` : `d${1 + Math.floor(Math.random() * n)}`;
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

interface Buffers {
  "Shared Hit Blocks": number;
  "Shared Read Blocks": number;
}

/**
 * Buffers touched per op by the push's statements (the read of 100 random documents, the
 * upsert of 100 of them, the insert of 100 new ones; rolled back) and per change by a pull
 * page, from EXPLAIN (ANALYZE, BUFFERS): pages, not time, so not noisy.
 */
async function buffers(schema: string, tenant: string, n: number): Promise<{ insert: string; update: string; updateRead: string; pull: string }> {
  const pg = (await import("pg")).default;
  const c = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema}` });
  await c.connect();
  const explain = async (text: string, params: unknown[]) => {
    const { rows } = await c.query(`explain (analyze, buffers, format json) ${text}`, params);
    const top = (rows[0]["QUERY PLAN"] as { Plan: Buffers }[])[0].Plan;
    return { all: top["Shared Hit Blocks"] + top["Shared Read Blocks"], read: top["Shared Read Blocks"] };
  };
  const per = (b: { all: number }, ops: number) => (b.all / ops).toFixed(ops > 100 ? 2 : 1);
  try {
    const picked = new Set<string>();
    while (picked.size < 100) picked.add(`d${1 + Math.floor(Math.random() * n)}`);
    const ids = [...picked];
    const [{ seq }] = (await c.query("select seq from stowage_tenants where id = $1", [tenant])).rows as { seq: string }[];
    const rows = (names: string[]) => [
      tenant,
      0,
      JSON.stringify(names.map(() => "docs")),
      JSON.stringify(names),
      JSON.stringify(names.map((_, i) => Number(seq) + 1 + i)),
      JSON.stringify(names.map(() => 0)),
      JSON.stringify(names.map(() => "w")),
      JSON.stringify(names.map((id) => ({ id, n: 1 }))),
    ];
    await c.query("begin");
    const read = await explain(PG_SELECT_STATES, [tenant, "docs", JSON.stringify(ids)]);
    const update = await explain(PG_UPSERT_DOCS, rows(ids));
    await c.query("rollback");
    await c.query("begin");
    const insert = await explain(PG_INSERT_DOCS, rows(ids.map((_, i) => `buffers-${i}`)));
    await c.query("rollback");
    const pull = await explain(
      "select collection, id, seq, deleted, body from stowage_docs where tenant_id = $1 and seq > $2 order by seq limit 1001",
      [tenant, Number(seq) - 3000],
    );
    return {
      insert: per(insert, 100),
      update: per({ all: read.all + update.all }, 100),
      updateRead: per({ all: read.read + update.read }, 100),
      pull: per(pull, 1001),
    };
  } finally {
    await c.end();
  }
}
