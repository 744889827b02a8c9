import { Database } from "bun:sqlite";
import { sqlitePragmas, type StowageAdapter } from "../../src/adapter.ts";
import { SyncSqliteDialect } from "../../src/sqlite/sqlite-dialect.ts";
import type { SyncSqliteDatabase } from "../../src/sqlite/sync-database.ts";

/** One SQL event seen by a counting handle. */
export interface SqlEvent {
  side: "client" | "server";
  sql: string;
  prepared: boolean;
  at: number;
}

/** A bun:sqlite adapter whose statements are reported to `log` (and whose prepares too). */
export function countingAdapter(path: string, side: SqlEvent["side"], log: SqlEvent[]): StowageAdapter {
  return {
    name: "bun-sqlite",
    location: path,
    dialect: new SyncSqliteDialect(() => {
      const db = new Database(path, { create: true });
      db.exec(sqlitePragmas({ path }));
      return wrap(db, side, log);
    }),
    capabilities: { sql: "sqlite", persistent: true, multiProcess: true, savepoints: true, fts5: true },
  };
}

function wrap(db: Database, side: SqlEvent["side"], log: SqlEvent[]): SyncSqliteDatabase {
  let justPrepared = "";
  return {
    prepare: (sql) => {
      const stmt = db.prepare(sql);
      justPrepared = sql;
      const event = (): void => {
        log.push({ side, sql, prepared: justPrepared === sql, at: performance.now() });
        justPrepared = "";
      };
      return {
        reader: stmt.columnNames.length > 0,
        all: (params) => (event(), stmt.all(...(params as any[]))),
        run: (params) => (event(), stmt.run(...(params as any[]))),
      };
    },
    exec: (sql) => db.exec(sql),
    close: () => db.close(),
  };
}

