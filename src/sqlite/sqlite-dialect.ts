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

/** Kysely's SQLite SQL and introspection on a driver of ours; SQLite dialects differ only in it. */
export class SqliteFamilyDialect implements Dialect {
  readonly #createDriver: () => Driver;

  constructor(createDriver: () => Driver) {
    this.#createDriver = createDriver;
  }

  createDriver(): Driver {
    return this.#createDriver();
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

/** The dialect for synchronous drivers (bun:sqlite, node:sqlite); see sqlite-driver.ts for why it is ours. */
export class SyncSqliteDialect extends SqliteFamilyDialect {
  constructor(open: () => SyncSqliteDatabase | Promise<SyncSqliteDatabase>) {
    super(() => new SyncSqliteDriver(open));
  }
}
