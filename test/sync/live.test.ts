import { afterEach, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";
import { countingAdapter, type SqlEvent } from "../helpers/counting-sqlite.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";

const dir = tempDir("stowage-live-");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function server(events?: NonNullable<Parameters<typeof startServer>[0]>["events"]): Promise<TestServer> {
  const s = await startServer({ events });
  cleanups.push(() => s.stop());
  return s;
}

let n = 0;
async function client(s: TestServer | null, options: Partial<StowageOptions> = {}): Promise<Stowage> {
  const db = await openStowage({
    adapter: createBunSqliteAdapter({ path: dir.file(`c${++n}.db`) }),
    ...(s ? { url: s.url, apiKey: s.key } : {}),
    env: {},
    ...options,
  });
  cleanups.push(() => db.close());
  return db;
}

describe("live sync", () => {
  test("two clients on default options: A writes, B's watch callback gets the value (no sync() anywhere)", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s);
    const seen: string[][] = [];
    b.collection("todos").watch({ where: { done: false } }, (items) => seen.push(items.map((t) => `${t.id}:${t.title}`)));
    await until("both streams open", () => s.handler.openStreams() === 2);
    await a.collection("todos").put({ id: "t1", title: "buy milk", done: false });
    await until("B sees t1", () => seen.at(-1)?.includes("t1:buy milk"));
    await a.collection("todos").patch("t1", { title: "buy oat milk" });
    await until("B sees the patch", () => seen.at(-1)?.includes("t1:buy oat milk"));
    await a.collection("todos").patch("t1", { done: true });
    await until("t1 leaves B's filtered result", () => seen.at(-1)?.length === 0);
    expect(seen[0]).toEqual([]); // the immediate call: nothing yet
    expect(seen.at(-1)).toEqual([]);
    const st = await b.status();
    expect(st.live.enabled).toBe(true);
    expect(st.live.connected).toBe(true);
    expect(typeof st.live.lastEventAt).toBe("number");
    expect(Number(st.live.lastEventId)).toBe(Number(st.cursor!.slice(3)));
    // close() aborts the streams: the server sees both go.
    await a.close();
    await b.close();
    await until("server sees the streams closed", () => s.handler.openStreams() === 0);
  });

  test("db.on('change') names the collection and ids, for a local transaction and for a pull", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s);
    const local: unknown[] = [];
    const pulled: unknown[] = [];
    a.on("change", (e) => local.push(e));
    b.on("change", (e) => pulled.push(e));
    await until("both streams open", () => s.handler.openStreams() === 2);
    await a.transaction(async (tx) => {
      await tx.collection("todos").put({ id: "x", v: 1 });
      await tx.collection("todos").put({ id: "y", v: 1 });
      await tx.collection("notes").put({ id: "n", v: 1 });
    });
    expect(local).toEqual([
      { collection: "todos", ids: ["x", "y"] },
      { collection: "notes", ids: ["n"] },
    ]);
    await until("B pulled both collections", () => pulled.length >= 2);
    expect(pulled).toContainEqual({ collection: "todos", ids: ["x", "y"] });
    expect(pulled).toContainEqual({ collection: "notes", ids: ["n"] });
  });

  test("watch: once per committed transaction, identical results skipped, unsubscribe stops it", async () => {
    const db = await client(null);
    const todos = db.collection("todos");
    const calls: number[] = [];
    const off = todos.watch({ orderBy: "n" }, (items) => calls.push(items.length));
    await until("initial call", () => calls.length === 1);
    await db.transaction(async (tx) => {
      for (let i = 0; i < 5; i++) await tx.collection("todos").put({ id: `t${i}`, n: i });
    });
    await until("one call for the transaction", () => calls.length === 2);
    await todos.putMany([{ id: "t0", n: 0 }]); // same bytes: no callback
    await db.collection("other").put({ id: "o" }); // another collection: no callback
    await todos.put({ id: "t5", n: 5 });
    await until("t5", () => calls.length === 3);
    expect(calls).toEqual([0, 5, 6]);
    off();
    await todos.put({ id: "t6", n: 6 });
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toEqual([0, 5, 6]);
    expect(() => todos.watch({ orderBy: "bad field!" }, () => {})).toThrow();
  });

  test("watch: wakes in one synchronous burst (a pull's `change` and `pulled`) run the query once; a later wake runs it again", async () => {
    const log: SqlEvent[] = [];
    const db = await client(null, { adapter: countingAdapter(dir.file(`c${++n}.db`), "client", log) });
    const todos = db.collection("todos");
    await todos.put({ id: "t1", n: 1 });
    const calls: number[] = [];
    todos.watch({ orderBy: "n" }, (items) => calls.push(items.length));
    await until("initial call", () => calls.length === 1);
    const runs = () => log.filter((e) => e.sql.startsWith("select id, body")).length;
    expect(runs()).toBe(1);
    const events = db.store!.events;
    events.emit("change", { collection: "todos", ids: ["t1"] });
    events.emit("pulled", { collections: ["todos"], changes: 1 });
    events.emit("change", { collection: "todos", ids: ["t1"] });
    await new Promise((r) => setTimeout(r, 30));
    expect(runs()).toBe(2);
    events.emit("pulled", { collections: ["todos"], changes: 1 });
    await until("third run", () => runs() === 3);
    expect(calls).toEqual([1]); // same rows each time: delivered once
  });

  test("live: false twin: no stream is opened and the interval still carries changes", async () => {
    const s = await server();
    const a = await client(s, { live: false });
    const b = await client(s, { env: { STOWAGE_LIVE: "0" }, syncIntervalMs: 100 });
    const seen: unknown[][] = [];
    b.collection("todos").watch({}, (items) => seen.push(items));
    await a.collection("todos").put({ id: "t1", title: "by interval" });
    await until("B gets t1 by its interval", () => seen.at(-1)?.length === 1);
    expect(s.handler.openStreams()).toBe(0);
    expect((await b.status()).live).toEqual({ enabled: false, connected: false, since: null, lastEventAt: null, lastEventId: null });
  });
});
