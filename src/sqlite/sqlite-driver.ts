import {
  CompiledQuery,
  SelectQueryNode,
  type DatabaseConnection,
  type Driver,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { StowageError } from "../errors.ts";
import { Mutex } from "./mutex.ts";
import type { SyncSqliteDatabase, SyncSqliteStatement } from "./sync-database.ts";

const STATEMENT_CACHE_SIZE = 256;

/**
 * A Kysely driver over a synchronous SQLite handle. We do not use Kysely's own
 * SqliteDriver or kysely-bun-sqlite because our conformance suite needs what they lack:
 * - a connection lock (Kysely 0.29's SqliteDriver hands the one connection to every caller,
 *   so a query issued during another caller's transaction runs inside it);
 * - `BEGIN IMMEDIATE`, so a second process waits on busy_timeout instead of failing with
 *   SQLITE_BUSY when its read lock cannot be upgraded;
 * - a prepared-statement cache (both re-prepare every query, a third of a put's cost);
 * - savepoints and a kysely ^0.29 peer (kysely-bun-sqlite 0.4 has neither).
 */
export class SyncSqliteDriver implements Driver {
  readonly #open: () => SyncSqliteDatabase | Promise<SyncSqliteDatabase>;
  readonly #mutex = new Mutex();
  #connection?: SyncSqliteConnection;

  constructor(open: () => SyncSqliteDatabase | Promise<SyncSqliteDatabase>) {
    this.#open = open;
  }

  async init(): Promise<void> {
    this.#connection = new SyncSqliteConnection(await this.#open());
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#mutex.lock();
    const connection = this.#connection;
    if (!connection) {
      release();
      throw new StowageError("closed", "database connection has already been closed");
    }
    connection.release = release;
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("commit"));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("rollback"));
  }

  async savepoint(connection: DatabaseConnection, name: string, _compile: QueryCompiler["compileQuery"]): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`savepoint ${quoteName(name)}`));
  }

  async rollbackToSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`rollback to ${quoteName(name)}`));
  }

  async releaseSavepoint(connection: DatabaseConnection, name: string): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw(`release ${quoteName(name)}`));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    const c = connection as SyncSqliteConnection;
    const release = c.release;
    c.release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    // Wait for the current holder so close never pulls the handle out from under a transaction.
    const release = await this.#mutex.lock();
    try {
      this.#connection?.close();
      this.#connection = undefined;
    } finally {
      release();
    }
  }
}

function quoteName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

class SyncSqliteConnection implements DatabaseConnection {
  readonly #db: SyncSqliteDatabase;
  readonly #statements = new Map<string, SyncSqliteStatement>();
  release?: () => void;

  constructor(db: SyncSqliteDatabase) {
    this.#db = db;
  }

  #prepare(sql: string): SyncSqliteStatement {
    let stmt = this.#statements.get(sql);
    if (stmt) return stmt;
    stmt = this.#db.prepare(sql);
    if (this.#statements.size >= STATEMENT_CACHE_SIZE) {
      // Maps iterate in insertion order: drop the oldest entry.
      this.#statements.delete(this.#statements.keys().next().value as string);
    }
    this.#statements.set(sql, stmt);
    return stmt;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = this.#prepare(compiled.sql);
    if (stmt.reader) return { rows: stmt.all(compiled.parameters) as R[] };
    const { changes, lastInsertRowid } = stmt.run(compiled.parameters);
    return {
      numAffectedRows: BigInt(changes),
      insertId: lastInsertRowid == null ? undefined : BigInt(lastInsertRowid),
      rows: [],
    };
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiled.query)) {
      throw new StowageError("storage", "only SELECT queries can be streamed");
    }
    // Synchronous drivers hand back every row at once; yield them in one result.
    yield { rows: this.#prepare(compiled.sql).all(compiled.parameters) as R[] };
  }

  close(): void {
    this.#statements.clear();
    this.#db.close();
  }
}
