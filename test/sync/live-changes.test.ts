/**
 * Live events that carry their commit's changes (docs/PROTOCOL.md, "Events that carry the
 * changes"): a client whose cursor is exactly the event's `prev` applies them without a pull;
 * anything else ends in a pull, with every change applied exactly once.
 */
import { afterEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { EVENT_MAX_CHANGES } from "../../src/server/events/changes.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";
import type { CycleContext } from "../../src/sync/transport.ts";
import { applyLiveChanges, liveChangesOf } from "../../src/sync/v1/live/apply.ts";
import { CURSOR_KEY } from "../../src/sync/v1/pull.ts";
import { countingAdapter, type SqlEvent } from "../helpers/counting-sqlite.ts";
import { openEvents, seqOf, type SseItem } from "../helpers/sse.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";
import { api, puts } from "../server/client.ts";

setDefaultTimeout(30_000);

const dir = tempDir("stowage-live-changes-");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

interface CountingServer {
  url: string;
  key: string;
  store: ServerStore;
  path: string;
  openStreams(): number;
  /** Pull requests answered, per clientId. */
  pulls(clientId: string): number;
}

let n = 0;

/** A real server on 127.0.0.1:0 whose `pulled` hook counts pull requests per client. */
async function countingServer(path = dir.file(`s${++n}.db`)): Promise<CountingServer> {
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path }) });
  const { key } = await createKey(store, "live", { createIfMissing: true });
  const counts = new Map<string, number>();
  const handler = createServerHandler({
    store,
    limits: { rate: false },
    hooks: { pulled: (_req, _tenant, clientId) => void counts.set(clientId ?? "", (counts.get(clientId ?? "") ?? 0) + 1) },
  });
  const server = await serve({ fetch: handler, port: 0 });
  cleanups.push(async () => {
    await server.stop();
    await store.close();
  });
  return { url: server.url, key, store, path, openStreams: () => handler.openStreams(), pulls: (id) => counts.get(id) ?? 0 };
}

async function client(s: CountingServer | null, options: Partial<StowageOptions> = {}, path = dir.file(`c${++n}.db`)): Promise<Stowage> {
  const db = await openStowage({ adapter: createBunSqliteAdapter({ path }), ...(s ? { url: s.url, apiKey: s.key } : {}), env: {}, ...options });
  cleanups.push(() => db.close());
  return db;
}

/** A client that finished its first cycle and is idle, its stream open. */
async function settled(db: Stowage): Promise<string> {
  await until("client idle with a cursor and an open stream", async () => {
    const st = await db.status();
    return st.state === "idle" && st.cursor !== null && st.live.connected;
  });
  return (await db.status()).clientId!;
}

describe("live events with changes", () => {
  test("B applies A's writes from the events: no pull request, cursor at the commit's seq, groups whole, change events once", async () => {
    const s = await countingServer();
    const a = await client(s);
    const trace: string[] = [];
    const b = await client(s, { onTrace: (l) => trace.push(l) });
    await settled(a);
    const bId = await settled(b);
    const pullsBefore = s.pulls(bId);
    const seen: string[][] = [];
    const changes: unknown[] = [];
    b.on("change", (e) => changes.push(e));
    b.collection("todos").watch({ orderBy: "id" }, (items) => seen.push(items.map((t) => `${t.id}:${t.v}`)));

    await a.collection("todos").put({ id: "t1", v: 1 });
    await until("B sees t1", () => seen.at(-1)?.join() === "t1:1");
    await a.transaction(async (tx) => {
      await tx.collection("todos").put({ id: "t2", v: 2 });
      await tx.collection("todos").put({ id: "t3", v: 3 });
    });
    await until("B sees the group", () => seen.at(-1)?.join() === "t1:1,t2:2,t3:3");
    await a.collection("todos").delete("t1");
    await until("B sees the delete", () => seen.at(-1)?.join() === "t2:2,t3:3");

    expect(s.pulls(bId)).toBe(pullsBefore);
    expect(trace.filter((l) => l.startsWith("live:apply:"))).toEqual(["live:apply:1", "live:apply:2", "live:apply:1"]);
    // Never part of the group: every result B's query saw is a state the server had.
    expect(seen).toEqual([[], ["t1:1"], ["t1:1", "t2:2", "t3:3"], ["t2:2", "t3:3"]]);
    expect(changes).toEqual([
      { collection: "todos", ids: ["t1"] },
      { collection: "todos", ids: ["t2", "t3"] },
      { collection: "todos", ids: ["t1"] },
    ]);
    const serverSeq = Number((await s.store.db.selectFrom("stowage_tenants").select("seq").executeTakeFirstOrThrow()).seq);
    expect((await b.status()).cursor).toBe(`v1.${serverSeq}`);
    expect(await b.collection("todos").get("t2")).toEqual({ id: "t2", v: 2 });
  });

  test("one event costs B one local transaction of three statements and one run of its live query", async () => {
    const s = await countingServer();
    const a = await client(s);
    const log: SqlEvent[] = [];
    const b = await client(s, { adapter: countingAdapter(dir.file(`c${++n}.db`), "client", log) });
    await settled(a);
    await settled(b);
    const seen: (number | undefined)[] = [];
    b.collection("lat").watch({ orderBy: "-n", limit: 1 }, (items) => seen.push(items[0]?.n as number | undefined));
    await until("B's watch ran once", () => log.some((e) => e.sql.startsWith("select id, body")));
    await until("B idle", async () => (await b.status()).state === "idle");
    for (let i = 1; i <= 5; i++) {
      log.length = 0;
      await a.collection("lat").put({ id: `d${i % 2}`, n: i });
      await until(`B sees ${i}`, () => seen.at(-1) === i);
      await new Promise((r) => setTimeout(r, 20)); // a second run of the query would come now
      // The stored cursor, own-top mark and outbox in one read; no read before the cycle; the
      // query once although both `change` and `pulled` wake it.
      expect(log.map((e) => e.sql.replace(/\s+/g, " ").split(" ").slice(0, 3).join(" "))).toEqual([
        "begin immediate",
        "select (select value",
        "insert into _stowage_docs",
        "insert into _stowage_meta",
        "commit",
        "select id, body,",
      ]);
    }
    expect(seen).toEqual([undefined, 1, 2, 3, 4, 5]);
  });

  test("the writer's own event rides behind its push, whose answer already moved the cursor past it: covered, nothing pulled", async () => {
    const s = await countingServer();
    const trace: string[] = [];
    const a = await client(s, { onTrace: (l) => trace.push(l) });
    const aId = await settled(a);
    const pullsBefore = s.pulls(aId);
    for (let i = 1; i <= 5; i++) {
      await a.collection("todos").put({ id: `t${i}`, v: i });
      await until(`A's cursor at ${i}`, async () => (await a.status()).cursor === `v1.${i}`);
    }
    await until("A idle", async () => (await a.status()).state === "idle");
    // The event of the last write travels its own stream and may land after the cycle ended.
    await until("A heard its five events", () => trace.filter((l) => l === "live:covered" || l.startsWith("live:apply:")).length >= 5);
    expect(s.pulls(aId)).toBe(pullsBefore);
    // Each push answer's version is the next seq (docs/PROTOCOL.md, "Not pulling back your own
    // writes"): the settle moved the cursor over it, so the event has nothing left to apply.
    expect(trace.filter((l) => l.startsWith("live:apply:"))).toEqual([]);
    expect(trace.filter((l) => l === "live:covered")).toEqual(Array(5).fill("live:covered"));

    const db = await client(null);
    const store = db.store!;
    const ctx = { store, trace: (l: string) => trace.push(l) } as unknown as CycleContext;
    const result = { pushed: 0, pulled: 0, issues: [], reset: false, leased: true };
    const event = liveChangesOf({ seq: 4, prev: 3, changes: [{ collection: "todos", id: "x4", version: 4, value: { id: "x4" }, deleted: false }], cursor: "v1.4", more: false }, 4)!;
    await store.setMeta(CURSOR_KEY, "v1.6");
    expect(await applyLiveChanges(ctx, [event], result)).toBe(true);
    expect(trace.at(-1)).toBe("live:covered");
    expect(await db.collection("todos").count()).toBe(0);
    expect(await store.getMeta(CURSOR_KEY)).toBe("v1.6");
    expect(result.pulled).toBe(0);
    // A horizon cursor covers nothing yet: its scan from the start is under way.
    await store.setMeta(CURSOR_KEY, "v1.6.h9");
    expect(await applyLiveChanges(ctx, [event], result)).toBe(false);
  });

  test("a gap (a commit B never heard of) ends in one pull with every change exactly once", async () => {
    const s = await countingServer();
    const a = await client(s);
    const trace: string[] = [];
    const b = await client(s, { onTrace: (l) => trace.push(l) });
    await settled(a);
    const bId = await settled(b);
    const changes: { collection: string; ids: string[] }[] = [];
    b.on("change", (e) => changes.push(e));
    // A second server on the same file, with no change source: its commit pokes nobody on the first.
    const store2 = await openServerStore({ adapter: createBunSqliteAdapter({ path: s.path }) });
    const server2 = await serve({ fetch: createServerHandler({ store: store2, limits: { rate: false } }), port: 0 });
    cleanups.push(async () => {
      await server2.stop();
      await store2.close();
    });
    await api(server2.url, s.key).push({ clientId: "unheard-writer", ops: puts(2, { prefix: "g" }) });
    const pullsBefore = s.pulls(bId);

    await a.collection("todos").put({ id: "after", v: 1 });
    await until("B has all three", async () => (await b.collection("todos").count()) === 3);
    await until("B idle", async () => (await b.status()).state === "idle");
    expect(s.pulls(bId)).toBe(pullsBefore + 1);
    expect(trace).toContain("live:gap");
    expect(changes.flatMap((c) => c.ids.map((id) => `${c.collection}/${id}`)).sort()).toEqual(["todos/after", "todos/g1", "todos/g2"]);
    expect((await b.collection("todos").list({ orderBy: "id" })).items.map((d) => d.id)).toEqual(["after", "g1", "g2"]);
    expect((await b.status()).cursor).toBe("v1.3");
  });

  test("a pending local edit on B is rebased, not overwritten, exactly as a pull would do", async () => {
    const s = await countingServer();
    const a = await client(s);
    const bPath = dir.file(`c${++n}.db`);
    const trace: string[] = [];
    const b = await client(s, { onTrace: (l) => trace.push(l) }, bPath);
    await settled(a);
    const bId = await settled(b);
    // Another connection to B's file (local mode: no engine) leaves an edit in B's outbox
    // that B's engine has not been told about: it is pending when A's event arrives.
    const other = await client(null, {}, bPath);
    await other.collection("todos").put({ id: "d", v: "mine" });
    const pullsBefore = s.pulls(bId);

    await a.collection("todos").put({ id: "d", v: "theirs" });
    await a.collection("todos").put({ id: "e", v: "theirs" });
    await until("B applied both events", () => trace.filter((l) => l.startsWith("live:apply:")).length === 2);
    expect(s.pulls(bId)).toBe(pullsBefore);
    expect(await b.collection("todos").get("d")).toEqual({ id: "d", v: "mine" });
    expect(await b.collection("todos").get("e")).toEqual({ id: "e", v: "theirs" });
    expect((await b.status()).outbox.size).toBe(1);
    // The edit still goes out, on top of A's version (last writer wins on the server).
    await b.sync();
    expect(await a.collection("todos").get("d")).toBeDefined();
    const server = await api(s.url, s.key).call("GET", "/v1/docs/todos/d");
    expect(server.json.value).toEqual({ id: "d", v: "mine" });
  });

  test(`a commit over ${EVENT_MAX_CHANGES} changes is a plain poke and B pulls`, async () => {
    const s = await countingServer();
    const a = await client(s);
    const trace: string[] = [];
    const b = await client(s, { onTrace: (l) => trace.push(l) });
    await settled(a);
    const bId = await settled(b);
    const raw = await openEvents(s.url, s.key, {}, "?changes=1");
    cleanups.push(async () => raw.close());
    await raw.waitFor((i) => i.kind === "event");
    const pullsBefore = s.pulls(bId);

    await a.transaction(async (tx) => {
      for (let i = 0; i <= EVENT_MAX_CHANGES; i++) await tx.collection("bulk").put({ id: `b${i}`, i });
    });
    await until("B has the bulk", async () => (await b.collection("bulk").count()) === EVENT_MAX_CHANGES + 1);
    expect(s.pulls(bId)).toBe(pullsBefore + 1);
    expect(trace.filter((l) => l.startsWith("live:apply:"))).toEqual([]);
    const ev = await raw.waitFor((i) => i.kind === "event" && seqOf(i) === EVENT_MAX_CHANGES + 1);
    expect(ev).toEqual({ kind: "event", id: String(EVENT_MAX_CHANGES + 1), event: "change", data: `{"seq":${EVENT_MAX_CHANGES + 1}}` });

    // One change more than fits in 64 KiB is a plain poke too.
    await a.collection("bulk").put({ id: "big", text: "x".repeat(70_000) });
    const big = await raw.waitFor((i) => i.kind === "event" && seqOf(i) === EVENT_MAX_CHANGES + 2);
    expect((big as { data: string }).data).toBe(`{"seq":${EVENT_MAX_CHANGES + 2}}`);
  });

  test("the event data is a one-page pull answer from v1.<prev>; other tenants never see it; plain readers get plain pokes", async () => {
    const s = await countingServer();
    const other = await createKey(s.store, "someone-else", { createIfMissing: true });
    const reader = await createKey(s.store, "live", { scope: "read" });
    const mine = await openEvents(s.url, reader.key, {}, "?changes=1");
    const plain = await openEvents(s.url, s.key);
    const theirs = await openEvents(s.url, other.key, {}, "?changes=1");
    cleanups.push(async () => [mine, plain, theirs].forEach((r) => r.close()));
    for (const r of [mine, plain, theirs]) expect(seqOf(await r.waitFor((i) => i.kind === "event"))).toBe(0);

    await api(s.url, s.key).push({ clientId: "raw-writer", ops: [...puts(2, { prefix: "secret" }), { opId: 3, collection: "todos", id: "secret1", op: "delete" as const }] });
    const ev = (await mine.waitFor((i) => i.kind === "event" && seqOf(i) === 3)) as Extract<SseItem, { kind: "event" }>;
    const pull = await api(s.url, s.key).call("GET", "/v1/pull?cursor=v1.0");
    expect(JSON.parse(ev.data)).toEqual({ seq: 3, prev: 0, ...pull.json });
    expect(pull.json.changes.map((c: { id: string; deleted: boolean }) => `${c.id}:${c.deleted}`)).toEqual(["secret2:false", "secret1:true"]);
    expect(await plain.waitFor((i) => i.kind === "event" && seqOf(i) === 3)).toEqual({ kind: "event", id: "3", event: "change", data: '{"seq":3}' });

    // The other tenant's next event is its own write; nothing of ours came before it.
    await api(s.url, other.key).push({ clientId: "their-writer", ops: puts(1) });
    await theirs.waitFor((i) => i.kind === "event" && seqOf(i) === 1);
    const theirEvents = theirs.items.filter((i) => i.kind === "event") as Extract<SseItem, { kind: "event" }>[];
    expect(theirEvents.map((e) => e.id)).toEqual(["0", "1"]);
    expect(theirEvents.some((e) => e.data.includes("secret"))).toBe(false);
    expect((await openEvents(s.url, s.key, {}, "?changes=yes")).status).toBe(400);
  });

  test("only a stored cursor of exactly v1.<prev> applies: a horizon cursor, a gap or no cursor does not", async () => {
    const db = await client(null);
    const store = db.store!;
    const trace: string[] = [];
    const ctx = { store, trace: (l: string) => trace.push(l) } as unknown as CycleContext;
    const data = (prev: number, seq: number) => ({ seq, prev, changes: [{ collection: "todos", id: `x${seq}`, version: seq, value: { id: `x${seq}` }, deleted: false }], cursor: `v1.${seq}`, more: false });
    const event = (prev: number, seq: number) => liveChangesOf(data(prev, seq), seq)!;
    const result = { pushed: 0, pulled: 0, issues: [], reset: false, leased: true };
    expect(await applyLiveChanges(ctx, [event(0, 1)], result)).toBe(false); // no cursor yet
    await store.setMeta(CURSOR_KEY, "v1.3.h5");
    expect(await applyLiveChanges(ctx, [event(3, 4)], result)).toBe(false); // a scan from the start is under way
    await store.setMeta(CURSOR_KEY, "v1.2");
    expect(await applyLiveChanges(ctx, [event(3, 4)], result)).toBe(false); // a gap
    expect(await db.collection("todos").count()).toBe(0);
    expect(await store.getMeta(CURSOR_KEY)).toBe("v1.2");
    await store.setMeta(CURSOR_KEY, "v1.3");
    // A chain applies in order; it stops at the first event that does not continue the cursor.
    expect(await applyLiveChanges(ctx, [event(3, 4), event(4, 6), event(5, 7)], result)).toBe(false);
    expect(await store.getMeta(CURSOR_KEY)).toBe("v1.6");
    expect((await db.collection("todos").list({ orderBy: "id" })).items.map((d) => d.id)).toEqual(["x4", "x6"]);
    expect(result.pulled).toBe(2);
    // Data that is not a one-page answer from v1.<prev> to v1.<seq> is a plain poke.
    expect(liveChangesOf({ seq: 4 }, 4)).toBeNull();
    expect(liveChangesOf({ ...data(3, 4), cursor: "v1.5" }, 4)).toBeNull();
    expect(liveChangesOf({ ...data(3, 4), more: true }, 4)).toBeNull();
    expect(liveChangesOf({ ...data(4, 4) }, 4)).toBeNull();
    expect(liveChangesOf({ ...data(3, 4), changes: [{ collection: "Bad!", id: "x", version: 4, value: {}, deleted: false }] }, 4)).toBeNull();
  });
});
