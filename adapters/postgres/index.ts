import { CompiledQuery, type DatabaseConnection } from "kysely";
import pg from "pg";
import type { StowageAdapter } from "../../src/adapter.ts";
import { postgresConnectionSettings, postgresTarget, redactPostgresUrl, type PostgresTarget } from "./connection.ts";
import { StowagePostgresDialect } from "./dialect.ts";
import { wrapStatements } from "./prepared.ts";
import { schemaQualifier } from "./schema-names.ts";
import { asUnavailable, PostgresSession, probeSession } from "./session.ts";

export { postgresConnectionSettings, postgresTarget, redactPostgresUrl, type PostgresTarget } from "./connection.ts";
export { PostgresSession } from "./session.ts";
export { listenForChanges, type ChangeListener, type ChangePoke } from "./notify.ts";

/** Pool settings we pass through to `pg.Pool`; the connection itself comes from `url` and `schema`. */
export interface PostgresPoolOptions {
  /** Most connections this process opens (default the URL's `?pool_size=`, else 10; mind the server's `max_connections`). */
  max?: number;
  /** Close a connection idle this long, in ms (default 10000). */
  idleTimeoutMillis?: number;
  /** Give up on connecting after this long, in ms (default 10000). */
  connectionTimeoutMillis?: number;
}

export interface PostgresOptions {
  /** `postgres://user:password@host:port/database` (or `postgresql://`). */
  url: string;
  /** Schema holding Stowage's tables (created when missing); default: the URL's `?schema=`, else the server's `search_path`. */
  schema?: string;
  /** Pool sizing and timeouts. */
  pool?: PostgresPoolOptions;
  /**
   * Run the statements the core marks REUSABLE_PLAN (key read, counter lock, push write) as
   * named prepared statements (default true, or the URL's `?prepare=`): parsed and planned
   * once per connection (prepared.ts). Turn off behind a pooler in transaction mode that does
   * not track them (PgBouncer before 1.21); without a session they are off anyway (session.ts).
   */
  prepare?: boolean;
  /** Where the one-time notice goes when connections turn out to keep no session (default console.warn). */
  log?: (message: string) => void;
}

/** A PostgreSQL adapter: the StowageAdapter, plus what `serve` needs to know about its connections. */
export interface PostgresAdapter extends StowageAdapter {
  /** Whether the connections keep a session (a pooler in transaction mode does not), and when that is found out. */
  readonly session: PostgresSession;
  /** The URL's settings, for the change feed and messages. */
  readonly target: PostgresTarget;
}

/** Stowage's server store over PostgreSQL (node-postgres and Kysely's PostgreSQL dialect). */
export function createPostgresAdapter(options: PostgresOptions): PostgresAdapter {
  const target = postgresTarget(options);
  const { url, schema } = target;
  const settings = postgresConnectionSettings({ url: options.url, schema });
  let firstConnection: Promise<void> | undefined;
  const pool = new pg.Pool({
    ...settings,
    max: options.pool?.max ?? target.poolSize ?? 10,
    idleTimeoutMillis: options.pool?.idleTimeoutMillis ?? 10_000,
    connectionTimeoutMillis: options.pool?.connectionTimeoutMillis ?? 10_000,
  });
  // An idle connection that breaks (server restart, network) is dropped by the pool; without a
  // listener the 'error' event would crash the process instead.
  pool.on("error", () => {});
  const session = new PostgresSession({ pooled: target.pooler === "transaction", log: options.log });
  const prepare = options.prepare ?? target.prepare ?? true;
  // Behind a declared pooler the timeout cannot be a startup parameter (connection.ts): each transaction sets it.
  const onBegin = target.pooler && target.statementTimeoutMs !== undefined ? `set local statement_timeout = ${target.statementTimeoutMs}` : undefined;
  const qualify = schema ? schemaQualifier(schema) : undefined;
  pool.on("connect", (client) => wrapStatements(client, { prepare, session, qualify, onBegin }));
  return {
    name: "postgres",
    location: redactPostgresUrl(url) + (schema ? ` (schema ${schema})` : ""),
    session,
    target,
    dialect: new StowagePostgresDialect({
      lockConnection: async () => {
        const c = new pg.Client({ ...settings, application_name: "stowage-migrate" });
        c.on("error", () => {});
        await c.connect();
        return c;
      },
      // Connecting is where a restarting or unreachable server shows first: a 503, not a 500.
      pool: {
        connect: () => pool.connect().catch((e: unknown) => Promise.reject(asUnavailable(e, "cannot connect to PostgreSQL"))),
        end: () => pool.end(),
        options: pool.options,
      },
      // Once per adapter, on the first connection: the schema must exist before anything names
      // it, and whether connections keep a session must be known before a prepared statement
      // runs inside a transaction (a pooler would lose that transaction).
      onCreateConnection: async (connection) => {
        firstConnection ??= (async () => {
          if (schema) await ensureSchema(connection, schema);
          if (prepare && !session.pooled) {
            const why = await probeSession(async () => {
              const c = new pg.Client({ ...settings, application_name: "stowage-probe" });
              c.on("error", () => {});
              await c.connect();
              return c as never;
            }).catch(() => undefined);
            if (why) session.lost(why);
          }
        })().catch((e) => {
          firstConnection = undefined;
          throw e;
        });
        await firstConnection;
      },
    }),
    // Pipelines EXECUTE prepared statements, so they go with `prepare` and the session (prepared.ts).
    capabilities: {
      sql: "postgres",
      persistent: true,
      multiProcess: true,
      savepoints: true,
      fts5: false,
      get pipeline() {
        return prepare && !session.pooled;
      },
    },
  };
}

async function ensureSchema(connection: DatabaseConnection, schema: string): Promise<void> {
  // Look first: CREATE SCHEMA IF NOT EXISTS still needs CREATE on the database, which a
  // least-privilege role given an existing schema does not have.
  const found = await connection.executeQuery(CompiledQuery.raw("select 1 from pg_namespace where nspname = $1", [schema]));
  if (found.rows.length > 0) return;
  try {
    await connection.executeQuery(CompiledQuery.raw(`create schema if not exists ${schema}`));
  } catch (e) {
    // Two processes creating the same schema at once: the loser sees a unique violation.
    if ((e as { code?: string }).code !== "23505" && (e as { code?: string }).code !== "42P06") throw e;
  }
}

