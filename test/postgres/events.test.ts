import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { createPostgresAdapter, listenForChanges } from "../../adapters/postgres/index.ts";
import { serve } from "../../src/runtime/serve.ts";
import { ChangeFeed, listenerSource } from "../../src/server/events/feed.ts";
import { readTenantSeq } from "../../src/server/events/endpoint.ts";
import { createKey, createServerHandler, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { startServe, type ServeProcess } from "../cli/run.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { changeTo, openEvents, type SseReader } from "../helpers/sse.ts";
import { api, puts } from "../server/client.ts";
import { spawnPgServer } from "./spawn.ts";

// Spawned servers and processes are slow on a loaded 2-core machine (bunfig's timeout is not applied by this Bun).
setDefaultTimeout(30_000);

/** Live events over PostgreSQL: LISTEN/NOTIFY carries commits between server instances. */
const run = await pgAvailable("PostgreSQL live events test");

describe.skipIf(!run)("live events over one PostgreSQL database", () => {
  const schema = newSchemaName();
  let store: ServerStore;
  let key: string;
  let tenantId: string;
  let servers: ServeProcess[] = [];
  const readers: SseReader[] = [];

  beforeAll(async () => {
    store = await openServerStore({ adapter: createPostgresAdapter({ url: PG_URL, schema, pool: { max: 2 } }) });
    const created = await createKey(store, "live", { createIfMissing: true });
    key = created.key;
    tenantId = created.tenant.id;
    const data = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
    servers = await Promise.all([startServe(data), startServe(data)]);
  });
  afterAll(async () => {
    for (const r of readers) r.close();
    await Promise.all(servers.map((s) => s.stop()));
    await store?.close();
    await dropSchema(schema);
  });

  test("two `serve` instances: a write through one pokes a stream on the other within 2 s, both ways", async () => {
    const [a, b] = servers;
    const onA = await openEvents(a.url, key);
    const onB = await openEvents(b.url, key);
    readers.push(onA, onB);
    await onA.waitFor(changeTo(0));
    await onB.waitFor(changeTo(0));
    // serve waits for its LISTEN before it prints its URL: the first write is heard.
    let t = performance.now();
    await api(a.url, key).push({ clientId: "writer-pg-a", ops: puts(3) });
    await onB.waitFor(changeTo(3), 2000);
    console.log(`PostgreSQL cross-instance poke latency A→B: ${(performance.now() - t).toFixed(1)} ms`);
    await onA.waitFor(changeTo(3), 2000);
    const n = 3;
    t = performance.now();
    expect((await api(b.url, key).call("PUT", "/v1/docs/todos/from-b", { n: 1 })).status).toBe(200);
    await onA.waitFor(changeTo(n + 1), 2000);
    console.log(`PostgreSQL cross-instance poke latency B→A: ${(performance.now() - t).toFixed(1)} ms`);
    await onB.waitFor(changeTo(n + 1), 2000);
  });

  test("the PostgreSQL server-process fixture (spawnPgServer) has the same fan-out", async () => {
    const procs = await Promise.all([spawnPgServer(PG_URL, schema), spawnPgServer(PG_URL, schema)]);
    const r = await openEvents(procs[1].url, key);
    try {
      const head = (await readTenantSeq(store, tenantId))!;
      await r.waitFor(changeTo(head));
      await api(procs[0].url, key).push({ clientId: "writer-pg-fixture", ops: puts(2) });
      await r.waitFor(changeTo(head + 2), 2000);
    } finally {
      r.close();
      await Promise.all(procs.map((p) => p.kill()));
    }
  });

  test("after the LISTEN connection breaks, the seq-less poke makes streams catch up with commits made meanwhile", async () => {
    const appName = `stowage-listen-${Math.random().toString(36).slice(2, 10)}`;
    const listener = listenForChanges({ url: PG_URL, schema, applicationName: appName, retryMs: 100 });
    const feed = new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t), source: listenerSource(listener) });
    const handler = createServerHandler({ store, changes: feed, limits: { rate: false } });
    const server = await serve({ fetch: handler, port: 0 });
    const reader = await openEvents(server.url, key);
    try {
      await listener.ready;
      const head = (await readTenantSeq(store, tenantId))!;
      await reader.waitFor(changeTo(head));
      // Cut the LISTEN connection, and commit elsewhere while it is down.
      const killed = await pgQuery<{ ok: boolean }>("select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1", [appName]);
      expect(killed.map((r) => r.ok)).toEqual([true]);
      await store.db.updateTable("stowage_tenants").set({ seq: head + 100 }).where("id", "=", tenantId).execute();
      // The NOTIFY of that commit went nowhere; the reconnect's poke without seq brings it.
      await reader.waitFor(changeTo(head + 100), 5000);
      const back = await pgQuery("select 1 from pg_stat_activity where application_name = $1", [appName]);
      expect(back.length).toBe(1);
    } finally {
      reader.close();
      await server.stop();
      await feed.close();
    }
  });
});
