import type { Kysely } from "kysely";
import { Migrator, type Migration } from "kysely/migration";
import { StowageError } from "../errors.ts";
import { serverDialect, serverDialectNames, SQLITE, type ServerDialect } from "./sql/index.ts";
import type { ServerTables } from "./tables.ts";

export type { ServerTables };

const migrations: Record<string, Migration> = {
  "0001_server": {
    async up(db) {
      await db.schema
        .createTable("stowage_tenants")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("seq", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("purged_seq", "bigint", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .execute();
      await db.schema
        .createTable("stowage_keys")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("tenant_id", "text", (c) => c.notNull().references("stowage_tenants.id"))
        .addColumn("hash", "text", (c) => c.notNull())
        .addColumn("label", "text")
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addColumn("revoked_at", "bigint")
        .execute();
      await db.schema
        .createTable("stowage_docs")
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("collection", "text", (c) => c.notNull())
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("seq", "bigint", (c) => c.notNull())
        .addColumn("deleted", "integer", (c) => c.notNull())
        .addColumn("writer", "text")
        .addColumn("body", "text")
        .addColumn("updated_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("stowage_docs_pk", ["tenant_id", "collection", "id"])
        .execute();
      // Pull reads changes after a cursor in sequence order: O(changes), not O(documents).
      await db.schema.createIndex("stowage_docs_seq").on("stowage_docs").columns(["tenant_id", "seq"]).unique().execute();
      await db.schema
        .createTable("stowage_clients")
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("client_id", "text", (c) => c.notNull())
        .addColumn("last_op_id", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("stowage_clients_pk", ["tenant_id", "client_id"])
        .execute();
      await db.schema
        .createTable("stowage_op_results")
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("client_id", "text", (c) => c.notNull())
        .addColumn("op_id", "bigint", (c) => c.notNull())
        .addColumn("result", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        .addPrimaryKeyConstraint("stowage_op_results_pk", ["tenant_id", "client_id", "op_id"])
        .execute();
    },
  },
  "0002_key_scopes": {
    async up(db) {
      // Keys made before scopes existed keep doing everything they did.
      await db.schema.alterTable("stowage_keys").addColumn("scope", "text", (c) => c.notNull().defaultTo("write")).execute();
    },
  },
  // Client activity for `stowage clients` (src/server/ops/clients.ts); nullable, filled lazily.
  "0003_clients": {
    async up(db) {
      await db.schema.alterTable("stowage_clients").addColumn("last_push_at", "bigint").execute();
      await db.schema.alterTable("stowage_clients").addColumn("last_pull_at", "bigint").execute();
      await db.schema.alterTable("stowage_clients").addColumn("pulled_seq", "bigint").execute();
    },
  },
  // A recorded refusal may be forgotten only once its client has its answer (gc.ts): a purge
  // by age alone turned a lost refusal, resent later, into a `duplicate` (found by chaos/).
  "0004_settled_marks": {
    async up(db) {
      await db.schema.alterTable("stowage_clients").addColumn("settled_op_id", "bigint").execute();
    },
  },
  // 0005 is PostgreSQL's own (sql/postgres.ts, 0005_key_changes_postgres): the next shared one is 0006.
  // Under sync rules, the earlier state of a document whose change moved it across a view's
  // edge (an indexed field changed, or it was deleted): a pull finds in it that a document left
  // a reader's view after the reader's cursor (sync-rules/moves.ts). Keyed by the change's seq;
  // pruned by gc.ts with the tombstones, under the same purge horizon.
  "0006_doc_moves": {
    async up(db) {
      await db.schema
        .createTable("stowage_doc_moves")
        .addColumn("tenant_id", "text", (c) => c.notNull())
        .addColumn("seq", "bigint", (c) => c.notNull())
        .addColumn("collection", "text", (c) => c.notNull())
        .addColumn("id", "text", (c) => c.notNull())
        .addColumn("body", "text", (c) => c.notNull())
        .addColumn("created_at", "bigint", (c) => c.notNull())
        // A pull reads the moves after its cursor (sync-rules/pull-view.ts): a range of this key.
        .addPrimaryKeyConstraint("stowage_doc_moves_pk", ["tenant_id", "seq"])
        .execute();
    },
  },
};

/** The newest server migration's name for a store dialect: where this build leaves its schema. */
export function serverSchemaVersion(store: string): string {
  return Object.keys({ ...migrations, ...serverDialect(store).migrations }).sort().at(-1)!;
}

/** serverSchemaVersion of every server dialect, by name. */
export function serverSchemaVersions(): Record<string, string> {
  return Object.fromEntries(serverDialectNames().map((name) => [name, serverSchemaVersion(name)]));
}

/** Brings the server schema up to date; safe to run on every start. */
export async function migrateServer(db: Kysely<any>, dialect: ServerDialect = SQLITE): Promise<void> {
  const migrator = new Migrator({
    db,
    // A store's own migrations (sql/, ServerDialect.migrations) sort right after the shared one they extend.
    provider: { getMigrations: async () => ({ ...migrations, ...dialect.migrations }) },
    migrationTableName: "stowage_server_migration",
    migrationLockTableName: "stowage_server_migration_lock",
    migrationTableSchema: await dialect.migrationTableSchema(db),
  });
  for (let attempt = 1; ; attempt++) {
    let error: unknown;
    try {
      ({ error } = await migrator.migrateToLatest());
    } catch (e) {
      error = e;
    }
    if (!error) return;
    // A few tries for what another tenant of the database did meanwhile (ServerDialect.transientMigrationError).
    if (attempt < 4 && dialect.transientMigrationError(error)) continue;
    throw new StowageError("storage", `server schema migration failed: ${String((error as Error).message ?? error)}`, { cause: error });
  }
}

export { num } from "./tables.ts";
