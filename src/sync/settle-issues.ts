import { first, type Executor } from "../store/sql.ts";
import { CURSOR_KEY, cursorSeq } from "./pull.ts";
import type { SyncIssue } from "./push.ts";
import { rebaseDocs, type ServerDoc } from "./rebase.ts";
import { markForRefresh } from "./refresh.ts";

/**
 * What settleBatch does about conflicts and rejections, in its transaction (see refresh.ts).
 * A conflict's answer carries the server's current value; it is written now only if its
 * version is at or below our cursor (a state we hold whole). A newer one may be one member
 * of another client's group not pulled yet: the next pull brings it with its group. A
 * conflict with no server version (no row), and every rejection, leave a local value the
 * server may never have had: the document is recorded for a refresh.
 */
export async function settleIssues(trx: Executor, issues: SyncIssue[], conflicts: ServerDoc[]): Promise<void> {
  const row = await first<{ value: string }>(trx, "select value from _stowage_meta where key = ?", [CURSOR_KEY]);
  const seq = cursorSeq(row?.value);
  const now: ServerDoc[] = [];
  const refresh: { collection: string; id: string }[] = [];
  for (const doc of conflicts) {
    if (doc.version === null) refresh.push(doc);
    else if (doc.version <= seq) now.push(doc);
  }
  for (const issue of issues) if (issue.kind === "rejected") refresh.push(issue);
  // The client keeps the server value on conflict (with any later pending ops on top).
  if (now.length) await rebaseDocs(trx, now);
  if (refresh.length) await markForRefresh(trx, refresh);
}
