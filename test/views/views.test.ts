import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../../src/index.ts";
import { all, first, run } from "../../src/store/sql.ts";
import { tempDir } from "../helpers/tmp.ts";
import { requireTool } from "./tools.ts";

const Todo = z.object({
  title: z.string(),
  done: z.boolean(),
  prio: z.number().int(),
  score: z.number().optional(),
  tags: z.array(z.string()).default([]),
  meta: z.object({ owner: z.string() }).optional(),
});

describe("a view per collection, readable with plain SQL", () => {
  const tmp = tempDir("stowage-views-");
  const path = tmp.file("local.db");

  beforeAll(async () => {
    const db = await openStowage({ adapter: createBunSqliteAdapter({ path }), env: {} });
    const todos = db.collection("todos", { schema: Todo });
    await todos.putMany([
      { id: "t1", title: "low", done: false, prio: 1, tags: ["a"] },
      { id: "t2", title: "high", done: false, prio: 9, score: 2.5, tags: [], meta: { owner: "ann" } },
      { id: "t3", title: "finished", done: true, prio: 5, tags: [] },
      { id: "t4", title: "mid", done: false, prio: 4, tags: [] },
    ]);
    await todos.delete("t4");
    // A collection named like an SQL keyword, and a schemaless one with an index.
    await db.collection("order", { schema: z.object({ total: z.number() }) }).put({ id: "o1", total: 12.5 });
    await db.collection("notes", { indexes: ["pinned"] }).put({ id: "n1", text: "hi", pinned: true, "odd key": 1 });
    await db.query(); // re-samples the schemaless collection's fields
    await db.close();
  });
  afterAll(() => tmp.cleanup());

  test("the sqlite3 CLI runs the issue's query on the library's file", () => {
    const sqlite3 = requireTool("sqlite3");
    if (!sqlite3) return;
    const r = Bun.spawnSync([sqlite3, path, "select title from todos where done = 0 order by prio desc"]);
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString()).toBe("high\nlow\n");
    expect(r.exitCode).toBe(0);
  });

  test("plain SQL through bun:sqlite: typed columns, JSON text for nested values, body for the whole document", () => {
    const db = new Database(path, { readonly: true });
    try {
      expect(db.query("select id, title, done, prio, score, tags, meta from todos order by id").all()).toEqual([
        { id: "t1", title: "low", done: 0, prio: 1, score: null, tags: '["a"]', meta: null },
        { id: "t2", title: "high", done: 0, prio: 9, score: 2.5, tags: "[]", meta: '{"owner":"ann"}' },
        { id: "t3", title: "finished", done: 1, prio: 5, score: null, tags: "[]", meta: null },
      ]);
      const body = db.query("select body from todos where id = 't2'").get() as { body: string };
      expect(JSON.parse(body.body)).toEqual({ id: "t2", title: "high", done: false, prio: 9, score: 2.5, tags: [], meta: { owner: "ann" } });
      expect(db.query("select count(*) as n, sum(prio) as p from todos where done = 0").get()).toEqual({ n: 2, p: 10 });
      const info = db.query("pragma table_info(todos)").all() as { name: string; type: string }[];
      // One shape for every opener: fields in name order, values as stored (typed queries cast in the query).
      expect(info.map((c) => [c.name, c.type])).toEqual([
        ["id", "TEXT"], ["done", ""], ["meta", ""], ["prio", ""], ["score", ""], ["tags", ""], ["title", ""], ["body", "TEXT"],
      ]);
    } finally {
      db.close();
    }
  });

  test("generic tools see one table per collection: list the views and query each", () => {
    const db = new Database(path, { readonly: true });
    try {
      const views = (db.query("select name from sqlite_master where type = 'view' order by name").all() as { name: string }[]).map((r) => r.name);
      expect(views).toEqual(["notes", "order", "todos"]);
      const counts = Object.fromEntries(views.map((v) => [v, (db.query(`select count(*) as n from "${v}"`).get() as { n: number }).n]));
      expect(counts).toEqual({ notes: 1, order: 1, todos: 3 });
      expect(db.query(`select total from "order"`).all()).toEqual([{ total: 12.5 }]);
      // Schemaless: indexed fields and the fields seen in stored documents, sorted, as stored.
      expect(db.query("select * from notes").all()).toEqual([
        { id: "n1", "odd key": 1, pinned: 1, text: "hi", body: '{"id":"n1","text":"hi","pinned":true,"odd key":1}' },
      ]);
    } finally {
      db.close();
    }
  });

  test("a write through a view fails with a message pointing at the library, and changes nothing", () => {
    const db = new Database(path);
    try {
      for (const stmt of [
        "insert into todos (id, title) values ('x', 'sneaky')",
        "update todos set title = 'changed' where id = 't1'",
        "delete from todos where id = 't1'",
      ]) {
        expect(() => db.run(stmt)).toThrow("stowage: todos is a read-only view; write through the Stowage library so the change syncs");
      }
      expect(db.query("select count(*) as n from _stowage_outbox where id in ('x', 't1')").get()).toEqual({ n: 1 });
      expect(db.query("select title from todos where id = 't1'").get()).toEqual({ title: "low" });
    } finally {
      db.close();
    }
    const sqlite3 = requireTool("sqlite3");
    if (!sqlite3) return;
    const r = Bun.spawnSync([sqlite3, path, "delete from todos"]);
    expect(r.exitCode).not.toBe(0);
    expect(r.stderr.toString()).toContain("todos is a read-only view; write through the Stowage library");
  });
});

describe("views follow the declaration", () => {
  let tmp: ReturnType<typeof tempDir>;
  let db: Stowage;
  beforeAll(async () => {
    tmp = tempDir("stowage-views-");
    db = await openStowage({ adapter: createBunSqliteAdapter({ path: tmp.file("local.db") }), env: {} });
  });
  afterAll(async () => {
    await db.close();
    tmp.cleanup();
  });

  // Views are made just after a handle's first call commits; idle() waits for that.
  const columns = async (name: string) =>
    (await db.store!.views.idle(), await all<{ name: string }>(db.store!.db, "select name from pragma_table_info(?)", [name])).map((r) => r.name);
  test("re-declaring with the same options makes no DDL; a changed schema replaces the view", async () => {
    const sv = async () => (await db.store!.views.idle(), await first<{ schema_version: number }>(db.store!.db, "pragma schema_version"))!.schema_version;
    const a = db.collection("items", { schema: z.object({ name: z.string() }) });
    await a.put({ id: "i1", name: "one" });
    expect(await columns("items")).toEqual(["id", "name", "body"]);
    const before = await sv();
    await db.collection("items", { schema: z.object({ name: z.string() }) }).put({ id: "i2", name: "two" });
    expect(await sv()).toBe(before); // same columns: no DDL at all
    const b = db.collection("items", { schema: z.object({ name: z.string(), size: z.number().int().optional() }) });
    await b.put({ id: "i3", name: "three", size: 3 });
    expect(await sv()).toBeGreaterThan(before);
    expect(await columns("items")).toEqual(["id", "name", "size", "body"]);
    const q = await db.query({ items: { schema: z.object({ name: z.string(), size: z.number().int().optional() }) } });
    expect(await q.selectFrom("items").select(["id", "size"]).orderBy("id").execute()).toEqual([
      { id: "i1", size: null },
      { id: "i2", size: null },
      { id: "i3", size: 3 },
    ]);
  });

  test("a schemaless view picks up new fields when query() re-samples", async () => {
    const c = db.collection("loose");
    await c.put({ id: "l1" });
    expect(await columns("loose")).toEqual(["id", "body"]);
    await c.put({ id: "l2", colour: "red" });
    await db.query();
    expect(await columns("loose")).toEqual(["id", "colour", "body"]);
  });

  test("a table of the user's with a collection's name is left alone", async () => {
    await run(db.store!.db, "create table mine (x)");
    await db.collection("mine").put({ id: "m1", a: 1 });
    expect(await db.collection("mine").get("m1")).toEqual({ id: "m1", a: 1 });
    expect(await columns("mine")).toEqual(["x"]);
  });
});
