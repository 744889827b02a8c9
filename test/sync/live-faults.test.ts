import { afterAll, afterEach, expect, test } from "bun:test";
import { createServer } from "node:net";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";
import { startBlackholeProxy } from "../helpers/blackhole-proxy.ts";
import { spawnServer, startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";

const dir = tempDir("stowage-live-faults-");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(() => dir.cleanup());

let n = 0;
async function client(url: string, apiKey: string, options: Partial<StowageOptions> = {}): Promise<Stowage> {
  const db = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`f${++n}.db`) }), url, apiKey, env: {}, ...options });
  cleanups.push(() => db.close());
  return db;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const byId = (items: { id: string }[]) => Object.fromEntries(items.map((d) => [d.id, d]));

test("server SIGKILLed and restarted on the same port: B reconnects by itself and ends with every change, once", async () => {
  const dbPath = dir.file("server.db");
  const port = await freePort();
  let server = await spawnServer({ dbPath, port });
  cleanups.push(() => server.kill());
  const url = server.url;
  const a = await client(url, server.key);
  // Capped reconnect backoff keeps the test short; the schedule itself is the default's shape.
  const b = await client(url, server.key, { liveBackoff: { maxMs: 1500 } });
  const watched: { id: string; [k: string]: unknown }[][] = [];
  b.collection("todos").watch({ limit: 1000 }, (items) => watched.push(items));
  let pulled = 0;
  b.on("sync", (r) => (pulled += r.pulled));
  const changeIds: string[] = [];
  b.on("change", (e) => changeIds.push(...e.ids));
  await until("B connected", async () => (await b.status()).live.connected);

  const todos = a.collection("todos");
  for (let i = 0; i < 5; i++) await todos.put({ id: `t${i}`, v: 0 });
  await until("B has the first five", () => watched.at(-1)?.length === 5);

  await server.kill("SIGKILL");
  await until("B notices the stream is down", async () => !(await b.status()).live.connected);
  // Meanwhile A keeps writing (queued locally: the server is gone).
  for (let i = 0; i < 5; i++) await todos.patch(`t${i}`, { v: 1 });
  await todos.delete("t4");
  for (let i = 5; i < 10; i++) await todos.put({ id: `t${i}`, v: 1 });

  server = await spawnServer({ dbPath, port });
  await a.push(); // A's own backoff would get there too; B must need no help
  const expected = byId((await todos.list({ limit: 1000 })).items);
  expect(Object.keys(expected).sort()).toEqual(["t0", "t1", "t2", "t3", "t5", "t6", "t7", "t8", "t9"]);
  await until("B's watch has every final value", () => JSON.stringify(byId(watched.at(-1) ?? [])) === JSON.stringify(expected), 20_000);

  // The data may come back through the engine's own retry before the stream's backoff ends.
  await until("B's stream reconnects by itself", async () => (await b.status()).live.connected, 40_000);
  const st = await b.status();
  expect(st.live.connected).toBe(true);
  expect(byId((await b.collection("todos").list({ limit: 1000 })).items)).toEqual(expected);
  // The server's own view, through a fresh client.
  const c = await client(url, server.key, { autoSync: false, live: false });
  await c.sync();
  expect(byId((await c.collection("todos").list({ limit: 1000 })).items)).toEqual(expected);
  expect(st.cursor).toBe((await c.status()).cursor);
  // None applied twice: every id reached B once before the kill and once after it (t0–t3
  // patched, t4 deleted, t5–t9 new), each in exactly one pulled page.
  const detail = JSON.stringify({ changeIds, pulled });
  expect(changeIds.slice(0, 5).sort(), detail).toEqual(["t0", "t1", "t2", "t3", "t4"]);
  expect(changeIds.slice(5).sort(), detail).toEqual(["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8", "t9"]);
  expect(pulled, detail).toBeLessThanOrEqual(changeIds.length); // a cycle cut by the kill applies pages but reports nothing
}, 40_000);

test("a proxy that black-holes the stream: B notices by heartbeat timeout, falls back to the interval, recovers", async () => {
  const s = await startServer({ events: { heartbeatMs: 100 } });
  cleanups.push(() => s.stop());
  const proxy = await startBlackholeProxy(s.url);
  cleanups.push(() => proxy.stop());
  const traces: string[] = [];
  const a = await client(s.url, s.key);
  const b = await client(proxy.url, s.key, {
    syncIntervalMs: 300,
    liveHeartbeatTimeoutMs: 500,
    liveBackoff: { maxMs: 400 },
    onTrace: (l) => l.startsWith("live:") && traces.push(l),
  });
  const watched: { id: string; [k: string]: unknown }[][] = [];
  b.collection("todos").watch({}, (items) => watched.push(items));
  await until("B connected through the proxy", async () => (await b.status()).live.connected);

  proxy.hold = true;
  await until("heartbeat timeout noticed", () => traces.includes("live:timeout"));
  expect((await b.status()).live.connected).toBe(false);
  await a.collection("todos").put({ id: "during", v: 1 });
  await until("the interval carries A's write while the stream is dark", () => watched.at(-1)?.some((d) => d.id === "during"));
  expect(proxy.stats.held).toBeGreaterThanOrEqual(1);

  proxy.hold = false;
  await until("stream back", async () => (await b.status()).live.connected, 10_000);
  const before = (await b.status()).live.lastEventId;
  await a.collection("todos").put({ id: "after", v: 2 });
  await until("A's next write arrives", () => watched.at(-1)?.some((d) => d.id === "after"));
  await until("a poke arrived on the recovered stream", async () => (await b.status()).live.lastEventId !== before);
  expect(traces.filter((t) => t === "live:up").length).toBeGreaterThanOrEqual(2);
}, 30_000);
