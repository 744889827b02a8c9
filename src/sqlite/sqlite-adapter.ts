import { SqliteAdapter } from "kysely";

/**
 * Kysely's SqliteAdapter reports no transactional DDL, so its Migrator runs migrations
 * outside any transaction, and two processes opening a new file at once both run them
 * ("table _stowage_meta already exists"). SQLite does roll back DDL, so we say so: the
 * Migrator then runs inside our `BEGIN IMMEDIATE`, and the second process waits its turn,
 * then finds the migrations recorded.
 */
export class TransactionalSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}
