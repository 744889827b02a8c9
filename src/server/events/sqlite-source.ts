/**
 * Commits made by other processes on the same SQLite file, for the change feed.
 *
 * Nothing tells a SQLite connection that another process committed, so we look, cheaply:
 * - when the database's files change (the runtime's file watcher, passed in: the core does
 *   not touch the file system), a few ms later;
 * - and on a slow safety poll, for watchers that miss events or do not exist.
 * Each look first asks `PRAGMA data_version`, which changes exactly when another connection
 * committed since this connection last asked; an unchanged database costs that one tiny
 * query. Only when it moved do we read the seq of the tenants someone is subscribed to.
 */
import { sql } from "kysely";
import { MAX_ROWS_PER_STATEMENT } from "../dialect-sql.ts";
import { num } from "../schema.ts";
import type { ServerStore } from "../store.ts";
import type { ChangeSource } from "./feed.ts";

export interface SqliteSourceOptions {
  /** Calls `onChange` whenever the database's files change; answers the stop. Without it only the poll runs. */
  watchFiles?: (onChange: () => void) => () => void;
  /** Safety poll interval in ms (default 1000). */
  pollMs?: number;
  /** Wait after a file event before looking, in ms (default 3): the commit's last write lands first. */
  settleMs?: number;
}

/**
 * A second look this long after a file event: the WAL frame write that woke us can precede
 * the shared-memory index update that makes the commit visible, by microseconds.
 */
const SECOND_LOOK_MS = 30;

/** A ChangeSource over a SQLite server store shared with other processes. */
export function sqliteChangeSource(store: ServerStore, options: SqliteSourceOptions = {}): ChangeSource {
  const pollMs = options.pollMs ?? 1000;
  const settleMs = options.settleMs ?? 3;
  const watched = new Map<string, Set<(seq?: number) => void>>();
  let version: number | undefined;
  let running = false;
  let again = false;
  let closed = false;
  let poll: ReturnType<typeof setInterval> | undefined;
  let stopWatch: (() => void) | undefined;
  const soon: (ReturnType<typeof setTimeout> | undefined)[] = [undefined, undefined];

  const look = async (): Promise<void> => {
    const { rows } = await sql<{ data_version: number | bigint }>`pragma data_version`.execute(store.db);
    const v = Number(rows[0]?.data_version);
    if (v === version) return;
    version = v;
    const ids = [...watched.keys()];
    for (let i = 0; i < ids.length; i += MAX_ROWS_PER_STATEMENT) {
      const found = await store.db
        .selectFrom("stowage_tenants")
        .select(["id", "seq"])
        .where("id", "in", ids.slice(i, i + MAX_ROWS_PER_STATEMENT))
        .execute();
      for (const row of found) for (const poke of watched.get(row.id) ?? []) poke(num(row.seq));
    }
  };

  // One look at a time; a request during one runs one more after it (never rejects).
  const check = (): void => {
    if (closed || watched.size === 0) return;
    if (running) {
      again = true;
      return;
    }
    running = true;
    look()
      .catch(() => {}) // a busy or closing database: the next event or poll looks again
      .then(() => {
        running = false;
        if (again) {
          again = false;
          check();
        }
      });
  };

  const nudge = () => {
    [settleMs, SECOND_LOOK_MS].forEach((ms, i) => {
      if (soon[i]) return;
      soon[i] = setTimeout(() => {
        soon[i] = undefined;
        check();
      }, ms);
    });
  };

  const start = () => {
    poll = setInterval(check, pollMs);
    (poll as { unref?: () => void }).unref?.();
    try {
      stopWatch = options.watchFiles?.(nudge);
    } catch {
      stopWatch = undefined; // the poll still covers it
    }
  };

  const stop = () => {
    if (poll) clearInterval(poll);
    poll = undefined;
    for (const [i, t] of soon.entries()) {
      if (t) clearTimeout(t);
      soon[i] = undefined;
    }
    stopWatch?.();
    stopWatch = undefined;
  };

  return {
    watch(tenantId, poke) {
      if (closed) return () => {};
      if (watched.size === 0) start();
      let set = watched.get(tenantId);
      if (!set) watched.set(tenantId, (set = new Set()));
      const entry = (seq?: number) => poke(seq);
      set.add(entry);
      return () => {
        set.delete(entry);
        if (set.size === 0 && watched.get(tenantId) === set) watched.delete(tenantId);
        if (watched.size === 0) stop();
      };
    },
    close() {
      closed = true;
      watched.clear();
      stop();
    },
  };
}
