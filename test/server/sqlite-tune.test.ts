import { expect, test } from "bun:test";
import { sql } from "kysely";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openServerStore } from "../../src/server/index.ts";
import { openStowage } from "../../src/index.ts";
import { tempDir } from "../helpers/tmp.ts";

// The server's SQLite store reads through a memory map (sql/sqlite.ts `tune`: a view's pull reads
// scattered rows; bench partial); a client's store does not, so its RSS stays its own.
test("the server's SQLite store is memory-mapped, a client's store is not", async () => {
  const dir = tempDir("stowage-tune-");
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file("server.db") }) });
  try {
    const { rows } = await sql<{ mmap_size: number }>`pragma mmap_size`.execute(store.db);
    expect(Number(rows[0].mmap_size)).toBe(268435456);
  } finally {
    await store.close();
  }
  const client = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("client.db") }) });
  try {
    const { rows } = await sql<{ mmap_size: number }>`pragma mmap_size`.execute(client.store!.db);
    expect(Number(rows[0].mmap_size)).toBe(0);
  } finally {
    await client.close();
  }
});
