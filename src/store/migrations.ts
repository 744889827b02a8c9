import { sql, type Kysely } from "kysely";
import { Migrator, type Migration } from "kysely/migration";
import { StowageError } from "../errors.ts";

/**
 * The local schema. One table holds every collection's documents (JSON text), so a
 * collection pulled from the server needs no DDL; declared indexes are expression indexes
 * on it. The outbox uses AUTOINCREMENT because op ids must never be reused, even after the
 * newest entry was acknowledged and deleted (the server would call the reuse a duplicate).
 * The outbox has no (collection, id) index on purpose: it would add a third of putMany's
 * cost, and the outbox holds only unacknowledged ops, so scanning it is cheap.
 */
/**
 * The pull stage: exactly `_stowage_docs`'s shape (an initial pull into an empty store may
 * become `_stowage_docs` by a rename; see src/store/pull-stage.ts), with `body` '' marking a
 * tombstone. Keyed like `_stowage_docs`, so the final `insert … select` walks both in order.
 */
export const PULL_STAGE_DDL = `create table _stowage_pull_stage (
  collection text not null,
  id text not null,
  body text not null,
  version integer,
  primary key (collection, id)
) without rowid`;

const migrations: Record<string, Migration> = {
  "0001_local_store": {
    async up(db) {
      await sql`create table _stowage_meta (key text primary key, value text not null)`.execute(db);
      await sql`create table _stowage_docs (
        collection text not null,
        id text not null,
        body text not null,
        version integer,
        primary key (collection, id)
      ) without rowid`.execute(db);
      await sql`create table _stowage_outbox (
        op_id integer primary key autoincrement,
        tx integer,
        collection text not null,
        id text not null,
        op text not null,
        body text,
        base_version integer,
        created_at integer not null
      )`.execute(db);
      await sql`create table _stowage_conflicts (
        seq integer primary key autoincrement,
        kind text not null,
        op_id integer not null,
        collection text not null,
        id text not null,
        op text not null,
        body text,
        server_body text,
        server_version integer,
        message text not null,
        created_at integer not null
      )`.execute(db);
    },
  },
  // Guarantee 9: a multi-page pull is staged in `_stowage_pull_stage` (src/store/pull-stage.ts).
  // `_stowage_refresh`: documents whose server value must be fetched (a rejected op left a
  // local value the server never had); written in the transaction that records the
  // rejection, deleted once resolved, so a crash in between cannot lose it.
  "0002_pull_stage_and_refresh": {
    async up(db) {
      await sql.raw(PULL_STAGE_DDL).execute(db);
      await sql`create table _stowage_refresh (
        collection text not null,
        id text not null,
        primary key (collection, id)
      ) without rowid`.execute(db);
    },
  },
  // REST transport (src/sync/rest/): the server's id for each local document, unique per
  // collection. server_id null = a create was sent but its answer never arrived. `seen` is the
  // last pulled (updated_at, content hash), so overlapping pulls skip what they already applied.
  "0003_rest_id_map": {
    async up(db) {
      await sql`create table _stowage_rest_ids (
        collection text not null,
        local_id text not null,
        server_id text,
        seen text,
        primary key (collection, local_id)
      ) without rowid`.execute(db);
      await sql`create unique index _stowage_rest_ids_server on _stowage_rest_ids (collection, server_id)`.execute(db);
    },
  },
};

/** The newest local migration's name: the schema version a database this build opens ends at. */
export function localSchemaVersion(): string {
  return Object.keys(migrations).sort().at(-1)!;
}

export async function migrateLocal(db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => migrations },
    migrationTableName: "_stowage_migration",
    migrationLockTableName: "_stowage_migration_lock",
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw new StowageError("storage", `local schema migration failed: ${String((error as Error).message ?? error)}`, { cause: error });
}
