import type { JsonObject } from "../json.ts";
import { all, run, type Executor } from "./sql.ts";

/** A conflict or rejection as a transport records it (`Stowage.issues()` lists them). */
export interface ConflictRecord {
  kind: string;
  opId: number;
  collection: string;
  id: string;
  op: string;
  value: JsonObject | null;
  serverValue: JsonObject | null;
  /** The server's version; null when unknown (a REST API has none). */
  serverVersion?: number | null;
  message: string;
}

/** Records one issue, in the caller's transaction. */
export async function recordConflict(db: Executor, now: number, issue: ConflictRecord): Promise<void> {
  await run(
    db,
    `insert into _stowage_conflicts (kind, op_id, collection, id, op, body, server_body, server_version, message, created_at)
     values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [issue.kind, issue.opId, issue.collection, issue.id, issue.op, issue.value === null ? null : JSON.stringify(issue.value),
      issue.serverValue === null ? null : JSON.stringify(issue.serverValue), issue.serverVersion ?? null, issue.message, now],
  );
}

/** Recorded issues counted by kind. */
export function conflictCounts(db: Executor): Promise<{ kind: string; n: number }[]> {
  return all<{ kind: string; n: number }>(db, "select kind, count(*) as n from _stowage_conflicts group by kind");
}
