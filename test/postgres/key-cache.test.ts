import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPostgresAdapter, listenForChanges } from "../../adapters/postgres/index.ts";
import { cacheKeyRows, createKey, createServerHandler, openServerStore, revokeKey, type ServerStore } from "../../src/server/index.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { call, spawnPgServer, type PgServerProcess } from "./spawn.ts";

/**
 * API key rows served from memory on PostgreSQL (src/server/auth/key-cache.ts), and what keeps
 * them true: a revocation made anywhere reaches every instance through LISTEN within
 * milliseconds; while LISTEN is down, every request reads its row again.
 */
const run = await pgAvailable("PostgreSQL key cache test");

describe.skipIf(!run)("API key rows cached on PostgreSQL", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  let servers: PgServerProcess[] = [];

  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    // Instances as `stowage serve` runs them (openServerFeed: LISTEN, and the key cache on it).
    servers = await Promise.all([spawnPgServer(PG_URL, schema), spawnPgServer(PG_URL, schema)]);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.kill()));
    await store?.close();
    await dropSchema(schema);
  });

  /** Polls GET /v1/pull on `url` until it answers 401; answers how long that took. */
  const msUntilRefused = async (url: string, key: string, limitMs = 5_000): Promise<number> => {
    const start = performance.now();
    for (;;) {
      const { status } = await call(url, key, "/v1/pull");
      if (status === 401) return performance.now() - start;
      expect(status).toBe(200);
      if (performance.now() - start > limitMs) return Infinity;
      await Bun.sleep(5);
    }
  };

  test("a key revoked by another process is refused by both instances within a second (the cache keeps rows 10 s)", async () => {
    const { key, id } = await createKey(store, "revoked-elsewhere", { createIfMissing: true });
    for (const s of servers) {
      expect((await call(s.url, key, "/v1/pull")).status).toBe(200);
      expect((await call(s.url, key, "/v1/pull")).status).toBe(200); // now served from memory
    }
    // This test process's store has no cache: only the NOTIFY tells the instances.
    await revokeKey(store, id);
    for (const s of servers) expect(await msUntilRefused(s.url, key)).toBeLessThan(1_000);
  });

  test("rows are served from memory: a change that sends no notification is not seen until one does", async () => {
    const { key, id } = await createKey(store, "silent-change", { createIfMissing: true });
    const [a] = servers;
    expect((await call(a.url, key, "/v1/pull")).status).toBe(200);
    await pgQuery("alter table stowage_keys disable trigger stowage_keys_notify", [], schema);
    try {
      await pgQuery("update stowage_keys set revoked_at = 1 where id = $1", [id], schema);
      // The row says revoked, but nothing announced it: the instance answers from memory.
      expect((await call(a.url, key, "/v1/pull")).status).toBe(200);
    } finally {
      await pgQuery("alter table stowage_keys enable trigger stowage_keys_notify", [], schema);
    }
    await pgQuery("update stowage_keys set revoked_at = revoked_at where id = $1", [id], schema);
    expect(await msUntilRefused(a.url, key)).toBeLessThan(1_000);
  });

  test("in one process: revokeKey evicts at once, and while LISTEN is down every request reads its row", async () => {
    const appName = `stowage-listen-${schema}`;
    // A LISTEN connection that stays down once cut (retry in 60 s), unlike serve's (1 s).
    const listener = listenForChanges({ url: PG_URL, schema, applicationName: appName, retryMs: 60_000 });
    await listener.ready;
    const stop = cacheKeyRows(store, listener.keys);
    const handler = createServerHandler({ store, limits: { rate: false } });
    const pull = async (key: string) => (await handler(new Request("http://stowage.test/v1/pull", { headers: { authorization: `Bearer ${key}` } }))).status;
    await pgQuery("alter table stowage_keys disable trigger stowage_keys_notify", [], schema);
    try {
      const first = await createKey(store, "local-revoke", { createIfMissing: true });
      expect(await pull(first.key)).toBe(200);
      expect(await pull(first.key)).toBe(200);
      await revokeKey(store, first.id); // no notification (trigger off): the local eviction alone
      expect(await pull(first.key)).toBe(401);

      const second = await createKey(store, "listen-down", { createIfMissing: true });
      expect(await pull(second.key)).toBe(200); // cached
      expect(listener.keys.live).toBe(true);
      await pgQuery("select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1", [appName]);
      for (let i = 0; i < 200 && listener.keys.live; i++) await Bun.sleep(10);
      expect(listener.keys.live).toBe(false);
      expect(await pull(second.key)).toBe(200); // read while down: must not be kept either
      await pgQuery("update stowage_keys set revoked_at = 1 where id = $1", [second.id], schema);
      expect(await pull(second.key)).toBe(401); // read again, not served from memory
    } finally {
      await pgQuery("alter table stowage_keys enable trigger stowage_keys_notify", [], schema);
      stop();
      await listener.close();
    }
  });
});
