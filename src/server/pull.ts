import { StowageError, describeValue } from "../errors.ts";
import type { Kysely } from "kysely";
import { num, type ServerTables } from "./tables.ts";
import type { ServerStore } from "./store.ts";
import { compiledOnce } from "./compiled.ts";
import { ReplicaBehind } from "./replica.ts";
import { opaqueParam } from "./dialect-sql.ts";
import type { ServerDialect } from "./sql/dialect.ts";
import { formatCursor, parseCursor, type CursorPosition } from "../protocol/cursor.ts";

/** A pull position (protocol/cursor.ts). */
export type PullPosition = CursorPosition;

/** Reads an opaque pull cursor: absent or empty is the start. Throws `input` for anything else unparseable. */
export function parsePullCursor(cursor: string | undefined): PullPosition {
  if (cursor === undefined || cursor === "") return { seq: 0 };
  const at = parseCursor(cursor);
  if (!at) throw new StowageError("input", `invalid cursor ${describeValue(cursor)}`);
  return at;
}

/**
 * The changes after `after`, oldest first: an index range scan of (tenant_id, seq), so its
 * cost follows the changes returned, not the documents stored (test/postgres/plans.test.ts).
 */
export function pullQuery(db: Kysely<ServerTables>, dialect: ServerDialect, tenantId: string, after: number, limit: number) {
  return db
    .selectFrom("stowage_docs")
    .select(["collection", "id", "seq", "deleted", "body"])
    .where("tenant_id", "=", opaqueParam(dialect, tenantId, "text"))
    .where("seq", ">", after)
    .orderBy("seq")
    .limit(opaqueParam(dialect, limit, "integer"));
}

/**
 * One pull page as JSON text. Bodies are stored as JSON text, so the page is assembled
 * without parsing and re-serializing every document.
 *
 * The changes are read before the tenant's counters, without a transaction: the purge horizon
 * and the sequence only grow, so if the horizon read afterwards is still at or below the
 * cursor, no tombstone after the cursor had been purged when the changes were read. This
 * holds under PostgreSQL's READ COMMITTED as well as on SQLite, and never blocks writers.
 *
 * A scan from the start is the exception to "behind the horizon means reset": it holds no
 * state that a purged tombstone could have left stale, as long as no purge happened since it
 * began. So its cursors carry the horizon read before its first page (`v1.<seq>.h<horizon>`)
 * while they are still behind the horizon, and such a cursor is accepted as long as the
 * horizon has not moved; if it moved, a tombstone of a document the scan already holds may be
 * gone, and the answer is reset. (Without this, a fresh client pulling fewer changes per page
 * than a purged tenant has live documents below its horizon was reset after every page.)
 */
export async function pullPage(
  store: ServerStore,
  tenantId: string,
  position: number | PullPosition,
  limit: number,
  info?: { changes: number; cursor: number; reset: boolean },
): Promise<string> {
  const at = typeof position === "number" ? { seq: position } : position;
  const after = at.seq;
  // A fresh scan notes the horizon BEFORE reading, so a purge during this read moves it past.
  const started = after === 0 && at.horizon === undefined ? await horizonOf(store, tenantId) : at.horizon;
  const rows = await PULL.all<{ collection: string; id: string; seq: number | string; deleted: number; body: string | null }>(store.db, store.dialect, tenantId, after, limit + 1);
  const [tenant] = await COUNTERS.all<{ seq: number | string; purged_seq: number | string }>(store.db, store.dialect, tenantId);
  const seq = num(tenant?.seq);
  const purged = num(tenant?.purged_seq);
  const scanning = started !== undefined && started === purged;
  // A read replica that has not replayed up to the cursor yet: the primary answers (replica.ts).
  // Also one whose purge horizon is behind a scan's (begun on the primary or a fresher standby).
  if (store.replica && (after > seq || (at.horizon !== undefined && purged < at.horizon))) throw new ReplicaBehind();
  // A cursor behind the horizon may have missed purged deletes, unless it is an unbroken scan from the start.
  if ((after > 0 && after < purged && !scanning) || after > seq || (at.horizon !== undefined && at.horizon !== purged && after < purged)) {
    if (info) info.reset = true;
    return '{"reset":true}';
  }
  const more = rows.length > limit;
  if (more) rows.length = limit;
  let last = after;
  // One change per line (docs/PROTOCOL.md "Page layout") where bodies are the text a client
  // would write itself (SQLite keeps JSON.stringify's text; PostgreSQL's jsonb text has other
  // spacing and key order, so a client storing it as is would diverge from its own writes):
  // a client may then store each value's text as it came instead of parsing and
  // re-serializing every document.
  const lines = store.dialect.keepsJsonText;
  const parts: string[] = [];
  for (const r of rows) {
    last = num(r.seq);
    const deleted = Number(r.deleted) === 1;
    parts.push(
      `{"collection":${JSON.stringify(r.collection)},"id":${JSON.stringify(r.id)},"version":${last},"value":${deleted ? "null" : lines ? oneLine(r.body) : r.body},"deleted":${deleted}}`,
    );
  }
  if (info) {
    info.changes = parts.length;
    info.cursor = last;
  }
  // A finished scan stands at the horizon: every row up to it was read, and any later commit
  // takes a number above the tenant's seq, which is at or above the horizon.
  const cursor = !scanning || last >= purged ? formatCursor(last) : more ? formatCursor(last, purged) : formatCursor(purged);
  const changes = !lines ? parts.join(",") : parts.length === 0 ? "" : `\n${parts.join(",\n")}\n`;
  return `{"changes":[${changes}],"cursor":"${cursor}","more":${more}}`;
}

/**
 * A stored body on one line. Bodies are written compact, but one imported or written by
 * another tool may hold line breaks; in JSON text a raw line break can only be whitespace
 * between tokens (inside a string it is escaped), so a space stands in for it.
 */
function oneLine(body: string | null): string | null {
  return body !== null && body.includes("\n") ? body.replaceAll("\n", " ") : body;
}

async function horizonOf(store: ServerStore, tenantId: string): Promise<number> {
  const [row] = await COUNTERS.all<{ purged_seq: number | string }>(store.db, store.dialect, tenantId);
  return num(row?.purged_seq);
}

/**
 * pullQuery and the tenant's counters, compiled once (compiled.ts says why). The counters are
 * one row by its primary key, a plan that holds at any size, so PostgreSQL may keep it
 * prepared (0.115 -> 0.06 ms a read); the changes' plan follows the statistics
 * (planner-stats.ts), so it is planned on every read.
 */
const PULL = compiledOnce(3, (db, dialect, tenantId: string, after: number, limit: number) => pullQuery(db, dialect, tenantId, after, limit));
const COUNTERS = compiledOnce(1, (db, _dialect, tenantId: string) => db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenantId), { reusablePlan: true });
