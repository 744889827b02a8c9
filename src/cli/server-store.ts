import { isPostgresUrl } from "../../adapters/postgres/url.ts";
import type { StowageAdapter } from "../adapter.ts";
import { StowageError } from "../errors.ts";
import { openServerStore, type ServerStore } from "../server/store.ts";
import type { FlagSpec } from "./args.ts";
import type { CliContext } from "./context.ts";

/**
 * A kind of server database the CLI opens, known by its `--data` location. The CLI is the
 * composition root: only here are adapters loaded, and SERVER_STORES is the one list to
 * extend for a new server store (with adapters/<x>/ and src/server/sql/<x>.ts).
 */
export interface ServerStoreKind {
  /** The kind's name, the key of its change feed in server-feed.ts. */
  readonly name: string;
  /** Why `stowage backup` cannot copy this kind (it copies a SQLite file), or undefined when it can. */
  readonly backupRefusal?: string;
  /** Whether `location` names a database of this kind. */
  matches(location: string): boolean;
  /** The adapter for the database at `location`. */
  adapter(ctx: CliContext, location: string): Promise<StowageAdapter>;
  /** Adapters for read replicas of the database at `location` (`--read-url`); refuses when the kind has none. */
  readers(location: string, urls: string[]): Promise<StowageAdapter[]>;
}


/** PostgreSQL, for a postgres:// URL: adapters/postgres, with streaming standbys as read replicas. */
const POSTGRES_STORE: ServerStoreKind = {
  name: "postgres",
  backupRefusal: "backup copies a SQLite server database; for PostgreSQL use pg_dump (see the README, Operating the server)",
  matches: (location) => isPostgresUrl(location),
  async adapter(_ctx, location) {
    const { createPostgresAdapter } = await import("../../adapters/postgres/index.ts");
    return createPostgresAdapter({ url: location });
  },
  // In the data URL's schema: a standby is a copy of the whole database.
  async readers(location, urls) {
    const { createPostgresAdapter, postgresTarget } = await import("../../adapters/postgres/index.ts");
    const { schema } = postgresTarget({ url: location });
    return urls.map((url) => {
      if (!isPostgresUrl(url)) throw new StowageError("input", "--read-url must be a postgres:// URL");
      return createPostgresAdapter({ url, ...(schema ? { schema } : {}) });
    });
  },
};

/** SQLite, for anything else: a file path (or a libsql URL), through the runtime's SQLite adapter. */
const SQLITE_STORE: ServerStoreKind = {
  name: "sqlite",
  matches: () => true,
  adapter: async (ctx, location) => ctx.io.sqliteAdapter(location),
  readers: async () => {
    throw new StowageError("input", "--read-url needs --data postgres://… (read replicas are PostgreSQL standbys)");
  },
};

/** The server stores the CLI knows, tried in order (the last matches any location). */
const SERVER_STORES: readonly ServerStoreKind[] = [POSTGRES_STORE, SQLITE_STORE];

/** The kind of server database `location` names. */
export function serverStoreKind(location: string): ServerStoreKind {
  return SERVER_STORES.find((kind) => kind.matches(location))!;
}

/** The flag `serve`, `keys` and `gc` share: where the server's data lives. */
export const DATA_FLAG: FlagSpec = {
  name: "data",
  type: "string",
  env: "STOWAGE_SERVER_DB",
  value: "PATH|URL",
  help: "server database: a SQLite file (default: server.db in the user data directory) or postgres://…",
};

/** `serve`'s PostgreSQL flags: how other instances' commits are heard (src/cli/server-feed.ts). */
export const PG_FEED_FLAGS: FlagSpec[] = [
  { name: "listen-url", type: "string", env: "STOWAGE_PG_LISTEN_URL", value: "URL", help: "PostgreSQL: a direct URL (no pooler) for LISTEN, when --data goes through a pooler in transaction mode" },
  { name: "read-url", type: "list", env: "STOWAGE_PG_READ_URL", value: "URL", help: "PostgreSQL: a streaming standby for pulls and document reads (repeatable; env comma-separated)" },
  { name: "poll-ms", type: "number", env: "STOWAGE_PG_POLL_MS", value: "MS", help: "PostgreSQL without LISTEN: read the watched tenants' counters this often (default 250)" },
];

/** The feed options PG_FEED_FLAGS set; refuses a --listen-url that is not postgres:// and a --poll-ms outside 10-60000. */
export function pgFeedOptions(flags: Record<string, unknown>): { listenUrl?: string; pollMs?: number } {
  const listenUrl = flags["listen-url"] as string | undefined;
  const pollMs = flags["poll-ms"] as number | undefined;
  if (listenUrl !== undefined && !POSTGRES_STORE.matches(listenUrl)) throw new StowageError("input", "--listen-url must be a postgres:// URL");
  if (pollMs !== undefined && (!Number.isInteger(pollMs) || pollMs < 10 || pollMs > 60_000)) throw new StowageError("input", `--poll-ms must be a whole number of ms, 10-60000, got ${pollMs}`);
  return { ...(listenUrl ? { listenUrl } : {}), ...(pollMs !== undefined ? { pollMs } : {}) };
}

/**
 * The `--read-url` standbys as adapters (ServerStoreKind.readers). Refuses one that is not
 * postgres:// or given without a postgres:// --data.
 */
export async function readerAdapters(location: string, flags: Record<string, unknown>): Promise<StowageAdapter[]> {
  const urls = (flags["read-url"] as string[] | undefined) ?? [];
  if (urls.length === 0) return [];
  return serverStoreKind(location).readers(location, urls);
}

/** The server database location from `--data`, STOWAGE_SERVER_DB or the default. */
export function serverDataLocation(ctx: CliContext, flags: Record<string, unknown>): string {
  return (flags.data as string | undefined) ?? ctx.io.defaultServerDbPath();
}

/** The adapter for the server's database: a SQLite file, or PostgreSQL for a URL (SERVER_STORES). */
export async function serverAdapter(ctx: CliContext, location: string): Promise<StowageAdapter> {
  return serverStoreKind(location).adapter(ctx, location);
}

/** Opens the server store at `--data`, runs `fn`, always closes it. */
export async function withServerStore<R>(ctx: CliContext, flags: Record<string, unknown>, fn: (store: ServerStore) => Promise<R>): Promise<R> {
  const store = await openServerStore({ adapter: await serverAdapter(ctx, serverDataLocation(ctx, flags)) });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
