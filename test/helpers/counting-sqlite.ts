import { Database } from "bun:sqlite";
import { sqlitePragmas, type StowageAdapter } from "../../src/adapter.ts";
import { SyncSqliteDialect } from "../../src/sqlite/sqlite-dialect.ts";
import type { SyncSqliteDatabase } from "../../src/sqlite/sync-database.ts";

/** One SQL event seen by a counting handle. */
export interface SqlEvent {
  side: "client" | "server";
  sql: string;
  prepared: boolean;
  /** performance.now() when the statement started. */
  at: number;
  /** Time inside SQLite, µs (bench/live-cost.ts sums it). */
  us: number;
  /** The bound values, and the database file (test/sync/no-recompile.test.ts replays them). */
  params: readonly unknown[];
  path: string;
}

/** A bun:sqlite adapter whose statements are reported to `log` (and whose prepares too). */
export function countingAdapter(path: string, side: SqlEvent["side"], log: SqlEvent[]): StowageAdapter {
  return {
    name: "bun-sqlite",
    location: path,
    dialect: new SyncSqliteDialect(() => {
      const db = new Database(path, { create: true });
      db.exec(sqlitePragmas({ path }));
      return wrap(db, path, side, log);
    }),
    capabilities: { sql: "sqlite", persistent: true, multiProcess: true, savepoints: true, fts5: true },
  };
}

function wrap(db: Database, path: string, side: SqlEvent["side"], log: SqlEvent[]): SyncSqliteDatabase {
  let justPrepared = "";
  return {
    prepare: (sql) => {
      const stmt = db.prepare(sql);
      justPrepared = sql;
      const event = <R>(params: readonly unknown[], fn: () => R): R => {
        const prepared = justPrepared === sql;
        justPrepared = "";
        const at = performance.now();
        try {
          return fn();
        } finally {
          log.push({ side, sql, prepared, at, us: (performance.now() - at) * 1000, params, path });
        }
      };
      return {
        reader: stmt.columnNames.length > 0,
        all: (params) => event(params, () => stmt.all(...(params as any[]))),
        run: (params) => event(params, () => stmt.run(...(params as any[]))),
      };
    },
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
  };
}

