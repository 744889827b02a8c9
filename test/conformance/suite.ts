import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { z } from "zod";
import type { AdapterCapabilities, StowageAdapter } from "../../src/adapter.ts";
import { StowageError } from "../../src/errors.ts";
import { all, run } from "../../src/store/sql.ts";
import { Store } from "../../src/store/store.ts";
import { typedQuery } from "../../src/store/typed-query.ts";
import { tempDir } from "../helpers/tmp.ts";

export interface ConformanceTarget {
  /** Shown in test names, e.g. `bun-sqlite`. */
  name: string;
  /** An adapter on the database at `path`; the same path must reopen the same data when persistent. */
  open: (path: string) => StowageAdapter;
  /** What the adapter declares; cases needing more are skipped with the reason printed. */
  capabilities: AdapterCapabilities;
}

/** Registers the shared adapter conformance suite; a new adapter is done when it passes. */
export function runConformance(target: ConformanceTarget): void {
  const caps = target.capabilities;
  const skip = (needed: keyof AdapterCapabilities, when: boolean) => {
    if (when) console.log(`[conformance ${target.name}] skipping cases that need ${needed}: the adapter does not declare it`);
    return when;
  };
  const noPersist = skip("persistent", !caps.persistent);
  const noMulti = skip("multiProcess", !caps.multiProcess);

  describe(`conformance: ${target.name}`, () => {
    let dir: ReturnType<typeof tempDir>;
    let path: string;
    let store: Store;
    const open = () => Store.open({ adapter: target.open(path) });

    beforeEach(async () => {
      dir = tempDir();
      path = dir.file("local.db");
      store = await open();
    });
    afterEach(async () => {
      await store.close();
      dir.cleanup();
    });

    const outbox = async (s: Store = store) =>
      (await s.db.selectFrom("_stowage_outbox").selectAll().orderBy("op_id").execute()) as any[];
    const docCount = async (s: Store = store) =>
      Number(((await s.db.selectFrom("_stowage_docs").select((eb) => eb.fn.countAll().as("n")).executeTakeFirst()) as any).n);

    test("put generates a UUIDv7 id, keeps a given one, and get reads it back", async () => {
      const notes = store.collection("notes");
      const a = await notes.put({ text: "hello", n: 1, nested: { deep: [1, "two", null] } });
      expect(a.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(await notes.get(a.id)).toEqual({ id: a.id, text: "hello", n: 1, nested: { deep: [1, "two", null] } });
      const b = await notes.put({ id: "given-1", text: "x" });
      expect(b.id).toBe("given-1");
      expect(await notes.get("given-1")).toEqual({ id: "given-1", text: "x" });
      expect(await notes.get("missing")).toBeUndefined();
    });

    test("every write commits with exactly one outbox entry, in op id order", async () => {
      const c = store.collection("items");
      const a = await c.put({ v: 1 });
      await c.patch(a.id, { w: 2 });
      await c.delete(a.id);
      await c.putMany([{ id: "m1" }, { id: "m2" }, { id: "m3" }]);
      const ops = await outbox();
      expect(ops.map((o) => [o.op, o.id])).toEqual([
        ["put", a.id],
        ["patch", a.id],
        ["delete", a.id],
        ["put", "m1"],
        ["put", "m2"],
        ["put", "m3"],
      ]);
      expect(ops.map((o) => o.op_id)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(JSON.parse(ops[1].body)).toEqual({ w: 2 });
      expect(ops[2].body).toBeNull();
      expect((await store.status()).outbox.size).toBe(6);
    });

    test("patch is a JSON Merge Patch: nested merge, null removes, arrays replace", async () => {
      const c = store.collection("docs");
      const d = await c.put({ a: 1, b: { x: 1, y: 2 }, list: [1, 2], gone: true });
      const patched = await c.patch(d.id, { b: { y: null, z: 3 }, list: [9], gone: null, added: "yes" });
      expect(patched).toEqual({ id: d.id, a: 1, b: { x: 1, z: 3 }, list: [9], added: "yes" });
      expect(await c.get(d.id)).toEqual(patched);
    });

    test("delete removes the document and queues a delete even for an unknown id", async () => {
      const c = store.collection("docs");
      const d = await c.put({ a: 1 });
      expect(await c.delete(d.id)).toBe(true);
      expect(await c.get(d.id)).toBeUndefined();
      expect(await c.delete("never-here")).toBe(false);
      expect((await outbox()).map((o) => o.op)).toEqual(["put", "delete", "delete"]);
    });

    test("list filters: equality, ranges, in, null, booleans, nested fields", async () => {
      const c = store.collection("tasks", { indexes: ["done", ["prio", "title"]] });
      await c.putMany([
        { id: "t1", title: "a", prio: 1, done: false, owner: { name: "ann" } },
        { id: "t2", title: "b", prio: 2, done: true, owner: { name: "bob" } },
        { id: "t3", title: "c", prio: 3, done: false, owner: { name: "ann" }, due: null },
        { id: "t4", title: "d", prio: 4, done: true },
      ]);
      const ids = async (where: any) => (await c.list({ where })).items.map((d) => d.id);
      expect(await ids({ done: false })).toEqual(["t1", "t3"]);
      expect(await ids({ done: true, prio: { gte: 3 } })).toEqual(["t4"]);
      expect(await ids({ prio: { gt: 1, lt: 4 } })).toEqual(["t2", "t3"]);
      expect(await ids({ prio: { in: [1, 4] } })).toEqual(["t1", "t4"]);
      expect(await ids({ "owner.name": "ann" })).toEqual(["t1", "t3"]);
      expect(await ids({ owner: null })).toEqual(["t4"]);
      expect(await ids({ title: { ne: "a" } })).toEqual(["t2", "t3", "t4"]);
      expect(await c.count({ done: true })).toBe(2);
    });

    test("declared indexes exist and the filter uses them", async () => {
      const c = store.collection("tasks", { indexes: ["done"] });
      await c.put({ done: true });
      const plan = (await store.db
        .executeQuery({
          sql: "explain query plan select id from _stowage_docs where collection = ? and json_extract(body, '$.done') = ?",
          parameters: ["tasks", 1],
          query: { kind: "RawNode" } as any,
          queryId: { queryId: "plan" },
        } as any)) as any;
      expect(JSON.stringify(plan.rows)).toContain("_stowage_ix_tasks__done");
    });

    test("ordering asc and desc with ties broken by id, and cursor pagination visits every document once", async () => {
      const c = store.collection("nums", { indexes: ["n"] });
      const docs = Array.from({ length: 53 }, (_, i) => ({ id: `d${String(i).padStart(3, "0")}`, n: i % 7, ...(i % 10 === 0 ? { n: null } : {}) }));
      await c.putMany(docs);
      for (const orderBy of ["n", "-n", "id", "-id"]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await c.list({ orderBy, limit: 5, cursor });
          seen.push(...page.items.map((d) => d.id));
          cursor = page.next;
        } while (cursor);
        const all = (await c.list({ orderBy, limit: 1000 })).items.map((d) => d.id);
        expect(seen).toEqual(all);
        expect(new Set(seen).size).toBe(53);
      }
      const asc = (await c.list({ orderBy: "n", limit: 1000 })).items;
      for (let i = 1; i < asc.length; i++) {
        const [p, q] = [asc[i - 1], asc[i]];
        const pn = p.n ?? -Infinity;
        const qn = q.n ?? -Infinity;
        expect(pn < qn || (pn === qn && p.id < q.id)).toBe(true);
      }
    });

    test("a transaction commits all writes with one group id, or rolls back whole on error", async () => {
      const c = store.collection("acct");
      await store.transaction(async (tx) => {
        await tx.collection("acct").put({ id: "a", bal: 10 });
        await tx.collection("acct").put({ id: "b", bal: 20 });
      });
      const ops = await outbox();
      expect(ops).toHaveLength(2);
      expect(ops[0].tx).toBe(ops[0].op_id);
      expect(ops[1].tx).toBe(ops[0].op_id);

      await expect(
        store.transaction(async (tx) => {
          await tx.collection("acct").patch("a", { bal: 0 });
          await tx.collection("acct").put({ id: "c", bal: 5 });
          throw new Error("boom");
        }),
      ).rejects.toThrow("boom");
      expect(await c.get("a")).toEqual({ id: "a", bal: 10 });
      expect(await c.get("c")).toBeUndefined();
      expect(await outbox()).toHaveLength(2);
      expect(await docCount()).toBe(2);
    });

    test("raw statements in a transaction run in it: they see its writes and roll back with it, while a query from outside waits", async () => {
      // The synchronous drivers run a transaction's raw statements on its connection directly (src/store/sql.ts).
      await run(store.db, "create table raw_direct (v integer not null)");
      let outside: Promise<{ n: number }[]> | undefined;
      const error = await store.db
        .transaction()
        .execute(async (trx) => {
          expect(await run(trx, "insert into raw_direct (v) values (?), (?)", [1, 2])).toBe(2);
          expect(await all<{ v: number }>(trx, "select v from raw_direct order by v")).toEqual([{ v: 1 }, { v: 2 }]);
          outside = all<{ n: number }>(store.db, "select count(*) as n from raw_direct");
          await new Promise((resolve) => setTimeout(resolve, 20));
          await trx.insertInto("raw_direct" as never).values({ v: 3 } as never).execute();
          expect(await all<{ n: number }>(trx, "select count(*) as n from raw_direct")).toEqual([{ n: 3 }]);
          throw new Error("roll back");
        })
        .then(() => undefined, (e: Error) => e.message);
      expect(error).toBe("roll back");
      expect(await outside).toEqual([{ n: 0 }]);
      expect(await all<{ n: number }>(store.db, "select count(*) as n from raw_direct")).toEqual([{ n: 0 }]);
    });

    test("a transaction larger than one push request is refused whole", async () => {
      const error = await store
        .transaction(async (tx) => {
          await tx.collection("big").putMany(Array.from({ length: 1001 }, (_, i) => ({ id: `b${i}` })));
        })
        .then(() => undefined, (e) => e);
      expect(error).toBeInstanceOf(StowageError);
      expect(error.message).toContain("at most 1000 writes");
      expect(await store.collection("big").count()).toBe(0);
      expect(await outbox()).toHaveLength(0);
    });

    test("concurrent writes from one process all land, each with its outbox entry", async () => {
      const c = store.collection("conc");
      await Promise.all(Array.from({ length: 200 }, (_, i) => c.put({ id: `k${i}`, i })));
      expect(await c.count()).toBe(200);
      expect(await outbox()).toHaveLength(200);
    });

    test("bad input is refused with a message naming the value, and changes nothing", async () => {
      const typed = store.collection("typed", { schema: z.object({ title: z.string(), n: z.number().int() }) });
      await typed.put({ id: "ok", title: "fine", n: 1 });
      const before = { outbox: (await outbox()).length, docs: await docCount() };
      const cases: [() => Promise<unknown>, RegExp][] = [
        [() => store.collection("Bad Name!").put({}), /invalid collection name "Bad Name!"/],
        [() => store.collection("../etc").get("x"), /invalid collection name/],
        [() => typed.put([1, 2] as any), /must be a JSON object, got \[1,2\]/],
        [() => typed.put("text" as any), /must be a JSON object, got "text"/],
        [() => typed.put({ title: 42, n: 1 } as any), /fails its schema at title/],
        [() => typed.put({ id: "a/b", title: "x", n: 1 }), /invalid document id "a\/b"/],
        [() => typed.list({ where: { nope: 1 } as any }), /unknown field "nope"/],
        [() => typed.list({ where: { title: { like: "x" } } as any }), /unknown filter operator "like"/],
        [() => typed.list({ limit: 0 }), /limit must be an integer/],
        [() => typed.list({ cursor: "garbage!!" }), /invalid list cursor/],
        [() => typed.patch("ok", { n: 1.5 }), /fails its schema at n/],
        [() => typed.patch("missing", { n: 2 }), /not found/],
        [() => store.collection("free").put({ bad: Number.NaN }), /JSON cannot hold at bad/],
      ];
      for (const [fn, message] of cases) {
        const error = await (async () => fn())().then(
          () => undefined,
          (e) => e,
        );
        expect(error).toBeInstanceOf(StowageError);
        expect((error as StowageError).code).toBe("input");
        expect((error as StowageError).message).toMatch(message);
      }
      expect({ outbox: (await outbox()).length, docs: await docCount() }).toEqual(before);
      expect(await typed.get("ok")).toEqual({ id: "ok", title: "fine", n: 1 });
    });

    test.skipIf(noPersist)("migrations run once, and reopening keeps data, outbox and client id", async () => {
      const c = store.collection("keep");
      await c.putMany([{ id: "x", v: 1 }, { id: "y", v: 2 }]);
      const clientId = store.clientId;
      await store.close();
      store = await open();
      await store.close();
      store = await open();
      expect(store.clientId).toBe(clientId);
      expect(await store.collection("keep").get("y")).toEqual({ id: "y", v: 2 });
      expect(await outbox()).toHaveLength(2);
      const migrations = await store.db.selectFrom("_stowage_migration").selectAll().execute();
      expect(migrations.map((m: any) => m.name)).toEqual(["0001_local_store", "0002_pull_stage_and_refresh", "0003_rest_id_map"]);
      // op ids keep increasing across reopen and never reuse an acknowledged id
      await store.db.deleteFrom("_stowage_outbox").execute();
      await store.collection("keep").put({ id: "z" });
      expect((await outbox()).map((o) => o.op_id)).toEqual([3]);
    });

    // Concurrent writers on one file are tested with real processes in test/store/multiprocess.test.ts:
    // two connections in one thread would deadlock on a synchronous driver's busy wait.
    test.skipIf(noMulti)("a second connection on the same file sees committed writes and the same client id", async () => {
      await store.collection("shared").putMany([{ id: "s1" }, { id: "s2" }]);
      // The first store's view work runs in the background in a write transaction: a second
      // connection in the same thread cannot wait for it (see above), so let it finish first.
      await store.views.idle();
      const other = await open();
      try {
        expect(other.clientId).toBe(store.clientId);
        expect((await other.collection("shared").list()).items.map((d) => d.id)).toEqual(["s1", "s2"]);
        await other.collection("shared").put({ id: "s3" });
        expect(await store.collection("shared").count()).toBe(3);
        expect((await outbox()).map((o) => o.op_id)).toEqual([1, 2, 3]);
      } finally {
        await other.close();
      }
    });

    test("views and typed queries: a join and an aggregate over two collections, writes through a view refused", async () => {
      const Todo = z.object({ title: z.string(), done: z.boolean(), prio: z.number().int(), owner: z.string() });
      const Person = z.object({ name: z.string() });
      await store.collection("people", { schema: Person }).putMany([{ id: "p1", name: "ann" }, { id: "p2", name: "bob" }]);
      await store.collection("todos", { schema: Todo }).putMany([
        { id: "t1", title: "a", done: false, prio: 3, owner: "p1" },
        { id: "t2", title: "b", done: true, prio: 1, owner: "p1" },
        { id: "t3", title: "c", done: false, prio: 2, owner: "p2" },
        { id: "t4", title: "d", done: false, prio: 5, owner: "p1" },
      ]);
      const q = await typedQuery(store, { todos: { schema: Todo }, people: { schema: Person } });
      const rows = await q
        .selectFrom("todos")
        .innerJoin("people", "people.id", "todos.owner")
        .select(["people.name", (eb) => eb.fn.countAll<number>().as("open"), (eb) => eb.fn.max("todos.prio").as("top")])
        .where("todos.done", "=", 0)
        .groupBy("people.name")
        .orderBy("people.name")
        .execute();
      expect(rows.map((r) => ({ ...r, open: Number(r.open), top: Number(r.top) }))).toEqual([
        { name: "ann", open: 2, top: 5 },
        { name: "bob", open: 1, top: 2 },
      ]);
      const before = (await outbox()).length;
      await expect(store.db.insertInto("todos").values({ id: "x", body: "{}" }).execute()).rejects.toThrow("todos is a read-only view");
      await expect(store.db.deleteFrom("people").execute()).rejects.toThrow("people is a read-only view");
      expect((await outbox()).length).toBe(before);
      expect(await store.collection("people").count()).toBe(2);
    });

    test("a closed store refuses calls with a closed error", async () => {
      const c = store.collection("x");
      await store.close();
      await expect(c.put({})).rejects.toMatchObject({ code: "closed" });
      store = await open(); // afterEach closes again
    });
  });
}
