import { Database, type Statement } from "bun:sqlite";
import { sqlitePragmas, type SqliteFileOptions, type StowageAdapter } from "../../src/adapter.ts";
import { SyncSqliteDialect } from "../../src/sqlite/sqlite-dialect.ts";
import type { SyncSqliteDatabase, SyncSqliteStatement } from "../../src/sqlite/sync-database.ts";

export type BunSqliteOptions = SqliteFileOptions;

/** Stowage over Bun's built-in SQLite. */
export function createBunSqliteAdapter(options: BunSqliteOptions): StowageAdapter {
  const memory = options.path === ":memory:" || options.path === "";
  return {
    name: "bun-sqlite",
    location: options.path,
    dialect: new SyncSqliteDialect(() => {
      const db = new Database(options.path, { create: true });
      db.exec(sqlitePragmas(options));
      return wrap(db);
    }),
    capabilities: { sql: "sqlite", persistent: !memory, multiProcess: !memory, savepoints: true, fts5: true },
  };
}

function wrap(db: Database): SyncSqliteDatabase {
  return {
    prepare: (sql) => statement(db.prepare(sql)),
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
  };
}

function statement(stmt: Statement): SyncSqliteStatement {
  return {
    reader: stmt.columnNames.length > 0,
    all: (params) => stmt.all(...(params as any[])),
    run: (params) => stmt.run(...(params as any[])),
  };
}
