import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { all, run } from "../../src/store/sql.ts";
import type { Stowage } from "../../src/stowage.ts";
import { startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";
import { openClient } from "./clients.ts";

/**
 * A bulk push brings its own writes back on the next pull. The push settle records the
 * version the server gave each put (push.ts), and the pull leaves a row alone when it already
 * holds that version with the same text (pull.ts NEWER_OR_DIFFERENT): the pull does not
 * rewrite the documents it sent. Whenever the server's text differs (a resolve rule changed
 * the value, a patch merged on a newer server value), the pull still writes it.
 */

/** Counts writes of document bodies (the settle's version updates do not set `body`). */
async function countBodyWrites(c: Stowage): Promise<() => Promise<number>> {
  const db = c.store!.db;
  await run(db, "create table if not exists body_writes (n integer not null)");
  await run(db, "delete from body_writes");
  await run(db, "insert into body_writes values (0)");
  await run(db, "create trigger if not exists count_body_writes after update of body on _stowage_docs begin update body_writes set n = n + 1; end");
  return async () => Number((await all<{ n: number }>(db, "select n from body_writes"))[0].n);
}

async function rows(c: Stowage, collection: string) {
  return all<{ id: string; body: string; version: number | null }>(c.store!.db, "select id, body, version from _stowage_docs where collection = ? order by id", [collection]);
}

describe("a push's own writes coming back on the pull", () => {
  let s: EmbeddedServer;
  beforeAll(async () => {
    // Documents of collection `stamped` are changed by the server on every write.
    s = await startEmbedded({ resolve: ({ collection, incoming }) => (collection === "stamped" ? { ...incoming, stamped: true } : incoming) });
  });
  afterAll(() => s.stop());

  for (const [label, n] of [["one page", 300], ["a staged multi-page pull", 2_500]] as const) {
    test(`${label}: ${n} offline puts are pushed, pulled back and not rewritten; the server's versions are recorded`, async () => {
      const a = await openClient(s.file(`a-${n}.db`), s.url, s.key, { pullLimit: 1000 });
      try {
        await a.sync();
        const writes = await countBodyWrites(a);
        const docs = Array.from({ length: n }, (_, i) => ({ id: `d${i}`, n: i, title: `doc ${i}`, nested: { k: [i, "é", null] } }));
        for (let i = 0; i < n; i += 500) await a.collection(`own${n}`).putMany(docs.slice(i, i + 500));
        const before = await writes();
        const res = await a.sync();
        expect(res.pushed).toBe(n);
        expect(res.pulled).toBe(n);
        expect((await writes()) - before).toBe(0);
        const local = await rows(a, `own${n}`);
        expect(local.length).toBe(n);
        // Exactly the server's versions and values.
        const server = await s.store.db.selectFrom("stowage_docs").select(["id", "seq", "body"]).where("collection", "=", `own${n}`).execute();
        const byId = new Map(server.map((r) => [r.id, r]));
        for (const r of local) {
          expect(r.version).toBe(Number(byId.get(r.id)!.seq));
          expect(JSON.parse(r.body)).toEqual(JSON.parse(String(byId.get(r.id)!.body)));
        }
      } finally {
        await a.close();
      }
    });
  }

  test("the server changed the put (resolve rule): the pull writes the server's value at the same version", async () => {
    const a = await openClient(s.file("a-stamped.db"), s.url, s.key);
    try {
      await a.sync();
      const writes = await countBodyWrites(a);
      await a.collection("stamped").putMany([{ id: "x", n: 1 }, { id: "y", n: 2 }]);
      const before = await writes();
      await a.sync();
      expect((await writes()) - before).toBe(2);
      expect(await a.collection("stamped").get("x")).toEqual({ id: "x", n: 1, stamped: true });
      expect(await a.collection("stamped").get("y")).toEqual({ id: "y", n: 2, stamped: true });
      const versions = (await rows(a, "stamped")).map((r) => r.version);
      expect(versions.every((v) => typeof v === "number" && v > 0)).toBe(true);
    } finally {
      await a.close();
    }
  });

  test("a patch merged on a newer server value: the pull writes the server's merge", async () => {
    const a = await openClient(s.file("a-patch.db"), s.url, s.key);
    const b = await openClient(s.file("b-patch.db"), s.url, s.key);
    try {
      await a.collection("notes").put({ id: "p", title: "one", body: "x" });
      await a.sync();
      await b.sync();
      await b.collection("notes").patch("p", { body: "from b" });
      await b.sync();
      // A patches its stale copy; its local merge lacks B's field, the server's merge has it.
      await a.collection("notes").patch("p", { title: "two" });
      expect(await a.collection("notes").get("p")).toEqual({ id: "p", title: "two", body: "x" });
      await a.sync();
      expect(await a.collection("notes").get("p")).toEqual({ id: "p", title: "two", body: "from b" });
      // And a later put by B at a newer version replaces A's row as always.
      await b.sync();
      await b.collection("notes").put({ id: "p", title: "three" });
      await b.sync();
      await a.sync();
      expect(await a.collection("notes").get("p")).toEqual({ id: "p", title: "three" });
    } finally {
      await a.close();
      await b.close();
    }
  });
});
