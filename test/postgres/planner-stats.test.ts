import { afterEach, describe, expect, test } from "bun:test";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { createTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { pullQuery } from "../../src/server/pull.ts";
import { push } from "../../src/server/push.ts";
import { pgMarksAndStatesSql } from "../../src/server/sql/postgres-push.ts";
import pg from "pg";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { POSTGRES } from "../../src/server/sql/index.ts";

/**
 * The server gives stowage_docs planner statistics itself once it holds 1,000 rows
 * (planner-stats.ts): this machine's PostgreSQL runs with autovacuum off, as some do, and on
 * a table never analyzed a pull page from the start was planned as a sort of every change
 * after the cursor. A push's document read is planned the same with or without statistics.
 */
const run = await pgAvailable("PostgreSQL planner statistics test");
const LIMITS = { maxValueChars: 1_000_000, maxValueDepth: 64 };

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
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

  const open = async () => (store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) }));
  const explain = async (text: string, params: readonly unknown[]) => {
    const rows = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${text}`, [...params], schema);
    return nodes(rows[0]["QUERY PLAN"][0].Plan);
  };
  /** A pull page from the start: how it reads stowage_docs, and whether it sorts. */
  const pullPlan = async (tenantId: string) => {
    const q = pullQuery(store!.db, POSTGRES, tenantId, 0, 101).compile();
    const plan = await explain(q.sql, q.parameters);
    return plan.filter((n) => n["Relation Name"] === "stowage_docs" || n["Node Type"] === "Sort").map((n) => `${n["Node Type"]} ${n["Index Name"] ?? ""}`.trim());
  };
  const analyzed = async () =>
    (
      await pgQuery<{ reltuples: number; last_analyze: string | null }>(
        "select c.reltuples::float8 as reltuples, s.last_analyze from pg_class c join pg_stat_user_tables s on s.relid = c.oid where c.oid = to_regclass('stowage_docs')",
        [],
        schema,
      )
    )[0];
  const pushNew = (tenantId: string, from: number, n: number) =>
    push(store!, tenantId, { clientId: "c", ops: Array.from({ length: n }, (_, i) => ({ opId: from + i, collection: "docs", id: `d${from + i}`, op: "put" as const, value: { n: from + i } })) }, LIMITS, Date.now());

  test("a table that reaches 1,000 rows is analyzed once, and a pull from the start then reads the (tenant_id, seq) index in order", async () => {
    schema = newSchemaName();
    await open();
    const tenantId = (await createTenant(store!, "t")).id;
    await pushNew(tenantId, 1, 999);
    // Below the threshold: no statistics yet.
    expect((await analyzed()).last_analyze).toBeNull();
    await pushNew(tenantId, 1000, 2);
    // The ANALYZE runs in the background after the commit; close() waits for it.
    await store!.close();
    const first = await analyzed();
    expect(first.last_analyze).not.toBeNull();
    expect(first.reltuples).toBe(1001);
    await open();
    expect(await pullPlan(tenantId)).toEqual(["Index Scan stowage_docs_seq"]);
    // Once is enough: the planner scales what it learned by the table's size from then on.
    await pushNew(tenantId, 1002, 5000);
    await store!.close();
    expect(await analyzed()).toEqual(first);
    await open();
    expect(await pullPlan(tenantId)).toEqual(["Index Scan stowage_docs_seq"]);
  });

  test("a server opening a table that grew without statistics (another process, a bulk load) analyzes it at once", async () => {
    schema = newSchemaName();
    await open();
    const tenantId = (await createTenant(store!, "t")).id;
    await store!.close();
    await pgQuery(
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select $1, 'docs', 'd' || g, g, 0, 'loader', jsonb_build_object('n', g), 0 from generate_series(1, 5000) as g`,
      [tenantId],
      schema,
    );
    // The statistics collector reports the inserted rows once the inserting session flushes them.
    const live = async () => Number((await pgQuery<{ n: number }>("select n_live_tup::int as n from pg_stat_user_tables where relid = to_regclass('stowage_docs')", [], schema))[0]?.n);
    for (let i = 0; i < 100 && (await live()) < 5000; i++) await Bun.sleep(100);
    expect((await analyzed()).last_analyze).toBeNull();
    // Without statistics, a pull from the start reads every change after the cursor, then sorts.
    expect(await pullPlan(tenantId)).toContain("Sort");
    await open();
    await store!.close();
    expect((await analyzed()).reltuples).toBe(5000);
    await open();
    expect(await pullPlan(tenantId)).toEqual(["Index Scan stowage_docs_seq"]);
  });

  test("a push's document read probes the primary key once per id, with no statistics as with them, generic or not", async () => {
    schema = newSchemaName();
    await open();
    const tenantId = (await createTenant(store!, "t")).id;
    // Named and served from one generic plan (adapters/postgres/prepared.ts), even when that
    // plan is made on a new, empty table: the probes hold as the table grows.
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema} -c plan_cache_mode=force_generic_plan` });
    await client.connect();
    try {
      await client.query({ name: "g", text: pgMarksAndStatesSql(1), values: [tenantId, '["c"]', "docs", '["d1","d2"]'] });
      const { rows } = await client.query<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) execute g('${tenantId}', '["c"]', 'docs', '["d1","d2"]')`);
      const plan = nodes(rows[0]["QUERY PLAN"][0].Plan);
      expect(plan.filter((n) => n["Relation Name"]).map((n) => `${n["Node Type"]} ${n["Index Name"]}`)).toEqual(["Index Scan stowage_clients_pk", "Index Scan stowage_docs_pk"]);
      expect(plan.some((n) => n["Index Cond"]?.includes("$1"))).toBe(true); // generic indeed: a parameter, not the value
    } finally {
      await client.end();
    }
    await pushNew(tenantId, 1, 999);
    const ids = Array.from({ length: 400 }, (_, i) => `d${i * 2}`);
    for (const stats of [false, true]) {
      expect((await analyzed()).last_analyze === null).toBe(!stats);
      const plan = await explain(pgMarksAndStatesSql(1), [tenantId, '["c"]', "docs", JSON.stringify(ids)]);
      const docs = plan.filter((n) => n["Relation Name"] === "stowage_docs");
      expect(docs.map((n) => `${n["Node Type"]} ${n["Index Name"]}`)).toEqual(["Index Scan stowage_docs_pk"]);
      expect(docs[0]["Index Cond"]).toContain("id = u.id");
      expect(docs[0].Filter).toBeUndefined();
      if (!stats) await pgQuery("analyze stowage_docs", [], schema);
    }
  });
});
