/**
 * Partial sync, the client side (issue 34): a store holds exactly its subscriptions plus its
 * own pending writes, against the real server (in-process, real SQLite files). A counting
 * fetch around the real one records every pull the client makes and the changes it received.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { gc } from "../../src/server/gc.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";

const dir = tempDir("stowage-partial-");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(() => dir.cleanup());

/** One pull the client made: its query and the changes the answer carried. */
interface PullSeen {
  subs: unknown;
  have: unknown;
  cursor: string | null;
  changes: { collection: string; id: string; deleted?: boolean; left?: boolean }[];
}

/** The real fetch, recording every `/v1/pull` and `/v1/events` request. */
function counting(): { fetch: NonNullable<StowageOptions["fetch"]>; pulls: PullSeen[]; events: URL[]; pushes: URL[] } {
  const pulls: PullSeen[] = [];
  const events: URL[] = [];
  const pushes: URL[] = [];
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const url = new URL(input);
    const res = await globalThis.fetch(input, init);
    if (url.pathname === "/v1/events") events.push(url);
    if (url.pathname === "/v1/push") pushes.push(url);
    if (url.pathname !== "/v1/pull" || !res.ok) return res;
    const text = await res.text();
    const body = JSON.parse(text);
    const q = (k: string) => (url.searchParams.has(k) ? JSON.parse(url.searchParams.get(k)!) : undefined);
    pulls.push({ subs: q("subs"), have: q("have"), cursor: url.searchParams.get("cursor"), changes: body.changes ?? [] });
    return new Response(text, { status: res.status, headers: res.headers });
  };
  return { fetch, pulls, events, pushes };
}

/** The fields the tests' subscriptions filter on are indexed; everyone reads and writes everything. */
const RULES = ["index todos: owner, n", "index notes: owner", "* read: true", "* write: true"].join("\n");

async function server(): Promise<TestServer> {
  const s = await startServer({ rules: RULES });
  cleanups.push(() => s.stop());
  return s;
}

let n = 0;
async function client(s: TestServer, options: Partial<StowageOptions> = {}, file = `c${++n}.db`): Promise<Stowage> {
  const db = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(file) }), url: s.url, apiKey: s.key, env: {}, autoSync: false, ...options });
  cleanups.push(() => db.close());
  return db;
}

/** Every held document as `collection/id`, sorted. */
async function held(db: Stowage): Promise<string[]> {
  const rows = await db.store!.db.selectFrom("_stowage_docs" as any).select(["collection", "id"] as any).execute();
  return (rows as { collection: string; id: string }[]).map((r) => `${r.collection}/${r.id}`).sort();
}

/** todos t1–t8: owner ann for odd numbers, bob for even; n = the number. notes x1–x3. */
async function seed(s: TestServer): Promise<Stowage> {
  const w = await client(s);
  await w.transaction(async (tx) => {
    for (let i = 1; i <= 8; i++) await tx.collection("todos").put({ id: `t${i}`, owner: i % 2 ? "ann" : "bob", n: i });
    for (let i = 1; i <= 3; i++) await tx.collection("notes").put({ id: `x${i}`, text: `note ${i}` });
  });
  await w.sync();
  return w;
}

const ANN = ["todos/t1", "todos/t3", "todos/t5", "todos/t7"];

describe("partial sync (client)", () => {
  test("a store subscribed to a subset holds exactly that subset, asking with subs=", async () => {
    const s = await server();
    await seed(s);
    const c = counting();
    const db = await client(s, { fetch: c.fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    expect(await held(db)).toEqual(ANN);
    expect(c.pulls.length).toBeGreaterThan(0);
    for (const p of c.pulls) expect(p.subs).toEqual([{ collection: "todos", where: { owner: "ann" } }]);
    const subs = await db.subscriptions();
    expect(subs!.map((x) => ({ collection: x.collection, where: x.where }))).toEqual([{ collection: "todos", where: { owner: "ann" } }]);
    expect((await db.status()).subscriptions!.length).toBe(1);
  });

  test("a small sync of a settled view is one request: the push asks for the view's page (subs=)", async () => {
    const s = await server();
    const w = await seed(s);
    const c = counting();
    const db = await client(s, { fetch: c.fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await w.collection("todos").patch("t3", { owner: "bob" });
    await w.sync();
    c.pulls.length = 0;
    await db.collection("todos").put({ id: "t9", owner: "ann", n: 9 });
    const r = await db.sync();
    expect(r.pushed).toBe(1);
    expect(c.pulls).toEqual([]);
    expect(c.pushes.at(-1)!.searchParams.get("subs")).toBe(JSON.stringify([{ collection: "todos", where: { owner: "ann" } }]));
    expect(await held(db)).toEqual(["todos/t1", "todos/t5", "todos/t7", "todos/t9"]);
  });

  test("an unsubscribe while a push's pull page is in flight: the page of the old view is not applied", async () => {
    const s = await server();
    const w = await seed(s);
    let db: Stowage | null = null;
    let armed = false;
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      const url = new URL(input);
      if (armed && url.pathname === "/v1/push" && url.searchParams.has("pull")) {
        armed = false;
        expect(await db!.unsubscribe("notes")).toBe(1);
      }
      return globalThis.fetch(input, init);
    };
    db = await client(s, { fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }, { collection: "notes" }] });
    await db.sync();
    await w.collection("notes").put({ id: "x4", text: "new" });
    await w.sync();
    await db.collection("todos").put({ id: "t9", owner: "ann", n: 9 });
    const snapshots: Promise<string[]>[] = [];
    db.on("pulled", () => snapshots.push(held(db!)));
    armed = true;
    await db.sync();
    expect(armed).toBe(false);
    for (const snap of await Promise.all(snapshots)) expect(snap.filter((d) => d.startsWith("notes/"))).toEqual([]);
    expect(await held(db)).toEqual([...ANN, "todos/t9"].sort());
  });

  test("unsubscribing one never backfilled still removes what only it kept", async () => {
    const s = await server();
    await seed(s);
    const db = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "bob" } }] });
    await db.sync();
    expect(await held(db)).toEqual(["todos/t2", "todos/t4", "todos/t6", "todos/t8"]);
    // No sync in between: n ≥ 6 is asked for but not backfilled; dropping owner=bob keeps t6 and t8 (n ≥ 6).
    await db.subscribe("todos", { where: { n: { gte: 6 } } });
    await db.unsubscribe(JSON.stringify({ collection: "todos", where: { owner: "bob" } }));
    expect(await held(db)).toEqual(["todos/t6", "todos/t8"]);
    // Then n ≥ 6 goes too, before any backfill: nothing may stay.
    await db.subscribe("notes");
    await db.unsubscribe("todos");
    expect(await held(db)).toEqual([]);
    await db.sync();
    expect(await held(db)).toEqual(["notes/x1", "notes/x2", "notes/x3"]);
  });

  test("an own write that left the view before the first pull past seq 0 does not stay", async () => {
    const s = await server(); // an empty tenant: the first pull's cursor is v1.0
    const db = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    expect((await db.status()).cursor).toStartWith("v1.0");
    await db.collection("todos").put({ id: "t1", owner: "ann", n: 1 });
    await db.push(); // settled, in the view: held; the cursor stays v1.0
    expect(await held(db)).toEqual(["todos/t1"]);
    const w = await client(s);
    await w.sync();
    await w.collection("todos").patch("t1", { owner: "bob" });
    await w.sync();
    await db.sync(); // the server sends no leave from seq 0
    expect(await held(db)).toEqual([]);
  });

  test("subscribing on a v1.0 cursor: no backfill (the from-start pull is the view), so a document deleted meanwhile does not stay", async () => {
    const s = await server();
    const c = counting();
    const w = await client(s);
    let deleted = false;
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      const res = await c.fetch(input, init);
      // Right after the first pull that asks for notes: x1 is deleted on the server.
      if (!deleted && new URL(input).searchParams.get("subs")?.includes("notes")) {
        deleted = true;
        await w.collection("notes").delete("x1");
        await w.sync();
      }
      return res;
    };
    const db = await client(s, { fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync(); // an empty tenant: cursor v1.0
    await w.collection("notes").put({ id: "x1", text: "soon gone" });
    await w.sync();
    await db.subscribe("notes");
    await db.sync();
    await db.sync();
    expect(deleted).toBe(true);
    expect(c.pulls.filter((p) => p.have !== undefined)).toEqual([]);
    expect(await held(db)).toEqual([]);
  });

  test("unsubscribe removes what no remaining subscription matches, at once and locally only", async () => {
    const s = await server();
    const w = await seed(s);
    const db = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "ann" } }, { collection: "notes" }] });
    await db.sync();
    expect(await held(db)).toEqual([...ANN, "notes/x1", "notes/x2", "notes/x3"].sort());
    const changed: string[] = [];
    db.on("change", (e) => changed.push(...e.ids.map((id) => `${e.collection}/${id}`)));
    expect(await db.unsubscribe("notes")).toBe(1);
    expect(await held(db)).toEqual(ANN); // no sync needed
    expect(changed.sort()).toEqual(["notes/x1", "notes/x2", "notes/x3"]);
    expect((await db.status()).outbox.size).toBe(0); // a removal is never a delete on the server
    await db.sync();
    expect(await held(db)).toEqual(ANN);
    await w.sync();
    expect((await w.collection("notes").list()).items.length).toBe(3);
  });

  test("a new subscription backfills without downloading again what is held", async () => {
    const s = await server();
    await seed(s);
    const c = counting();
    const db = await client(s, { fetch: c.fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    c.pulls.length = 0;
    const id = await db.subscribe("todos", { where: { n: { gte: 5 } } });
    const changed: string[] = [];
    db.on("change", (e) => changed.push(...e.ids.map((x) => `${e.collection}/${x}`)));
    await db.sync();
    expect(changed.sort()).toEqual(["todos/t6", "todos/t8"]); // live queries hear of the backfill
    expect(await held(db)).toEqual([...ANN, "todos/t6", "todos/t8"].sort());
    const received = c.pulls.flatMap((p) => p.changes.map((x) => `${x.collection}/${x.id}`)).sort();
    // Only the two documents the new subscription adds came over the wire: t5 and t7 are held.
    expect(received).toEqual(["todos/t6", "todos/t8"]);
    const backfill = c.pulls.filter((p) => p.have !== undefined);
    expect(backfill.length).toBeGreaterThan(0);
    expect(backfill[0].cursor).toBeNull();
    expect(backfill[0].subs).toEqual([{ collection: "todos", where: { n: { gte: 5 } } }]);
    expect(backfill[0].have).toEqual([{ collection: "todos", where: { owner: "ann" } }]);
    // Dropping it by id removes what only it held.
    expect(await db.unsubscribe(id)).toBe(1);
    expect(await held(db)).toEqual(ANN);
  });

  // A move during the backfill: the staged backfill + catch-up apply leaves the store with the
  // moved document's latest state (a leave in the backfill, which this server does not send
  // here, would be dropped by the client: partial/transport.ts).
  test("a document moving during a paged backfill ends at its latest state, still held", async () => {
    const s = await server();
    const w = await seed(s);
    let moved = false;
    const c = counting();
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      const res = await c.fetch(input, init);
      // After the backfill's first page: t7 (ann's, n 7) leaves the new subscription (n ≥ 5)
      // but stays in the kept one (owner ann).
      if (!moved && new URL(input).searchParams.has("have")) {
        moved = true;
        await w.collection("todos").patch("t7", { n: 1 });
        await w.sync();
      }
      return res;
    };
    const db = await client(s, { fetch, pullLimit: 1, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await db.subscribe("todos", { where: { n: { gte: 5 } } });
    await db.sync();
    expect(moved).toBe(true);
    expect(await held(db)).toEqual([...ANN, "todos/t6", "todos/t8"].sort());
    expect((await db.collection("todos").get("t7"))?.n).toBe(1);
  });

  test("a purge while a backfill pages: the backfill starts again and the view is whole", async () => {
    const s = await server();
    const w = await seed(s);
    let purged = false;
    const trace: string[] = [];
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      const res = await globalThis.fetch(input, init);
      if (!purged && new URL(input).searchParams.has("have")) {
        purged = true;
        await w.collection("todos").put({ id: "gone", owner: "bob", n: 50 });
        await w.collection("todos").delete("gone");
        await w.sync();
        expect((await gc(s.store, { olderThanMs: 0, now: Date.now() + 1000 })).tombstones).toBe(1);
      }
      return res;
    };
    const db = await client(s, { fetch, pullLimit: 1, onTrace: (l) => trace.push(l), subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await db.subscribe("todos", { where: { n: { gte: 5 } } });
    await db.sync();
    expect(purged).toBe(true);
    expect(trace).toContain("backfill:reset");
    expect(await held(db)).toEqual([...ANN, "todos/t6", "todos/t8"].sort());
  });

  test("a document moving out of the filter leaves the store after a sync; into it, it arrives", async () => {
    const s = await server();
    const w = await seed(s);
    const db = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await w.collection("todos").patch("t1", { owner: "bob" });
    await w.collection("todos").patch("t2", { owner: "ann" });
    await w.sync();
    const r = await db.sync();
    expect(await held(db)).toEqual(["todos/t2", "todos/t3", "todos/t5", "todos/t7"]);
    expect(r.pulled).toBe(2);
    expect((await db.status()).outbox.size).toBe(0);
  });

  test("a document made to leave the view leaves the store within one live event", async () => {
    const s = await server();
    const w = await seed(s);
    const c = counting();
    const trace: string[] = [];
    const db = await client(s, { fetch: c.fetch, autoSync: true, onTrace: (l) => trace.push(l), subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await until("first sync", async () => (await held(db)).length === 4);
    await until("stream open", () => s.handler.openStreams() === 1);
    expect(c.events.at(-1)!.searchParams.get("subs")).toBe(JSON.stringify([{ collection: "todos", where: { owner: "ann" } }]));
    await until("idle", () => trace.at(-1) === "idle");
    const pokes = () => trace.filter((l) => l.startsWith("live:poke")).length;
    const before = pokes();
    const from = trace.length;
    await w.collection("todos").patch("t3", { owner: "bob" });
    await w.sync();
    await until("t3 leaves", async () => !(await held(db)).includes("todos/t3"));
    expect(pokes() - before).toBe(1);
    // The event carried the leave, applied without a pull (live/apply.ts).
    expect(trace.slice(from)).toContain("live:apply:1");
    expect(trace.slice(from).filter((l) => l.startsWith("pull:"))).toEqual([]);
    expect(await held(db)).toEqual(["todos/t1", "todos/t5", "todos/t7"]);
  });

  test("subscribing reopens the live stream on the new view", async () => {
    const s = await server();
    await seed(s);
    const c = counting();
    const db = await client(s, { fetch: c.fetch, autoSync: true, subscriptions: [{ collection: "notes" }] });
    await until("first sync", async () => (await held(db)).length === 3);
    await until("stream open", () => c.events.length === 1 && s.handler.openStreams() === 1);
    await db.subscribe("todos", { where: { owner: "bob" } });
    await until("backfilled", async () => (await held(db)).length === 7);
    await until("stream reopened", () => c.events.length === 2);
    expect(JSON.parse(c.events[1].searchParams.get("subs")!)).toEqual([{ collection: "notes" }, { collection: "todos", where: { owner: "bob" } }]);
  });

  test("with no subscriptions the stream stays closed; a subscribe opens it", async () => {
    const s = await server();
    await seed(s);
    const c = counting();
    const trace: string[] = [];
    const db = await client(s, { fetch: c.fetch, autoSync: true, onTrace: (l) => trace.push(l), subscriptions: [] });
    await until("stream idle", () => trace.includes("live:idle") && trace.includes("idle"));
    expect(c.events.length).toBe(0);
    expect(c.pulls.length).toBe(0);
    expect(await held(db)).toEqual([]);
    await db.subscribe("notes");
    await until("backfilled", async () => (await held(db)).length === 3);
    await until("stream open", () => s.handler.openStreams() === 1);
    expect(c.events.map((u) => u.searchParams.get("subs"))).toEqual([JSON.stringify([{ collection: "notes" }])]);
  });

  test("another process on the same file unsubscribes: this one's next sync prunes and reopens its stream", async () => {
    const s = await server();
    const w = await seed(s);
    const c = counting();
    const file = `shared-${++n}.db`;
    const a = await client(s, { fetch: c.fetch, autoSync: true, subscriptions: [{ collection: "todos", where: { owner: "ann" } }, { collection: "notes" }] }, file);
    await until("a's first sync", async () => (await held(a)).length === 7);
    await until("a's stream open", () => s.handler.openStreams() === 1);
    const b = await client(s, {}, file);
    expect(await b.unsubscribe("notes")).toBe(1);
    expect(await held(a)).toEqual(ANN);
    await w.collection("notes").put({ id: "x9", text: "late" });
    await w.sync();
    // a's stream was opened for the old view, and a does not know yet: it applies the event.
    await until("a's old stream brought x9", async () => (await held(a)).includes("notes/x9"));
    await a.sync(); // a learns of the change in the store: what its old stream brought goes
    expect(await held(a)).toEqual(ANN);
    await until("a's stream reopened on the new view", () => c.events.length === 2);
    expect(JSON.parse(c.events[1].searchParams.get("subs")!)).toEqual([{ collection: "todos", where: { owner: "ann" } }]);
  });

  test("pending writes outside the view stay until pushed, then go", async () => {
    const s = await server();
    const w = await seed(s);
    const db = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await db.collection("todos").put({ id: "b9", owner: "bob", n: 9 }); // outside the view
    await db.collection("notes").put({ id: "x9", text: "mine" }); // a collection not subscribed
    expect(await held(db)).toEqual([...ANN, "notes/x9", "todos/b9"].sort());
    // A change of subscriptions prunes, but not documents with pending writes.
    await db.subscribe("todos", { where: { n: 100 } });
    await db.unsubscribe("todos"); // every subscription on todos: nothing left but pending writes
    expect(await held(db)).toEqual(["notes/x9", "todos/b9"]);
    await db.subscribe("todos", { where: { owner: "ann" } });
    const r = await db.sync();
    expect(r.pushed).toBe(2);
    expect(await held(db)).toEqual(ANN);
    await w.sync();
    expect((await w.collection("todos").get("b9"))?.owner).toBe("bob");
    expect((await w.collection("notes").get("x9"))?.text).toBe("mine");
  });

  test("a local edit inside the view, moved out by the server meanwhile, is kept until pushed", async () => {
    const s = await server();
    const w = await seed(s);
    const db = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await w.collection("todos").patch("t5", { owner: "bob" });
    await w.sync();
    await db.collection("todos").patch("t5", { title: "mine" }); // pending
    // A change of subscriptions prunes, but t5's pending edit keeps it (its local value is still ann's).
    await db.unsubscribe("notes");
    expect(await held(db)).toEqual(ANN);
    const r = await db.sync();
    expect(r.pushed).toBe(1);
    // Pushed and pulled: t5 (now bob's, with our title) is outside the view and gone.
    expect(await held(db)).toEqual(["todos/t1", "todos/t3", "todos/t7"]);
    await w.sync();
    expect(await w.collection("todos").get("t5")).toMatchObject({ owner: "bob", title: "mine" });
  });

  test("a restart keeps the subscriptions; null goes back to the whole tenant", async () => {
    const s = await server();
    const w = await seed(s);
    const file = `restart-${++n}.db`;
    const a = await client(s, { subscriptions: [{ collection: "todos", where: { owner: "ann" } }] }, file);
    await a.sync();
    await a.close();
    const c = counting();
    const b = await client(s, { fetch: c.fetch }, file);
    expect((await b.subscriptions())!.map((x) => x.collection)).toEqual(["todos"]);
    await w.collection("todos").put({ id: "t9", owner: "ann", n: 9 });
    await w.collection("todos").put({ id: "t10", owner: "bob", n: 10 });
    await w.sync();
    await b.sync();
    expect(await held(b)).toEqual([...ANN, "todos/t9"].sort());
    expect(c.pulls.every((p) => Array.isArray(p.subs))).toBe(true);
    await b.close();
    const all = await client(s, { subscriptions: null }, file);
    expect(await all.subscriptions()).toBeNull();
    await all.sync();
    expect((await held(all)).length).toBe(13);
  });

  test("a reset from the server re-pulls the view only, with subs=", async () => {
    const s = await server();
    const w = await seed(s);
    const c = counting();
    const db = await client(s, { fetch: c.fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    // A tombstone purged past the reader's cursor: its next pull is answered { reset: true }.
    await w.collection("notes").delete("x1");
    await w.collection("todos").put({ id: "t9", owner: "ann", n: 9 });
    await w.sync();
    expect((await gc(s.store, { olderThanMs: 0, now: Date.now() + 1000 })).tombstones).toBe(1);
    c.pulls.length = 0;
    const r = await db.sync();
    expect(r.reset).toBe(true);
    expect(await held(db)).toEqual([...ANN, "todos/t9"].sort());
    expect(c.pulls.length).toBeGreaterThanOrEqual(2);
    for (const p of c.pulls) expect(p.subs).toEqual([{ collection: "todos", where: { owner: "ann" } }]);
    expect(c.pulls.at(-1)!.cursor).toBeNull();
  });

  test("a reset keeps pending writes, inside the view or not, until pushed", async () => {
    const s = await server();
    const w = await seed(s);
    let db: Stowage | null = null;
    let wrote = false;
    const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
      const res = await globalThis.fetch(input, init);
      const text = await res.text();
      // Writes made while the server answers { reset: true }: pending during the re-pull.
      if (!wrote && text === '{"reset":true}') {
        wrote = true;
        await db!.collection("todos").put({ id: "p1", owner: "ann", n: 10 });
        await db!.collection("todos").put({ id: "p2", owner: "bob", n: 11 });
      }
      return new Response(text, { status: res.status, headers: res.headers });
    };
    db = await client(s, { fetch, subscriptions: [{ collection: "todos", where: { owner: "ann" } }] });
    await db.sync();
    await w.collection("notes").delete("x1");
    await w.sync();
    expect((await gc(s.store, { olderThanMs: 0, now: Date.now() + 1000 })).tombstones).toBe(1);
    const r = await db.sync();
    expect(wrote).toBe(true);
    expect(r.reset).toBe(true);
    expect(await held(db)).toEqual([...ANN, "todos/p1", "todos/p2"].sort());
    expect((await db.status()).outbox.size).toBe(2);
    await db.sync();
    expect(await held(db)).toEqual([...ANN, "todos/p1"].sort());
  });

  test("subscriptions are checked: a bad where is an input error naming it", async () => {
    const s = await server();
    const db = await client(s);
    await expect(db.subscribe("todos", { where: { n: { near: 2 } } as any })).rejects.toThrow(/unknown filter operator "near"/);
    await expect(db.subscribe("Bad Name")).rejects.toThrow(/collection/);
    expect(await db.subscriptions()).toBeNull();
    // A local-only store has no server to hold a view of: refused, nothing removed.
    const local = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`local-${++n}.db`) }), env: {} });
    cleanups.push(() => local.close());
    await local.collection("todos").put({ id: "k" });
    await expect(local.subscribe("notes")).rejects.toThrow(/need a server/);
    expect(await held(local)).toEqual(["todos/k"]);
    await expect(openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`local-${n}.db`) }), env: {}, subscriptions: [{ collection: "notes" }] })).rejects.toThrow(/need a server/);
    // A REST API sync (not protocol v1) refuses them with a clear message, at open and at run time.
    const rest = { baseUrl: "http://127.0.0.1:9", apiKey: "k", resources: { todos: "/api/todos" } };
    await expect(openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`rest-${n}.db`) }), env: {}, rest, subscriptions: [{ collection: "todos" }] })).rejects.toThrow(/need a Stowage server; a REST API sync/);
    const viaRest = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`rest-${n}.db`) }), env: {}, rest, autoSync: false });
    cleanups.push(() => viaRest.close());
    await expect(viaRest.subscribe("todos")).rejects.toThrow(/need a Stowage server; a REST API sync/);
  });
});
