import { afterEach, describe, expect, test } from "bun:test";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { createTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { pgMarksAndStatesSql, push } from "../../src/server/push.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";

/**
 * The server keeps the planner's statistics of stowage_docs current itself (planner-stats.ts):
 * this machine's PostgreSQL runs with autovacuum off, as some do, and a table that was never
 * analyzed had each push's document read planned as a scan of the whole tenant.
 */
const run = await pgAvailable("PostgreSQL planner statistics test");
const LIMITS = { maxValueChars: 1_000_000, maxValueDepth: 64 };

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Cond"?: string;
  Filter?: string;
  Plans?: PlanNode[];
}
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

describe.skipIf(!run)("PostgreSQL planner statistics", () => {
  let schema = "";
  let store: ServerStore | undefined;

  afterEach(async () => {
    await store?.close();
    store = undefined;
    await dropSchema(schema);
  });

  const docsRead = async (tenantId: string) => {
    const rows = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${pgMarksAndStatesSql(1)}`, [tenantId, ["c"], "docs", ["d7"]], schema);
    return nodes(rows[0]["QUERY PLAN"][0].Plan).find((n) => n["Relation Name"] === "stowage_docs")!;
  };
  const analyzed = (s: string) => pgQuery<{ reltuples: number; last_analyze: string | null }>(
    "select c.reltuples::float8 as reltuples, s.last_analyze from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.oid = to_regclass('stowage_docs')",
    [],
    s,
  );
  const pushNew = (tenantId: string, from: number, n: number) =>
    push(store!, tenantId, { clientId: "c", ops: Array.from({ length: n }, (_, i) => ({ opId: from + i, collection: "docs", id: `d${from + i}`, op: "put" as const, value: { n: from + i } })) }, LIMITS, Date.now());

  test("a table that grew past 1,000 new rows is analyzed, and the push's document read then searches the ids in the index", async () => {
    schema = newSchemaName();
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    const tenantId = (await createTenant(store, "t")).id;
    await pushNew(tenantId, 1, 999);
    // Below the threshold: no statistics, and the planner guesses the tenant holds one row.
    expect((await analyzed(schema))[0].last_analyze).toBeNull();
    expect((await docsRead(tenantId)).Filter).toContain("id = ANY");
    await pushNew(tenantId, 1000, 2);
    // The ANALYZE runs in the background after the commit; close() waits for it.
    await store.close();
    store = undefined;
    const [after] = await analyzed(schema);
    expect(after.last_analyze).not.toBeNull();
    expect(after.reltuples).toBe(1001);
    const read = await docsRead(tenantId);
    expect(read["Index Cond"]).toContain("id = ANY");
    expect(read.Filter).toBeUndefined();
  });

  test("a server opening a table that grew without statistics (another process, a bulk load) analyzes it at once", async () => {
    schema = newSchemaName();
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    const tenantId = (await createTenant(store, "t")).id;
    await store.close();
    await pgQuery(
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select $1, 'docs', 'd' || g, g, 0, 'loader', jsonb_build_object('n', g), 0 from generate_series(1, 5000) as g`,
      [tenantId],
      schema,
    );
    // The statistics collector reports the inserted rows once the inserting session flushes them.
    const live = async () => Number((await pgQuery<{ n: number }>("select n_live_tup::int as n from pg_stat_user_tables where relid = to_regclass('stowage_docs')", [], schema))[0]?.n);
    for (let i = 0; i < 100 && (await live()) < 5000; i++) await Bun.sleep(100);
    expect((await analyzed(schema))[0].last_analyze).toBeNull();
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    await store.close();
    store = undefined;
    expect((await analyzed(schema))[0].reltuples).toBe(5000);
    expect((await docsRead(tenantId))["Index Cond"]).toContain("id = ANY");
  });
});
