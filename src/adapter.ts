import type { Dialect } from "kysely";

/**
 * The SQL a local store is written in (src/store/): an adapter for it declares `sql: LOCAL_SQL`.
 * The store checks that its adapter speaks it (a capability, like `savepoints`), and asks no
 * more about the database than that.
 */
export const LOCAL_SQL = "sqlite";

/** What an adapter's driver can do; the conformance suite skips cases by these. */
export interface AdapterCapabilities {
  /** SQL the dialect speaks, by name: "sqlite" for a local store; a server store needs a dialect of that name in src/server/sql/. */
  readonly sql: string;
  /** Data survives close and reopen (false for `:memory:`). */
  readonly persistent: boolean;
  /** Several processes may open the same database at once (a file in WAL mode). */
  readonly multiProcess: boolean;
  /** SAVEPOINT works inside a transaction. */
  readonly savepoints: boolean;
  /** SQLite FTS5 virtual tables are available for full-text search. */
  readonly fts5: boolean;
  /** Runs a PIPELINE query: several statements in one round trip to the database (below). */
  readonly pipeline?: boolean;
}

/** What an adapter supplies; the core does everything else (schema, outbox, sync). */
export interface StowageAdapter {
  /** Short name for messages and status, e.g. `bun-sqlite`. */
  readonly name: string;
  /** Where the data lives, for messages and status (a path or a redacted URL). */
  readonly location: string;
  /** The Kysely dialect the core speaks SQL through. */
  readonly dialect: Dialect;
  /** What the driver can do beyond plain SQL. */
  readonly capabilities: AdapterCapabilities;
}

/**
 * The core starts a statement with this comment when its plan does not depend on how much
 * is stored (primary-key lookups of small tables, inserts and upserts of parameter rows): an
 * adapter may prepare such a text once per connection and reuse its plan (the PostgreSQL
 * adapter does, adapters/postgres/prepared.ts). A statement that reads documents or changes
 * carries it only when written so that one plan is possible at any size (a push's document
 * read: one primary-key probe per id); otherwise a plan made while a table was small could
 * scan it once it has grown.
 */
export const REUSABLE_PLAN = "/* stowage:reusable-plan */ ";

/**
 * A query whose text is exactly this, with one parameter, a `PipelineStatement[]`, asks an
 * adapter whose capabilities say `pipeline` to send those statements to the database in ONE
 * message and answer one row array per statement (the query's rows). Statements with values
 * must be REUSABLE_PLAN texts. For a server whose database is a round trip away, each round
 * trip of a push's transaction costs more than the work it carries (src/server/tx.ts).
 */
export const PIPELINE = "/* stowage:pipeline */";

/** One statement of a PIPELINE query. */
export interface PipelineStatement {
  readonly text: string;
  readonly values?: readonly unknown[];
}

/** Settings every SQLite-file adapter accepts. */
export interface SqliteFileOptions {
  /** Database file path, or `:memory:`. */
  path: string;
  /** `normal` (default) survives process crashes; `full` also survives power loss, slower. */
  durability?: "normal" | "full";
  /** How long a writer waits for another process's lock, in ms (default 5000). */
  busyTimeoutMs?: number;
}

/** The pragmas every SQLite-file adapter runs on open, so they all behave the same. */
export function sqlitePragmas(options: SqliteFileOptions): string {
  const memory = options.path === ":memory:" || options.path === "";
  return [
    // busy_timeout first: switching a new file to WAL takes a lock another process may hold.
    `pragma busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))};`,
    memory ? "" : "pragma journal_mode = wal;",
    `pragma synchronous = ${options.durability === "full" ? "full" : "normal"};`,
    "pragma foreign_keys = on;",
  ].join(" ");
}

// PostgreSQL notifications: the server's triggers (src/server/dialect-sql.ts) send on these
// channels and the postgres adapter (adapters/postgres/notify.ts) listens, so both sides
// import the names from here rather than the adapter importing the server.

/** The channel every committed change of a tenant is announced on, payload `<tenantId>:<seq>`. */
export const CHANGES_CHANNEL = "stowage_changes";

/** The channel every update or delete of an API key row is announced on, payload the key's id. */
export const KEYS_CHANNEL = "stowage_keys";

/**
 * A source of key-row change notifications (the postgres adapter's LISTEN); the server's key
 * cache (src/server/auth/key-cache.ts) trusts cached rows only while it is live.
 */
export interface KeyInvalidations {
  /** True while every change to a key row reaches `onChange` (LISTEN is in place). */
  readonly live: boolean;
  /** `fn(id)`: key `id` changed or was deleted; `fn(undefined)`: changes may have been missed. */
  onChange(fn: (keyId: string | undefined) => void): () => void;
}
