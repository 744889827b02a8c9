import type { JsonObject } from "../../json.ts";
import { docOpsFrom, removeDocOpsFrom, removeOutboxEntry, type OutboxRow } from "../../store/outbox.ts";
import { localBody } from "../../store/server-docs.ts";
import type { CycleContext } from "../transport.ts";
import type { SyncIssue } from "../types.ts";
import { rebaseDocs } from "../../store/rebase.ts";
import type { SyncResult } from "../types.ts";
import { forget } from "../../store/id-map.ts";
import { recordIssue, type RestIssue } from "./repair.ts";

/**
 * What happens to an op the API will not take, so that a refusal never lingers and never
 * turns into a silent duplicate (DESIGN guarantees 12 and 14):
 *
 * - `rejected` (a 4xx on a write): recorded; the document returns to the API's state —
 *   `serverValue` from a get-one, null when absent (a refused create: the document goes,
 *   with the later edits queued for it, which the issue keeps).
 * - `gone` (a 404 on an update): the item was deleted on the API; the local document follows
 *   (deleted), its queued edits leave with it and are kept in the issue. Re-created only
 *   when the config says `recreateOnMissing: true`.
 */
export async function settleRefusal(
  ctx: CycleContext,
  result: SyncResult,
  row: OutboxRow,
  outcome: { kind: "rejected" | "gone"; message: string; serverValue: JsonObject | null; status?: number },
): Promise<void> {
  const db = ctx.store.db;
  const local = await localBody(db, row.collection, row.id);
  const issue: RestIssue = {
    kind: outcome.kind,
    opId: row.op_id,
    collection: row.collection,
    id: row.id,
    op: row.op,
    value: local ? (JSON.parse(local.body) as JsonObject) : row.body === null ? null : (JSON.parse(row.body) as JsonObject),
    serverValue: outcome.serverValue,
    message: outcome.message,
  };
  const dropAll = outcome.serverValue === null;
  await db.transaction().execute(async (trx) => {
    if (dropAll) {
      // Nothing on the API to fold later edits onto: they would only re-create the item.
      const later = await docOpsFrom(trx, row.collection, row.id, row.op_id);
      await removeDocOpsFrom(trx, row.collection, row.id, row.op_id);
      ctx.trace(`push:${outcome.kind}:${later.length}`);
      await forget(trx, row.collection, row.id);
    } else {
      await removeOutboxEntry(trx, row.op_id);
      ctx.trace(`push:${outcome.kind}`);
    }
    await recordIssue(trx, ctx.store.now(), issue);
    await rebaseDocs(trx, [{ collection: row.collection, id: row.id, value: outcome.serverValue === null ? null : { ...outcome.serverValue, id: row.id }, version: null }]);
  });
  // SyncIssue's kinds are protocol v1's; REST adds `gone` and `repaired` (issues() lists them all).
  const asSync = { ...issue, serverVersion: null } as unknown as SyncIssue;
  result.issues.push(asSync);
  ctx.emitIssue(asSync);
}
