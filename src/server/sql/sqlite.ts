import { sql } from "kysely";
import { sqliteSelectDocStates, sqliteUpsertDocRows } from "./sqlite-docs.ts";
import { lockTenant } from "../dialect-sql.ts";
import type { ServerDialect } from "./dialect.ts";
import { sqliteCommitPush } from "./sqlite-push.ts";

/**
 * SQLite: one writer at a time (`BEGIN IMMEDIATE` holds the write lock, so a plain read of
 * the tenant's counter is already a lock), bodies kept as the text sent, statements with
 * `?` placeholders and a 32,766-parameter budget.
 */
export const SQLITE: ServerDialect = {
  name: "sqlite",
  migrations: {},
  migrationTableSchema: async () => undefined,
  transientMigrationError: () => false,
  lockRow: (query) => query,
  // Without the cast, SQLite prepares the statement again on every run when it has `LIMIT ?`
  // or compares a text column with `?` while ordering or joining (src/store/sql.ts, TEXT_PARAM).
  opaqueParam: (value, type) => sql`cast(${value} as ${sql.raw(type)})`,
  unstorableJson: () => undefined,
  eventJson: (body) => body,
  selectDocStates: sqliteSelectDocStates,
  upsertDocRows: sqliteUpsertDocRows,
  readsEveryWrite: false,
  // BEGIN IMMEDIATE already holds the write lock; marks and documents are read by push.ts and apply.ts.
  lockAndRead: async (tx, tenantId) => ({ tenant: await lockTenant(tx.db, SQLITE, tenantId) }),
  commitPush: (tx, commit) => sqliteCommitPush(tx, SQLITE, commit),
  keepsJsonText: true,
  // One writer at a time: a second gc waits for the write lock and then finds nothing to do.
  gcTryLock: async () => true,
  // Reads through a memory map: a view's pull (sync-rules/pull-view.ts) reads rows scattered
  // over the table, one page each, and mapped pages cost about half of read() calls through the
  // page cache (10,000 scattered rows of a 1,000,000-row file: 21-30 ms -> 11-16 ms). Server only:
  // mapped pages count in RSS, and a client keeps its memory budget (bench pull1m).
  tune: async (db) => {
    await sql`pragma mmap_size = 268435456`.execute(db);
  },
  plannerStats: () => undefined,
  // json_extract gives a JSON string as text, a number as a number and true/false as 1/0 (so
  // `= 1` also finds a field holding the number 1: the caller's exact test drops it).
  createIndexLive: "create index",
  fieldSql: (path) => `json_extract(body, '$.${path}')`,
  fieldParam: (value) => sql`${typeof value === "boolean" ? (value ? 1 : 0) : value}`,
};
