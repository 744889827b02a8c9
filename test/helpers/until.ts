/** Polls `pred` every 5 ms; throws after `ms` (a guard against hangs, not a speed assertion). */
export async function until<T>(what: string, pred: () => T | Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
