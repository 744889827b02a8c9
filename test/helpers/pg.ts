import pg from "pg";
import { createPostgresAdapter, type PostgresPoolOptions } from "../../adapters/postgres/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";

/**
 * PostgreSQL for tests. Suites call `pgAvailable()` once at load: it answers whether to run,
 * printing why not when PostgreSQL is unreachable, and throws instead when
 * `STOWAGE_REQUIRE_PG=1` (CI) so a missing database fails the run rather than skipping it.
 */
export const PG_URL = process.env.STOWAGE_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/test";

let probe: Promise<string | undefined> | undefined;

/** True when PostgreSQL answers; false (with a printed reason) when not and not required. */
export async function pgAvailable(suite: string): Promise<boolean> {
  const reason = await (probe ??= reach());
  if (reason === undefined) return true;
  if (process.env.STOWAGE_REQUIRE_PG === "1") {
    throw new Error(`${suite}: PostgreSQL is required (STOWAGE_REQUIRE_PG=1) but ${reason}`);
  }
  console.warn(`skipping ${suite}: ${reason} (set STOWAGE_TEST_PG_URL, or STOWAGE_REQUIRE_PG=1 to fail instead)`);
  return false;
}

async function reach(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return undefined;
  } catch (e) {
    return `PostgreSQL at ${PG_URL.replace(/:[^:@/]*@/, ":***@")} is unreachable (${(e as Error).message || String(e)})`;
  } finally {
    await client.end().catch(() => {});
  }
}

/** A fresh schema name; every test file (or test) gets its own and drops it afterwards. */
export function newSchemaName(): string {
  return `stowage_t_${crypto.randomUUID().replaceAll("-", "").slice(0, 16)}`;
}

/** Runs one SQL text on its own connection, optionally inside `schema`. */
export async function pgQuery<R extends Record<string, unknown> = Record<string, unknown>>(
  text: string,
  params: unknown[] = [],
  schema?: string,
): Promise<R[]> {
  const client = new pg.Client({ connectionString: PG_URL, options: schema ? `-c search_path=${schema}` : undefined });
  client.on("error", () => {});
  await client.connect();
  try {
    return (await client.query(text, params)).rows as R[];
  } finally {
    await client.end().catch(() => {});
  }
}

/** Drops a schema made by a test, with everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  if (!/^stowage_t_[a-z0-9]+$/.test(schema)) throw new Error(`refusing to drop schema ${schema}`);
  await pgQuery(`drop schema if exists ${schema} cascade`);
}

/** A PostgreSQL adapter in its own fresh schema; `drop()` removes the schema (close the store first). */
export function pgTestAdapter(options: { schema?: string; pool?: PostgresPoolOptions } = {}): {
  adapter: StowageAdapter;
  schema: string;
  drop: () => Promise<void>;
} {
  const schema = options.schema ?? newSchemaName();
  return {
    adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 4, ...options.pool } }),
    schema,
    drop: () => dropSchema(schema),
  };
}
