import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { createKey } from "../../src/server/index.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { changeTo, openEvents, seqOf, type SseReader } from "../helpers/sse.ts";
import { api, puts } from "./client.ts";

// Spawned servers and processes are slow on a loaded 2-core machine (bunfig's timeout is not applied by this Bun).
setDefaultTimeout(30_000);

/** GET /v1/events on a real in-process server: pokes, isolation, Last-Event-ID, heartbeat, caps, shutdown. */
describe("GET /v1/events (default options)", () => {
  let server: TestServer;
  const readers: SseReader[] = [];
  const open = async (key: string, headers?: Record<string, string>) => {
    const r = await openEvents(server.url, key, headers);
    readers.push(r);
    return r;
  };

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    for (const r of readers) r.close();
    await server.stop();
  });

  test("answers text/event-stream: retry hint, then the tenant's current seq", async () => {
    const a = api(server.url, server.key);
    await a.push({ clientId: "client-initial", ops: puts(3) });
    const r = await open(server.key);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(r.headers.get("cache-control")).toBe("no-store");
    expect(await r.next()).toEqual({ kind: "retry", ms: 2000 });
    expect(await r.next()).toEqual({ kind: "event", id: "3", event: "change", data: '{"seq":3}' });
    r.close();
  });

  test("a push and direct PUT/PATCH/DELETE each poke their own tenant's streams with the new seq, and no other tenant's", async () => {
    const other = await createKey(server.store, `other-${Math.random().toString(36).slice(2, 8)}`, { createIfMissing: true });
    const mine = await open(server.key);
    const theirs = await open(other.key);
    await mine.next();
    const head = seqOf(await mine.next());
    await theirs.next();
    expect(seqOf(await theirs.next())).toBe(0);

    const a = api(server.url, server.key);
    await a.push({ clientId: "client-poke1", ops: puts(5, { prefix: "p" }) });
    expect(seqOf(await mine.next())).toBe(head + 5);
    expect((await a.call("PUT", "/v1/docs/todos/direct", { title: "x" })).status).toBe(200);
    expect(seqOf(await mine.next())).toBe(head + 6);
    expect((await a.call("PATCH", "/v1/docs/todos/direct", { done: true })).status).toBe(200);
    expect(seqOf(await mine.next())).toBe(head + 7);
    expect((await a.call("DELETE", "/v1/docs/todos/direct")).status).toBe(200);
    expect(seqOf(await mine.next())).toBe(head + 8);
    // Writes that move nothing poke nothing: a replayed push, a refused PUT, a GET.
    await a.push({ clientId: "client-poke1", ops: puts(5, { prefix: "p" }) });
    expect((await a.call("PUT", "/v1/docs/todos/p1", { title: "y" }, { "if-match": "1" })).status).toBe(409);
    expect((await a.call("GET", "/v1/docs/todos/p1")).status).toBe(200);

    // The other tenant's next item is its own write: nothing of ours came before it.
    await api(server.url, other.key).push({ clientId: "client-poke2", ops: puts(2) });
    expect(seqOf(await theirs.next())).toBe(2);
    // And ours still has nothing queued but the next write of ours.
    await a.push({ clientId: "client-poke1", ops: puts(1, { prefix: "q", firstOpId: 6 }) });
    expect(seqOf(await mine.next())).toBe(head + 9);
    expect(mine.items.filter((i) => i.kind === "comment")).toEqual([]); // default heartbeat: 15 s, none yet
  });

  test("Last-Event-ID: a valid id still gets the current seq first; garbage answers 400", async () => {
    const seq = seqOf((await (await open(server.key)).waitFor((i) => i.kind === "event"))) ;
    const behind = await open(server.key, { "last-event-id": "1" });
    expect(await behind.next()).toEqual({ kind: "retry", ms: 2000 });
    expect(seqOf(await behind.next())).toBe(seq);
    const ahead = await open(server.key, { "last-event-id": String(seq + 1000) });
    await ahead.next();
    expect(seqOf(await ahead.next())).toBe(seq);
    for (const bad of ["abc", "-1", "1.5", "99999999999999999"]) {
      const r = await open(server.key, { "last-event-id": bad });
      expect(r.status).toBe(400);
      expect(r.error.error.code).toBe("bad_request");
    }
  });

  test("refusals: no key 401, a wrong method 405, with the usual error body", async () => {
    const noKey = await fetch(`${server.url}/v1/events`);
    expect(noKey.status).toBe(401);
    expect((await noKey.json()).error.code).toBe("unauthorized");
    const post = await fetch(`${server.url}/v1/events`, { method: "POST", headers: { authorization: `Bearer ${server.key}` } });
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET");
  });

  test("a client going away frees its stream", async () => {
    const before = server.handler.openStreams();
    const r = await open(server.key);
    await r.next();
    expect(server.handler.openStreams()).toBe(before + 1);
    r.close();
    for (let i = 0; i < 200 && server.handler.openStreams() !== before; i++) await Bun.sleep(10);
    expect(server.handler.openStreams()).toBe(before);
  });
});

describe("GET /v1/events (options)", () => {
  test("heartbeat: a `: ping` comment every heartbeatMs", async () => {
    const server = await startServer({ events: { heartbeatMs: 50 } });
    const r = await openEvents(server.url, server.key);
    try {
      await r.next();
      await r.next();
      expect(await r.next(2000)).toEqual({ kind: "comment", text: "ping" });
      expect(await r.next(2000)).toEqual({ kind: "comment", text: "ping" });
    } finally {
      r.close();
      await server.stop();
    }
  });

  test("per-key cap: cap+1 answers 429 too_many_streams; closing one frees a slot; other keys are not held", async () => {
    const server = await startServer({ events: { maxStreamsPerKey: 3 } });
    const open: SseReader[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        open.push(await openEvents(server.url, server.key));
        expect(open[i].status).toBe(200);
      }
      const over = await openEvents(server.url, server.key);
      expect(over.status).toBe(429);
      expect(over.error.error.code).toBe("too_many_streams");
      expect(over.error.error.message).toContain("limit is 3");
      const second = await createKey(server.store, server.tenant, { createIfMissing: true });
      const another = await openEvents(server.url, second.key);
      expect(another.status).toBe(200);
      open.push(another);
      expect(server.handler.openStreams()).toBe(4);

      open[0].close();
      for (let i = 0; i < 200 && server.handler.openStreams() !== 3; i++) await Bun.sleep(10);
      expect(server.handler.openStreams()).toBe(3);
      const again = await openEvents(server.url, server.key);
      expect(again.status).toBe(200);
      open.push(again);
    } finally {
      for (const r of open) r.close();
      await server.stop();
    }
  });

  test("streams spend no request rate: 20 streams on a burst-5 key leave exactly 5 requests", async () => {
    const burst = 5;
    const server = await startServer({ limits: { rate: { perSecond: 0.001, burst } } });
    const open: SseReader[] = [];
    try {
      const STREAMS = 20;
      expect(STREAMS).toBeGreaterThan(burst); // were a stream a request, the bucket would be empty by now
      for (let i = 0; i < STREAMS; i++) {
        const r = await openEvents(server.url, server.key);
        expect(r.status).toBe(200);
        open.push(r);
      }
      const a = api(server.url, server.key);
      const statuses: number[] = [];
      for (let i = 0; i < burst + 1; i++) statuses.push((await a.call("GET", "/v1/docs/todos")).status);
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429]);
      // A rate-limited key can still open a stream (and the 429 above was the request bucket's).
      const more = await openEvents(server.url, server.key);
      expect(more.status).toBe(200);
      open.push(more);
    } finally {
      for (const r of open) r.close();
      await server.stop();
    }
  });

  test("the listener's idle timeout does not cut a quiet stream (Bun closes idle connections; streams are exempt)", async () => {
    // A 1 s idle timeout and no heartbeat for a minute: only the exemption keeps the stream
    // (without it this test fails: the body ends before the PUT).
    const server = await startServer({ idleTimeoutSeconds: 1, events: { heartbeatMs: 60_000 } });
    const r = await openEvents(server.url, server.key);
    try {
      await r.waitFor(changeTo(0));
      await Bun.sleep(5000); // Bun checks timeouts every 4 s: a 1 s timeout fires within 5 s
      expect((await api(server.url, server.key).call("PUT", "/v1/docs/todos/late", {})).status).toBe(200);
      expect(await r.next(2000)).toEqual({ kind: "event", id: "1", event: "change", data: '{"seq":1}' });
    } finally {
      r.close();
      await server.stop();
    }
  }, 15_000);

  test("server stop ends open streams cleanly: the last event says reconnect (retry 1 s), then the reader sees the end", async () => {
    const server = await startServer();
    const readers = [await openEvents(server.url, server.key), await openEvents(server.url, server.key)];
    for (const r of readers) await r.waitFor(changeTo(0));
    await server.stop();
    for (const r of readers) {
      expect(await r.next(3000)).toEqual({ kind: "retry", ms: 1000 });
      expect(await r.next(3000)).toEqual({ kind: "event", event: "reconnect", data: '{"reason":"shutting_down"}' });
      expect(await r.next(3000)).toEqual({ kind: "end", clean: true });
    }
  });
});
