import { sql } from "kysely";
import { StowageError, describeValue } from "../../errors.ts";
import { findTenant } from "../keys.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";

interface Pending {
  tenantId: string;
  clientId: string;
  pushAt?: number;
  pullAt?: number;
  pulledSeq?: number;
}

/**
 * Last push/pull time and last pulled cursor per (tenant, client), kept in memory and written
 * in one batched upsert per interval (default 1 s). Pulls are the hot path (every client polls
 * them) and are read-only today: a write transaction per pull would serialize them behind
 * SQLite's single writer and PostgreSQL's row locks. Batching costs one small transaction per
 * second however many pulls arrive; what is lost on a crash is at most one interval of
 * "last seen" times, which are informational.
 */
export class ClientActivity {
  readonly #store: ServerStore;
  readonly #pending = new Map<string, Pending>();
  readonly #onError: (e: unknown) => void;
  #timer: ReturnType<typeof setInterval> | undefined;
  #flushing: Promise<void> | undefined;

  constructor(store: ServerStore, options: { onError?: (e: unknown) => void } = {}) {
    this.#store = store;
    this.#onError = options.onError ?? (() => {});
  }

  pushed(tenantId: string, clientId: string, at: number): void {
    this.#entry(tenantId, clientId).pushAt = at;
  }

  pulled(tenantId: string, clientId: string, at: number, seq: number): void {
    const e = this.#entry(tenantId, clientId);
    e.pullAt = at;
    e.pulledSeq = seq;
  }

  /** Starts the periodic flush; the timer does not keep the process alive. */
  start(everyMs = 1000): this {
    this.#timer ??= setInterval(() => void this.flush(), everyMs);
    (this.#timer as { unref?: () => void }).unref?.();
    return this;
  }

  /** Stops the timer and writes what is pending. Never rejects. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }

  /** Writes pending activity now (one transaction). Never rejects; failures go to onError. */
  async flush(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#pending.size === 0) return;
    const rows = [...this.#pending.values()];
    this.#pending.clear();
    this.#flushing = this.#write(rows)
      .catch((e) => this.#onError(e))
      .finally(() => (this.#flushing = undefined));
    await this.#flushing;
  }

  #entry(tenantId: string, clientId: string): Pending {
    const key = `${tenantId}\u0000${clientId}`;
    let e = this.#pending.get(key);
    if (!e) {
      // Bound memory if the store is unreachable for long: the oldest pending entry gives way.
      if (this.#pending.size >= 100_000) this.#pending.delete(this.#pending.keys().next().value!);
      this.#pending.set(key, (e = { tenantId, clientId }));
    }
    return e;
  }

  async #write(rows: Pending[]): Promise<void> {
    await this.#store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < rows.length; i += 500) {
        await trx
          .insertInto("stowage_clients")
          .values(
            rows.slice(i, i + 500).map((r) => ({
              tenant_id: r.tenantId,
              client_id: r.clientId,
              last_op_id: 0,
              last_push_at: r.pushAt ?? null,
              last_pull_at: r.pullAt ?? null,
              pulled_seq: r.pulledSeq ?? null,
            })),
          )
          // A row the push path created keeps its op mark; only the activity columns move.
          .onConflict((oc) =>
            oc.columns(["tenant_id", "client_id"]).doUpdateSet({
              last_push_at: sql`coalesce(excluded.last_push_at, stowage_clients.last_push_at)`,
              last_pull_at: sql`coalesce(excluded.last_pull_at, stowage_clients.last_pull_at)`,
              pulled_seq: sql`coalesce(excluded.pulled_seq, stowage_clients.pulled_seq)`,
            }),
          )
          .execute();
      }
    });
  }
}

/** One client as `stowage clients` shows it. */
export interface ClientInfo {
  tenant: string;
  clientId: string;
  /** Highest op id the server has recorded from it (0: never pushed). */
  lastOpId: number;
  /** Last push / pull time, ms since the epoch, or null when never seen (or before 0003_clients). */
  lastPushAt: number | null;
  lastPullAt: number | null;
  /** The sequence number of its last pulled cursor, or null when it never pulled with its clientId. */
  pulledSeq: number | null;
  /** The tenant's current sequence number. */
  tenantSeq: number;
  /** Changes it has not pulled yet: tenantSeq - pulledSeq (null when unknown). */
  behind: number | null;
}

/** Every client of one tenant (name or id), or of all tenants, by tenant then client id. */
export async function listClients(store: ServerStore, tenant?: string): Promise<ClientInfo[]> {
  let query = store.db
    .selectFrom("stowage_clients as c")
    .innerJoin("stowage_tenants as t", "t.id", "c.tenant_id")
    .select(["t.name", "t.seq", "c.client_id", "c.last_op_id", "c.last_push_at", "c.last_pull_at", "c.pulled_seq"])
    .orderBy("t.name")
    .orderBy("c.client_id");
  if (tenant !== undefined) {
    const found = await findTenant(store, tenant);
    if (!found) throw new StowageError("input", `no tenant named ${describeValue(tenant)}`);
    query = query.where("c.tenant_id", "=", found.id);
  }
  return (await query.execute()).map((r) => {
    const tenantSeq = num(r.seq);
    const pulledSeq = r.pulled_seq == null ? null : num(r.pulled_seq);
    return {
      tenant: r.name,
      clientId: r.client_id,
      lastOpId: num(r.last_op_id),
      lastPushAt: r.last_push_at == null ? null : num(r.last_push_at),
      lastPullAt: r.last_pull_at == null ? null : num(r.last_pull_at),
      pulledSeq,
      tenantSeq,
      behind: pulledSeq === null ? null : Math.max(0, tenantSeq - pulledSeq),
    };
  });
}
