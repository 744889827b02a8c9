/**
 * The record of moves: a document's value before a change that may have moved it out of a
 * view (an indexed field changed, or it was deleted), written in the write's transaction, keyed
 * by the change's seq. Membership of a view depends only on indexed fields (rules name only
 * indexed fields, subscriptions may filter only on them), so a change that keeps them keeps
 * every view's membership and is not recorded. A pull from cursor c then knows a document
 * now outside the view was inside it after c exactly when one of its moves after c starts
 * inside the view (pull-view.ts).
 *
 * Every writer of a store records them once rules are installed on it (registerRules): the
 * handler's pushes and document writes and the console's edits alike.
 */
import type { Kysely } from "kysely";
import type { JsonObject } from "../../json.ts";
import { getField } from "../filter.ts";
import type { ServerStore } from "../store.ts";
import { num, type ServerTables } from "../tables.ts";
import type { DocState, MoveTracker } from "../write-op.ts";
import type { SyncRules } from "./check.ts";
import { indexedFields } from "./view.ts";
import { ensureRuleIndexes } from "./indexes.ts";

type Written = { collection: string; id: string; state: DocState; before?: DocState };

export interface MoveRow {
  tenant_id: string;
  seq: number;
  collection: string;
  id: string;
  body: string;
  created_at: number;
}

const installed = new WeakMap<object, { rules: SyncRules; tracker: MoveTracker; ready: Promise<void> }>();

/**
 * Installs rules on a store: its writers record moves from now on, and the rules' indexes are
 * made in the background (indexes.ts; views are served meanwhile, only slower; a failure is
 * reported to `onError`). `indexesReady` resolves when they are done.
 */
export function registerRules(store: ServerStore, rules: SyncRules, onError: (e: unknown) => void = () => {}): void {
  const fields = new Map<string, string[]>();
  const fieldsOf = (c: string) => {
    let f = fields.get(c);
    if (!f) fields.set(c, (f = [...indexedFields(rules, c)]));
    return f;
  };
  /** The moves among a transaction's written documents: deletes of live ones, and changes of an indexed field. */
  const rowsOf = (tenantId: string, now: number, written: readonly Written[]) => {
    const out: MoveRow[] = [];
    for (const d of written) {
      const before = d.before;
      if (!before || before.deleted || before.body === null) continue;
      if (!d.state.deleted) {
        const f = fieldsOf(d.collection);
        if (f.length === 0) continue;
        const a = (before.value ??= JSON.parse(before.body) as JsonObject);
        const b = (d.state.value ??= JSON.parse(d.state.body ?? "{}") as JsonObject);
        if (f.every((p) => JSON.stringify(getField(a, p)) === JSON.stringify(getField(b, p)))) continue;
      }
      out.push({ tenant_id: tenantId, seq: d.state.seq, collection: d.collection, id: d.id, body: before.body, created_at: now });
    }
    return out;
  };
  const tracker: MoveTracker = { record: (trx, tenantId, now, written) => writeMoves(trx, rowsOf(tenantId, now, written)) };
  const ready = ensureRuleIndexes(store.db, store.dialect, rules).catch(onError);
  installed.set(store, { rules, tracker, ready });
}

/** Resolves once the rules' indexes on this store exist (at once when no rules are installed). */
export function indexesReady(store: ServerStore): Promise<void> {
  return installed.get(store)?.ready ?? Promise.resolve();
}

/** The move tracker of a store with rules installed, else undefined (nothing is recorded). */
export function movesOf(store: ServerStore): MoveTracker | undefined {
  return installed.get(store)?.tracker;
}

/** Records a transaction's moves (inside it). */
export async function writeMoves(trx: Kysely<ServerTables>, rows: MoveRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) await trx.insertInto("stowage_doc_moves").values(rows.slice(i, i + 500)).execute();
}

/** Prunes moves older than `cutoff` (gc.ts); answers the highest seq pruned (0: none), which the purge horizon must cover. */
export async function pruneMoves(trx: Kysely<ServerTables>, tenantId: string, cutoff: number): Promise<number> {
  const top = await trx.selectFrom("stowage_doc_moves").select((eb) => eb.fn.max("seq").as("max")).where("tenant_id", "=", tenantId).where("created_at", "<", cutoff).executeTakeFirst();
  const max = num(top?.max as number | string | undefined);
  if (max > 0) await trx.deleteFrom("stowage_doc_moves").where("tenant_id", "=", tenantId).where("created_at", "<", cutoff).execute();
  return max;
}
