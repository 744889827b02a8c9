import type { Doc } from "./types.ts";

/** What a live query needs from its collection. */
export interface WatchSource {
  /** Runs the query (the same options as `list`) and answers the documents' stored JSON texts, in order. */
  run(): Promise<string[]>;
  /** Calls `fn` after every committed transaction that touched the collection; answers the unsubscribe. */
  subscribe(fn: () => void): () => void;
  /** True once the store is closed: the watch ends quietly. */
  closed(): boolean;
}

/**
 * A live query: calls `callback` with the current result at once, then after every committed
 * transaction (local write or pull page) that touched the collection, re-running the query.
 * Re-runs never overlap and coalesce: wakes in one synchronous burst (a live event's `change`
 * and `pulled`, emitted together) start one run, and changes that arrive while one runs cause
 * exactly one more. A result whose stored texts are identical to the last one delivered is
 * not delivered again, nor parsed (a change outside the filter, or a pull that re-applied
 * what was already here). No timers: after unsubscribe (or close) nothing remains but a
 * listener-free emitter.
 */
export function watchQuery<T>(source: WatchSource, callback: (items: Doc<T>[]) => void, onError?: (e: unknown) => void): () => void {
  let active = true;
  let running = false;
  let dirty = false;
  let woken = false;
  let last: string | null = null;
  const rerun = async () => {
    if (running) {
      dirty = true;
      return;
    }
    running = true;
    try {
      do {
        dirty = false;
        if (!active || source.closed()) return;
        let bodies: string[];
        try {
          bodies = await source.run();
        } catch (e) {
          // Closing the store under a running query is the normal way a watch ends.
          if (active && !source.closed()) onError?.(e);
          return;
        }
        // Stored bodies are JSON texts, which never hold a raw U+0000: the join is unambiguous.
        const text = bodies.join("\u0000");
        if (!active || text === last) continue;
        last = text;
        let items: Doc<T>[];
        try {
          items = bodies.map((b) => JSON.parse(b) as Doc<T>);
        } catch (e) {
          onError?.(e);
          return;
        }
        try {
          callback(items);
        } catch {
          // A throwing callback must not stop the watch or the write that triggered it.
        }
      } while (dirty);
    } finally {
      running = false;
    }
  };
  // One microtask later: every wake emitted in the same synchronous stretch is one run.
  const wake = () => {
    if (woken) return;
    woken = true;
    queueMicrotask(() => {
      woken = false;
      void rerun();
    });
  };
  const unsubscribe = source.subscribe(wake);
  void rerun();
  return () => {
    active = false;
    unsubscribe();
  };
}
