import type { ChangeSource } from "./feed.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";

/** How often other instances' commits are looked for when no LISTEN connection hears them, in ms. */
export const DEFAULT_POLL_MS = 250;

/**
 * A ChangeSource that reads the watched tenants' counters every `intervalMs`: one primary-key
 * read of at most a few hundred rows per tick, however many streams are open. For instances
 * that share a database but cannot LISTEN (behind a pooler in transaction mode, with no direct
 * URL for the listener): a commit of another instance reaches this one's streams within one
 * interval. Counters only grow, so a seq above the last one seen is a commit; the feed reads
 * the changes themselves as for any poke. Read failures are skipped (the next tick retries).
 */
export function pollingSource(store: ServerStore, intervalMs = DEFAULT_POLL_MS): ChangeSource {
  const watched = new Map<string, { seen?: number; pokes: Set<(seq?: number) => void> }>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const tick = async () => {
    timer = undefined;
    const ids = [...watched.keys()];
    try {
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await store.db.selectFrom("stowage_tenants").select(["id", "seq"]).where("id", "in", ids.slice(i, i + 500)).execute();
        for (const row of rows) {
          const w = watched.get(row.id);
          const seq = num(row.seq);
          if (!w || (w.seen !== undefined && seq <= w.seen)) continue;
          w.seen = seq;
          // The first read pokes too: a commit may have landed since the feed read the seq (it drops a seq it knows).
          for (const poke of w.pokes) poke(seq);
        }
      }
    } catch {
      // The database is out of reach for now: the next tick looks again.
    }
    schedule();
  };

  const schedule = () => {
    if (closed || timer || watched.size === 0) return;
    timer = setTimeout(() => void tick(), intervalMs);
    (timer as { unref?: () => void }).unref?.();
  };

  return {
    watch(tenantId, poke) {
      let w = watched.get(tenantId);
      if (!w) watched.set(tenantId, (w = { pokes: new Set() }));
      w.pokes.add(poke);
      schedule();
      return () => {
        w.pokes.delete(poke);
        if (w.pokes.size === 0 && watched.get(tenantId) === w) watched.delete(tenantId);
      };
    },
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      watched.clear();
    },
  };
}
