import { pruneMoves } from "./sync-rules/moves.ts";
import { sql } from "kysely";
import { lockTenant } from "./dialect-sql.ts";
import { num } from "./tables.ts";
import type { ServerStore } from "./store.ts";

export interface GcOptions {
  /** Purge tombstones last changed longer ago than this (recorded refusals go once settled). */
  olderThanMs: number;
  /** The clock, ms since the epoch (tests inject one). */
  now?: number;
}

export interface GcReport {
  /** Tombstones removed, over every tenant. */
  tombstones: number;
  /** Recorded conflict/rejected results removed. */
  opResults: number;
  /** Tenants whose purge horizon moved. */
  tenants: number;
  /** Tenants skipped because another instance was collecting them at that moment (PostgreSQL). */
  skipped: number;
}

/**
 * Purges old tombstones per tenant and moves the tenant's purge horizon to the highest purged
 * sequence number, in the same transaction, so a pull with a cursor behind it answers reset.
 */
export async function gc(store: ServerStore, options: GcOptions): Promise<GcReport> {
  const cutoff = (options.now ?? Date.now()) - Math.max(0, options.olderThanMs);
  const report: GcReport = { tombstones: 0, opResults: 0, tenants: 0, skipped: 0 };
  const tenants = await store.db.selectFrom("stowage_tenants").select("id").execute();
  for (const { id } of tenants) {
    await store.db.transaction().execute(async (trx) => {
      // Another instance sweeping this tenant already: skip it rather than queue behind it (sql/postgres.ts says why).
      if (!(await store.dialect.gcTryLock(trx, id))) {
        report.skipped++;
        return;
      }
      const tenant = await lockTenant(trx, store.dialect, id);
      if (!tenant) return;
      const top = await trx
        .selectFrom("stowage_docs")
        .select((eb) => [eb.fn.max("seq").as("max"), eb.fn.countAll().as("n")])
        .where("tenant_id", "=", id)
        .where("deleted", "=", 1)
        .where("updated_at", "<", cutoff)
        .executeTakeFirst();
      const n = num(top?.n as number | string | undefined);
      // Sync rules' moves age out with the tombstones, under the same horizon (sync-rules/moves.ts).
      const moved = await pruneMoves(trx, id, cutoff);
      if (n === 0 && moved === 0) return;
      if (n > 0) await trx.deleteFrom("stowage_docs").where("tenant_id", "=", id).where("deleted", "=", 1).where("updated_at", "<", cutoff).execute();
      const horizon = Math.max(tenant.purged_seq, num(top?.max as number | string | undefined), moved);
      await trx.updateTable("stowage_tenants").set({ purged_seq: horizon }).where("id", "=", id).execute();
      report.tombstones += n;
      report.tenants++;
    });
  }
  // A recorded refusal is what a client that lost its answer gets when it resends the op, so it
  // stays until the client reports the op settled (push `settled`, kept in stowage_clients),
  // however old: forgotten earlier, the resent op would be answered `duplicate` and the refusal
  // never reach the client (chaos/ found it). Settled ones go at once: they are never resent.
  const removed = await store.db
    .deleteFrom("stowage_op_results")
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom("stowage_clients as c")
          .select(sql.lit(1).as("one"))
          .whereRef("c.tenant_id", "=", "stowage_op_results.tenant_id")
          .whereRef("c.client_id", "=", "stowage_op_results.client_id")
          .whereRef("stowage_op_results.op_id", "<=", "c.settled_op_id"),
      ),
    )
    .executeTakeFirst();
  report.opResults = Number(removed.numDeletedRows ?? 0);
  return report;
}

export interface GcSchedule {
  /** Purge tombstones last changed longer ago than this. */
  olderThanMs: number;
  /** Time between runs (default hourly; at least 10 ms). */
  everyMs?: number;
  /** Also run right away (default true), so a server restarted often still collects. */
  atStart?: boolean;
  /** The clock, ms since the epoch (tests inject one). */
  now?: () => number;
  /** Called after each run with what it purged (logs, metrics). */
  onRun?: (report: GcReport) => void;
  /** Called when a run fails; the schedule goes on. */
  onError?: (e: unknown) => void;
}

/**
 * Runs gc on a timer in the background until stopped. Runs never overlap; failures go to
 * `onError`; the loop never rejects. `stop()` waits for a run in progress, so the store can be
 * closed right after it.
 */
export function startGc(store: ServerStore, options: GcSchedule): { stop(): Promise<void>; run(): Promise<GcReport | undefined> } {
  let running: Promise<GcReport | undefined> | undefined;
  let stopped = false;
  const run = (): Promise<GcReport | undefined> => {
    if (stopped) return Promise.resolve(undefined);
    if (running) return running;
    const once = async (): Promise<GcReport | undefined> => {
      try {
        const report = await gc(store, { olderThanMs: options.olderThanMs, now: (options.now ?? Date.now)() });
        options.onRun?.(report);
        return report;
      } catch (e) {
        options.onError?.(e);
        return undefined;
      }
    };
    // Cleared in a later microtask, after the assignment (a run can settle synchronously).
    const p: Promise<GcReport | undefined> = once().finally(() => {
      if (running === p) running = undefined;
    });
    running = p;
    return p;
  };
  const timer = setInterval(() => void run(), Math.max(10, options.everyMs ?? 3_600_000));
  (timer as { unref?: () => void }).unref?.();
  if (options.atStart !== false) void run();
  return {
    run,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
