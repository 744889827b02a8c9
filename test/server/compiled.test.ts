import { describe, expect, test } from "bun:test";
import { DummyDriver, Kysely, PostgresAdapter, PostgresIntrospector, PostgresQueryCompiler, sql } from "kysely";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { compiledOnce } from "../../src/server/compiled.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { authenticate } from "../../src/server/keys.ts";
import { pullQuery } from "../../src/server/pull.ts";
import type { ServerTables } from "../../src/server/schema.ts";
import { tempDir } from "../helpers/tmp.ts";
import { POSTGRES, SQLITE } from "../../src/server/sql/index.ts";

/** compiled.ts: builder queries compiled once per family, rerun as text with each call's parameters. */
describe("compiledOnce", () => {
  test("reruns the compiled text with new parameters, in the builder's parameter order, and matches the builder's rows", async () => {
    const dir = tempDir("stowage-compiled-");
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file("s.db") }) });
    try {
      const { key } = await createKey(store, "one", { createIfMissing: true });
      await createKey(store, "two", { createIfMissing: true });
      const tenants = await store.db.selectFrom("stowage_tenants").select(["id", "name"]).orderBy("name").execute();
      // Arguments used out of order (limit before tenant in the text's parameters is not assumed).
      const q = compiledOnce(2, (db, _f, limit: number, name: string) => db.selectFrom("stowage_tenants").select(["id", "name"]).where("name", ">=", name).orderBy("name").limit(limit));
      expect(await q.all(store.db, SQLITE, 1, "a")).toEqual([tenants[0]]);
      expect(q.cached(SQLITE)).toBe(true);
      expect(await q.all(store.db, SQLITE, 5, "p")).toEqual([tenants[1]]);
      expect(await q.all(store.db, SQLITE, 5, "a")).toEqual(tenants);
      // An argument the compiler inlines cannot be mapped: built on every call, still right.
      const inlined = compiledOnce(1, (db, _f, name: string) => db.selectFrom("stowage_tenants").select("name").where("name", "=", sql.lit(name)));
      expect(await inlined.all(store.db, SQLITE, "two")).toEqual([{ name: "two" }]);
      expect(inlined.cached(SQLITE)).toBe(false);
      expect(await inlined.all(store.db, SQLITE, "one")).toEqual([{ name: "one" }]);
      // The key check reads the row every time (a revoked key is refused at once, suite-isolation.ts).
      expect((await authenticate(store, key))?.tenant).toBe("one");
      expect(await authenticate(store, `${key.slice(0, -1)}${key.endsWith("A") ? "B" : "A"}`)).toBeUndefined();
    } finally {
      await store.close();
      dir.cleanup();
    }
  });

  test("PostgreSQL text is cached separately, with numbered placeholders", async () => {
    let sent: { sql: string; parameters: readonly unknown[] } | undefined;
    const pg = new Kysely<ServerTables>({
      dialect: {
        createAdapter: () => new PostgresAdapter(),
        createDriver: () => new DummyDriver(),
        createIntrospector: (db) => new PostgresIntrospector(db),
        createQueryCompiler: () => new PostgresQueryCompiler(),
      },
      log: (event) => void (sent = event.query),
    });
    const q = compiledOnce(3, (db, _f, tenantId: string, after: number, limit: number) => pullQuery(db, POSTGRES, tenantId, after, limit));
    await q.all(pg, POSTGRES, "t1", 42, 1001);
    expect(q.cached(POSTGRES)).toBe(true);
    expect(q.cached(SQLITE)).toBe(false);
    expect(sent!.sql).toBe(pullQuery(pg, POSTGRES, "x", 0, 1).compile().sql);
    expect(sent!.sql).toContain("$3");
    expect(sent!.parameters).toEqual(["t1", 42, 1001]);
  });
});
