import type { Client } from "@libsql/client";
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
import { TransactionalSqliteAdapter } from "../../src/sqlite/sqlite-adapter.ts";
import { LibsqlDriver } from "./libsql-driver.ts";

/** Kysely's SQLite SQL and introspection, on our libsql driver (see libsql-driver.ts for why). */
export class LibsqlDialect implements Dialect {
  readonly #open: () => Promise<Client>;

  constructor(open: () => Promise<Client>) {
    this.#open = open;
  }

  createDriver(): Driver {
    return new LibsqlDriver(this.#open);
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
