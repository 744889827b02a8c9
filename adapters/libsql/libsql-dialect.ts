import type { Client } from "@libsql/client";
import { SqliteFamilyDialect } from "../../src/sqlite/sqlite-dialect.ts";
import { LibsqlDriver } from "./libsql-driver.ts";

/** Kysely's SQLite SQL and introspection, on our libsql driver (see libsql-driver.ts for why). */
export class LibsqlDialect extends SqliteFamilyDialect {
  constructor(open: () => Promise<Client>) {
    super(() => new LibsqlDriver(open));
  }
}
