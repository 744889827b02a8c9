import type { Doc } from "./types.ts";

/** What a live query needs from its collection. */
export interface WatchSource<T> {
  /** Runs the query (the same options as `list`) and answers the documents. */
  run(): Promise<Doc<T>[]>;
  /** Calls `fn` after every committed transaction that touched the collection; answers the unsubscribe. */
  subscribe(fn: () => void): () => void;
  /** True once the store is closed: the watch ends quietly. */
  closed(): boolean;
}

/**
 * A live query: calls `callback` with the current result at once, then after every committed
 * transaction (local write or pull page) that touched the collection, re-running the query.
 * Re-runs never overlap and coalesce: changes that arrive while one runs cause exactly one
 * more. A result byte-identical to the last one delivered is not delivered again (a change
 * outside the filter, or a pull that re-applied what was already here). No timers: after
 * unsubscribe (or close) nothing remains but a listener-free emitter.
 */
export function watchQuery<T>(source: WatchSource<T>, callback: (items: Doc<T>[]) => void, onError?: (e: unknown) => void): () => void {
  let active = true;
  let running = false;
  let dirty = false;
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
        let items: Doc<T>[];
        try {
          items = await source.run();
        } catch (e) {
          // Closing the store under a running query is the normal way a watch ends.
          if (active && !source.closed()) onError?.(e);
          return;
        }
        const text = JSON.stringify(items);
        if (!active || text === last) continue;
        last = text;
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
  const unsubscribe = source.subscribe(() => void rerun());
  void rerun();
  return () => {
    active = false;
    unsubscribe();
  };
}
