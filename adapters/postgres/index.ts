import { CompiledQuery, PostgresDialect, type DatabaseConnection } from "kysely";
import pg from "pg";
import type { StowageAdapter } from "../../src/adapter.ts";
import { postgresConnectionSettings, postgresTarget, redactPostgresUrl } from "./connection.ts";
import { prepareMarkedStatements } from "./prepared.ts";

export { postgresConnectionSettings, postgresTarget, redactPostgresUrl } from "./connection.ts";
export { listenForChanges, type ChangeListener, type ChangePoke } from "./notify.ts";

/** Pool settings we pass through to `pg.Pool`; the connection itself comes from `url` and `schema`. */
export interface PostgresPoolOptions {
  /** Most connections this process opens (default 10; mind the server's `max_connections`). */
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
   * not track them (PgBouncer before 1.21).
   */
  prepare?: boolean;
}

/** Stowage's server store over PostgreSQL (node-postgres and Kysely's PostgreSQL dialect). */
export function createPostgresAdapter(options: PostgresOptions): StowageAdapter {
  const { url, schema, prepare } = postgresTarget(options);
  const settings = postgresConnectionSettings({ url, schema });
  let schemaReady: Promise<void> | undefined;
  const pool = new pg.Pool({
    ...settings,
    max: options.pool?.max ?? 10,
    idleTimeoutMillis: options.pool?.idleTimeoutMillis ?? 10_000,
    connectionTimeoutMillis: options.pool?.connectionTimeoutMillis ?? 10_000,
  });
  // An idle connection that breaks (server restart, network) is dropped by the pool; without a
  // listener the 'error' event would crash the process instead.
  pool.on("error", () => {});
  const prepared = options.prepare ?? prepare ?? true;
  if (prepared) pool.on("connect", (client) => prepareMarkedStatements(client));
  return {
    name: "postgres",
    location: redactPostgresUrl(url) + (schema ? ` (schema ${schema})` : ""),
    dialect: new PostgresDialect({
      pool,
      // Once per adapter, on the first connection: later connections resolve the search_path lazily.
      onCreateConnection: schema
        ? async (connection) => {
            schemaReady ??= ensureSchema(connection, schema).catch((e) => {
              schemaReady = undefined;
              throw e;
            });
            await schemaReady;
          }
        : undefined,
    }),
    // Pipelines EXECUTE prepared statements, so they go with `prepare` (prepared.ts).
    capabilities: { sql: "postgres", persistent: true, multiProcess: true, savepoints: true, fts5: false, pipeline: prepared },
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

