import type { QueryResult } from "kysely";

/**
 * The few calls Stowage needs from a synchronous SQLite driver (bun:sqlite, node:sqlite).
 * Adapters wrap their driver in this shape; nothing driver-specific leaks into the core.
 */
export interface SyncSqliteDatabase {
  /** Compiles `sql`; the dialect caches the result, so this may be slow. */
  prepare(sql: string): SyncSqliteStatement;
  /** Runs parameterless SQL, possibly several statements (pragmas, DDL). */
  exec(sql: string): void;
  /** Closes the database; later calls fail. */
  close(): void;
}

export interface SyncSqliteStatement {
  /** True when the statement returns rows (SELECT, RETURNING, most PRAGMAs). */
  readonly reader: boolean;
  /** Runs a reader and returns every row as an object. */
  all(parameters: readonly unknown[]): unknown[];
  /** Runs a writer. */
  run(parameters: readonly unknown[]): { changes: number | bigint; lastInsertRowid: number | bigint };
}

/** A connection that runs a statement synchronously (the bun:sqlite and node:sqlite drivers' one). */
export interface DirectConnection {
  executeSync<R>(sql: string, parameters: readonly unknown[]): QueryResult<R>;
}
