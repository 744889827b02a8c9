/** Token-bucket settings for one key. */
export interface RateLimit {
  /** Sustained requests per second. */
  perSecond: number;
  /** Requests allowed at once after a quiet period. */
  burst: number;
}

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
