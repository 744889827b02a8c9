import { afterAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { StowageError } from "../../src/errors.ts";
import { all } from "../../src/store/sql.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";
import { startHranaServer, type HranaServer } from "./hrana-server.ts";

// A COMMIT that SQLite refuses (a deferred foreign key) must surface as that error, leave
// nothing of the transaction behind, and leave the connection usable.
const dir = tempDir();
const hrana: HranaServer[] = [];
afterAll(async () => {
  for (const h of hrana) await h.stop();
  dir.cleanup();
});

const ADAPTERS: Record<string, () => StowageAdapter> = {
  "bun-sqlite": () => createBunSqliteAdapter({ path: dir.file("bun.db") }),
  "node-sqlite": () => createNodeSqliteAdapter({ path: dir.file("node.db") }),
  "libsql file": () => createLibsqlAdapter({ url: `file:${dir.file("libsql.db")}` }),
  "libsql :memory:": () => createLibsqlAdapter({ url: ":memory:" }),
  "libsql remote": () => {
    const h = startHranaServer({ path: dir.file("remote.db") });
    hrana.push(h);
    return createLibsqlAdapter({ url: h.url });
  },
};

for (const [name, open] of Object.entries(ADAPTERS)) {
  describe(name, () => {
    test("a refused COMMIT reports its own error, keeps nothing, and the store goes on", async () => {
      const store = await Store.open({ adapter: open() });
      try {
        await store.transaction(async (tx) => {
          await tx.sql("create table parent (id integer primary key)");
          await tx.sql("create table child (id integer primary key, parent integer references parent (id) deferrable initially deferred)");
        });
        const error = await store
          .transaction(async (tx) => {
            await tx.collection("c").put({ id: "lost" });
            await tx.sql("insert into child (id, parent) values (1, 99)");
          })
          .then(
            () => undefined,
            (e) => e,
          );
        expect(error).toBeInstanceOf(StowageError);
        expect((error as StowageError).code).toBe("storage");
        expect((error as StowageError).message).toMatch(/FOREIGN KEY constraint failed/);
        expect(await store.collection("c").get("lost")).toBeUndefined();
        expect(await all(store.db, "select * from child")).toEqual([]);
        expect((await store.status()).outbox.size).toBe(0);
        await store.collection("c").put({ id: "after" });
        expect((await store.collection("c").list()).items.map((d) => d.id)).toEqual(["after"]);
      } finally {
        await store.close();
      }
    });
  });
}
