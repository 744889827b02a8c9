import {
  SqliteIntrospector,
  SqliteQueryCompiler,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
} from "kysely";
import { TransactionalSqliteAdapter } from "./sqlite-adapter.ts";
import { SyncSqliteDriver } from "./sqlite-driver.ts";
import type { SyncSqliteDatabase } from "./sync-database.ts";

/** Kysely's SQLite SQL and introspection, on our driver (see sqlite-driver.ts for why). */
export class SyncSqliteDialect implements Dialect {
  readonly #open: () => SyncSqliteDatabase | Promise<SyncSqliteDatabase>;

  constructor(open: () => SyncSqliteDatabase | Promise<SyncSqliteDatabase>) {
    this.#open = open;
  }

  createDriver(): Driver {
    return new SyncSqliteDriver(this.#open);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new TransactionalSqliteAdapter();
  }

  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}
