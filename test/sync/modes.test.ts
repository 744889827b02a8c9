import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { gc } from "../../src/server/index.ts";
import { openStowage, resolveConfig, type Stowage } from "../../src/stowage.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { openClient } from "./clients.ts";

const dir = tempDir("stowage-modes-");
let server: TestServer;
const open: { close(): Promise<void> }[] = [];
let n = 0;
const file = () => dir.file(`m${n++}.db`);
async function track<T extends { close(): Promise<void> }>(x: T): Promise<T> {
  open.push(x);
  return x;
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const c of open.reverse()) await c.close();
  await server.stop();
  dir.cleanup();
});

describe("mode detection", () => {
  test("from the environment, options winning over it", () => {
    expect(resolveConfig({ env: {} })).toEqual({ mode: "local", url: null, apiKey: null, syncIntervalMs: 60_000, live: true });
    expect(resolveConfig({ env: { STOWAGE_URL: "http://h:1", STOWAGE_API_KEY: "k" } }).mode).toBe("hybrid");
    expect(resolveConfig({ env: { STOWAGE_URL: "http://h:1", STOWAGE_API_KEY: "k", STOWAGE_SYNC_DISABLE: "1" } }).mode).toBe("http-only");
    expect(resolveConfig({ env: { STOWAGE_URL: "http://h:1", STOWAGE_API_KEY: "k", STOWAGE_SYNC_DISABLE: "0" } }).mode).toBe("hybrid");
    expect(resolveConfig({ env: { STOWAGE_SYNC_DISABLE: "1" } }).mode).toBe("local");
    expect(resolveConfig({ env: { STOWAGE_SYNC_INTERVAL: "30s" } }).syncIntervalMs).toBe(30_000);
    expect(resolveConfig({ env: { STOWAGE_SYNC_INTERVAL: "2m" } }).syncIntervalMs).toBe(120_000);
    expect(resolveConfig({ env: { STOWAGE_SYNC_INTERVAL: "1500" } }).syncIntervalMs).toBe(1500);
    expect(resolveConfig({ env: { STOWAGE_URL: "http://env:1", STOWAGE_API_KEY: "k" }, url: "http://opt:2" }).url).toBe("http://opt:2");
    expect(resolveConfig({ env: { STOWAGE_URL: "http://h:1", STOWAGE_API_KEY: "k", STOWAGE_SYNC_DISABLE: "1" }, syncDisabled: false }).mode).toBe("hybrid");
    expect(() => resolveConfig({ env: { STOWAGE_URL: "http://h:1" } })).toThrow(/no API key/);
    expect(() => resolveConfig({ env: { STOWAGE_URL: "ftp://h" , STOWAGE_API_KEY: "k"} })).toThrow(/http:\/\/ or https:\/\//);
    expect(() => resolveConfig({ env: { STOWAGE_SYNC_INTERVAL: "soon" } })).toThrow(/STOWAGE_SYNC_INTERVAL .*"soon"/);
  });

  test("local mode: no network; sync() has nothing to do", async () => {
    const db = await track(await openStowage({ adapter: createBunSqliteAdapter({ path: file() }), env: {} }));
    await db.collection("x").put({ id: "a" });
    expect(await db.sync()).toEqual({ pushed: 0, pulled: 0, issues: [], reset: false, leased: false });
    const st = await db.status();
    expect(st.mode).toBe("local");
    expect(st.outbox.size).toBe(1);
  });

  test("hybrid from the environment syncs in the background; waitForFirstSync returns with the data", async () => {
    const env = { STOWAGE_URL: server.url, STOWAGE_API_KEY: server.key, STOWAGE_SYNC_INTERVAL: "60s" };
    const a = await track(await openStowage({ adapter: createBunSqliteAdapter({ path: file() }), env }));
    expect(a.mode).toBe("hybrid");
    const pushed = new Promise((resolve) => a.on("sync", resolve));
    await a.collection("env").put({ id: "bg", v: 1 }); // pushed by the background loop, no sync() call
    await pushed;
    while ((await a.status()).outbox.size > 0) await new Promise((r) => a.on("sync", r));
    const b = await track(await openStowage({ adapter: createBunSqliteAdapter({ path: file() }), env, waitForFirstSync: true }));
    expect(await b.collection("env").get("bg")).toEqual({ id: "bg", v: 1 });
    const st = await b.status();
    expect(st.lastSyncAt).not.toBeNull();
    expect(st.online).toBe(true);
    expect(st.cursor).toBeString();
  });

  test("waitForFirstSync is bounded when the server is unreachable", async () => {
    const proxy = await startFaultProxy(server.url);
    proxy.refuse = true;
    const db = await track(await openStowage({ adapter: createBunSqliteAdapter({ path: file() }), url: proxy.url, apiKey: server.key, env: {}, waitForFirstSync: 2000 }));
    const st = await db.status();
    expect(st.online).toBe(false);
    expect(st.lastError?.code).toBe("transport");
    expect(st.state).toBe("backoff");
    await db.close();
    // A server that answers slowly: start-up gives up waiting after the timeout and runs on.
    proxy.refuse = false;
    proxy.delayMs = 1500;
    const slow = await openStowage({ adapter: createBunSqliteAdapter({ path: file() }), url: proxy.url, apiKey: server.key, env: {}, waitForFirstSync: 100 });
    const slowStatus = await slow.status();
    expect(slowStatus.lastSyncAt).toBeNull();
    expect(slowStatus.state).toBe("pulling");
    await slow.close(); // waits for the cycle in flight
    await proxy.stop();
  });

  test("http-only: every read and write is a direct call on /v1/docs", async () => {
    const env = { STOWAGE_URL: server.url, STOWAGE_API_KEY: server.key, STOWAGE_SYNC_DISABLE: "1" };
    const db = await track(await openStowage({ env }));
    expect(db.mode).toBe("http-only");
    expect(db.store).toBeNull();
    const c = db.collection("direct");
    const put = await c.put({ id: "h1", title: "one", n: 1 });
    expect(put).toEqual({ id: "h1", title: "one", n: 1 });
    const made = await c.put({ title: "generated", n: 2 });
    expect(made.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(await c.patch("h1", { n: 3 })).toEqual({ id: "h1", title: "one", n: 3 });
    expect(await c.get("h1")).toEqual({ id: "h1", title: "one", n: 3 });
    expect(await c.get("missing")).toBeUndefined();
    await expect(c.patch("missing", { n: 1 })).rejects.toMatchObject({ code: "input" });
    expect((await c.list({ where: { n: { gte: 2 } }, orderBy: "n" })).items.map((d) => d.id)).toEqual([made.id, "h1"]);
    expect(await c.count()).toBe(2);
    expect(await c.delete(made.id)).toBe(true);
    expect(await c.delete(made.id)).toBe(false);
    await expect(db.transaction(async () => {})).rejects.toMatchObject({ code: "config" });
    // The direct writes are changes like any other: a hybrid client pulls them.
    const hybrid = await track(await openClient(file(), server.url, server.key));
    await hybrid.sync();
    expect(await hybrid.collection("direct").get("h1")).toEqual({ id: "h1", title: "one", n: 3 });
    expect(await hybrid.collection("direct").count()).toBe(1);
  });

  test("remoteFirst reads the server, falls back to local when offline, and sees its own pending writes", async () => {
    const writer = await track(await openClient(file(), server.url, server.key));
    await writer.collection("secrets").put({ id: "s", v: 1 });
    await writer.sync();
    const proxy = await startFaultProxy(server.url);
    const reader = await track(await openClient(file(), proxy.url, server.key));
    const secrets = reader.collection("secrets", { remoteFirst: true });
    await reader.sync();
    await writer.collection("secrets").patch("s", { v: 2 });
    await writer.sync();
    expect(await secrets.get("s")).toEqual({ id: "s", v: 2 }); // fresh from the server, no sync
    proxy.refuse = true;
    expect(await secrets.get("s")).toEqual({ id: "s", v: 1 }); // offline: the local copy
    expect((await secrets.list()).items).toEqual([{ id: "s", v: 1 }]);
    proxy.refuse = false;
    await secrets.patch("s", { mine: true });
    expect(await secrets.get("s")).toEqual({ id: "s", v: 1, mine: true }); // pending: our own value
    await reader.sync();
    expect(await secrets.get("s")).toEqual({ id: "s", v: 2, mine: true });
    await proxy.stop();
  });
});

describe("strict collections and resets against the real server", () => {
  test("a strict-collection conflict is recorded and visible", async () => {
    const a = await track(await openClient(file(), server.url, server.key));
    const b = await track(await openClient(file(), server.url, server.key));
    await a.collection("accounts", { strict: true }).put({ id: "acc", balance: 100 });
    await a.sync();
    await b.sync();
    await a.collection("accounts", { strict: true }).patch("acc", { balance: 150 });
    await a.sync();
    const events: string[] = [];
    b.on("conflict", (c) => events.push(`${c.collection}/${c.id} server=${c.serverValue?.balance}`));
    await b.collection("accounts", { strict: true }).patch("acc", { balance: 10 }); // based on a stale version
    const r = await b.sync();
    expect(r.issues.map((i) => i.kind)).toEqual(["conflict"]);
    expect(events).toEqual(["accounts/acc server=150"]);
    expect(await b.collection("accounts").get("acc")).toEqual({ id: "acc", balance: 150 });
    const issues = await b.issues();
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ kind: "conflict", collection: "accounts", id: "acc", op: "patch", value: { balance: 10 }, serverValue: { id: "acc", balance: 150 } });
    expect((await b.status()).conflicts).toBe(1);
    await b.dismissIssue(issues[0].seq);
    expect(await b.issues()).toEqual([]);
    // A non-stale strict write from B now goes through.
    await b.collection("accounts", { strict: true }).patch("acc", { balance: 160 });
    expect((await b.sync()).issues).toEqual([]);
    await a.sync();
    expect(await a.collection("accounts").get("acc")).toEqual({ id: "acc", balance: 160 });
  });

  test("a reset after a tombstone purge keeps pending ops", async () => {
    const own = await startServer();
    try {
      const a = await openClient(file(), own.url, own.key);
      const b = await openClient(file(), own.url, own.key);
      await a.collection("t").putMany([{ id: "keep", v: 1 }, { id: "doomed", v: 1 }, { id: "edited", v: 1 }]);
      await a.sync();
      await b.sync();
      await a.collection("t").delete("doomed");
      await a.sync();
      const report = await gc(own.store, { olderThanMs: 0, now: Date.now() + 60_000 });
      expect(report.tombstones).toBe(1);
      // B, behind the purge horizon, has offline edits queued.
      await b.collection("t").patch("edited", { byB: true });
      await b.collection("t").put({ id: "new-on-b" });
      const { HttpClient } = await import("../../src/sync/v1/http.ts");
      const { applyPage, resetSyncedState } = await import("../../src/sync/v1/pull.ts");
      const http = new HttpClient({ url: own.url, apiKey: own.key });
      const answer = await http.pull((await b.store!.getMeta("sync_cursor")) ?? null, 100);
      expect((await applyPage(b.store!, answer)).reset).toBe(true);
      await resetSyncedState(b.store!.db);
      await applyPage(b.store!, await http.pull(null, 100));
      expect((await b.status()).outbox.size).toBe(2);
      expect(await b.collection("t").get("doomed")).toBeUndefined();
      expect(await b.collection("t").get("edited")).toEqual({ id: "edited", v: 1, byB: true });
      expect(await b.collection("t").get("new-on-b")).toEqual({ id: "new-on-b" });
      // And through the engine: the pending ops reach the server and A.
      await b.sync();
      await a.sync();
      expect(await a.collection("t").get("edited")).toEqual({ id: "edited", v: 1, byB: true });
      expect(await a.collection("t").get("new-on-b")).toEqual({ id: "new-on-b" });
      await a.close();
      await b.close();
    } finally {
      await own.stop();
    }
  });

  test("the engine itself resets when its cursor is behind the purge horizon", async () => {
    const own = await startServer();
    try {
      const a = await openClient(file(), own.url, own.key);
      const b = await openClient(file(), own.url, own.key);
      await a.collection("t").putMany([{ id: "x" }, { id: "y" }]);
      await a.sync();
      await b.sync();
      await a.collection("t").delete("y");
      await a.sync();
      await gc(own.store, { olderThanMs: 0, now: Date.now() + 60_000 });
      await a.collection("t").put({ id: "z" });
      await a.sync();
      await b.collection("t").put({ id: "b-pending" });
      const r = await b.sync();
      expect(r.reset).toBe(true);
      expect((await b.collection("t").list()).items.map((d) => d.id)).toEqual(["b-pending", "x", "z"]);
      await a.close();
      await b.close();
    } finally {
      await own.stop();
    }
  });
});
