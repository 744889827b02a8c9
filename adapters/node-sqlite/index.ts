import { DatabaseSync, type StatementSync } from "node:sqlite";
import { sqlitePragmas, type SqliteFileOptions, type StowageAdapter } from "../../src/adapter.ts";
import { SyncSqliteDialect } from "../../src/sqlite/sqlite-dialect.ts";
import type { SyncSqliteDatabase, SyncSqliteStatement } from "../../src/sqlite/sync-database.ts";

export type NodeSqliteOptions = SqliteFileOptions;

/** Stowage over `node:sqlite` (Node ≥ 22.5, Deno 2, and Bun, which implements it). */
export function createNodeSqliteAdapter(options: NodeSqliteOptions): StowageAdapter {
  const memory = options.path === ":memory:" || options.path === "";
  return {
    name: "node-sqlite",
    location: options.path,
    dialect: new SyncSqliteDialect(() => {
      const db = new DatabaseSync(memory ? ":memory:" : options.path);
      db.exec(sqlitePragmas(options));
      return wrap(db);
    }),
    capabilities: { sql: "sqlite", persistent: !memory, multiProcess: !memory, savepoints: true, fts5: true },
  };
}

function wrap(db: DatabaseSync): SyncSqliteDatabase {
  return {
    prepare: (sql) => statement(db.prepare(sql)),
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
  };
}

function statement(stmt: StatementSync): SyncSqliteStatement {
  // columns() arrived in Node 23.11/22.16; older builds get the SQL-prefix guess below.
  const columns = (stmt as { columns?: () => unknown[] }).columns;
  return {
    reader: columns ? columns.call(stmt).length > 0 : looksLikeReader(stmt.sourceSQL),
    all: (params) => stmt.all(...(params as any[])),
    run: (params) => stmt.run(...(params as any[])),
  };
}

function looksLikeReader(sql: string): boolean {
  return /^\s*(select|with|pragma|values|explain)\b/i.test(sql) || /\breturning\b/i.test(sql);
}
