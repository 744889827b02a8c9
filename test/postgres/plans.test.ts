import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { createTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { sql } from "kysely";
import { PG_INSERT_DOCS, PG_SELECT_STATES, PG_UPSERT_DOCS } from "../../src/server/sql/postgres-docs.ts";
import { pullQuery } from "../../src/server/pull.ts";
import { push } from "../../src/server/push.ts";
import { PG_COMMIT_PUSHES, pgMarksAndStatesSql } from "../../src/server/sql/postgres-push.ts";
import { REUSABLE_PLAN } from "../../src/adapter.ts";
import pg from "pg";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { POSTGRES } from "../../src/server/sql/index.ts";

/**
 * Push and pull cost what they touch, not what is stored: on a table big enough for the
 * planner to care (200,000 rows over two tenants, ANALYZEd), the statements the server runs
 * use the primary key (tenant_id, collection, id) and the (tenant_id, seq) index. `bun run
 * bench pg-scale` measures the same at 10,000,000 documents.
 */
const run = await pgAvailable("PostgreSQL plan test");
const ROWS = 200_000;

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Index Cond"?: string;
  "Relation Name"?: string;
  "Conflict Arbiter Indexes"?: string[];
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

describe.skipIf(!run)("PostgreSQL plans of the push and pull statements", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  let tenant: string;

  const explain = async (text: string, params: unknown[]): Promise<PlanNode[]> => {
    const rows = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${text}`, params, schema);
    return nodes(rows[0]["QUERY PLAN"][0].Plan);
  };
  const docsAccess = (plan: PlanNode[]) => plan.filter((n) => n["Relation Name"] === "stowage_docs").map((n) => `${n["Node Type"]} ${n["Index Name"] ?? ""}`.trim());

  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    tenant = (await createTenant(store, "big")).id;
    const other = (await createTenant(store, "other")).id;
    // Seeded in the database itself: half the rows for our tenant, half for another.
    await pgQuery(
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select case when g % 2 = 0 then $1 else $2 end, 'docs', 'd' || g, g, 0, 'seeder', jsonb_build_object('n', g), 0
       from generate_series(1, $3::int) as g`,
      [tenant, other, ROWS],
      schema,
    );
    await pgQuery("update stowage_tenants set seq = $2 where id = $1", [tenant, ROWS], schema);
    await pgQuery("analyze stowage_docs", [], schema);
  }, 60_000);

  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  test("pull: an index range scan of (tenant_id, seq), from a recent cursor and from the start", async () => {
    for (const after of [ROWS - 100, 0]) {
      const q = pullQuery(store.db, POSTGRES, tenant, after, 1001).compile();
      const plan = await explain(q.sql, [...q.parameters]);
      expect(docsAccess(plan)).toEqual(["Index Scan stowage_docs_seq"]);
      expect(plan.some((n) => n["Node Type"] === "Sort")).toBe(false);
    }
  });

  test("push: the document read and the upsert go through the primary key", async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `d${i * 2}`);
    const read = await explain(PG_SELECT_STATES, [tenant, "docs", JSON.stringify(ids)]);
    // 500 keys: one primary-key probe each, never a table scan.
    expect(read.filter((n) => n["Index Name"]).map((n) => n["Index Name"])).toEqual(["stowage_docs_pk"]);
    // Every key of the index is searched, the id too (a filter on it would read the whole tenant).
    const cond = read.find((n) => n["Index Name"])!["Index Cond"]!;
    expect(cond).toContain("tenant_id = ");
    expect(cond).toContain("collection = ");
    expect(cond).toContain("id = u.id");
    expect(read.find((n) => n["Relation Name"] === "stowage_docs")!["Node Type"]).toBe("Index Scan");
    expect(read.some((n) => n["Node Type"] === "Seq Scan")).toBe(false);
    const upsert = await explain(PG_UPSERT_DOCS, [tenant, 0, '["docs"]', '["d2"]', `[${ROWS + 1}]`, "[0]", '["w"]', '[{"n":1}]']);
    const modify = upsert.find((n) => n["Node Type"] === "ModifyTable")!;
    expect(modify["Conflict Arbiter Indexes"]).toEqual(["stowage_docs_pk"]);
    // Nothing in the push's plans reads stowage_docs sequentially.
    expect(upsert.some((n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "stowage_docs")).toBe(false);
    // New documents: a plain insert of the zipped arrays, reading no table at all.
    const insert = await explain(PG_INSERT_DOCS, [tenant, 0, '["docs"]', '["new"]', `[${ROWS + 2}]`, "[0]", '["w"]', '[{"n":1}]']);
    expect(insert.map((n) => n["Node Type"])).toEqual(["ModifyTable", "Function Scan"]);
    expect(insert[0]["Conflict Arbiter Indexes"]).toBeUndefined();
  });

  test("push: the group's marks and document reads, one statement, every branch through a primary key", async () => {
    const ids = Array.from({ length: 500 }, (_, i) => `d${i * 2}`);
    const plan = await explain(pgMarksAndStatesSql(2), [tenant, '["c1","c2"]', "docs", JSON.stringify(ids), "docs", '["d1","d3"]']);
    expect(plan.filter((n) => n["Index Name"]).map((n) => n["Index Name"])).toEqual(["stowage_clients_pk", "stowage_docs_pk", "stowage_docs_pk"]);
    for (const n of plan.filter((n) => n["Index Name"] === "stowage_docs_pk")) expect(n["Index Cond"]).toMatch(/\(id = u(_[0-9]+)?\.id\)/);
    expect(plan.some((n) => n["Node Type"] === "Seq Scan")).toBe(false);
  });

  test("the tenant's counter row is locked by its primary key", async () => {
    const plan = await explain("select seq, purged_seq from stowage_tenants where id = $1 for update", [tenant]);
    expect(plan.map((n) => n["Node Type"])).toEqual(["LockRows", "Index Scan"]);
  });

  test("prepared statements: the marked statements' generic plans, reused after five runs, read nothing by size", async () => {
    // adapters/postgres/prepared.ts names the texts marked REUSABLE_PLAN; PostgreSQL then
    // serves them from one generic plan, made without the parameters' values. Forced here:
    // each finds rows through primary keys, and the write reads no documents at all.
    const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${schema} -c plan_cache_mode=force_generic_plan` });
    await client.connect();
    let n = 0;
    const generic = async (text: string, params: unknown[]): Promise<PlanNode[]> => {
      expect(text.startsWith(REUSABLE_PLAN)).toBe(true);
      const name = `generic_${++n}`;
      await client.query("begin");
      await client.query({ name, text, values: params }); // parsed under a name, as prepared.ts runs it
      const rows = await client.query<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) execute ${name}(${params.map(literal).join(", ")})`);
      await client.query("rollback");
      return nodes(rows.rows[0]["QUERY PLAN"][0].Plan);
    };
    try {
      const lock = await generic(`${REUSABLE_PLAN}select "seq", "purged_seq" from "stowage_tenants" where "id" = $1 for update`, [tenant]);
      expect(lock.some((x) => x["Index Cond"]?.includes("$1"))).toBe(true); // generic indeed: a parameter, not the value
      expect(lock.map((x) => x["Node Type"])).toEqual(["LockRows", "Index Scan"]);
      const write = await generic(PG_COMMIT_PUSHES, [
        tenant, 0, '["docs"]', '["new-1"]', `[${ROWS + 1}]`, "[0]", '["w"]', '[{"n":1}]',
        '["docs"]', '["d2"]', `[${ROWS + 2}]`, "[0]", '["w"]', '[{"n":2}]', ["w"], [2], [0], ROWS + 2,
      ]);
      expect(write.some((x) => x["Relation Name"] === "stowage_docs" && x["Node Type"] !== "ModifyTable")).toBe(false);
      expect(write.some((x) => x["Relation Name"] === "stowage_clients" && x["Node Type"] !== "ModifyTable")).toBe(false);
      const arbiters = write.filter((x) => x["Conflict Arbiter Indexes"]).map((x) => x["Conflict Arbiter Indexes"]);
      expect(arbiters).toEqual([["stowage_clients_pk"], ["stowage_docs_pk"]]);
      // The group's marks and document reads: a primary-key probe per id in every branch.
      const read = await generic(pgMarksAndStatesSql(2), [tenant, '["c1"]', "docs", '["d2","d4"]', "other", '["x"]']);
      expect(read.filter((x) => x["Relation Name"]).map((x) => `${x["Node Type"]} ${x["Index Name"]}`)).toEqual([
        "Index Scan stowage_clients_pk",
        "Index Scan stowage_docs_pk",
        "Index Scan stowage_docs_pk",
      ]);
    } finally {
      await client.end().catch(() => {});
    }
  });

  test("left to choose, PostgreSQL keeps the generic plan of every marked push statement instead of planning each run", async () => {
    // With the default plan_cache_mode, a named statement is planned for its values five times,
    // then served generic only if the generic plan costs no more. The push read once took its
    // ids as text[]: the planner sized unnest() of the values exactly but not of a parameter,
    // so the generic plan always looked dearer and the read was planned again on every push.
    const one = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 1 } }) });
    try {
      const limits = { maxValueChars: 1_000_000, maxValueDepth: 64 };
      for (let i = 1; i <= 12; i++) {
        const ops = [{ opId: i, collection: "docs", id: `plan-${i}`, op: "put" as const, value: { n: i } }];
        const res = await push(one, tenant, { clientId: "plans", ops }, limits, Date.now());
        expect(res.results[0].status).toBe("applied");
      }
      // One pooled connection: its session holds every statement the pushes prepared.
      const { rows } = await sql<{ statement: string; generic_plans: number; custom_plans: number }>`
        select statement, generic_plans::int, custom_plans::int from pg_prepared_statements`.execute(one.db);
      // A pipelined statement was prepared by SQL (src/server/tx.ts): its text starts `prepare <name> as`.
      const marked = rows.map((r) => ({ ...r, statement: r.statement.replace(/^prepare \w+ as /, "") })).filter((r) => r.statement.startsWith(REUSABLE_PLAN));
      // The tenant's lock, the group's marks and document read, the group's write.
      expect(marked.length).toBe(3);
      for (const r of marked) expect({ statement: r.statement.slice(0, 90), custom: r.custom_plans, generic: r.generic_plans }).toEqual({ statement: r.statement.slice(0, 90), custom: 5, generic: 7 });
    } finally {
      await one.close();
    }
  });
});

/** A parameter as an SQL literal for EXPLAIN EXECUTE (an array as an untyped literal, cast to the parameter's type). */
function literal(value: unknown): string {
  if (Array.isArray(value)) return `'{${value.map((v) => (typeof v === "number" ? String(v) : `"${v}"`)).join(",")}}'`;
  if (typeof value === "number") return String(value);
  return `'${String(value).replace(/'/g, "''")}'`;
}
