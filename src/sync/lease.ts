import { first, run } from "../store/sql.ts";
import type { Store } from "../store/store.ts";

const LEASE_KEY = "sync_lease";
/** While another process holds the lease, look again at most this often (writes come in bursts). */
const BUSY_RECHECK_MS = 1000;

/**
 * Only one process sharing a database file syncs at a time: two concurrent pushers with the
 * same clientId could let a later batch move the server's op mark past an earlier batch still
 * in flight, which the server would then call a duplicate. The lease is a meta row taken in a
 * write transaction (BEGIN IMMEDIATE serializes processes) with an expiry, renewed each cycle.
 */
export class SyncLease {
  readonly #store: Store;
  readonly #owner: string;
  readonly #ttlMs: number;
  #heldUntil = 0;
  /** Until then, do not spend a write transaction re-checking another process's lease. */
  #busyUntil = 0;

  constructor(store: Store, owner: string, ttlMs: number) {
    this.#store = store;
    this.#owner = owner;
    this.#ttlMs = ttlMs;
  }

  /** Takes or renews the lease; false while another live process holds it. */
  async acquire(now: number): Promise<boolean> {
    // Renewing on every cycle would cost a write transaction per sync; a third of the TTL is plenty.
    if (this.#heldUntil - now > (this.#ttlMs * 2) / 3) return true;
    if (now < this.#busyUntil) return false;
    const got = await this.#store.db.transaction().execute(async (trx) => {
      const row = await first<{ value: string }>(trx, "select value from _stowage_meta where key = ?", [LEASE_KEY]);
      if (row) {
        const [owner, expires] = parse(row.value);
        if (owner !== this.#owner && expires > now) {
          this.#busyUntil = Math.min(expires, now + BUSY_RECHECK_MS);
          return false;
        }
      }
      await run(trx, "insert into _stowage_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value", [
        LEASE_KEY,
        `${this.#owner} ${now + this.#ttlMs}`,
      ]);
      return true;
    });
    this.#heldUntil = got ? now + this.#ttlMs : 0;
    return got;
  }

  /** Gives the lease up (on stop) so another process can take over at once. */
  async release(): Promise<void> {
    this.#heldUntil = 0;
    this.#busyUntil = 0;
    const prefix = `${this.#owner} `;
    await run(this.#store.db, "delete from _stowage_meta where key = ? and substr(value, 1, ?) = ?", [LEASE_KEY, prefix.length, prefix]);
  }
}

function parse(value: string): [string, number] {
  const [owner, expires] = value.split(" ");
  return [owner ?? "", Number(expires) || 0];
}
