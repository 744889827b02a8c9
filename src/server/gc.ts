import { lockTenant } from "./dialect-sql.ts";
import { num } from "./schema.ts";
import type { ServerStore } from "./store.ts";

export interface GcOptions {
  /** Purge tombstones (and recorded op refusals) last changed longer ago than this. */
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
}

/**
 * Purges old tombstones per tenant and moves the tenant's purge horizon to the highest purged
 * sequence number, in the same transaction, so a pull with a cursor behind it answers reset.
 */
export async function gc(store: ServerStore, options: GcOptions): Promise<GcReport> {
  const cutoff = (options.now ?? Date.now()) - Math.max(0, options.olderThanMs);
  const report: GcReport = { tombstones: 0, opResults: 0, tenants: 0 };
  const tenants = await store.db.selectFrom("stowage_tenants").select("id").execute();
  for (const { id } of tenants) {
    await store.db.transaction().execute(async (trx) => {
      const tenant = await lockTenant(trx, store.family, id);
      if (!tenant) return;
      const top = await trx
        .selectFrom("stowage_docs")
        .select((eb) => [eb.fn.max("seq").as("max"), eb.fn.countAll().as("n")])
        .where("tenant_id", "=", id)
        .where("deleted", "=", 1)
        .where("updated_at", "<", cutoff)
        .executeTakeFirst();
      const n = num(top?.n as number | string | undefined);
      if (n === 0) return;
      await trx.deleteFrom("stowage_docs").where("tenant_id", "=", id).where("deleted", "=", 1).where("updated_at", "<", cutoff).execute();
      const horizon = Math.max(tenant.purged_seq, num(top?.max as number | string | undefined));
      await trx.updateTable("stowage_tenants").set({ purged_seq: horizon }).where("id", "=", id).execute();
      report.tombstones += n;
      report.tenants++;
    });
  }
  const removed = await store.db.deleteFrom("stowage_op_results").where("created_at", "<", cutoff).executeTakeFirst();
  report.opResults = Number(removed.numDeletedRows ?? 0);
  return report;
}

/**
 * The server option for gc: purges every `everyMs` (default hourly) in the background until
 * stopped. Failures go to `onError`; the loop never rejects.
 */
export function startGc(store: ServerStore, options: { olderThanMs: number; everyMs?: number; onError?: (e: unknown) => void }): { stop(): void } {
  let running = false;
  const timer = setInterval(async () => {
    if (running) return;
    running = true;
    try {
      await gc(store, { olderThanMs: options.olderThanMs });
    } catch (e) {
      options.onError?.(e);
    } finally {
      running = false;
    }
  }, Math.max(1000, options.everyMs ?? 3_600_000));
  (timer as { unref?: () => void }).unref?.();
  return { stop: () => clearInterval(timer) };
}
