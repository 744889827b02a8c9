import { sql } from "kysely";
import { cacheKeyRows } from "../server/auth/key-cache.ts";
import { ChangeFeed, listenerSource, type ChangeSource } from "../server/events/feed.ts";
import { readTenantSeq } from "../server/events/endpoint.ts";
import { sqliteChangeSource } from "../server/events/sqlite-source.ts";
import { DEFAULT_POLL_MS, pollingSource } from "../server/events/poll-source.ts";
import type { ServerStore } from "../server/store.ts";
import { watchSqliteFiles } from "../runtime/watch-files.ts";
import { serverStoreKind } from "./server-store.ts";

const REMOTE = /^(libsql|https?|wss?):\/\//i;

/** How `serve` hears other instances' commits, as openServerFeed chose it. */
export interface FeedChoice {
  /** `listen`: a LISTEN connection; `poll`: the tenants' counters read every `pollMs`; `local`: a SQLite file's own watcher. */
  kind: "listen" | "poll" | "local";
  /** One line for the startup log. */
  text: string;
}

export interface ServerFeedOptions {
  /** PostgreSQL: a direct URL (no pooler) for the LISTEN connection (`--listen-url`), when `--data` goes through a pooler. */
  listenUrl?: string;
  /** PostgreSQL without LISTEN: how often to read the watched tenants' counters, in ms (default 250). */
  pollMs?: number;
  /** Told which feed was chosen. */
  onChoice?: (choice: FeedChoice) => void;
}

/**
 * The change feed `serve` streams from: this process's writes, plus commits by other server
 * processes on the same database. On PostgreSQL, LISTEN/NOTIFY when a LISTEN connection hears
 * (on `listenUrl` if given, else the data URL unless it declares a pooler, and only once it
 * heard a NOTIFY sent through the store's own connections); otherwise the watched tenants'
 * counters are polled (poll-source.ts). On a SQLite file, a file watcher with a
 * `PRAGMA data_version` safety poll (a remote libsql database: the poll alone).
 * On PostgreSQL the LISTEN connection also keeps the store's API key rows cached in memory
 * (src/server/auth/key-cache.ts); polled, key rows are read on each request.
 */
export async function openServerFeed(store: ServerStore, location: string, options: ServerFeedOptions = {}): Promise<ChangeFeed> {
  const { source, choice } = await FEEDS[serverStoreKind(location).name](store, location, options);
  options.onChoice?.(choice);
  return new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t), source });
}

type Feed = { source: ChangeSource; choice: FeedChoice };

/** Each server store kind's feed (server-store.ts, SERVER_STORES), by its name. */
const FEEDS: Record<string, (store: ServerStore, location: string, options: ServerFeedOptions) => Promise<Feed>> = {
  postgres: postgresFeed,
  sqlite: async (store, location) => localFeed(store, location),
};

/** PostgreSQL: LISTEN/NOTIFY when a LISTEN connection hears, else the tenants' counters polled. */
async function postgresFeed(store: ServerStore, location: string, options: ServerFeedOptions): Promise<Feed> {
  let source: ChangeSource;
  let choice: FeedChoice;
  const { listenForChanges, PostgresSession } = await import("../../adapters/postgres/index.ts");
  const session = (store.adapter as { session?: InstanceType<typeof PostgresSession> }).session;
  const listenUrl = options.listenUrl ?? (session?.declared ? undefined : location);
  const pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  const poll = (why: string): FeedChoice => ({ kind: "poll", text: `other instances' changes: polling the tenants' counters every ${pollMs} ms (${why})` });
  if (listenUrl) {
    const listener = listenForChanges({
      url: listenUrl,
      probe: (channel, payload) => sql`select pg_notify(${channel}, ${payload})`.execute(store.db),
    });
    // Serve only once LISTEN is in place and heard, so no stream opens deaf to the other
    // instances; a database that is slow to answer holds startup 5 s at most.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hears = await Promise.race([listener.hears, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), 5000)))]);
    clearTimeout(timer);
    if (hears) {
      // The same connection hears revoked keys: key rows need not be read on every request.
      cacheKeyRows(store, listener.keys);
      source = listenerSource(listener);
      choice = { kind: "listen", text: `other instances' changes: LISTEN on ${redact(listenUrl)}` };
    } else {
      await listener.close();
      if (listenUrl === location) session?.lost("LISTEN did not hear its own NOTIFY");
      source = pollingSource(store, pollMs);
      choice = poll(`LISTEN on ${redact(listenUrl)} did not hear a NOTIFY; give --listen-url a direct URL`);
    }
  } else {
    source = pollingSource(store, pollMs);
    choice = poll("the URL declares a pooler; --listen-url with a direct URL makes it LISTEN");
  }
  return { source, choice };
}

/** A SQLite file: its own watcher with a `PRAGMA data_version` safety poll (a remote libsql database: the poll alone). */
function localFeed(store: ServerStore, location: string): Feed {
  const path = REMOTE.test(location) ? undefined : location.replace(/^file:(\/\/)?/, "").replace(/\?.*$/, "");
  const source = sqliteChangeSource(store, { watchFiles: path && path !== ":memory:" ? watchSqliteFiles(path) : undefined });
  return { source, choice: { kind: "local", text: "other processes' changes: watching the database file" } };
}

function redact(url: string): string {
  return url.replace(/:\/\/[^@/]*@/, "://…@");
}
