import { Kysely } from "kysely";
import type { StowageAdapter } from "../adapter.ts";
import { serverDialect, type ServerDialect } from "./sql/index.ts";
import { migrateServer, type ServerTables } from "./schema.ts";

/** The server's database: tenants, keys, documents, client marks. Storage-agnostic over Kysely. */
export interface ServerStore {
  /** The Kysely instance over the adapter's dialect. */
  readonly db: Kysely<ServerTables>;
  /** The adapter the store was opened with. */
  readonly adapter: StowageAdapter;
  /** What the store's database does differently (sql/): every statement that differs goes through it. */
  readonly dialect: ServerDialect;
  /** Closes the database; in-flight transactions finish first. */
  close(): Promise<void>;
  /**
   * A view of the store over one of its read replicas (round robin), for pulls and document
   * reads (replica.ts); undefined without replicas. Its `replica` is true.
   */
  readReplica?(): ServerStore;
  /** True on a view over a read replica: it may lag behind the primary. */
  readonly replica?: boolean;
  /** With read replicas: reads they served, and reads the primary served instead (replica.ts). */
  readonly replicaReads?: { served: number; primary: number };
  /** Tells the store that `rows` new document rows were committed (PostgreSQL keeps its planner statistics current from it, planner-stats.ts). */
  added?(rows: number): void;
}

export interface OpenServerStoreOptions {
  /** Where the data lives: bun-sqlite now, PostgreSQL later. */
  adapter: StowageAdapter;
  /** Read replicas of the same database (PostgreSQL streaming standbys): pulls and document reads may go there. */
  readers?: StowageAdapter[];
}

/** Opens (and migrates) the server store on an adapter. */
export async function openServerStore(options: OpenServerStoreOptions): Promise<ServerStore> {
  const dialect = serverDialect(options.adapter.capabilities.sql);
  const db = new Kysely<ServerTables>({ dialect: options.adapter.dialect });
  try {
    await migrateServer(db, dialect);
  } catch (e) {
    await db.destroy();
    throw e;
  }
  await dialect.tune(db).catch(() => {});
  const stats = dialect.plannerStats(db);
  await stats?.start().catch(() => {});
  let closed: Promise<void> | undefined;
  const readers = (options.readers ?? []).map((adapter) => ({ adapter, db: new Kysely<ServerTables>({ dialect: adapter.dialect }) }));
  let next = 0;
  const store: ServerStore = {
    db,
    adapter: options.adapter,
    dialect,
    close: () => (closed ??= (async () => {
      await stats?.close();
      await Promise.all(readers.map((r) => r.db.destroy()));
      await db.destroy();
    })()),
    ...(stats ? { added: (rows: number) => stats.added(rows) } : {}),
    ...(readers.length > 0
      ? {
          replicaReads: { served: 0, primary: 0 },
          readReplica: () => {
            const r = readers[next++ % readers.length];
            return { db: r.db, adapter: r.adapter, dialect, replica: true, close: async () => {} };
          },
        }
      : {}),
  };
  return store;
}
