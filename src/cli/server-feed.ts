import { cacheKeyRows } from "../server/auth/key-cache.ts";
import { ChangeFeed, listenerSource, type ChangeSource } from "../server/events/feed.ts";
import { readTenantSeq } from "../server/events/endpoint.ts";
import { sqliteChangeSource } from "../server/events/sqlite-source.ts";
import type { ServerStore } from "../server/store.ts";
import { watchSqliteFiles } from "../runtime/watch-files.ts";

const POSTGRES = /^postgres(ql)?:\/\//i;
const REMOTE = /^(libsql|https?|wss?):\/\//i;

/**
 * The change feed `serve` streams from: this process's writes, plus commits by other server
 * processes on the same database: LISTEN/NOTIFY on PostgreSQL; on a SQLite file, a file
 * watcher with a `PRAGMA data_version` safety poll (a remote libsql database: the poll alone).
 * On PostgreSQL the LISTEN connection also keeps the store's API key rows cached in memory
 * (src/server/auth/key-cache.ts).
 */
export async function openServerFeed(store: ServerStore, location: string): Promise<ChangeFeed> {
  let source: ChangeSource;
  if (POSTGRES.test(location)) {
    const { listenForChanges } = await import("../../adapters/postgres/index.ts");
    const listener = listenForChanges({ url: location });
    // Serve only once LISTEN is in place, so no stream opens deaf to the other instances;
    // a database that is slow to answer holds startup 5 s at most (the listener keeps trying).
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([listener.ready, new Promise((resolve) => (timer = setTimeout(resolve, 5000)))]);
    clearTimeout(timer);
    // The same connection hears revoked keys: key rows need not be read on every request.
    cacheKeyRows(store, listener.keys);
    source = listenerSource(listener);
  } else {
    const path = REMOTE.test(location) ? undefined : location.replace(/^file:(\/\/)?/, "").replace(/\?.*$/, "");
    source = sqliteChangeSource(store, { watchFiles: path && path !== ":memory:" ? watchSqliteFiles(path) : undefined });
  }
  return new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t), source });
}
