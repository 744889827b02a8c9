import { CompiledQuery, type DatabaseConnection, type Driver, type QueryCompiler, type TransactionSettings } from "kysely";
import { StowageError } from "../errors.ts";
import { Mutex } from "./mutex.ts";

/** The one connection of a SQLite driver, as the shared lock and lifecycle see it. */
export interface HeldConnection extends DatabaseConnection {
  /** Set while a caller holds the connection; calling it hands the connection on. */
  release?: () => void;
  /** Closes the underlying database. */
  close(): void;
}

/**
 * What every Stowage SQLite driver shares: one connection handed to one caller at a time
 * (FIFO), so a query issued during another caller's transaction waits instead of running
 * inside it; `BEGIN IMMEDIATE`, so a second process waits on busy_timeout instead of failing
 * when it cannot upgrade a read lock; savepoints as plain SQL; and a close that waits for the
 * current holder. A driver whose client has its own transaction API overrides the three
 * transaction methods.
 */
export class SingleConnectionDriver<C extends HeldConnection> implements Driver {
  readonly #connect: () => Promise<C>;
  readonly #mutex = new Mutex();
  #connection?: C;

  constructor(connect: () => Promise<C>) {
    this.#connect = connect;
  }

  async init(): Promise<void> {
    this.#connection = await this.#connect();
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
    await connection.executeQuery(BEGIN);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(COMMIT);
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(ROLLBACK);
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
    const held = connection as C;
    const release = held.release;
    held.release = undefined;
    release?.();
  }

  async destroy(): Promise<void> {
    // Wait for the current holder so close never pulls the database out from under a transaction.
    const release = await this.#mutex.lock();
    try {
      this.#connection?.close();
      this.#connection = undefined;
    } finally {
      release();
    }
  }
}

// Made once: CompiledQuery.raw freezes four objects, and every write transaction runs two of these.
const BEGIN = CompiledQuery.raw("begin immediate");
const COMMIT = CompiledQuery.raw("commit");
const ROLLBACK = CompiledQuery.raw("rollback");

function quoteName(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
