import { sql, type Kysely } from "kysely";
import type { Migration } from "kysely/migration";
import { CHANGES_CHANNEL, jsonbKeyOrder, KEYS_CHANNEL } from "../dialect-sql.ts";
import { pgSelectDocStates, pgUpsertDocRows } from "./postgres-docs.ts";
import { PlannerStats } from "../planner-stats.ts";
import type { ServerDialect } from "./dialect.ts";
import { pgCommitPush, pgLockAndRead } from "./postgres-push.ts";

/**
 * Where the migrator keeps its bookkeeping tables. On PostgreSQL it must be named: Kysely
 * looks for them by name in every schema, so a second Stowage schema in the same database
 * would find the first one's tables and skip creating its own.
 */
async function migrationTableSchema(db: Kysely<any>): Promise<string | undefined> {
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  return rows[0]?.schema ?? undefined;
}

const PG_MIGRATIONS: Record<string, Migration> = {
  "0001_server_postgres": {
    async up(db) {
      // Documents as jsonb (validated, compact, queryable). The PostgreSQL adapter reads jsonb
      // back as JSON text, so the core handles bodies exactly as it does on SQLite.
      await sql`alter table stowage_docs alter column body type jsonb using body::jsonb`.execute(db);
      // Compare collections and ids byte by byte, as SQLite does, so listings and their
      // cursors order the same on both stores whatever the database's locale.
      await sql`alter table stowage_docs alter column collection type text collate "C", alter column id type text collate "C"`.execute(db);
      // Pull reads `tenant_id = $1 and seq > $2 order by seq limit n` through the shared
      // (tenant_id, seq) index: O(changes returned), never O(documents).
      // gc scans a tenant's old tombstones while it holds the tenant's counter lock (writers
      // wait): this partial index keeps that O(tombstones), not O(documents).
      await sql`create index stowage_docs_tombstones on stowage_docs (tenant_id, updated_at) where deleted = 1`.execute(db);
      // Pokes between server instances: announce each new counter value. NOTIFY inside the
      // write transaction is delivered at COMMIT, in commit order, and never for a rollback.
      await sql`create or replace function stowage_notify_change() returns trigger language plpgsql as $$
        begin
          perform pg_notify(${sql.lit(CHANGES_CHANNEL)}, new.id || ':' || new.seq);
          return null;
        end $$`.execute(db);
      await sql`create trigger stowage_tenants_notify after update of seq on stowage_tenants
        for each row when (new.seq is distinct from old.seq) execute function stowage_notify_change()`.execute(db);
    },
  },
  // PostgreSQL only, so it takes a number of its own: shared migrations continue at 0006.
  "0005_key_changes_postgres": {
    async up(db) {
      // Instances may serve key rows from memory (auth/key-cache.ts) only if every change to
      // one reaches them: announce each revocation or deletion, delivered at commit.
      await sql`create or replace function stowage_notify_key() returns trigger language plpgsql as $$
        begin
          perform pg_notify(${sql.lit(KEYS_CHANNEL)}, old.id);
          return null;
        end $$`.execute(db);
      await sql`create trigger stowage_keys_notify after update or delete on stowage_keys
        for each row execute function stowage_notify_key()`.execute(db);
    },
  },
  // The moves record (shared 0006) joins stowage_docs on collection and id: the same byte-wise
  // collation as there, or the join could not probe the documents' primary key.
  "0006_doc_moves_postgres": {
    async up(db) {
      await sql`alter table stowage_doc_moves alter column collection type text collate "C", alter column id type text collate "C"`.execute(db);
    },
  },
};

// JSON.stringify writes U+0000 and unpaired surrogates as \u escapes; jsonb refuses both.
// An odd run of backslashes before `u` makes it an escape, an even run an escaped backslash.
const UNSTORABLE_IN_JSONB = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * Why this store cannot keep a value's JSON text, or undefined when it can. PostgreSQL's
 * jsonb refuses the character U+0000 and unpaired UTF-16 surrogates; refusing them before
 * the transaction answers 400 instead of failing the whole push with a 500.
 */
function unstorableJson(json: string): string | undefined {
  if (!json.includes("\\u")) return undefined;
  return UNSTORABLE_IN_JSONB.test(json) ? "value contains U+0000 or an unpaired surrogate, which PostgreSQL cannot store" : undefined;
}

/**
 * PostgreSQL: writers of one tenant serialize on its counter row (`SELECT … FOR UPDATE`),
 * bodies are jsonb, a push is pipelined (lock and read in one round trip, documents written
 * with the COMMIT), and several instances may share the database.
 */
export const POSTGRES: ServerDialect = {
  name: "postgres",
  migrations: PG_MIGRATIONS,
  migrationTableSchema,
  // Kysely's migrator looks for its table with a catalog scan of every schema that calls
  // has_schema_privilege() per schema; a schema another application (or test) drops during the
  // scan fails it with 3F000 "schema … does not exist", though ours is there. Seen in CI.
  transientMigrationError: (error) => (error as { code?: unknown } | null)?.code === "3F000",
  lockRow: (query) => query.forUpdate(),
  // Bare parameters: PostgreSQL makes its plans differently (and prepared.ts chooses which).
  opaqueParam: (value) => value,
  unstorableJson,
  eventJson: jsonbKeyOrder,
  selectDocStates: pgSelectDocStates,
  upsertDocRows: pgUpsertDocRows,
  // It inserts the documents that read absent without `on conflict` (postgres-docs.ts).
  readsEveryWrite: true,
  // The lock, the marks and every document the group touches in one round trip with BEGIN;
  // the writes in one statement with COMMIT (postgres-push.ts).
  lockAndRead: (tx, tenantId, group) => pgLockAndRead(tx, POSTGRES, tenantId, group),
  commitPush: (tx, commit) => pgCommitPush(tx, POSTGRES, commit),
  keepsJsonText: false,
  // Several instances on one database each run scheduled gc. The tenant row lock would only
  // queue the second behind the first (and then find nothing to do, while holding up that
  // tenant's writers once more): a transaction-scoped advisory lock taken with try makes it
  // skip the tenant instead. Released at commit or rollback, even on a crash.
  async gcTryLock(trx, tenantId) {
    const { rows } = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(hashtext('stowage_gc'), hashtext(${tenantId})) as ok`.execute(trx);
    return rows[0]?.ok === true;
  },
  tune: async () => {},
  plannerStats: (db) => new PlannerStats(db),
  // jsonb's own equality: typed, so `= 'true'` finds only true.
  // Not in a transaction (sync-rules/indexes.ts runs it alone), so writers go on meanwhile.
  createIndexLive: "create index concurrently",
  fieldSql: (path) => `(body #> '{${path.split(".").join(",")}}'::text[])`,
  fieldParam: (value) => sql`cast(${JSON.stringify(value)} as jsonb)`,
};
