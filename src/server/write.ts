/**
 * The one single-document write path: `PUT/PATCH/DELETE /v1/docs/:collection/:id` and the
 * console's edits both come here, so they cannot drift apart. One transaction locks the tenant
 * row, applies the op (apply.ts, with the caller's rules), moves the tenant's sequence counter;
 * after the commit the change is published with its rows (live clients on `?changes=1` apply
 * the value from the event, not a pull), the outcome is reported for /metrics, and the time
 * written is the injected clock's.
 */
import type { JsonObject } from "../json.ts";
import { applyOps, type WriteOutcome } from "./apply.ts";
import { lockTenant } from "./dialect-sql.ts";
import { commitChanges } from "./events/changes.ts";
import type { ChangeFeed } from "./events/feed.ts";
import { HttpError } from "./http.ts";
import { checkValue, type PushLimits } from "./push.ts";
import type { RuleRunner } from "./rules.ts";
import type { ServerStore } from "./store.ts";
import { movesOf } from "./sync-rules/moves.ts";

/** Where a single-document write came from (the `source` label of `stowage_doc_writes_total`). */
export type DocWriteSource = "api" | "console";

/** What a single-document write ended as, for metrics: the apply outcome, or `not_found` for a delete of nothing. */
export type DocWriteResult = WriteOutcome["status"] | "not_found";

/** What every single-document write shares, whoever asks for it. */
export interface DocWriter {
  /** The store written to. */
  store: ServerStore;
  /** The feed live clients listen on; absent: nobody is told (a store with no streams). */
  feed?: ChangeFeed;
  /** The clock in ms written as the change's time. */
  now: () => number;
  /** Size and depth limits of a value. */
  limits: PushLimits;
  /** Called once per write after it is decided (metrics); must not throw. */
  onWrite?: (source: DocWriteSource, tenantId: string, result: DocWriteResult) => void;
}

/** One write. */
export interface DocWrite {
  /** The tenant written to. */
  tenantId: string;
  /** A valid collection name. */
  collection: string;
  /** A valid document id. */
  id: string;
  /** Create or replace, JSON Merge Patch, or delete. */
  op: "put" | "patch" | "delete";
  /** The document (put) or merge patch (patch). */
  value?: JsonObject;
  /** From `If-Match`: the version the writer last saw; null: must not exist. */
  baseVersion?: number | null;
  /** The principal's sync rules (the console, with the admin key, has none). */
  rules?: RuleRunner;
  /** Who asked. */
  source: DocWriteSource;
}

/**
 * Applies one write. Resolves with the new version (and value, for put and patch); refusals
 * throw the HttpError the client gets: 400 for a bad value, 403 forbidden by rules, 404 for a
 * patch or delete of nothing, 409 for a stale If-Match.
 */
export async function writeDoc(w: DocWriter, d: DocWrite): Promise<{ version: number; value?: JsonObject | null }> {
  const { store } = w;
  if (d.value !== undefined) {
    // The checks a pushed op's value gets (size, depth, unstorable text, a mismatched id).
    const problem = checkValue(d.value, d.id, w.limits, store.dialect);
    if (problem) throw new HttpError(400, "bad_request", problem, { issues: [{ path: [], message: problem }] });
  }
  const outcome = await store.db.transaction().execute(async (trx) => {
    const tenant = await lockTenant(trx, store.dialect, d.tenantId);
    if (!tenant) throw new HttpError(404, "not_found", `no tenant ${d.tenantId}`);
    const { outcomes, seq, written } = await applyOps(trx, { tenantId: d.tenantId, seq: tenant.seq, writer: null, now: w.now(), maxValueChars: w.limits.maxValueChars, rules: d.rules, dialect: store.dialect, moves: movesOf(store) }, [
      { collection: d.collection, id: d.id, op: d.op, value: d.value, baseVersion: d.baseVersion },
    ]);
    if (seq !== tenant.seq) await trx.updateTable("stowage_tenants").set({ seq }).where("id", "=", d.tenantId).execute();
    return { ...outcomes[0], seq: seq !== tenant.seq ? seq : undefined, changes: commitChanges(tenant.seq, seq, written, store.dialect) };
  });
  if (outcome.seq !== undefined) w.feed?.publish(d.tenantId, outcome.seq, outcome.changes);
  const absent = outcome.status === "applied" && outcome.version === undefined;
  w.onWrite?.(d.source, d.tenantId, absent ? "not_found" : outcome.status);
  if (outcome.status === "conflict") throw new HttpError(409, "conflict", outcome.error?.message ?? "version mismatch");
  if (outcome.status === "rejected") {
    const e = outcome.error;
    if (e?.code === "not_found") throw notFound(d.collection, d.id);
    if (e?.code === "forbidden") throw new HttpError(403, "forbidden", e.message);
    if (e?.code === "invalid") throw new HttpError(400, "invalid", e.message, e.issues ? { issues: e.issues } : {});
    throw new HttpError(400, "bad_request", e?.message ?? "the document was refused");
  }
  if (outcome.version === undefined) throw notFound(d.collection, d.id); // a delete of an absent document
  return { version: outcome.version, value: outcome.value };
}

function notFound(collection: string, id: string): HttpError {
  return new HttpError(404, "not_found", `no document ${collection}/${id}`);
}
