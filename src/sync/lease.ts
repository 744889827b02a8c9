import { deleteMetaIfPrefixed, readMeta, writeMeta } from "../store/sync-meta.ts";
import type { Store } from "../store/store.ts";
import type { ProcessIdentity } from "../runtime/process.ts";

export type { ProcessIdentity };

const LEASE_KEY = "sync_lease";

/** While another process holds the lease, look again at most this often (writes come in bursts). */
const BUSY_RECHECK_MS = 1000;

/**
 * Only one process sharing a database file syncs at a time: two concurrent pushers with the
 * same clientId could let a later batch move the server's op mark past an earlier batch still
 * in flight, which the server would then call a duplicate. The lease is a meta row taken in a
 * write transaction (BEGIN IMMEDIATE serializes processes) with an expiry, renewed each cycle.
 * The row also names the holder's process (pid, host, incarnation) when the runtime can say:
 * a lease whose holder no longer exists on this host is taken over at once, so a process
 * restarted after a crash syncs immediately instead of waiting out the TTL. The holder's
 * liveness is only asked when the lease is found held by someone else, so a process that
 * nobody contends with pays nothing for it. The expiry is a time on the holder's clock, read
 * against the reader's: processes sharing a SQLite file in WAL mode are on one host (WAL needs
 * shared memory), so they read one clock.
 */
export class SyncLease {
  readonly #store: Store;
  readonly #owner: string;
  readonly #ttlMs: number;
  #heldUntil = 0;
  /** Until then, do not spend a write transaction re-checking another process's lease. */
  #busyUntil = 0;
  readonly #process: ProcessIdentity | undefined;

  constructor(store: Store, owner: string, ttlMs: number, process?: ProcessIdentity) {
    this.#store = store;
    this.#owner = owner;
    this.#ttlMs = ttlMs;
    this.#process = process;
  }

  /** Takes or renews the lease; false while another live process holds it. */
  async acquire(now: number): Promise<boolean> {
    // Renewing on every cycle would cost a write transaction per sync; a third of the TTL is plenty.
    if (this.#heldUntil - now > (this.#ttlMs * 2) / 3) return true;
    if (now < this.#busyUntil) return false;
    const got = await this.#store.db.transaction().execute(async (trx) => {
      const value = await readMeta(trx, LEASE_KEY);
      if (value !== undefined) {
        const held = parse(value);
        if (held.owner !== this.#owner && held.expires > now && !this.#holderIsGone(held)) {
          this.#busyUntil = Math.min(held.expires, now + BUSY_RECHECK_MS);
          return false;
        }
      }
      const p = this.#process;
      const holder = p ? ` ${p.pid} ${encodeURIComponent(p.host)} ${p.incarnation}` : "";
      await writeMeta(trx, LEASE_KEY, `${this.#owner} ${now + this.#ttlMs}${holder}`);
      return true;
    });
    this.#heldUntil = got ? now + this.#ttlMs : 0;
    return got;
  }

  /** A holder on this host that has died (or whose pid now belongs to a later process: this one). */
  #holderIsGone(held: Held): boolean {
    const me = this.#process;
    if (!me || held.pid === undefined || held.host !== me.host) return false; // cannot tell: wait out the TTL
    if (held.incarnation === me.incarnation) return false; // another engine in this very process
    if (held.pid === me.pid) return true; // an earlier process with our pid: it is gone
    return !me.isAlive(held.pid);
  }

  /** Gives the lease up (on stop) so another process can take over at once. */
  async release(): Promise<void> {
    this.#heldUntil = 0;
    this.#busyUntil = 0;
    const prefix = `${this.#owner} `;
    await deleteMetaIfPrefixed(this.#store.db, LEASE_KEY, prefix);
  }
}

interface Held {
  owner: string;
  expires: number;
  pid?: number;
  host?: string;
  incarnation?: string;
}

/** `owner expires [pid host incarnation]`: rows written before holders were recorded have two fields. */
function parse(value: string): Held {
  const [owner, expires, pid, host, incarnation] = value.split(" ");
  const held: Held = { owner: owner ?? "", expires: Number(expires) || 0 };
  if (pid && host && incarnation && /^[0-9]+$/.test(pid)) {
    held.pid = Number(pid);
    held.host = safeDecode(host);
    held.incarnation = incarnation;
  }
  return held;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
