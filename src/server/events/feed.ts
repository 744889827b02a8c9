/**
 * The in-process fan-out behind `GET /v1/events`: who listens to which tenant, and the latest
 * sequence number each tenant is known to have reached.
 *
 * Writes in this process publish their new seq directly. Commits made elsewhere (another
 * `serve` process on the same SQLite file, another instance on the same PostgreSQL database)
 * arrive through a ChangeSource, which the feed asks to watch a tenant while it has
 * subscribers and to stop when the last one leaves.
 */

import type { CommitChanges } from "./changes.ts";

/** Reports commits made outside this process. */
export interface ChangeSource {
  /**
   * Starts reporting `tenantId`'s commits: `poke(seq)` with the new seq, or `poke()` without one
   * when commits may have been missed (the feed then reads the seq itself). Returns the stop.
   */
  watch(tenantId: string, poke: (seq?: number) => void): () => void;
  /** Releases what the source holds (watchers, timers, a LISTEN connection). */
  close?(): Promise<void> | void;
}

/** What PostgreSQL's LISTEN connection (adapters/postgres/notify.ts) offers, structurally. */
export interface PokeListener {
  /** Calls `fn` on every poke for `tenant`; `seq` is absent when pokes may have been missed. */
  subscribe(tenant: string, fn: (poke: { seq?: number }) => void): () => void;
  /** Stops listening. */
  close(): Promise<void>;
}

/**
 * How long a LISTEN poke with a seq waits before it reaches the feed. The NOTIFY of a commit
 * made by this very process travels on the LISTEN connection while COMMIT's answer travels on
 * the writer's, so it often arrives first: published at once, the plain poke would win (the
 * feed drops the later publish of the same seq), and every `?changes=1` stream would get a
 * poke without the commit's changes and pull instead of applying them (measured: a third of
 * the events on PostgreSQL). Held this long, the local publish with the changes comes first
 * and the held poke is dropped as old; a commit of another instance reaches streams this much
 * later.
 */
export const LISTEN_GRACE_MS = 5;

/**
 * A ChangeSource over a LISTEN connection: pokes with a seq are held LISTEN_GRACE_MS (per
 * tenant, coalesced to the highest); a poke without seq (after a reconnect: pokes may have
 * been missed) makes the feed re-read it at once.
 */
export function listenerSource(listener: PokeListener, graceMs = LISTEN_GRACE_MS): ChangeSource {
  return {
    watch: (tenantId, poke) => {
      let held = 0;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stop = listener.subscribe(tenantId, (p) => {
        if (p.seq === undefined) return poke();
        if (p.seq > held) held = p.seq;
        if (timer) return;
        timer = setTimeout(() => {
          timer = undefined;
          const seq = held;
          held = 0;
          poke(seq);
        }, graceMs);
        (timer as { unref?: () => void }).unref?.();
      });
      return () => {
        if (timer) clearTimeout(timer);
        timer = undefined;
        stop();
      };
    },
    close: () => listener.close(),
  };
}

export interface ChangeFeedOptions {
  /** Reads a tenant's current seq, for pokes that carry none; without it those pokes are dropped. */
  readSeq?: (tenantId: string) => Promise<number | undefined>;
  /** Commits from other processes or instances. */
  source?: ChangeSource;
}

/**
 * One subscriber's callback: the tenant reached `seq`; `changes` when this process made the
 * commit and it was small (events/changes.ts), for exactly (changes.prev, seq].
 */
export type SeqListener = (seq: number, changes?: CommitChanges) => void;

interface Tenant {
  listeners: Set<SeqListener>;
  /** Highest seq delivered; lower or equal pokes are dropped (they tell nothing new). */
  seq: number;
  stopSource?: () => void;
  /** A seq read is in flight; `again` asks for one more after it (pokes coalesce to two reads). */
  reading: boolean;
  again: boolean;
}

export class ChangeFeed {
  readonly #tenants = new Map<string, Tenant>();
  readonly #readSeq?: (tenantId: string) => Promise<number | undefined>;
  readonly #source?: ChangeSource;
  #subscribers = 0;
  #closed = false;

  constructor(options: ChangeFeedOptions = {}) {
    this.#readSeq = options.readSeq;
    this.#source = options.source;
  }

  /** Calls `fn` with each new seq `tenantId` reaches, until the returned function is called. */
  subscribe(tenantId: string, fn: SeqListener): () => void {
    if (this.#closed) return () => {};
    let t = this.#tenants.get(tenantId);
    if (!t) {
      t = { listeners: new Set(), seq: 0, reading: false, again: false };
      this.#tenants.set(tenantId, t);
      const tenant = t;
      try {
        tenant.stopSource = this.#source?.watch(tenantId, (seq) => {
          if (this.#tenants.get(tenantId) === tenant) this.publish(tenantId, seq);
        });
      } catch {
        // A source that cannot watch leaves this process's own writes flowing.
      }
    }
    const tenant = t;
    const wrapped: SeqListener = (seq, changes) => fn(seq, changes); // a distinct entry even if fn is subscribed twice
    tenant.listeners.add(wrapped);
    this.#subscribers++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (!tenant.listeners.delete(wrapped)) return;
      this.#subscribers--;
      if (tenant.listeners.size === 0 && this.#tenants.get(tenantId) === tenant) {
        this.#tenants.delete(tenantId);
        tenant.stopSource?.();
      }
    };
  }

  /**
   * `tenantId` committed and its seq is now `seq`; without `seq`, it may have moved and the
   * feed reads it. `changes`, from the committing request only, are that commit's rows.
   * Never throws; a tenant nobody listens to costs a map lookup.
   */
  publish(tenantId: string, seq?: number, changes?: CommitChanges): void {
    const t = this.#tenants.get(tenantId);
    if (!t) return;
    if (seq === undefined) return this.#read(tenantId, t);
    if (!(seq > t.seq)) return;
    t.seq = seq;
    const carried = changes && changes.seq === seq ? changes : undefined;
    for (const fn of t.listeners) {
      try {
        fn(seq, carried);
      } catch {
        // One subscriber's failure is its own.
      }
    }
  }

  /** Tenants with at least one subscriber (what a change source needs to look at). */
  tenants(): string[] {
    return [...this.#tenants.keys()];
  }

  /** Open subscriptions, over all tenants. */
  get subscribers(): number {
    return this.#subscribers;
  }

  /** Drops every subscription and closes the source. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const tenants = [...this.#tenants.values()];
    this.#tenants.clear();
    this.#subscribers = 0;
    for (const t of tenants) t.stopSource?.();
    await this.#source?.close?.();
  }

  #read(tenantId: string, t: Tenant): void {
    const readSeq = this.#readSeq;
    if (!readSeq) return;
    if (t.reading) {
      t.again = true;
      return;
    }
    t.reading = true;
    void readSeq(tenantId)
      .catch(() => undefined) // the next poke or the safety poll tries again
      .then((seq) => {
        t.reading = false;
        if (seq !== undefined) this.publish(tenantId, seq);
        if (t.again) {
          t.again = false;
          if (this.#tenants.get(tenantId) === t) this.#read(tenantId, t);
        }
      });
  }
}
