/** Time as the sync engine sees it; tests pass a fake one and never sleep. */
export interface Clock {
  /** Milliseconds since the epoch (status ages and lease expiry only; never ordering). */
  now(): number;
  /** Runs `fn` after `ms`; answers a handle for `clear`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** Cancels a pending `setTimeout`. */
  clearTimeout(handle: unknown): void;
}

/** The real clock. Timers are unref'd where the runtime allows so a sync loop never keeps a process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = globalThis.setTimeout(fn, ms) as unknown as { unref?: () => void };
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => globalThis.clearTimeout(handle as number),
};

/** Exponential backoff with jitter, capped: attempt 0 waits about `baseMs`. */
export interface BackoffOptions {
  /** First delay in ms (default 500). */
  baseMs?: number;
  /** Longest delay in ms (default 60,000). */
  maxMs?: number;
  /** Random source in [0, 1); tests pass a constant. */
  random?: () => number;
}

/** Delay before retry number `attempt` (0-based): between half and all of min(max, base·2^attempt). */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const base = options.baseMs ?? 500;
  const max = options.maxMs ?? 60_000;
  const ceiling = Math.min(max, base * 2 ** Math.min(attempt, 30));
  const r = (options.random ?? Math.random)();
  return Math.round(ceiling / 2 + (ceiling / 2) * r);
}
