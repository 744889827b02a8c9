/**
 * Console edits go through the same write path as `/v1/docs` writes: one transaction that
 * locks the tenant row, applyOps, the new sequence counter, then a poke on the change feed, so
 * an edit made in the browser takes a sequence number and every client pulls it.
 */
import type { PushOp } from "../../protocol/wire.ts";
import type { JsonObject } from "../../json.ts";
import { applyOps } from "../apply.ts";
import { lockTenant } from "../dialect-sql.ts";
import type { ChangeFeed } from "../events/feed.ts";
import { HttpError } from "../http.ts";
import { checkPush, type PushLimits } from "../push.ts";
import type { ServerStore } from "../store.ts";

export async function adminWrite(
  store: ServerStore,
  feed: ChangeFeed | undefined,
  limits: PushLimits,
  tenantId: string,
  collection: string,
  id: string,
  op: "put" | "delete",
  value: JsonObject | undefined,
  baseVersion: number | null | undefined,
): Promise<{ version: number; value?: JsonObject | null }> {
  if (op === "put") {
    // The same value checks a pushed op gets (size, depth, unstorable text).
    const problem = checkPush({ clientId: "console", ops: [{ opId: 1, collection, id, op: "put", value } as PushOp] }, limits, store.family)[0]?.message;
    if (problem) throw new HttpError(400, "bad_request", problem);
  }
  const outcome = await store.db.transaction().execute(async (trx) => {
    const tenant = await lockTenant(trx, store.family, tenantId);
    if (!tenant) throw new HttpError(404, "not_found", `no tenant ${tenantId}`);
    const { outcomes, seq } = await applyOps(trx, { tenantId, seq: tenant.seq, writer: null, now: Date.now(), maxValueChars: limits.maxValueChars }, [
      { collection, id, op, value, baseVersion },
    ]);
    if (seq !== tenant.seq) await trx.updateTable("stowage_tenants").set({ seq }).where("id", "=", tenantId).execute();
    return { ...outcomes[0], seq: seq !== tenant.seq ? seq : undefined };
  });
  if (outcome.seq !== undefined) feed?.publish(tenantId, outcome.seq);
  if (outcome.status === "conflict") throw new HttpError(409, "conflict", outcome.error?.message ?? "the document changed since it was loaded; reload it");
  if (outcome.status === "rejected") throw new HttpError(400, outcome.error?.code === "not_found" ? "not_found" : "bad_request", outcome.error?.message ?? "the document was refused");
  if (outcome.version === undefined) throw new HttpError(404, "not_found", `no document ${collection}/${id}`);
  return { version: outcome.version, value: outcome.value };
}
