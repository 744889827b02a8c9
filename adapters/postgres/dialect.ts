import { PostgresAdapter, PostgresDialect, type DialectAdapter, type PostgresDialectConfig } from "kysely";

/** Kysely's migration lock key, so processes of older and newer builds still exclude each other. */
const MIGRATION_LOCK = "3853314791062309107";

/** A connection of its own: `query` and `end` are all the lock needs. */
export type LockConnection = { query(text: string): Promise<unknown>; end(): Promise<void> };

/**
 * Kysely's PostgreSQL adapter takes the migration lock as a session-level advisory lock and
 * releases it with a later statement. Behind a pooler in transaction mode that statement may
 * run on another server connection: the lock stays held by an idle server connection, and
 * every later migration in the database waits for it (Kysely's lock timeout is an hour; seen
 * through PgBouncer 1.18). Kysely takes the lock outside the migration's transaction, so a
 * transaction-scoped lock there would end at once: the lock is instead a transaction of its
 * own, on a connection of its own, open for as long as the migration runs (through a pooler
 * a transaction keeps its server connection). Released by COMMIT, or by the server when the
 * connection drops.
 */
class TransactionLockAdapter extends PostgresAdapter {
  #connect: () => Promise<LockConnection>;
  #held: LockConnection | undefined;

  constructor(connect: () => Promise<LockConnection>) {
    super();
    this.#connect = connect;
  }

  override async acquireMigrationLock(): Promise<void> {
    const c = await this.#connect();
    try {
      await c.query("begin");
      await c.query(`select pg_advisory_xact_lock(${MIGRATION_LOCK})`);
    } catch (e) {
      await c.end().catch(() => {});
      throw e;
    }
    this.#held = c;
  }

  override async releaseMigrationLock(): Promise<void> {
    const c = this.#held;
    this.#held = undefined;
    if (!c) return;
    try {
      await c.query("commit");
    } finally {
      await c.end().catch(() => {});
    }
  }
}

/** Kysely's PostgreSQL dialect with the migration lock above. */
export class StowagePostgresDialect extends PostgresDialect {
  #connect: () => Promise<LockConnection>;

  constructor(config: PostgresDialectConfig & { lockConnection: () => Promise<LockConnection> }) {
    super(config);
    this.#connect = config.lockConnection;
  }

  override createAdapter(): DialectAdapter {
    return new TransactionLockAdapter(this.#connect);
  }
}
