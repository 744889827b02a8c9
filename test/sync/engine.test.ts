import { afterAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store } from "../../src/store/store.ts";
import { SyncEngine } from "../../src/sync/engine.ts";
import { HttpClient } from "../../src/sync/v1/http.ts";
import type { SyncState } from "../../src/sync/types.ts";
import { tempDir } from "../helpers/tmp.ts";
import { FakeClock, FakeServer } from "./fake-server.ts";

const dir = tempDir("stowage-engine-");
afterAll(() => dir.cleanup());
let n = 0;

async function setup(options: { server?: FakeServer; file?: string; intervalMs?: number } = {}) {
  const server = options.server ?? new FakeServer();
  const clock = new FakeClock();
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: options.file ?? dir.file(`e${n++}.db`) }), now: clock.now });
  const trace: string[] = [];
  const engine = new SyncEngine({
    store,
    http: new HttpClient({ url: "http://fake", apiKey: "k", fetch: server.fetch as any }),
    clock,
    intervalMs: options.intervalMs ?? 60_000,
    backoff: { baseMs: 1000, maxMs: 8000, random: () => 0 },
    onTrace: (l) => trace.push(l),
  });
  return { server, clock, store, engine, trace };
}

/** Resolves when the engine next enters `state` (no sleeping: the engine's own event). */
function reach(engine: SyncEngine, state: SyncState): Promise<void> {
  return new Promise((resolve) => {
    const off = engine.events.on("state", (s) => {
      if (s === state) {
        off();
        resolve();
      }
    });
  });
}

describe("sync engine (injected clock and fetch)", () => {
  test("start pushes queued writes, pulls, then idles with the interval timer armed", async () => {
    const { engine, store, trace, clock, server } = await setup();
    const todos = store.collection("todos");
    await todos.putMany([{ id: "a", n: 1 }, { id: "b", n: 2 }, { id: "c", n: 3 }]);
    engine.start(); // emits the first "idle" synchronously
    await reach(engine, "idle");
    expect(trace).toEqual(["idle", "push:3", "pull:3", "idle"]);
    expect(clock.pending()).toEqual([60_000]);
    expect(server.value("todos", "b")).toEqual({ id: "b", n: 2 });
    expect((await engine.status()).outbox.size).toBe(0);
    await engine.stop();
    expect(trace.at(-1)).toBe("stopped");
    expect(clock.pending()).toEqual([]);
    await store.close();
  });

  test("a write pushes at once without pulling; the interval runs a full cycle", async () => {
    const { engine, store, trace, clock, server } = await setup();
    engine.start();
    await reach(engine, "idle");
    trace.length = 0;
    await store.collection("todos").put({ id: "x", t: 1 });
    await reach(engine, "idle");
    expect(trace).toEqual(["push:1", "idle"]);
    server.write("todos", "y", { t: 2 });
    trace.length = 0;
    clock.advance(60_000);
    await reach(engine, "idle");
    expect(trace).toEqual(["pull:2", "idle"]); // x (pushed without a pull) and y
    expect(await store.collection("todos").get("y")).toEqual({ id: "y", t: 2 });
    await engine.stop();
    await store.close();
  });

  test("push() pushes without pulling, resolves with what it did, and rejects when the server is down", async () => {
    const { engine, store, trace, server } = await setup();
    server.write("todos", "remote", { t: 0 });
    await store.collection("todos").putMany([{ id: "p1" }, { id: "p2" }]);
    const result = await engine.push();
    expect(result).toMatchObject({ pushed: 2, pulled: 0 });
    expect(trace.filter((l) => /^(push|pull)/.test(l))).toEqual(["push:2"]);
    expect(await store.collection("todos").get("remote")).toBeUndefined();
    server.down = true;
    await store.collection("todos").put({ id: "p3" });
    const error = await engine.push().then(() => undefined, (e) => e);
    expect(error?.code).toBe("transport");
    expect((await engine.status()).outbox.size).toBe(1);
    await engine.stop();
    await store.close();
  });

  test("a stream of writes does not postpone the periodic pull", async () => {
    const { engine, store, trace, clock, server } = await setup();
    engine.start();
    await reach(engine, "idle");
    server.write("todos", "remote", { v: 1 });
    trace.length = 0;
    for (let i = 0; i < 5; i++) {
      clock.advance(15_000);
      await store.collection("todos").put({ id: `w${i}` });
      await reach(engine, "idle");
    }
    // 75 s after the first cycle: four write pushes, then the full cycle due at 60 s.
    expect(trace.filter((l) => l.startsWith("pull"))).toEqual(["pull:5"]);
    expect(await store.collection("todos").get("remote")).toEqual({ id: "remote", v: 1 });
    expect(clock.pending()).toEqual([45_000]);
    await engine.stop();
    await store.close();
  });

  test("failures back off exponentially (capped), never reject, and recover", async () => {
    const { engine, store, trace, clock, server } = await setup();
    server.down = true;
    await store.collection("todos").put({ id: "q" });
    const errors: string[] = [];
    engine.events.on("error", (e) => errors.push(e.code));
    engine.start();
    await reach(engine, "backoff");
    for (let i = 0; i < 4; i++) {
      const next = reach(engine, "backoff");
      clock.advance(clock.pending()[0]);
      await next;
    }
    expect(trace.filter((l) => l.startsWith("backoff"))).toEqual(["backoff:500", "backoff:1000", "backoff:2000", "backoff:4000", "backoff:4000"]);
    expect(errors).toEqual(["transport", "transport", "transport", "transport", "transport"]);
    const st = await engine.status();
    expect(st.online).toBe(false);
    expect(st.outbox.size).toBe(1);
    expect(st.lastError?.code).toBe("transport");
    server.down = false;
    trace.length = 0;
    const idle = reach(engine, "idle");
    clock.advance(4000);
    await idle;
    expect(trace).toEqual(["push:1", "pull:1", "idle"]);
    expect((await engine.status()).online).toBe(true);
    await engine.stop();
    await store.close();
  });

  test("429: the engine waits at least as long as Retry-After says", async () => {
    const { engine, store, trace, clock, server } = await setup();
    server.rateLimited = 1;
    await store.collection("todos").put({ id: "r" });
    engine.start();
    await reach(engine, "backoff");
    expect(trace).toEqual(["idle", "error:transport", "backoff:7000"]);
    expect((await engine.status()).online).toBe(true); // the server answered: reachable, just busy
    const idle = reach(engine, "idle");
    clock.advance(7000);
    await idle;
    expect(trace.slice(3)).toEqual(["push:1", "pull:1", "idle"]);
    await engine.stop();
    await store.close();
  });

  test("sync() resolves with what it did, and rejects (without breaking the loop) when offline", async () => {
    const { engine, store, server } = await setup();
    await store.collection("todos").putMany([{ id: "1" }, { id: "2" }]);
    server.write("todos", "3", { from: "other" });
    const r = await engine.sync();
    expect(r).toEqual({ pushed: 2, pulled: 3, issues: [], reset: false, leased: true });
    server.down = true;
    await expect(engine.sync()).rejects.toMatchObject({ code: "transport" });
    await store.close();
  });

  test("a lost answer after the server committed: resent, acknowledged as duplicate, applied once", async () => {
    const { engine, store, server, trace } = await setup();
    await store.collection("todos").putMany([{ id: "a" }, { id: "b" }]);
    server.dropAfterCommit = 1;
    await expect(engine.sync()).rejects.toMatchObject({ code: "transport" });
    expect((await engine.status()).outbox.size).toBe(2);
    const r = await engine.sync();
    expect(r.pushed).toBe(2);
    expect(server.seq).toBe(2); // two changes on the server, not four
    expect(trace).toEqual(["error:transport", "push:2", "pull:2"]);
    await store.close();
  });

  test("the second batch's answer lost while the first is settled: the resend is a duplicate, everything applied once", async () => {
    const server = new FakeServer();
    let pushes = 0;
    const fetch = server.fetch;
    server.fetch = async (input, init) => {
      if (new URL(input).pathname === "/v1/push" && ++pushes === 2) server.dropAfterCommit = 1;
      return fetch(input, init);
    };
    const { engine, store, trace } = await setup({ server });
    await store.collection("todos").putMany(Array.from({ length: 2500 }, (_, i) => ({ id: `l${i}`, i })));
    await expect(engine.sync()).rejects.toMatchObject({ code: "transport" });
    // Batch 1 was settled while batch 2 was in flight; batch 2 (applied, answer lost) and 3 wait.
    expect(trace).toEqual(["push:1000", "error:transport"]);
    expect((await engine.status()).outbox.size).toBe(1500);
    expect(server.seq).toBe(2000);
    const r = await engine.sync();
    expect(r.pushed).toBe(1500);
    expect(server.seq).toBe(2500); // batch 2 not applied twice
    expect(server.docs.size).toBe(2500);
    expect((await engine.status()).outbox.size).toBe(0);
    expect(await store.collection("todos").count()).toBe(2500);
    expect(await store.collection("todos").get("l1500")).toEqual({ id: "l1500", i: 1500 });
    await store.close();
  });

  test("a batch is settled while the next one's request is in flight (the push is pipelined)", async () => {
    const server = new FakeServer();
    // The second request's answer waits (up to 500 ms) for the first batch's settle to be
    // traced: a client that awaited each answer before settling the batch before it never gets there.
    let trace: string[] = [];
    let settledFirst: boolean | undefined;
    let pushes = 0;
    const fetch = server.fetch;
    server.fetch = async (input, init) => {
      if (new URL(input).pathname === "/v1/push" && ++pushes === 2) {
        for (let i = 0; i < 500 && !trace.includes("push:1000"); i++) await new Promise((r) => setTimeout(r, 1));
        settledFirst = trace.includes("push:1000");
      }
      return fetch(input, init);
    };
    const ctx = await setup({ server });
    trace = ctx.trace;
    await ctx.store.collection("todos").putMany(Array.from({ length: 1500 }, (_, i) => ({ id: `p${i}` })));
    await ctx.engine.sync();
    expect(settledFirst).toBe(true);
    expect(trace.filter((l) => l.startsWith("push"))).toEqual(["push:1000", "push:500"]);
    expect(server.docs.size).toBe(1500);
    await ctx.store.close();
  });

  test("batches hold at most 1,000 ops (the protocol's most) and never split a transaction group", async () => {
    const { engine, store, trace, server } = await setup();
    const todos = store.collection("todos");
    await todos.putMany(Array.from({ length: 300 }, (_, i) => ({ id: `lone${i}` })));
    await store.transaction(async (tx) => {
      await tx.collection("todos").putMany(Array.from({ length: 800 }, (_, i) => ({ id: `tx${i}` })));
    });
    await todos.putMany(Array.from({ length: 1200 }, (_, i) => ({ id: `late${i}` })));
    await engine.sync();
    expect(trace.filter((l) => l.startsWith("push"))).toEqual(["push:300", "push:1000", "push:1000"]);
    expect(server.docs.size).toBe(2300);
    expect(server.maxPushesInFlight).toBe(1); // pipelined, but never two requests at once
    // Each request reports the ops settled before the oldest unsettled batch: the third was
    // sent while the second (ops 301-1300) was still unsettled, so 300, not 1300.
    expect(server.settled).toEqual([0, 0, 300]);
    await store.close();
  });

  test("an answer lost: the resend still reports the op unsettled, the next push settled", async () => {
    const { engine, store, server } = await setup();
    await store.collection("todos").put({ id: "a" });
    server.dropAfterCommit = 1;
    await expect(engine.sync()).rejects.toMatchObject({ code: "transport" });
    await engine.sync();
    await store.collection("todos").put({ id: "b" });
    await engine.sync();
    expect(server.settled).toEqual([0, 0, 1]);
    await store.close();
  });

  test("an op answered duplicate after a pull held a later server change behind it: the change is fetched", async () => {
    const { engine, store, server } = await setup();
    const todos = store.collection("todos");
    server.write("todos", "k", { v: 1 });
    await engine.sync();
    await todos.delete("k");
    server.dropAfterCommit = 1; // the delete is applied; its answer is lost
    await expect(engine.sync()).rejects.toMatchObject({ code: "transport" });
    server.write("todos", "k", { v: 2 }); // another client recreates k after the delete
    // A pull (a live poke's) while the delete is still pending: the pending delete wins locally.
    const http = new HttpClient({ url: "http://fake", apiKey: "k", fetch: server.fetch as any });
    const { applyPage } = await import("../../src/sync/v1/pull.ts");
    await applyPage(store, await http.pull((await store.getMeta("sync_cursor")) ?? null, 100));
    expect(await todos.get("k")).toBeUndefined();
    // The resend answers duplicate: the delete came before v2, so v2 is the document now.
    const r = await engine.sync();
    expect(r.pushed).toBe(1);
    expect(await todos.get("k")).toEqual({ id: "k", v: 2 });
    expect(server.value("todos", "k")).toEqual({ id: "k", v: 2 });
    await store.close();
  });

  test("a pull never overwrites a pending local edit; the edit is rebased on the server value", async () => {
    const { engine, store, server } = await setup();
    const todos = store.collection("todos");
    server.write("todos", "d", { title: "old", done: false });
    await engine.sync();
    await todos.patch("d", { done: true }); // pending
    server.write("todos", "d", { title: "new", done: false }); // another client's put
    // Pull only (server down for push is not needed: pull happens after push, so block push by dropping it)
    server.dropAfterCommit = 0;
    const http = new HttpClient({ url: "http://fake", apiKey: "k", fetch: server.fetch as any });
    const { applyPage } = await import("../../src/sync/v1/pull.ts");
    await applyPage(store, await http.pull(await store.getMeta("sync_cursor") ?? null, 100));
    expect(await todos.get("d")).toEqual({ id: "d", title: "new", done: true });
    await engine.sync();
    expect(server.value("todos", "d")).toEqual({ id: "d", title: "new", done: true });
    await store.close();
  });

  test("a strict conflict is recorded, emitted, and the server value kept", async () => {
    const { engine, store, server } = await setup();
    const notes = store.collection("notes", { strict: true });
    server.write("notes", "n", { body: "v1" });
    await engine.sync();
    server.write("notes", "n", { body: "theirs" });
    server.strict.add("notes/n");
    await notes.put({ id: "n", body: "mine" });
    const seen: string[] = [];
    engine.events.on("conflict", (c) => seen.push(`${c.collection}/${c.id}:${c.serverValue?.body}`));
    const r = await engine.sync();
    expect(r.issues.map((i) => i.kind)).toEqual(["conflict"]);
    expect(seen).toEqual(["notes/n:theirs"]);
    expect(await notes.get("n")).toEqual({ id: "n", body: "theirs" });
    expect((await engine.status()).conflicts).toBe(1);
    expect(server.value("notes", "n")).toEqual({ id: "n", body: "theirs" });
    await store.close();
  });

  test("a stale op refused, then a later op on the same document applied: the refusal's older server value is not written", async () => {
    const { engine, store, server } = await setup();
    const notes = store.collection("notes", { strict: true });
    server.write("notes", "n", { body: "v1" });
    await engine.sync();
    server.write("notes", "n", { body: "theirs" });
    server.strict.add("notes/n");
    await notes.patch("n", { mine: 1 }); // based on v1: stale
    // A pull while the patch is pending: theirs, with the patch on top, at v2.
    const http = new HttpClient({ url: "http://fake", apiKey: "k", fetch: server.fetch as any });
    const { applyPage } = await import("../../src/sync/v1/pull.ts");
    await applyPage(store, await http.pull((await store.getMeta("sync_cursor")) ?? null, 100));
    await notes.put({ id: "n", body: "final" }); // based on v2: current
    const r = await engine.push();
    expect(r.issues.map((i) => `${i.kind}:${i.opId}`)).toEqual(["conflict:1"]);
    expect(server.value("notes", "n")).toEqual({ id: "n", body: "final" });
    expect(await notes.get("n")).toEqual({ id: "n", body: "final" });
    await engine.sync();
    expect(await notes.get("n")).toEqual({ id: "n", body: "final" });
    await store.close();
  });

  test("a live event older than our own settled write is not applied over it (the pull brings the latest)", async () => {
    const { engine, store, server } = await setup();
    const todos = store.collection("todos");
    server.write("todos", "k", { w: "base" }); // v1
    await engine.sync();
    server.write("todos", "k", { w: "theirs" }); // v2, not pulled yet
    await todos.patch("k", { w: "mine" });
    await engine.push(); // applied at v3 and settled
    const { applyParsed } = await import("../../src/sync/v1/pull.ts");
    // The event for the commit (1, 2], arriving only now.
    const event = { changes: [{ collection: "todos", id: "k", version: 2, value: { id: "k", w: "theirs" }, deleted: false }], cursor: "v1.2" };
    expect(await applyParsed(store, event, "v1.1")).toBe(false);
    expect(await todos.get("k")).toEqual({ id: "k", w: "mine" });
    await engine.sync();
    expect(await todos.get("k")).toEqual({ id: "k", w: "mine" });
    expect(await store.getMeta("sync_cursor")).toBe("v1.3");
    await store.close();
  });

  test("a rejected op is recorded, dropped from the outbox, and not retried", async () => {
    const { engine, store, server } = await setup();
    const todos = store.collection("todos");
    await todos.put({ id: "gone", a: 1 });
    await engine.sync();
    server.write("todos", "gone", null); // deleted elsewhere
    await todos.patch("gone", { a: 2 });
    const r = await engine.sync();
    expect(r.issues.map((i) => `${i.kind}:${i.message}`)).toEqual(["rejected:not_found: no todos/gone"]);
    expect((await engine.status()).rejections).toBe(1);
    expect((await engine.status()).outbox.size).toBe(0);
    expect(await todos.get("gone")).toBeUndefined();
    const again = await engine.sync();
    expect(again.pushed).toBe(0);
    await store.close();
  });

  test("a batch refused whole (400) is split to find the bad op, which is recorded as rejected", async () => {
    const { engine, store, server, trace } = await setup();
    const todos = store.collection("todos");
    await todos.put({ id: "a" });
    await todos.put({ id: "bad", poison: true });
    await todos.put({ id: "c" });
    const r = await engine.sync();
    expect(trace).toEqual(["push:isolate", "push:1", "push:isolate", "push:1", "push:1", "pull:2"]);
    expect(r.issues.map((i) => `${i.kind}:${i.id}`)).toEqual(["rejected:bad"]);
    expect([...server.docs.keys()]).toEqual(["todos/a", "todos/c"]);
    expect(await todos.get("bad")).toBeUndefined(); // the server never had it
    expect((await engine.status()).outbox.size).toBe(0);
    await store.close();
  });

  test("reset after a purge drops synced docs, keeps pending ops, and resyncs", async () => {
    const { engine, store, server, trace } = await setup();
    const todos = store.collection("todos");
    server.write("todos", "keep", { v: 1 });
    server.write("todos", "purged", { v: 1 });
    await engine.sync();
    server.write("todos", "purged", null);
    server.docs.delete("todos/purged"); // the tombstone is purged: our cursor is behind the horizon
    server.horizon = server.seq + 1;
    server.write("todos", "keep", { v: 2 });
    await todos.put({ id: "mine", pending: true });
    await todos.patch("keep", { local: true });
    trace.length = 0;
    const r = await engine.sync();
    expect(r.reset).toBe(true);
    expect(trace).toEqual(["push:2", "reset", "pull:2"]);
    expect(await todos.get("purged")).toBeUndefined();
    expect(await todos.get("keep")).toEqual({ id: "keep", v: 2, local: true });
    expect(await todos.get("mine")).toEqual({ id: "mine", pending: true });

    // Ops still pending at the reset survive it and are rebased on the resynced values.
    await todos.patch("keep", { again: 1 });
    await todos.put({ id: "offline-only" });
    const { applyPage, resetSyncedState } = await import("../../src/sync/v1/pull.ts");
    await resetSyncedState(store.db);
    expect(await todos.get("offline-only")).toEqual({ id: "offline-only" });
    const http = new HttpClient({ url: "http://fake", apiKey: "k", fetch: server.fetch as any });
    const page = await applyPage(store, await http.pull(null, 100));
    expect(page.changes).toBe(2);
    expect(await todos.get("keep")).toEqual({ id: "keep", v: 2, local: true, again: 1 });
    expect((await engine.status()).outbox.size).toBe(2);
    await engine.sync();
    expect(server.value("todos", "keep")).toEqual({ id: "keep", v: 2, local: true, again: 1 });
    expect(server.value("todos", "offline-only")).toEqual({ id: "offline-only" });
    await store.close();
  });

  test("only one process (store handle) sharing a file holds the sync lease", async () => {
    const file = dir.file("lease.db");
    const server = new FakeServer();
    const a = await setup({ server, file });
    const b = await setup({ server, file });
    await a.store.collection("todos").put({ id: "from-b-file" });
    expect((await a.engine.sync()).leased).toBe(true);
    await b.store.collection("todos").put({ id: "written-by-b" });
    const rb = await b.engine.sync();
    expect(rb.leased).toBe(false);
    expect(b.trace).toEqual(["lease:busy"]);
    expect((await a.engine.sync()).pushed).toBe(1); // A pushes B's write from the shared outbox
    await a.engine.stop(); // releases the lease
    expect((await b.engine.sync()).leased).toBe(false); // B looks again only after a second
    b.clock.advance(1000);
    expect((await b.engine.sync()).leased).toBe(true);
    await a.store.close();
    await b.store.close();
  });
});
