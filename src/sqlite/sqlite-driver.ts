import { SelectQueryNode, type CompiledQuery, type QueryResult } from "kysely";
import { StowageError } from "../errors.ts";
import { SingleConnectionDriver, type HeldConnection } from "./single-connection-driver.ts";
import type { DirectConnection, SyncSqliteDatabase, SyncSqliteStatement } from "./sync-database.ts";

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
 * The lock, transactions and savepoints are shared with libsql's driver (single-connection-driver.ts).
 */
export class SyncSqliteDriver extends SingleConnectionDriver<SyncSqliteConnection> {
  constructor(open: () => SyncSqliteDatabase | Promise<SyncSqliteDatabase>) {
    super(async () => new SyncSqliteConnection(await open()));
  }
}

class SyncSqliteConnection implements HeldConnection, DirectConnection {
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
    return this.executeSync<R>(compiled.sql, compiled.parameters);
  }

  /** For the raw statements of a transaction that holds this connection (src/store/sql.ts). */
  executeSync<R>(sql: string, parameters: readonly unknown[]): QueryResult<R> {
    const stmt = this.#prepare(sql);
    if (stmt.reader) return { rows: stmt.all(parameters) as R[] };
    const { changes, lastInsertRowid } = stmt.run(parameters);
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
