import type { Kysely, RawBuilder, Transaction } from "kysely";
import type { ServerTables } from "./tables.ts";
import { compiledOnce } from "./compiled.ts";
import type { ServerDialect } from "./sql/dialect.ts";
import { CHANGES_CHANNEL, KEYS_CHANNEL } from "../adapter.ts";

/**
 * Server SQL helpers every store shares; what differs between stores is in sql/ (ServerDialect).
 */

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
  dialect: ServerDialect,
  tenantId: string,
): Promise<{ seq: number; purged_seq: number } | undefined> {
  return lockedTenant(await TENANT_LOCK.all(tx, dialect, tenantId));
}

/** TENANT_LOCK's answer (also when sent in a pipeline) as the tenant's counters, undefined when it has no row. */
export function lockedTenant(rows: unknown[]): { seq: number; purged_seq: number } | undefined {
  const [row] = rows as { seq: number | string; purged_seq: number | string }[];
  return row ? { seq: Number(row.seq), purged_seq: Number(row.purged_seq) } : undefined;
}

export const TENANT_LOCK = compiledOnce(
  1,
  (db, dialect, tenantId: string) => {
    const query = db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenantId);
    return dialect.lockRow(query);
  },
  { reusablePlan: true },
);

/**
 * A bound value SQLite's planner does not look into: without the cast, SQLite prepares the
 * statement again on every run when it has `LIMIT ?` or compares a text column with `?` while
 * ordering or joining (src/store/sql.ts, TEXT_PARAM, says why and what it costs). PostgreSQL
 * gets the bare parameter: its plans are made differently (and prepared.ts chooses which).
 */
export function opaqueParam<T extends string | number>(dialect: ServerDialect, value: T, type: "text" | "integer"): T | RawBuilder<T> {
  return dialect.opaqueParam(value, type);
}

/** Rows per multi-row statement: PostgreSQL allows 65,535 parameters, SQLite 32,766. */
export const MAX_ROWS_PER_STATEMENT = 500;

// The notification channels' names belong to the adapter contract (src/adapter.ts).
export { CHANGES_CHANNEL, KEYS_CHANNEL };

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
