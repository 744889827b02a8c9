/**
 * Guarantee 12: a refusal never wedges a client and a refused value never lingers. Real server
 * on 127.0.0.1, real SQLite files; the only fault is an injected fetch that drops document GETs.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createKey, revokeKey } from "../../src/server/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import type { FetchFn } from "../../src/sync/v1/http.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir("stowage-refusals-");
let server: TestServer;
let readKey: string;
const open: Stowage[] = [];
let n = 0;

beforeAll(async () => {
  server = await startServer();
  readKey = (await createKey(server.store, server.tenant, { scope: "read" })).key;
});
afterAll(async () => {
  for (const c of open) await c.close().catch(() => {});
  await server.stop();
  dir.cleanup();
});

async function client(key: string, fetch?: FetchFn): Promise<Stowage> {
  const c = await openStowage({ adapter: createBunSqliteAdapter({ path: join(dir.path, `c${n++}.db`) }), url: server.url, apiKey: key, env: {}, autoSync: false, live: false, fetch });
  open.push(c);
  return c;
}

describe("a read-scope key with queued writes", () => {
  test("the writes are recorded as rejected, the documents return to the server's state, and the same and next syncs pull", async () => {
    const writer = await client(server.key);
    await writer.collection("todos").put({ id: "shared", title: "server" });
    await writer.sync();

    // Never pulled, one write queued (the issue's case), plus one on a document the server has.
    const reader = await client(readKey);
    await reader.collection("todos").put({ id: "mine", title: "refused" });
    await reader.collection("todos").put({ id: "shared", title: "refused too" });
    const first = await reader.sync();
    expect(first.issues.map((i) => [i.kind, i.id, i.message.split(":")[0]])).toEqual([
      ["rejected", "mine", "forbidden"],
      ["rejected", "shared", "forbidden"],
    ]);
    expect(first.unresolved).toBeUndefined();
    const status = await reader.status();
    expect([status.rejections, status.outbox.size, status.unresolved]).toEqual([2, 0, 0]);
    expect(status.cursor).not.toBeNull(); // the same cycle pulled
    expect(await reader.collection("todos").get("mine")).toBeUndefined();
    expect(await reader.collection("todos").get("shared")).toEqual({ id: "shared", title: "server" });

    await writer.collection("todos").put({ id: "later", title: "from the writer" });
    await writer.sync();
    const second = await reader.sync();
    expect(second.issues).toEqual([]);
    expect(await reader.collection("todos").get("later")).toEqual({ id: "later", title: "from the writer" });
  });

  test("a write-triggered push that is refused is followed by a pull that restores the document", async () => {
    const writer = await client(server.key);
    await writer.collection("notes").put({ id: "n1", text: "server" });
    await writer.sync();
    const reader = await openStowage({ adapter: createBunSqliteAdapter({ path: join(dir.path, `c${n++}.db`) }), url: server.url, apiKey: readKey, env: {}, live: false, waitForFirstSync: true });
    open.push(reader);
    expect(await reader.collection("notes").get("n1")).toEqual({ id: "n1", text: "server" });
    const rejected = new Promise((resolve) => reader.on("rejected", resolve));
    await reader.collection("notes").patch("n1", { text: "refused" });
    await rejected;
    const deadline = Date.now() + 20_000;
    while ((await reader.collection("notes").get("n1"))?.text !== "server") {
      if (Date.now() > deadline) throw new Error("the refused patch is still visible");
      await Bun.sleep(20);
    }
    expect((await reader.status()).rejections).toBe(1);
  });
});

describe("a refusal whose refresh GET is dropped", () => {
  test("the sync reports the document unresolved; the next one resolves it", async () => {
    let dropGets = false;
    const dropping: FetchFn = (input, init) => {
      if (dropGets && (init?.method ?? "GET") === "GET" && new URL(input).pathname.startsWith("/v1/docs/")) {
        return Promise.reject(new TypeError("connection reset (dropped by the test)"));
      }
      return globalThis.fetch(input, init);
    };
    const reader = await client(readKey, dropping);
    await reader.sync(); // has a cursor: the refused document is not swept away by a first full pull
    await reader.collection("todos").put({ id: "ghost", title: "refused" });
    dropGets = true;
    const result = await reader.sync();
    expect(result.issues.map((i) => i.id)).toEqual(["ghost"]);
    // Either the value is gone or the result says it is unresolved: here the GET was dropped.
    expect(result.unresolved).toEqual([{ collection: "todos", id: "ghost" }]);
    expect((await reader.status()).unresolved).toBe(1);

    dropGets = false;
    const next = await reader.sync();
    expect(next.unresolved).toBeUndefined();
    expect(await reader.collection("todos").get("ghost")).toBeUndefined();
    expect((await reader.status()).unresolved).toBe(0);
  });
});

describe("a push repeated after the scope was downgraded", () => {
  test("ops the server already applied (their answer was lost) come back duplicate, not rejected; new ops are rejected", async () => {
    const writeKey = await createKey(server.store, server.tenant, { label: "downgraded" });
    let key = writeKey.key;
    let loseAnswer = false;
    const losing: FetchFn = async (input, init) => {
      const res = await globalThis.fetch(input, init);
      if (loseAnswer && new URL(input).pathname === "/v1/push") {
        loseAnswer = false;
        await res.text();
        throw new TypeError("connection reset after the server answered (dropped by the test)");
      }
      return res;
    };
    const c = await openStowage({ adapter: createBunSqliteAdapter({ path: join(dir.path, `c${n++}.db`) }), url: server.url, getToken: () => key, env: {}, autoSync: false, live: false, fetch: losing });
    open.push(c);
    await c.sync();
    await c.collection("todos").put({ id: "applied-once", by: "writer" });
    loseAnswer = true;
    expect((await c.push().then(() => null, (e) => e))?.code).toBe("transport");
    expect((await c.status()).outbox.size).toBe(1); // applied on the server, unknown here

    // The scope is downgraded before the retry: the write key is revoked (401), a read key issued.
    key = readKey;
    await revokeKey(server.store, writeKey.id);
    await c.collection("todos").put({ id: "new-after", by: "reader" });
    const r = await c.sync();
    expect(r.issues.map((i) => [i.kind, i.id, i.message.split(":")[0]])).toEqual([["rejected", "new-after", "forbidden"]]);
    expect(r.pushed).toBe(1); // the repeated op: duplicate
    expect(await c.collection("todos").get("applied-once")).toEqual({ id: "applied-once", by: "writer" });
    expect(await c.collection("todos").get("new-after")).toBeUndefined();
    expect((await c.status()).rejections).toBe(1);
  });
});
