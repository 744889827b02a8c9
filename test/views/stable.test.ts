/**
 * A collection's view has one shape whoever opened the file last: a typed `db.query()` with a
 * narrower schema, the CLI's schemaless `list`, and sqlite3 running saved SQL all see the same
 * columns (the issue: the typed query dropped `tags` and `meta`, the CLI put them back).
 */
import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { z } from "zod";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage } from "../../src/index.ts";
import { cli } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { requireTool } from "./tools.ts";

const tmp = tempDir("stowage-views-stable-");
afterAll(() => tmp.cleanup());

const SAVED_SQL = "select id, title, done, tags, meta from todos order by id";

test("typed query, then CLI list, then sqlite3 saved SQL: the view keeps tags and meta, and its SQL never changes", async () => {
  const path = tmp.file("app.db");
  const viewSql = () => {
    const db = new Database(path, { readonly: true });
    try {
      return (db.query("select sql from sqlite_master where type = 'view' and name = 'todos'").get() as { sql: string }).sql;
    } finally {
      db.close();
    }
  };
  // Written by the CLI (schemaless): fields the app's schema does not name.
  expect((await cli(["put", "todos", '{"id":"t1","title":"milk","done":false,"tags":["shop"],"meta":{"by":"cli"}}', "--db", path])).code).toBe(0);
  expect((await cli(["put", "todos", '{"id":"t2","title":"bread","done":true,"tags":[],"meta":null}', "--db", path])).code).toBe(0);
  expect((await cli(["list", "todos", "--db", path])).code).toBe(0);
  const first = viewSql();
  expect(first).toContain('AS "tags"');
  expect(first).toContain('AS "meta"');

  // A typed query with a narrower schema: casts in its own SQL, rows typed by the schema.
  const app = await openStowage({ adapter: createBunSqliteAdapter({ path }), env: {} });
  const q = await app.query({ todos: { schema: z.object({ title: z.string(), done: z.boolean() }) } });
  const compiled = q.selectFrom("todos").select(["id", "title", "done"]).orderBy("id").compile();
  expect(compiled.sql).toContain("CAST(json_extract(body, '$.\"title\"') AS TEXT)");
  expect(compiled.sql).toContain("CAST(json_extract(body, '$.\"done\"') AS INTEGER)");
  expect(await q.selectFrom("todos").select(["id", "title", "done"]).orderBy("id").execute()).toEqual([
    { id: "t1", title: "milk", done: 0 },
    { id: "t2", title: "bread", done: 1 },
  ]);
  await app.close();
  expect(viewSql()).toBe(first); // on the old code: the view now had title and done only
  expect(viewSql()).not.toContain("CAST");

  // The CLI opens it again, schemaless.
  expect((await cli(["list", "todos", "--db", path])).code).toBe(0);
  expect(viewSql()).toBe(first);

  // Saved SQL runs the same whichever opened last.
  const expected = [
    { id: "t1", title: "milk", done: 0, tags: '["shop"]', meta: '{"by":"cli"}' },
    { id: "t2", title: "bread", done: 1, tags: "[]", meta: null },
  ];
  const db = new Database(path, { readonly: true });
  try {
    expect(db.query(SAVED_SQL).all()).toEqual(expected);
    const record = JSON.parse((db.query("select value from _stowage_meta where key = 'view:todos'").get() as { value: string }).value);
    expect(record.columns).toEqual(["done", "meta", "tags", "title"]);
    expect(record.schema).toEqual([{ name: "title", kind: "text" }, { name: "done", kind: "boolean" }]); // the declared schema, recorded
  } finally {
    db.close();
  }
  const sqlite3 = requireTool("sqlite3");
  if (sqlite3) {
    const r = Bun.spawnSync([sqlite3, "-json", path, SAVED_SQL]);
    expect(r.stderr.toString()).toBe("");
    expect(JSON.parse(r.stdout.toString())).toEqual(expected);
  }

  // And the typed query once more, last: still the same view.
  const again = await openStowage({ adapter: createBunSqliteAdapter({ path }), env: {} });
  await again.query({ todos: { schema: z.object({ title: z.string() }) } });
  await again.close();
  expect(viewSql()).toBe(first);
}, 60_000);

test("a new field widens the view (appended, never reordering what saved SQL sees); a query defining its own CTE of that name keeps it", async () => {
  const path = tmp.file("grow.db");
  const app = await openStowage({ adapter: createBunSqliteAdapter({ path }), env: {} });
  const todos = app.collection("todos", { schema: z.object({ title: z.string(), prio: z.number().int() }) });
  await todos.put({ id: "a", title: "x", prio: 2 });
  await app.query();
  const cols = () => (new Database(path, { readonly: true }).query("select name from pragma_table_info('todos')").all() as { name: string }[]).map((r) => r.name);
  expect(cols()).toEqual(["id", "prio", "title", "body"]);
  // Another opener, schemaless (an older app, a script), writes a field the schema lacks.
  const other = await openStowage({ adapter: createBunSqliteAdapter({ path }), env: {} });
  await other.collection("todos").put({ id: "b", title: "y", prio: 1, area: "home" });
  await other.query();
  await other.close();
  expect(cols()).toEqual(["id", "prio", "title", "area", "body"]);
  const q = await app.query({ todos: { schema: z.object({ title: z.string(), prio: z.number().int() }) } });
  const own: unknown[] = await q.with("todos", (db) => db.selectNoFrom((eb) => [eb.val("z").as("id")])).selectFrom("todos").selectAll().execute();
  expect(own).toEqual([{ id: "z" }]);
  await app.close();
}, 60_000);
