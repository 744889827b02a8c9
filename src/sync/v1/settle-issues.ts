import type { Executor } from "../../store/sql.ts";
import { CURSOR_KEY, readMeta } from "../../store/sync-meta.ts";
import { localVersion } from "../../store/server-docs.ts";
import type { SyncIssue } from "../types.ts";
import { rebaseDocs, type ServerDoc } from "../../store/rebase.ts";
import { cursorSeq } from "../../protocol/cursor.ts";
import { markForRefresh } from "../../store/refresh-records.ts";

/**
 * What settleBatch does about conflicts and rejections, in its transaction (see refresh.ts).
 * A conflict's answer carries the server's current value; it is written now only if its
 * version is at or below our cursor (a state we hold whole). A newer one may be one member
 * of another client's group not pulled yet: the next pull brings it with its group, and until
 * then the document is recorded for a refresh (it is unresolved). A
 * conflict with no server version (no row), one that may be older than what this client already
 * knows (knownNewer), and every rejection, leave a local value the server may never have had:
 * the document is recorded for a refresh.
 */
export async function settleIssues(trx: Executor, issues: SyncIssue[], conflicts: ServerDoc[]): Promise<void> {
  const seq = cursorSeq(await readMeta(trx, CURSOR_KEY)) ?? 0;
  const now: ServerDoc[] = [];
  const refresh: { collection: string; id: string }[] = [];
  for (const doc of conflicts) {
    // A newer one (held back for its group) is recorded too, so the document counts as
    // unresolved until the pull brings it: its local value is still the refused one.
    if (doc.version === null || doc.version > seq) refresh.push(doc);
    else if (await knownNewer(trx, doc)) refresh.push(doc);
    else now.push(doc);
  }
  for (const issue of issues) if (issue.kind === "rejected") refresh.push(issue);
  // The client keeps the server value on conflict (with any later pending ops on top).
  if (now.length) await rebaseDocs(trx, now);
  if (refresh.length) await markForRefresh(trx, refresh);
}

/**
 * Whether this client may already know a newer server version of the document than a conflict
 * answer carries. An answer replayed from the server's record (its first answer was lost) holds
 * the value of that first processing, and a pull since then may have brought a later one and
 * held it behind the pending op (the row keeps that version); a pending delete folded the row
 * away, so what it held back is unknown. Either way the answer may be stale: fetch the current
 * state instead (chaos found a replayed conflict taking a document back under a pulled cursor).
 */
async function knownNewer(trx: Executor, doc: ServerDoc): Promise<boolean> {
  const local = await localVersion(trx, doc.collection, doc.id);
  return !local || (local.version ?? 0) > (doc.version ?? 0);
}
