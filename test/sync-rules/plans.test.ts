import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { createTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { loadRules } from "../../src/server/sync-rules/index.ts";
import { ensureRuleIndexes } from "../../src/server/sync-rules/indexes.ts";
import { anchorQuery, leftQuery } from "../../src/server/sync-rules/pull-view.ts";
import type { Anchor } from "../../src/server/sync-rules/anchors.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { tempDir } from "../helpers/tmp.ts";

/**
 * A view's pull costs what the view changed (issue 34): each anchor's read is an index range in
 * seq order, on the field's expression index or the collection's index, never the tenant's
 * changes filtered, and never a sort. Checked on tables big enough for the planners to care.
 */
const RULES = loadRules("claims: sub\nindex todos: project, n\ntodos read: owner == auth.sub or shared == true\n* read: true\n");
const ANCHORS: [Anchor, string][] = [
  [{ kind: "field", collection: "todos", path: "owner", value: "u7" }, "stowage_docs_f_owner"],
  [{ kind: "field", collection: "todos", path: "shared", value: true }, "stowage_docs_f_shared"],
  [{ kind: "collection", collection: "notes" }, "stowage_docs_collection_seq"],
];
const ROWS = 100_000;
/** A numeric range: the field's index read over the range (then sorted), never the collection or the tenant. */
const RANGE: Anchor = { kind: "range", collection: "todos", path: "n", range: { lo: [">=", ROWS - 50], hi: ["<", ROWS - 10] } };
const SEED = (tenant: string) => `with recursive g(n) as (select 1 union all select n + 1 from g where n < ${ROWS})
  insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
  select '${tenant}', case when n % 10 = 0 then 'notes' else 'todos' end, 'd' || n, n, 0, null,
    '{"id":"d' || n || '","n":' || n || ',"owner":"u' || (n % 100) || '","shared":' || case when n % 1000 = 0 then 'true' else 'false' end || ',"project":"p' || (n % 7) || '"}', 0
  from g`;

describe("anchor reads use the rules' indexes [sqlite]", () => {
  const tmp = tempDir("stowage-rules-plans-");
  let store: ServerStore;
  let tenant: string;
  beforeAll(async () => {
    store = await openServerStore({ adapter: createBunSqliteAdapter({ path: tmp.file("s.db") }) });
    tenant = (await createTenant(store, "big")).id;
    await sql.raw(SEED(tenant)).execute(store.db);
    await ensureRuleIndexes(store.db, store.dialect, RULES);
    await sql`analyze`.execute(store.db);
  }, 60_000);
  afterAll(async () => {
    await store.close();
    tmp.cleanup();
  });

  test.each(ANCHORS)("%p reads %s in seq order", async (anchor, index) => {
    for (const from of [0, ROWS - 500]) {
      const q = anchorQuery(store, tenant, anchor, from, ROWS, 1001);
      const { rows } = await sql<{ detail: string }>`explain query plan ${q}`.execute(store.db);
      const details = rows.map((r) => r.detail).join(" | ");
      expect(details).toContain(`USING INDEX ${index}`);
      expect(details).not.toContain("TEMP B-TREE");
    }
  });

  test("a numeric range reads the field's index or the collection's, never the tenant's", async () => {
    // SQLite keeps no value histogram: it may prefer the collection read in seq order (no sort) to the range.
    const { rows } = await sql<{ detail: string }>`explain query plan ${anchorQuery(store, tenant, RANGE, 0, ROWS, 1001)}`.execute(store.db);
    expect(rows.map((r) => r.detail).join(" | ")).toMatch(/USING INDEX (stowage_docs_f_n|stowage_docs_collection_seq) \(tenant_id=\? AND collection=\?/);
  });
});

describe("a numeric range anchor", () => {
  test("is what a range subscription reads", async () => {
    const { anchorsOf } = await import("../../src/server/sync-rules/anchors.ts");
    expect(anchorsOf(RULES, undefined, [{ collection: "notes", where: { n: { gte: 2, lt: 5 } } }])).toEqual([{ kind: "range", collection: "notes", path: "n", range: { lo: [">=", 2], hi: ["<", 5] } }]);
    expect(anchorsOf(RULES, undefined, [{ collection: "notes", where: { n: { gte: 2 }, project: "p" } }])).toEqual([{ kind: "field", collection: "notes", path: "project", value: "p" }]);
    expect(anchorsOf(RULES, undefined, [{ collection: "notes", where: { project: { gte: "p" } } }])).toEqual([{ kind: "collection", collection: "notes" }]);
  });

  test("past 64 anchors a view reads collections whole, past 64 collections the tenant", async () => {
    const { anchorsOf } = await import("../../src/server/sync-rules/anchors.ts");
    const many = Array.from({ length: 20 }, (_, i) => ({ collection: i % 2 ? "notes" : "todos", where: { project: { in: Array.from({ length: 16 }, (_, j) => `p${i}-${j}`) } } }));
    expect(anchorsOf(RULES, undefined, many)).toEqual([
      { kind: "collection", collection: "todos" },
      { kind: "collection", collection: "notes" },
    ]);
    const wide = loadRules(Array.from({ length: 70 }, (_, i) => `c${i} read: true\n`).join(""));
    expect(anchorsOf(wide, undefined, undefined)).toBeUndefined();
  });
});

const runPg = await pgAvailable("sync rules plan test (PostgreSQL)");

interface PlanNode {
  "Node Type": string;
  "Index Name"?: string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}
const nodes = (plan: PlanNode): PlanNode[] => [plan, ...(plan.Plans ?? []).flatMap(nodes)];

describe.skipIf(!runPg)("anchor reads use the rules' indexes [postgres]", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  let tenant: string;
  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    tenant = (await createTenant(store, "big")).id;
    await pgQuery(
      `insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at)
       select $1, case when n % 10 = 0 then 'notes' else 'todos' end, 'd' || n, n, 0, null,
         jsonb_build_object('id', 'd' || n, 'n', n, 'owner', 'u' || (n % 100), 'shared', n % 1000 = 0, 'project', 'p' || (n % 7)), 0
       from generate_series(1, $2::int) as n`,
      [tenant, ROWS],
      schema,
    );
    await ensureRuleIndexes(store.db, store.dialect, RULES);
    await pgQuery("analyze stowage_docs", [], schema);
  }, 60_000);
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  test.each(ANCHORS)("%p reads %s in seq order", async (anchor, index) => {
    for (const from of [0, ROWS - 500]) {
      const q = anchorQuery(store, tenant, anchor, from, ROWS, 1001).compile(store.db);
      const rows = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${q.sql}`, [...q.parameters], schema);
      const plan = nodes(rows[0]["QUERY PLAN"][0].Plan);
      const access = plan.filter((n) => n["Relation Name"] === "stowage_docs").map((n) => n["Index Name"]);
      expect(access).toEqual([index]);
      expect(plan.some((n) => n["Node Type"] === "Sort")).toBe(false);
    }
  });

  test("the leaves' read probes each moved document by its primary key", async () => {
    await pgQuery(`insert into stowage_doc_moves (tenant_id, seq, collection, id, body, created_at) select $1, n, 'todos', 'd' || n, '{}', 0 from generate_series($2::int, $3::int) n`, [tenant, ROWS - 100, ROWS], schema);
    await pgQuery("analyze stowage_doc_moves", [], schema);
    // From far back (every document's row is after the cursor): one primary-key probe per move.
    const q = leftQuery(tenant, ROWS - 100, 1, ROWS).compile(store.db);
    const rows = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${q.sql}`, [...q.parameters], schema);
    const access = nodes(rows[0]["QUERY PLAN"][0].Plan).filter((n) => n["Relation Name"] === "stowage_docs").map((n) => n["Index Name"]);
    expect(access).toEqual(["stowage_docs_pk"]);
    // From a recent cursor the planner may read the few recent rows by seq instead; never the tenant.
    const recent = leftQuery(tenant, ROWS - 100, ROWS - 100, ROWS).compile(store.db);
    const plan = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${recent.sql}`, [...recent.parameters], schema);
    const docs = nodes(plan[0]["QUERY PLAN"][0].Plan).filter((n) => n["Relation Name"] === "stowage_docs");
    expect(docs.every((n) => n["Index Name"] === "stowage_docs_pk" || n["Index Name"] === "stowage_docs_seq")).toBe(true);
  });

  test("a numeric range reads the field's index", async () => {
    const q = anchorQuery(store, tenant, RANGE, 0, ROWS, 1001).compile(store.db);
    const rows = await pgQuery<{ "QUERY PLAN": { Plan: PlanNode }[] }>(`explain (format json) ${q.sql}`, [...q.parameters], schema);
    const access = nodes(rows[0]["QUERY PLAN"][0].Plan).filter((n) => n["Relation Name"] === "stowage_docs").map((n) => n["Index Name"]);
    expect(access).toEqual(["stowage_docs_f_n"]);
  });
});
