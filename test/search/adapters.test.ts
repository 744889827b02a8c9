import { afterAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { stowageBackend } from "../../src/mcp/backend.ts";
import { ftsNames } from "../../src/search/fts-index.ts";
import { run } from "../../src/store/sql.ts";
import { Store } from "../../src/store/store.ts";
import { openStowage } from "../../src/stowage.ts";
import { tempDir } from "../helpers/tmp.ts";

const tmp = tempDir();
afterAll(() => tmp.cleanup());

const ADAPTERS: { name: string; open: (path: string) => StowageAdapter }[] = [
  { name: "bun-sqlite", open: (path) => createBunSqliteAdapter({ path }) },
  { name: "node-sqlite", open: (path) => createNodeSqliteAdapter({ path }) },
  { name: "libsql file", open: (path) => createLibsqlAdapter({ url: `file:${path}` }) },
];

for (const adapter of ADAPTERS) {
  describe(`search on ${adapter.name}`, () => {
    test("the index follows writes, and FTS5 agrees it is consistent", async () => {
      const store = await Store.open({ adapter: adapter.open(tmp.file(`${adapter.name}.db`)) });
      try {
        const c = store.collection("notes", { search: ["title", "tags"] });
        await c.putMany([{ id: "a", title: "Grüße aus Köln", tags: ["travel"] }, { id: "b", title: "running notes" }]);
        const r = await c.search("gruße KOLN");
        expect(r.engine).toBe("fts5");
        expect(r.hits.map((h) => h.id)).toEqual(["a"]);
        expect(r.hits[0].snippet).toBe("**Grüße** aus **Köln**");
        expect((await c.search("run")).hits.map((h) => h.id)).toEqual(["b"]);
        await c.patch("b", { title: "walking notes" });
        await c.delete("a");
        expect((await c.search("run")).hits).toEqual([]);
        expect((await c.search("notes")).hits.map((h) => h.id)).toEqual(["b"]);
        expect((await c.search("travel")).hits).toEqual([]);
        const { fts } = ftsNames("notes");
        await run(store.db, `insert into "${fts}" ("${fts}", rank) values ('integrity-check', 1)`);
      } finally {
        await store.close();
      }
    });
  });
}

test("an adapter that declares no FTS5 gets the LIKE scan, and the result says so", async () => {
  const base = createBunSqliteAdapter({ path: tmp.file("nofts.db") });
  const adapter: StowageAdapter = { ...base, capabilities: { ...base.capabilities, fts5: false } };
  const stowage = await openStowage({ adapter, env: {} });
  try {
    const c = stowageBackend(stowage).collection("memories", ["content"]);
    await c.put({ id: "m1", content: "the plover nests on gravel" });
    const r = await c.search("plover", { limit: 5 });
    expect(r.engine).toBe("like");
    expect(r.note).toContain("no FTS5");
    expect(r.hits.map((h) => h.id)).toEqual(["m1"]);
    expect(r.hits[0].snippet).toBe("the **plover** nests on gravel");
  } finally {
    await stowage.close();
  }
});
