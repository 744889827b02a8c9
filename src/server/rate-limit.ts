/** Token-bucket settings for one key. */
export interface RateLimit {
  /** Sustained requests per second. */
  perSecond: number;
  /** Requests allowed at once after a quiet period. */
  burst: number;
}

/**
 * The default per-key limit. One key is often shared by several clients (a user's devices, a
 * team's app), each syncing after every write: on loopback a client does a push and a pull in
 * well under a millisecond, so a handful of them reach about 3,000 requests/s together. 10,000/s
 * sustained leaves three times that headroom, and a burst of 20,000 absorbs two seconds of a
 * reconnect storm (every client catching up at once) without a 429. What it still stops is a
 * runaway or hostile caller: one key cannot take more than 10,000 requests/s of one process,
 * and since a refused request spends no token, it is never locked out past `1/perSecond` s.
 */
export const DEFAULT_RATE: RateLimit = { perSecond: 10_000, burst: 20_000 };

/**
 * Per-key token buckets, in memory (each server process limits on its own). `take` answers
 * 0 when the request may proceed, otherwise the whole seconds to wait (for Retry-After).
 */
export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limit: RateLimit) {
    this.#limit = limit;
  }

  take(bucket: string, now: number): number {
    const { perSecond, burst } = this.#limit;
    let b = this.#buckets.get(bucket);
    if (!b) {
      if (this.#buckets.size > 100_000) this.#buckets.clear(); // bound memory; a reset only forgives
      this.#buckets.set(bucket, (b = { tokens: burst, at: now }));
    }
    b.tokens = Math.min(burst, b.tokens + (Math.max(0, now - b.at) / 1000) * perSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / perSecond));
  }
}
