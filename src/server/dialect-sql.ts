import { sql, type Kysely, type RawBuilder, type Transaction } from "kysely";
import type { Migration } from "kysely/migration";
import type { ServerTables, SqlFamily } from "./tables.ts";
import { compiledOnce } from "./compiled.ts";
import { CHANGES_CHANNEL, KEYS_CHANNEL } from "../adapter.ts";

/**
 * The only place server SQL differs between SQLite and PostgreSQL. Everything else is
 * Kysely builder code both accept.
 */
export type { SqlFamily };

/**
 * Reads the tenant's counters and, on PostgreSQL, locks its row until commit, which is what
 * makes sequence numbers follow commit order there. SQLite's `BEGIN IMMEDIATE` already holds
 * the single write lock, so a plain read suffices.
 *
 * Why a locked counter row and not `nextval()`, `serial` or `now()` (PostgreSQL): those hand
 * out numbers when a statement runs, not when its transaction commits. Writer A can take 7,
 * writer B take 8 and commit first; a reader that pulls then sees 8, moves its cursor past
 * it, and never sees 7 when A commits. Here every write transaction of a tenant first takes
 * this row's lock with `SELECT … FOR UPDATE` (held until COMMIT/ROLLBACK) and only then reads
 * the counter, allocates numbers above it and writes the new counter back. So:
 * - writers of one tenant run their allocate-and-commit sections one after another: B waits
 *   for A's lock, and under READ COMMITTED a `FOR UPDATE` that waited re-reads the row's
 *   newest committed version, so B numbers from A's counter, never from a stale copy;
 * - PostgreSQL makes a transaction visible before it releases its locks, so A's changes are
 *   visible before B can even allocate; every number B commits is above every number A
 *   committed, and B becomes visible after A;
 * - a pull runs `seq > cursor` as one statement, on one snapshot: if it sees B's 8 it sees
 *   A's 7 too, so a cursor never passes a change that commits later. A rolled-back writer
 *   wrote its counter nowhere, so its numbers are reused and no gaps matter either way.
 * The price is that one tenant's writes commit one at a time (other tenants are not held
 * up); a push is one transaction of multi-row statements, so the lock is held briefly.
 */
export async function lockTenant(
  tx: Transaction<ServerTables> | Kysely<ServerTables>,
  family: SqlFamily,
  tenantId: string,
): Promise<{ seq: number; purged_seq: number } | undefined> {
  return lockedTenant(await TENANT_LOCK.all(tx, family, tenantId));
}

/** TENANT_LOCK's answer (also when sent in a pipeline) as the tenant's counters, undefined when it has no row. */
export function lockedTenant(rows: unknown[]): { seq: number; purged_seq: number } | undefined {
  const [row] = rows as { seq: number | string; purged_seq: number | string }[];
  return row ? { seq: Number(row.seq), purged_seq: Number(row.purged_seq) } : undefined;
}

export const TENANT_LOCK = compiledOnce(
  1,
  (db, family, tenantId: string) => {
    const query = db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenantId);
    return family === "postgres" ? query.forUpdate() : query;
  },
  { reusablePlan: true },
);

/**
 * A bound value SQLite's planner does not look into: without the cast, SQLite prepares the
 * statement again on every run when it has `LIMIT ?` or compares a text column with `?` while
 * ordering or joining (src/store/sql.ts, TEXT_PARAM, says why and what it costs). PostgreSQL
 * gets the bare parameter: its plans are made differently (and prepared.ts chooses which).
 */
export function opaqueParam<T extends string | number>(family: SqlFamily, value: T, type: "text" | "integer"): T | RawBuilder<T> {
  return family === "sqlite" ? sql<T>`cast(${value} as ${sql.raw(type)})` : value;
}

/** Rows per multi-row statement: PostgreSQL allows 65,535 parameters, SQLite 32,766. */
export const MAX_ROWS_PER_STATEMENT = 500;

/** Migrations one family needs beyond the shared ones; they run after the shared migration of the same number. */
export function familyMigrations(family: SqlFamily): Record<string, Migration> {
  return family === "postgres" ? POSTGRES_MIGRATIONS : {};
}

/**
 * Where the migrator keeps its bookkeeping tables. On PostgreSQL it must be named: Kysely
 * looks for them by name in every schema, so a second Stowage schema in the same database
 * would find the first one's tables and skip creating its own.
 */
export async function migrationTableSchema(db: Kysely<any>, family: SqlFamily): Promise<string | undefined> {
  if (family !== "postgres") return undefined;
  const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
  return rows[0]?.schema ?? undefined;
}

// The notification channels' names belong to the adapter contract (src/adapter.ts).
export { CHANGES_CHANNEL, KEYS_CHANNEL };

const POSTGRES_MIGRATIONS: Record<string, Migration> = {
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
};

/**
 * A stored body's JSON text with object keys in the order a jsonb column gives them back
 * (shorter keys first, then by UTF-8 bytes, at every level), so a value that never went
 * through the database (a live event's changes, events/changes.ts) reads exactly as a pull of
 * the same row: a client stores what it parsed, and key order survives a parse. A few lines
 * of our own: this is PostgreSQL's documented jsonb key order, not a format of its own.
 */
export function jsonbKeyOrder(body: string): string {
  return JSON.stringify(reorder(JSON.parse(body)));
}

const utf8 = new TextEncoder();

function reorder(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(reorder);
  if (v === null || typeof v !== "object") return v;
  const keys = Object.keys(v).map((k) => ({ k, b: utf8.encode(k) }));
  keys.sort((x, y) => {
    if (x.b.length !== y.b.length) return x.b.length - y.b.length;
    for (let i = 0; i < x.b.length; i++) if (x.b[i] !== y.b[i]) return x.b[i] - y.b[i];
    return 0;
  });
  const out: Record<string, unknown> = {};
  for (const { k } of keys) out[k] = reorder((v as Record<string, unknown>)[k]);
  return out;
}

// JSON.stringify writes U+0000 and unpaired surrogates as \u escapes; jsonb refuses both.
// An odd run of backslashes before `u` makes it an escape, an even run an escaped backslash.
const UNSTORABLE_IN_JSONB = /(?<!\\)(?:\\\\)*\\u(?:0000|d[89a-f][0-9a-f]{2})/i;

/**
 * Why this store cannot keep a value's JSON text, or undefined when it can. PostgreSQL's
 * jsonb refuses the character U+0000 and unpaired UTF-16 surrogates; refusing them before
 * the transaction answers 400 instead of failing the whole push with a 500.
 */
export function unstorableJson(family: SqlFamily, json: string): string | undefined {
  if (family !== "postgres" || !json.includes("\\u")) return undefined;
  return UNSTORABLE_IN_JSONB.test(json) ? "value contains U+0000 or an unpaired surrogate, which PostgreSQL cannot store" : undefined;
}
