import type { KeyInvalidations } from "../../adapter.ts";
import type { ServerStore } from "../store.ts";

/**
 * API key rows kept in memory, for a server whose database tells it about every change to
 * them: on PostgreSQL, a trigger NOTIFYs each update or delete of a `stowage_keys` row and the
 * instance's LISTEN connection (adapters/postgres/notify.ts) hears it.
 *
 * Why: a key's row used to be read on every request so that a revocation took effect at once.
 * On SQLite that read costs ~15 µs and stays. On PostgreSQL it is a round trip per request
 * (0.3 ms on loopback, more across a network): reading it, 32 clients pushing one op each got
 * 1,200-1,550 ops/s from one instance; served from memory, 1,800-3,050 in the same runs
 * (`bun run bench postgres`).
 *
 * What keeps it true:
 * - a row is served from memory only while the LISTEN connection is up (`live`): while it is
 *   down, and until it has listened again, every request reads its row, as before;
 * - a change to a key (`revoked_at` set, the row deleted) evicts it on every instance as soon
 *   as the notification arrives (milliseconds); `revokeKey` through this store evicts at once;
 * - a read that raced with an eviction is not cached (the generation check in `put`), so a row
 *   read before a revocation committed cannot be put back after its notification;
 * - a broken connection drops everything: notifications sent while it was down are lost;
 * - a row is forgotten after ROW_TTL_MS anyway, which bounds the damage of a connection that
 *   died silently (no error, no notifications): revocation then takes at most that long.
 * Only rows of keys that authenticated are kept (a stream of wrong keys cannot fill it).
 */
export type { KeyInvalidations };

/** A key's row as authentication reads it (keys.ts, KEY_ROW). */
export interface KeyRow {
  id: string;
  tenant_id: string;
  hash: string;
  revoked_at: number | string | null;
  scope: string;
  name: string;
}

/** How long a row is served from memory at most, in ms (the silent-failure bound above). */
export const ROW_TTL_MS = 10_000;
/** Rows kept at most; the oldest go first. */
const MAX_ROWS = 10_000;

export class KeyRowCache {
  readonly #source: KeyInvalidations;
  readonly #rows = new Map<string, { row: KeyRow; at: number }>();
  readonly #stop: () => void;
  #generation = 0;

  constructor(source: KeyInvalidations) {
    this.#source = source;
    this.#stop = source.onChange((id) => (id === undefined ? this.clear() : this.evict(id)));
  }

  /** The row of key `id` if it may be served from memory. */
  get(id: string, now: number): KeyRow | undefined {
    if (!this.#source.live) return undefined;
    const entry = this.#rows.get(id);
    if (!entry) return undefined;
    if (now - entry.at >= ROW_TTL_MS) {
      this.#rows.delete(id);
      return undefined;
    }
    return entry.row;
  }

  /** Take this before reading a row from the database; hand it to `put` with the row. */
  token(): number {
    return this.#generation;
  }

  /** Keeps a row read since `token()`, unless a change arrived meanwhile or LISTEN is down. */
  put(id: string, row: KeyRow, token: number, now: number): void {
    if (token !== this.#generation || !this.#source.live) return;
    if (!this.#rows.has(id) && this.#rows.size >= MAX_ROWS) this.#rows.delete(this.#rows.keys().next().value as string);
    this.#rows.set(id, { row, at: now });
  }

  evict(id: string): void {
    this.#generation++;
    this.#rows.delete(id);
  }

  clear(): void {
    this.#generation++;
    this.#rows.clear();
  }

  close(): void {
    this.#stop();
    this.clear();
  }
}

const caches = new WeakMap<ServerStore, KeyRowCache>();

/**
 * Serves `store`'s key rows from memory, kept true by `source` (see KeyRowCache). `stowage
 * serve` on PostgreSQL does this with its LISTEN connection; the returned function stops it.
 */
export function cacheKeyRows(store: ServerStore, source: KeyInvalidations): () => void {
  caches.get(store)?.close();
  const cache = new KeyRowCache(source);
  caches.set(store, cache);
  return () => {
    cache.close();
    if (caches.get(store) === cache) caches.delete(store);
  };
}

/** The store's key cache, if one was set up. */
export function keyCacheOf(store: ServerStore): KeyRowCache | undefined {
  return caches.get(store);
}
