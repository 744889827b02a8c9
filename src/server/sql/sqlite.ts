import { sql } from "kysely";
import { sqliteSelectDocStates, sqliteUpsertDocRows } from "../docs-sql.ts";
import type { ServerDialect } from "./dialect.ts";

/**
 * SQLite: one writer at a time (`BEGIN IMMEDIATE` holds the write lock, so a plain read of
 * the tenant's counter is already a lock), bodies kept as the text sent, statements with
 * `?` placeholders and a 32,766-parameter budget.
 */
export const SQLITE: ServerDialect = {
  name: "sqlite",
  migrations: {},
  migrationTableSchema: async () => undefined,
  lockRow: (query) => query,
  // Without the cast, SQLite prepares the statement again on every run when it has `LIMIT ?`
  // or compares a text column with `?` while ordering or joining (src/store/sql.ts, TEXT_PARAM).
  opaqueParam: (value, type) => sql`cast(${value} as ${sql.raw(type)})`,
  unstorableJson: () => undefined,
  eventJson: (body) => body,
  selectDocStates: sqliteSelectDocStates,
  upsertDocRows: sqliteUpsertDocRows,
  readsEveryWrite: false,
  pipelinedPush: false,
  keepsJsonText: true,
  // One writer at a time: a second gc waits for the write lock and then finds nothing to do.
  gcTryLock: async () => true,
  plannerStats: () => undefined,
  // json_extract gives a JSON string as text, a number as a number and true/false as 1/0 (so
  // `= 1` also finds a field holding the number 1: the caller's exact test drops it).
  createIndexLive: "create index",
  fieldSql: (path) => `json_extract(body, '$.${path}')`,
  fieldParam: (value) => sql`${typeof value === "boolean" ? (value ? 1 : 0) : value}`,
};
