import { describe, expect, test } from "bun:test";
import type { Stowage, StowageOptions } from "../../src/stowage.ts";
import { ownSpan } from "../../src/sync/v1/push.ts";
import type { TestServer } from "../helpers/server.ts";
import { testScope } from "../helpers/scope.ts";
import { loggedClient, serverHash, stateHash } from "./clients.ts";

// A push answered `asSent` whose applied versions are exactly lo+1..hi moves the cursor from
// v1.<lo> to v1.<hi> in its settle (docs/PROTOCOL.md, "Not pulling back your own writes").

const { defer, file, server } = testScope("stowage-own-span-");

/** A client whose requests are listed as `METHOD /path?query`; `after(url)` runs once each answer is in. */
async function client(s: TestServer, extra: Partial<StowageOptions> = {}, after?: (url: string) => Promise<void>) {
  const c = await loggedClient(file("c"), s.url, s.key, { extra, after });
  defer(() => c.db.close());
  return c;
}

const cursorOf = async (db: Stowage) => db.store!.getMeta("sync_cursor");

describe("not pulling back our own writes", () => {
  test("ownSpan: only versions that fill lo+1..hi exactly, each once", () => {
    const ok = (opId: number, version?: number) => ({ opId, status: "applied" as const, ...(version === undefined ? {} : { version }) });
    expect(ownSpan([ok(1, 11), ok(2, 12), ok(3), ok(4, 13)])).toEqual({ lo: 10, hi: 13 }); // a delete of nothing takes no number
    expect(ownSpan([ok(1, 11), ok(2, 13)])).toBeNull(); // 12 is someone else's
    expect(ownSpan([ok(1, 11), ok(2, 11), ok(3, 13)])).toBeNull(); // never trusted twice
    expect(ownSpan([{ opId: 1, status: "duplicate" }, { opId: 2, status: "conflict", version: 12 }])).toBeNull();
    expect(ownSpan([ok(1, 7)])).toEqual({ lo: 6, hi: 7 });
  });

  test("a bulk push of 2,400 offline writes pulls none of them back: three pushes, one empty pull", async () => {
    const s = await server();
    const other = await client(s);
    await other.db.collection("t").putMany(Array.from({ length: 30 }, (_, i) => ({ id: `o${i}`, i })));
    await other.db.sync();
    const a = await client(s);
    await a.db.sync();
    expect(await cursorOf(a.db)).toBe("v1.30");
    for (const prefix of ["a", "b", "c"]) await a.db.collection("t").putMany(Array.from({ length: 800 }, (_, i) => ({ id: `${prefix}${i}`, i })));
    a.requests.length = 0;
    const r = await a.db.sync();
    expect(a.requests).toEqual(["POST /v1/push", "POST /v1/push", "POST /v1/push", "GET /v1/pull?limit=1000&cursor=v1.2430"]);
    expect(r).toMatchObject({ pushed: 2400, pulled: 0 });
    expect(await cursorOf(a.db)).toBe("v1.2430");
    expect(await a.db.collection("t").count()).toBe(2430);
    expect(await stateHash(a.db)).toBe(await serverHash(s.url, s.key, ["t"]));
  });

  test("another client's write between two batches stops the jump there; the pull brings it and the later batches", async () => {
    const s = await server();
    const b = await client(s);
    await b.db.sync();
    let pushes = 0;
    const a = await client(s, {}, async (url) => {
      // After the server answered A's first batch, B commits a change (seq 1001).
      if (url.includes("/v1/push") && ++pushes === 1) {
        await b.db.collection("t").put({ id: "from-b", v: 1 });
        await b.db.sync();
      }
    });
    await a.db.sync();
    await a.db.collection("t").putMany(Array.from({ length: 900 }, (_, i) => ({ id: `a${i}`, i })));
    await a.db.collection("t").putMany(Array.from({ length: 900 }, (_, i) => ({ id: `b${i}`, i })));
    a.requests.length = 0;
    const r = await a.db.sync();
    // Batch 1 (1..1000) moved the cursor to v1.1000; batch 2 took 1002..1801, not after v1.1000: no jump.
    expect(a.requests).toEqual(["POST /v1/push", "POST /v1/push", "GET /v1/pull?limit=1000&cursor=v1.1000"]);
    expect(r).toMatchObject({ pushed: 1800, pulled: 801 });
    expect(await a.db.collection("t").get("from-b")).toEqual({ id: "from-b", v: 1 });
    expect(await cursorOf(a.db)).toBe("v1.1801");
    expect(await stateHash(a.db)).toBe(await serverHash(s.url, s.key, ["t"]));
    await b.db.sync();
    expect(await stateHash(b.db)).toBe(await stateHash(a.db));
  });

  test("a batch with a patch is not asSent: the pull brings the server's merge back", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s);
    await a.db.collection("t").put({ id: "x", a: 0 });
    await a.db.sync();
    await b.db.sync();
    await a.db.collection("t").patch("x", { a: 1 });
    await b.db.collection("t").patch("x", { b: 2 });
    await b.db.sync(); // seq 2
    // As if A had pulled seq 2 while its patch was pending: the pull keeps the pending edit
    // locally and moves the cursor. A's patch then takes seq 3, right after A's cursor.
    await a.db.store!.setMeta("sync_cursor", "v1.2");
    expect(await a.db.collection("t").get("x")).toEqual({ id: "x", a: 1 });
    await a.db.push(); // alone: only the answer could move the cursor
    await a.db.sync();
    expect(await a.db.collection("t").get("x")).toEqual({ id: "x", a: 1, b: 2 });
    expect(await stateHash(a.db)).toBe(await serverHash(s.url, s.key, ["t"]));
  });
});
