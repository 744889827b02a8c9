import type { Executor } from "../../store/sql.ts";
import { recordConflict } from "../../store/conflicts.ts";
import type { Store } from "../../store/store.ts";
import type { CycleContext } from "../transport.ts";
import type { SyncIssue } from "../types.ts";
import { resourceOf } from "./config.ts";
import type { RestClient } from "./client.ts";

/**
 * Duplicate repair for APIs that ignore Idempotency-Key. A create whose answer was lost is
 * sent again; the API then holds two items carrying the same local id. The pull that sees
 * the second keeps the lowest server id (every client picks the same one), remaps the local
 * document to it, and deletes the other on the server. The deletion is queued in meta first
 * (it must survive a crash or an outage, since a later pull may never show that item again)
 * and recorded as an issue (store/conflicts.ts) with kind `repaired`.
 */
export interface Repair {
  collection: string;
  /** The local document both items belong to. */
  localId: string;
  /** Server id kept. */
  keep: string;
  /** Server id deleted. */
  extra: string;
}

const REPAIRS_KEY = "rest_repairs";

/** Queues repairs and records them, inside the pull's transaction. */
export async function queueRepairs(store: Store, db: Executor, repairs: Repair[]): Promise<void> {
  const pending = await pendingRepairs(store, db);
  const known = new Set(pending.map((r) => `${r.collection}\u0000${r.extra}`));
  repairs = repairs.filter((r) => {
    const k = `${r.collection}\u0000${r.extra}`;
    if (known.has(k)) return false; // the overlap showed the same extra again
    known.add(k);
    return true;
  });
  if (repairs.length === 0) return;
  await store.setMeta(REPAIRS_KEY, JSON.stringify([...pending, ...repairs]), db);
  for (const r of repairs) {
    await recordIssue(db, store.now(), {
      kind: "repaired",
      opId: 0,
      collection: r.collection,
      id: r.localId,
      op: "delete",
      value: null,
      serverValue: { kept: r.keep, deleted: r.extra },
      message: `duplicate create: server item ${r.extra} carries the same local id as ${r.keep}; kept ${r.keep}, deleted ${r.extra}`,
    });
  }
}

async function pendingRepairs(store: Store, db: Executor): Promise<Repair[]> {
  const text = await store.getMeta(REPAIRS_KEY, db);
  return text ? (JSON.parse(text) as Repair[]) : [];
}

/** Deletes queued extras on the server (404 = already gone); stops at the first transport failure. */
export async function flushRepairs(ctx: CycleContext, client: RestClient): Promise<number> {
  let pending = await pendingRepairs(ctx.store, ctx.store.db);
  let done = 0;
  while (pending.length) {
    const r = pending[0];
    const resource = resourceOf(client.config, r.collection);
    if (resource) {
      await ctx.renewLease();
      await client.request("DELETE", `${resource}/${encodeURIComponent(r.extra)}`, { allow404: true, idempotencyKey: `repair-${r.collection}-${r.extra}` });
    }
    ctx.trace(`repair:${r.extra}`);
    done++;
    pending = pending.slice(1);
    await ctx.store.setMeta(REPAIRS_KEY, JSON.stringify(pending));
  }
  return done;
}

/** An entry in the issues list (`Stowage.issues()`); REST adds kinds `repaired` and `gone`. */
/**
 * A SyncIssue (sync/types.ts) as a REST API produces it: an API has no versions, and two more
 * kinds: `repaired` (a duplicate create deleted) and `gone` (an update answered 404).
 */
export type RestIssue = Omit<SyncIssue, "kind" | "serverVersion"> & { kind: SyncIssue["kind"] | "repaired" | "gone" };

export async function recordIssue(db: Executor, now: number, issue: RestIssue): Promise<void> {
  // An API has no versions: the server version is recorded as null.
  await recordConflict(db, now, { ...issue, serverVersion: null });
}
