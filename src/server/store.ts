import { Kysely } from "kysely";
import type { StowageAdapter } from "../adapter.ts";
import type { SqlFamily } from "./dialect-sql.ts";
import { PlannerStats } from "./planner-stats.ts";
import { migrateServer, type ServerTables } from "./schema.ts";

/** The server's database: tenants, keys, documents, client marks. Storage-agnostic over Kysely. */
export interface ServerStore {
  /** The Kysely instance over the adapter's dialect. */
  readonly db: Kysely<ServerTables>;
  /** The adapter the store was opened with. */
  readonly adapter: StowageAdapter;
  /** SQL family, for the few statements that differ (dialect-sql.ts). */
  readonly family: SqlFamily;
  /** Closes the database; in-flight transactions finish first. */
  close(): Promise<void>;
  /** Tells the store that `rows` new document rows were committed (PostgreSQL keeps its planner statistics current from it, planner-stats.ts). */
  added?(rows: number): void;
}

export interface OpenServerStoreOptions {
  /** Where the data lives: bun-sqlite now, PostgreSQL later. */
  adapter: StowageAdapter;
}

/** Opens (and migrates) the server store on an adapter. */
export async function openServerStore(options: OpenServerStoreOptions): Promise<ServerStore> {
  const db = new Kysely<ServerTables>({ dialect: options.adapter.dialect });
  try {
    await migrateServer(db, options.adapter.capabilities.sql);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  const family = options.adapter.capabilities.sql;
  const stats = family === "postgres" ? new PlannerStats(db) : undefined;
  await stats?.start().catch(() => {});
  let closed: Promise<void> | undefined;
  return {
    db,
    adapter: options.adapter,
    family,
    close: () => (closed ??= (async () => {
      await stats?.close();
      await db.destroy();
    })()),
    ...(stats ? { added: (rows: number) => stats.added(rows) } : {}),
  };
}
