import type { Kysely } from "kysely";
import { Migrator, type Migration } from "kysely/migration";
import { StowageError } from "../errors.ts";
import { serverDialect, SQLITE, type ServerDialect } from "./sql/index.ts";

/** Server tables, as Kysely sees them. Counters are `bigint` (PostgreSQL may hand them back as strings). */
export interface ServerTables {
  stowage_tenants: {
    id: string;
    name: string;
    /** Last change sequence number allocated for this tenant. */
    seq: number | string | bigint;
    /** Highest sequence number whose tombstone was purged (the purge horizon). */
    purged_seq: number | string | bigint;
    created_at: number | string | bigint;
  };
  stowage_keys: {
    id: string;
    tenant_id: string;
    /** SHA-256 hex of the whole key; the key itself is never stored. */
    hash: string;
    label: string | null;
    created_at: number | string | bigint;
    revoked_at: number | string | bigint | null;
    /** `write` (push, writes and reads) or `read` (pull, events, GET only); migration 0002. */
    scope: string;
  };
  stowage_docs: {
    tenant_id: string;
    collection: string;
    id: string;
    /** The change sequence number of the document's latest change (its version). */
    seq: number | string | bigint;
    deleted: number;
    /** clientId of the last change, or null for direct (HTTP) writes. */
    writer: string | null;
    /** JSON text of the value; null for a tombstone. */
    body: string | null;
    updated_at: number | string | bigint;
  };
  stowage_clients: {
    tenant_id: string;
    client_id: string;
    last_op_id: number | string | bigint;
    /** Last push / pull seen from the client, ms since the epoch (0003_clients; written in batches). */
    last_push_at?: number | string | bigint | null;
    last_pull_at?: number | string | bigint | null;
    /** Sequence number of the client's last pulled cursor (0003_clients). */
    pulled_seq?: number | string | bigint | null;
    /** Highest op id the client reported settled (0004_settled_marks): its refusals may go. */
    settled_op_id?: number | string | bigint | null;
  };
  stowage_op_results: {
    tenant_id: string;
    client_id: string;
    op_id: number | string | bigint;
    /** JSON of the conflict/rejected result, replayed when the op is resent. */
    result: string;
    created_at: number | string | bigint;
  };
}

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
};

/** The newest server migration's name for a store dialect: where this build leaves its schema. */
export function serverSchemaVersion(store: string): string {
  return Object.keys({ ...migrations, ...serverDialect(store).migrations }).sort().at(-1)!;
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
  const { error } = await migrator.migrateToLatest();
  if (error) {
    throw new StowageError("storage", `server schema migration failed: ${String((error as Error).message ?? error)}`, { cause: error });
  }
}

/** Counters come back as numbers (SQLite) or strings (PostgreSQL bigint); sequence numbers stay below 2^53. */
export function num(value: number | string | bigint | null | undefined): number {
  return value == null ? 0 : Number(value);
}
