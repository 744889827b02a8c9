import { StowageError, describeValue } from "../errors.ts";
import type { Kysely } from "kysely";
import { num, type ServerTables } from "./schema.ts";
import type { ServerStore } from "./store.ts";

const CURSOR = /^v1\.(0|[1-9][0-9]{0,15})$/;

/** Reads an opaque pull cursor: absent or empty is the start. Throws `input` for anything else unparseable. */
export function parsePullCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === "") return 0;
  const match = CURSOR.exec(cursor);
  const n = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(n)) throw new StowageError("input", `invalid cursor ${describeValue(cursor)}`);
  return n;
}

export function pullCursor(seq: number): string {
  return `v1.${seq}`;
}

/**
 * The changes after `after`, oldest first: an index range scan of (tenant_id, seq), so its
 * cost follows the changes returned, not the documents stored (test/postgres/plans.test.ts).
 */
export function pullQuery(db: Kysely<ServerTables>, tenantId: string, after: number, limit: number) {
  return db
    .selectFrom("stowage_docs")
    .select(["collection", "id", "seq", "deleted", "body"])
    .where("tenant_id", "=", tenantId)
    .where("seq", ">", after)
    .orderBy("seq")
    .limit(limit);
}

/**
 * One pull page as JSON text. Bodies are stored as JSON text, so the page is assembled
 * without parsing and re-serializing every document.
 *
 * The changes are read before the tenant's counters, without a transaction: the purge horizon
 * and the sequence only grow, so if the horizon read afterwards is still at or below the
 * cursor, no tombstone after the cursor had been purged when the changes were read. This
 * holds under PostgreSQL's READ COMMITTED as well as on SQLite, and never blocks writers.
 */
export async function pullPage(
  store: ServerStore,
  tenantId: string,
  after: number,
  limit: number,
  info?: { changes: number; cursor: number; reset: boolean },
): Promise<string> {
  const rows = await pullQuery(store.db, tenantId, after, limit + 1).execute();
  const tenant = await store.db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenantId).executeTakeFirst();
  const seq = num(tenant?.seq);
  const purged = num(tenant?.purged_seq);
  // A cursor at 0 has no state to lose; one behind the horizon may have missed purged deletes.
  if ((after > 0 && after < purged) || after > seq) {
    if (info) info.reset = true;
    return '{"reset":true}';
  }
  const more = rows.length > limit;
  if (more) rows.length = limit;
  let last = after;
  const parts: string[] = [];
  for (const r of rows) {
    last = num(r.seq);
    const deleted = Number(r.deleted) === 1;
    parts.push(
      `{"collection":${JSON.stringify(r.collection)},"id":${JSON.stringify(r.id)},"version":${last},"value":${deleted ? "null" : r.body},"deleted":${deleted}}`,
    );
  }
  if (info) {
    info.changes = parts.length;
    info.cursor = last;
  }
  return `{"changes":[${parts.join(",")}],"cursor":"${pullCursor(last)}","more":${more}}`;
}
