import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store, isStowageError } from "../../src/index.ts";
import { ftsNames } from "../../src/search/fts-index.ts";
import { all, run } from "../../src/store/sql.ts";
import { tempDir } from "../helpers/tmp.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());
let n = 0;
let store: Store;

beforeEach(async () => {
  store = await Store.open({ adapter: createBunSqliteAdapter({ path: tmp.file(`s${n++}.db`) }) });
});

const notes = () => store.collection("notes", { search: ["title", "body", "tags"] });
const ids = (r: { hits: { id: string }[] }) => r.hits.map((h) => h.id);

/** FTS5's own check that the index matches what it was given; throws on corruption. */
async function integrity(collection: string): Promise<void> {
  const { fts } = ftsNames(collection);
  await run(store.db, `insert into "${fts}" ("${fts}", rank) values ('integrity-check', 1)`);
}

describe("full-text search", () => {
  test("ranks, stems, folds accents and marks snippets", async () => {
    const c = notes();
    await c.putMany([
      { id: "a", title: "Database migrations", body: "We migrated the database twice; the database is fine.", tags: ["ops"] },
      { id: "b", title: "Lunch", body: "A note that mentions a database once, among many other words about food.", tags: [] },
      { id: "c", title: "Café résumé", body: "Nothing to see", tags: ["travel", "paris"] },
      { id: "d", title: "Unrelated", body: "Nothing here either" },
    ]);
    const r = await c.search("database");
    expect(r.engine).toBe("fts5");
    expect(ids(r)).toEqual(["a", "b"]);
    expect(r.hits[0].score).toBeGreaterThan(r.hits[1].score);
    expect(r.hits[0].snippet).toBe("We migrated the **database** twice; the **database** is fine.");
    expect(r.hits[0].doc).toEqual({ id: "a", title: "Database migrations", body: "We migrated the database twice; the database is fine.", tags: ["ops"] });
    expect(ids(await c.search("migrate"))).toEqual(["a"]); // porter: migrate ~ migrated, migrations
    expect(ids(await c.search("cafe resume"))).toEqual(["c"]);
    expect(ids(await c.search("PARIS"))).toEqual(["c"]); // array field
    expect(ids(await c.search("datab*"))).toEqual(["a", "b"]);
    expect(ids(await c.search('"the database is fine"'))).toEqual(["a"]);
    expect(ids(await c.search('"database is food"'))).toEqual([]);
  });

  test("all words by default; any; auto falls back to any", async () => {
    const c = notes();
    await c.putMany([{ id: "a", title: "apple banana" }, { id: "b", title: "apple" }, { id: "c", title: "cherry" }]);
    expect(ids(await c.search("apple banana"))).toEqual(["a"]);
    expect((await c.search("apple cherry", { match: "any" })).hits.map((h) => h.id).sort()).toEqual(["a", "b", "c"]);
    const auto = await c.search("apple cherry", { match: "auto" });
    expect(auto.match).toBe("any");
    expect(ids(auto).sort()).toEqual(["a", "b", "c"]);
    const direct = await c.search("apple banana", { match: "auto" });
    expect(direct.match).toBe("all");
    expect(ids(direct)).toEqual(["a"]);
    expect(ids(await c.search("apple", { limit: 1 }))).toHaveLength(1);
  });

  test("follows put, patch, delete, transactions and rollbacks", async () => {
    const c = notes();
    await c.put({ id: "x", title: "first draft" });
    expect(ids(await c.search("draft"))).toEqual(["x"]);
    await c.put({ id: "x", title: "second version" });
    expect(ids(await c.search("draft"))).toEqual([]);
    expect(ids(await c.search("second"))).toEqual(["x"]);
    await c.patch("x", { body: "with a body" });
    expect(ids(await c.search("second body"))).toEqual(["x"]);
    await c.patch("x", { title: null });
    expect(ids(await c.search("second"))).toEqual([]);
    await c.delete("x");
    expect(ids(await c.search("body"))).toEqual([]);
    await store.transaction(async (tx) => {
      await tx.collection("notes").put({ id: "t1", title: "atomic one" });
      await tx.collection("notes").put({ id: "t2", title: "atomic two" });
    });
    expect(ids(await c.search("atomic")).sort()).toEqual(["t1", "t2"]);
    await expect(
      store.transaction(async (tx) => {
        await tx.collection("notes").put({ id: "t3", title: "atomic three" });
        throw new Error("roll back");
      }),
    ).rejects.toThrow("roll back");
    expect(ids(await c.search("atomic")).sort()).toEqual(["t1", "t2"]);
    await integrity("notes");
  });

  test("documents written before search was declared are indexed; a new field list rebuilds", async () => {
    const plain = store.collection("memo");
    await plain.putMany(Array.from({ length: 50 }, (_, i) => ({ id: `m${i}`, title: `title ${i}`, body: i % 2 ? "odd words" : "even words" })));
    const byTitle = store.collection("memo", { search: ["title"] });
    expect((await byTitle.search("odd")).hits).toHaveLength(0);
    expect(ids(await byTitle.search("title", { limit: 100 }))).toHaveLength(50);
    const byBody = store.collection("memo", { search: ["title", "body"] });
    expect((await byBody.search("odd", { limit: 100 })).hits).toHaveLength(25);
    await integrity("memo");
  });

  test("writes by other code paths (the sync engine's raw SQL) reach the index", async () => {
    const c = notes();
    await c.put({ id: "p", title: "pending local write" });
    expect(ids(await c.search("pending"))).toEqual(["p"]); // searchable while in the outbox
    const body = (v: object) => JSON.stringify(v);
    await run(store.db, "insert into _stowage_docs (collection, id, body, version) values ('notes', 'q', ?, 1)", [body({ id: "q", title: "fetched from server" })]);
    await run(store.db, "insert or replace into _stowage_docs (collection, id, body, version) values ('notes', 'p', ?, 2)", [body({ id: "p", title: "replaced by pull" })]);
    await run(store.db, "update _stowage_docs set version = 3 where collection = 'notes' and id = 'q'");
    expect(ids(await c.search("fetched"))).toEqual(["q"]);
    expect(ids(await c.search("pending"))).toEqual([]);
    expect(ids(await c.search("replaced"))).toEqual(["p"]);
    await run(store.db, "insert or ignore into _stowage_docs (collection, id, body) values ('notes', 'p', ?)", [body({ id: "p", title: "ignored" })]);
    await run(
      store.db,
      "insert into _stowage_docs (collection, id, body, version) values ('notes', 'q', ?, 4), ('notes', 'r', ?, 5) on conflict (collection, id) do update set body = excluded.body, version = excluded.version",
      [body({ id: "q", title: "fetched again" }), body({ id: "r", title: "fetched new" })],
    );
    expect(ids(await c.search("ignored"))).toEqual([]);
    expect(ids(await c.search("fetched")).sort()).toEqual(["q", "r"]);
    await integrity("notes");
    await run(store.db, "delete from _stowage_docs where collection = 'notes'"); // a reset
    expect(ids(await c.search("fetched"))).toEqual([]);
    const { ids: map } = ftsNames("notes");
    expect(await all(store.db, `select * from "${map}"`)).toEqual([]);
    await integrity("notes");
  });

  test("other collections never reach the index", async () => {
    const c = notes();
    await c.put({ id: "n", title: "shared word" });
    await store.collection("other", { search: ["title"] }).put({ id: "n", title: "shared word too" });
    expect(ids(await c.search("shared"))).toEqual(["n"]);
    expect((await c.search("shared")).hits[0].doc.title).toBe("shared word");
    await store.collection("other").delete("n");
    expect(ids(await c.search("shared"))).toEqual(["n"]);
  });

  test("any input is a query, never an FTS5 syntax error", async () => {
    const c = notes();
    await c.put({ id: "s", title: 'foo OR bar NEAR "baz" title:qux -minus' });
    const hostile = ['foo" OR', "NEAR(", "foo AND", "OR", "title:qux", "-minus", "foo*bar", '""foo""', "(foo", "^foo", "foo +", "NOT foo", "{title}: foo"];
    for (const q of hostile) {
      const r = await c.search(q, { match: "any" });
      expect(r.engine).toBe("fts5");
    }
    expect(ids(await c.search('foo" OR'))).toEqual(["s"]);
    expect(ids(await c.search("title:qux"))).toEqual(["s"]);
    for (const bad of ["", "   ", "*", '"', "-- !!"]) {
      const e = await c.search(bad).catch((err) => err);
      expect(isStowageError(e, "input")).toBe(true);
      expect(e.message).toContain("has no words");
    }
    const long = await c.search("x".repeat(1001)).catch((e) => e);
    expect(isStowageError(long, "input")).toBe(true);
    const limit = await c.search("foo", { limit: 0 }).catch((e) => e);
    expect(limit.message).toBe("search limit must be an integer from 1 to 1000, got 0");
    const undeclared = await store.collection("plain").search("foo").catch((e) => e);
    expect(isStowageError(undeclared, "input")).toBe(true);
    expect(undeclared.message).toContain("collection plain declares no search fields");
  });

  test("the LIKE fallback finds the same documents and says it is a fallback", async () => {
    const c = notes();
    await c.putMany([
      { id: "a", title: "Database migrations", body: "the database twice", tags: ["ops"] },
      { id: "b", title: "Lunch", body: "mentions a database once" },
      { id: "c", title: "100% done_ok", tags: ["paris"] },
    ]);
    const r = await c.search("database", { engine: "like" });
    expect(r.engine).toBe("like");
    expect(r.note).toContain("no FTS5");
    expect(ids(r).sort()).toEqual(["a", "b"]);
    expect(r.hits.find((h) => h.id === "b")!.snippet).toBe("mentions a **database** once");
    expect(ids(await c.search("paris", { engine: "like" }))).toEqual(["c"]);
    expect(ids(await c.search("100%", { engine: "like" }))).toEqual(["c"]);
    expect(ids(await c.search("0%", { engine: "like" }))).toEqual(["c"]);
    expect(ids(await c.search("1_0", { engine: "like" }))).toEqual([]); // _ is literal, not a wildcard
    expect(ids(await c.search("database lunch", { engine: "like" }))).toEqual(["b"]);
    expect(ids(await c.search('foo" OR', { engine: "like", match: "any" }))).toEqual([]);
  });
});
