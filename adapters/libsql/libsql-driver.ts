import type { Client, InValue, ResultSet, Transaction } from "@libsql/client";
import {
  CompiledQuery,
  SelectQueryNode,
  type DatabaseConnection,
  type QueryResult,
  type TransactionSettings,
} from "kysely";
import { StowageError } from "../../src/errors.ts";
import { SingleConnectionDriver, type HeldConnection } from "../../src/sqlite/single-connection-driver.ts";

/**
 * A Kysely driver over @libsql/client. We do not use @libsql/kysely-libsql: it loses
 * `:memory:` data after a transaction (it opened a second connection, i.e. a second, empty
 * database) and breaks under Deno. Ours shares the lock and lifecycle of src/sqlite/single-connection-driver.ts:
 * - one holder at a time (a FIFO mutex), so a query issued during another caller's
 *   transaction waits instead of running inside it or failing with TRANSACTION_ACTIVE;
 * - transactions through `client.transaction("write")` rather than a `BEGIN` statement:
 *   on a remote URL each `execute` may travel on its own stream, and the local client rolls
 *   back any transaction a plain `execute` leaves open, so only the transaction object keeps
 *   every statement on one connection. "write" is `BEGIN IMMEDIATE` locally, so a second
 *   process waits on busy_timeout instead of failing when it cannot upgrade a read lock.
 */
export class LibsqlDriver extends SingleConnectionDriver<LibsqlConnection> {
  constructor(open: () => Promise<Client>) {
    super(async () => new LibsqlConnection(await open()));
  }

  override async beginTransaction(connection: DatabaseConnection, _settings: TransactionSettings): Promise<void> {
    await (connection as LibsqlConnection).begin();
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as LibsqlConnection).end("commit");
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await (connection as LibsqlConnection).end("rollback");
  }
}

class LibsqlConnection implements HeldConnection {
  readonly #client: Client;
  #tx?: Transaction;
  release?: () => void;

  constructor(client: Client) {
    this.#client = client;
  }

  async begin(): Promise<void> {
    if (this.#tx) throw new StowageError("storage", "a transaction is already open on this connection");
    this.#tx = await this.#client.transaction("write");
  }

  async end(how: "commit" | "rollback"): Promise<void> {
    const tx = this.#tx;
    // Kysely rolls back after a failed commit; that commit already closed (and so rolled
    // back) the transaction, and throwing here would hide the commit's own error.
    if (!tx && how === "rollback") return;
    if (!tx) throw new StowageError("storage", "cannot commit: no transaction is open");
    this.#tx = undefined;
    try {
      await (how === "commit" ? tx.commit() : tx.rollback());
    } finally {
      // close() is a no-op after commit/rollback, and rolls back after a failed commit.
      tx.close();
    }
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const stmt = { sql: compiled.sql, args: compiled.parameters.map(toInValue) };
    const result = this.#tx ? await this.#tx.execute(stmt) : await this.#client.execute(stmt);
    return {
      rows: plainRows<R>(result),
      numAffectedRows: BigInt(result.rowsAffected),
      insertId: result.lastInsertRowid ?? undefined,
    };
  }

  async *streamQuery<R>(compiled: CompiledQuery): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiled.query)) {
      throw new StowageError("storage", "only SELECT queries can be streamed");
    }
    // The client hands back every row at once; yield them in one result.
    yield { rows: (await this.executeQuery<R>(compiled)).rows };
  }

  close(): void {
    this.#tx?.close();
    this.#tx = undefined;
    this.#client.close();
  }
}

/**
 * libsql binds every JS number as REAL (`typeof(?)` of 5 is 'real', `json_array(?)` gives
 * `[5.0]`), unlike bun:sqlite and node:sqlite. Integers go as BigInt so all adapters agree.
 */
function toInValue(value: unknown): InValue {
  return typeof value === "number" && Number.isSafeInteger(value) ? BigInt(value) : (value as InValue);
}

/** libsql rows are array-likes with named properties; Kysely and the core want plain objects. */
function plainRows<R>(result: ResultSet): R[] {
  const { columns, rows } = result;
  if (rows.length === 0) return [];
  return rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (let i = 0; i < columns.length; i++) out[columns[i]] = row[i];
    return out as R;
  });
}
