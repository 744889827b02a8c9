import type { StowageAdapter } from "../src/adapter.ts";

/**
 * The server stores chaos runs against (`--store`), each in one entry: where a run keeps its
 * data, which adapter the runner and chaos/server.ts open on it, and whether every run has two
 * server instances. The rest of chaos/ never asks which database it is on. Adapters load
 * lazily, so a client process that only reads the schedule does not load a database driver.
 */

/** The PostgreSQL the runs use (STOWAGE_TEST_PG_URL), each in a schema of its own. */
export const PG_URL = process.env.STOWAGE_TEST_PG_URL || "postgres://postgres@127.0.0.1:5432/test";

/** One run's server data. */
export interface ChaosTarget {
  /** The adapter the runner itself opens (keys, gc, the final read). */
  admin(): Promise<StowageAdapter>;
  /** chaos/server.ts's arguments after the store's name. */
  serverArgs: string[];
  /** Drops what the run left outside its directory (the runner removes the directory). */
  cleanup(): Promise<void>;
}

export interface ChaosStore {
  /** Every run has two server instances (several share one database); otherwise the schedule decides. */
  readonly alwaysTwoServers: boolean;
  /** A fresh place for one run's server data (`dir`: the run's directory). */
  prepare(seed: number, dir: string, options: { pgServerUrl?: string; pgReadUrl?: string }): ChaosTarget;
  /** chaos/server.ts: its adapter and read replicas from `args` (serverArgs), and the location its change feed watches. */
  serve(args: string[]): Promise<{ adapter: StowageAdapter; readers: StowageAdapter[]; location: string }>;
}

const SQLITE: ChaosStore = {
  alwaysTwoServers: false,
  prepare(_seed, dir) {
    const path = `${dir}/server.db`;
    return {
      admin: async () => (await import("../adapters/bun-sqlite/index.ts")).createBunSqliteAdapter({ path }),
      serverArgs: [path],
      cleanup: async () => {},
    };
  },
  async serve([path]) {
    const { createBunSqliteAdapter } = await import("../adapters/bun-sqlite/index.ts");
    return { adapter: createBunSqliteAdapter({ path: path! }), readers: [], location: path! };
  },
};

const POSTGRES: ChaosStore = {
  alwaysTwoServers: true,
  prepare(seed, _dir, options) {
    const schema = `stowage_t_chaos${seed}x${Math.random().toString(36).slice(2, 8)}`;
    return {
      admin: async () => (await import("../adapters/postgres/index.ts")).createPostgresAdapter({ url: PG_URL, schema, pool: { max: 1 } }),
      serverArgs: [options.pgServerUrl ?? PG_URL, schema, ...(options.pgReadUrl ? [options.pgReadUrl] : [])],
      cleanup: () => dropPgSchema(schema),
    };
  },
  async serve([url, schema, readUrl]) {
    const { createPostgresAdapter } = await import("../adapters/postgres/index.ts");
    const adapter = createPostgresAdapter({ url: url!, schema: schema!, pool: { max: 4 } });
    // Pulls and document reads from a streaming standby, as `serve --read-url` does.
    const readers = readUrl ? [createPostgresAdapter({ url: readUrl, schema: schema!, pool: { max: 4 } })] : [];
    return { adapter, readers, location: url! };
  },
};

/** The stores by `--store` name. */
export const CHAOS_STORES = { sqlite: SQLITE, postgres: POSTGRES } as const;

export type Store = keyof typeof CHAOS_STORES;

/** Whether `name` is a store chaos runs against. */
export function isStore(name: string): name is Store {
  return Object.hasOwn(CHAOS_STORES, name);
}

async function dropPgSchema(schema: string): Promise<void> {
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: PG_URL });
  client.on("error", () => {});
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end().catch(() => {});
  }
}
