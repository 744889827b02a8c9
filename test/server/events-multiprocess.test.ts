import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createKey, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { ChangeFeed } from "../../src/server/events/feed.ts";
import { sqliteChangeSource } from "../../src/server/events/sqlite-source.ts";
import { startServe, type ServeProcess } from "../cli/run.ts";
import { spawnServer, type SpawnedServer } from "../helpers/server.ts";
import { changeTo, openEvents, seqOf, type SseReader } from "../helpers/sse.ts";
import { tempDir } from "../helpers/tmp.ts";
import { api, puts } from "./client.ts";

// Spawned servers and processes are slow on a loaded 2-core machine (bunfig's timeout is not applied by this Bun).
setDefaultTimeout(30_000);

/**
 * Two real `stowage serve` processes over one SQLite file: a write through either reaches a
 * stream on the other (file watcher + PRAGMA data_version), and a write by a third process
 * that is no server at all reaches both.
 */
describe("live events across two serve processes on one SQLite file", () => {
  const tmp = tempDir("stowage-events-mp-");
  const dbPath = tmp.file("server.db");
  let servers: ServeProcess[] = [];
  let key: string;
  const readers: SseReader[] = [];

  beforeAll(async () => {
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dbPath }) });
    key = (await createKey(store, "shared", { createIfMissing: true })).key;
    await store.close();
    servers = await Promise.all([startServe(dbPath), startServe(dbPath)]);
  });
  afterAll(async () => {
    for (const r of readers) r.close();
    await Promise.all(servers.map((s) => s.stop()));
    tmp.cleanup();
  });

  test("a push through one process pokes a stream on the other within 2 s, both ways", async () => {
    const [a, b] = servers;
    const onA = await openEvents(a.url, key);
    const onB = await openEvents(b.url, key);
    readers.push(onA, onB);
    await onA.waitFor(changeTo(0));
    await onB.waitFor(changeTo(0));

    let t = performance.now();
    await api(a.url, key).push({ clientId: "writer-a-1", ops: puts(3) });
    const pushed = performance.now() - t;
    await onB.waitFor(changeTo(3), 2000);
    const aToB = performance.now() - t;
    await onA.waitFor(changeTo(3), 2000);

    t = performance.now();
    expect((await api(b.url, key).call("PUT", "/v1/docs/todos/from-b", { n: 1 })).status).toBe(200);
    await onA.waitFor(changeTo(4), 2000);
    const bToA = performance.now() - t;
    await onB.waitFor(changeTo(4), 2000);
    console.log(`cross-process poke latency: A→B ${aToB.toFixed(1)} ms (the push answered after ${pushed.toFixed(1)}), B→A ${bToA.toFixed(1)} ms`);

    // A third process that is no server (this test's own connection) writes: both notice.
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dbPath }) });
    try {
      await store.db.updateTable("stowage_tenants").set({ seq: 10 }).where("name", "=", "shared").execute();
    } finally {
      await store.close();
    }
    await onA.waitFor(changeTo(10), 2000);
    await onB.waitFor(changeTo(10), 2000);
  });
  test("Ctrl-C (SIGTERM) on `serve` ends its open streams cleanly and exits 0", async () => {
    const b = servers[1];
    const r = await openEvents(b.url, key);
    readers.push(r);
    await r.waitFor((i) => i.kind === "event");
    b.proc.kill("SIGTERM");
    expect(await r.waitFor((i) => i.kind === "end", 5000)).toEqual({ kind: "end", clean: true });
    expect(await b.proc.exited).toBe(0);
  });
});

describe("the server-process fixture (spawnServer) has the same fan-out", () => {
  const tmp = tempDir("stowage-events-fx-");
  const procs: SpawnedServer[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    tmp.cleanup();
  });

  test("two fixture processes on one file: a push through one pokes a stream on the other", async () => {
    const dbPath = tmp.file("server.db");
    procs.push(await spawnServer({ dbPath }));
    procs.push(await spawnServer({ dbPath }));
    const [a, b] = procs;
    const r = await openEvents(b.url, b.key);
    try {
      await r.waitFor(changeTo(0));
      await api(a.url, a.key).push({ clientId: "fixture-writer", ops: puts(2) });
      await r.waitFor(changeTo(2), 2000);
    } finally {
      r.close();
    }
  });
});

describe("sqliteChangeSource", () => {
  const tmp = tempDir("stowage-events-src-");
  let store: ServerStore;
  let other: ServerStore;
  let tenantId: string;
  beforeAll(async () => {
    store = await openServerStore({ adapter: createBunSqliteAdapter({ path: tmp.file("s.db") }) });
    other = await openServerStore({ adapter: createBunSqliteAdapter({ path: tmp.file("s.db") }) });
    tenantId = (await createKey(store, "poll", { createIfMissing: true })).tenant.id;
  });
  afterAll(async () => {
    await store.close();
    await other.close();
    tmp.cleanup();
  });

  test("without a file watcher, the data_version poll alone delivers another connection's commit", async () => {
    const feed = new ChangeFeed({ source: sqliteChangeSource(store, { pollMs: 50 }) });
    const seen: number[] = [];
    const stop = feed.subscribe(tenantId, (seq) => seen.push(seq));
    try {
      await Bun.sleep(120); // the first look records the version
      await other.db.updateTable("stowage_tenants").set({ seq: 7 }).where("id", "=", tenantId).execute();
      for (let i = 0; i < 100 && !seen.includes(7); i++) await Bun.sleep(10);
      expect(seen.at(-1)).toBe(7);
      // Commits by this same connection are not its business (the handler publishes those).
      const before = seen.length;
      await Bun.sleep(150);
      expect(seen.length).toBe(before);
    } finally {
      stop();
      await feed.close();
    }
  });

  test("the source stops looking when the last subscriber leaves and starts again with the next", async () => {
    let watching = 0;
    const source = sqliteChangeSource(store, {
      pollMs: 50,
      watchFiles: () => {
        watching++;
        return () => watching--;
      },
    });
    const feed = new ChangeFeed({ source });
    const s1 = feed.subscribe(tenantId, () => {});
    const s2 = feed.subscribe(tenantId, () => {});
    expect(watching).toBe(1);
    s1();
    expect(watching).toBe(1);
    s2();
    expect(watching).toBe(0);
    const seen: number[] = [];
    const s3 = feed.subscribe(tenantId, (seq) => seen.push(seq));
    expect(watching).toBe(1);
    await other.db.updateTable("stowage_tenants").set({ seq: 8 }).where("id", "=", tenantId).execute();
    for (let i = 0; i < 100 && !seen.includes(8); i++) await Bun.sleep(10);
    expect(seen).toEqual([8]);
    s3();
    await feed.close();
    expect(watching).toBe(0);
  });
});

test("seqOf checks that the event id equals the seq", () => {
  expect(seqOf({ kind: "event", id: "5", event: "change", data: '{"seq":5}' })).toBe(5);
  expect(() => seqOf({ kind: "event", id: "4", event: "change", data: '{"seq":5}' })).toThrow();
});
