import { describe, expect, test } from "bun:test";
import type { StowageOptions } from "../../src/stowage.ts";
import type { TestServer } from "../helpers/server.ts";
import { testScope } from "../helpers/scope.ts";
import { countingAdapter, type SqlEvent } from "../helpers/counting-sqlite.ts";
import { until } from "../helpers/until.ts";
import { loggedClient, serverHash, stateHash } from "./clients.ts";

// A full cycle whose push empties the outbox asks for the pull page in the same request
// (docs/PROTOCOL.md, "Pull with the push"): one round trip for a small sync.

const { defer, file, server } = testScope("stowage-pull-with-push-");

/** A client whose requests are listed as `METHOD /path?query`; `rewrite` may change the URL sent. */
async function client(s: TestServer, extra: Partial<StowageOptions> = {}, rewrite = (url: string) => url) {
  const c = await loggedClient(file("c"), s.url, s.key, { extra, rewrite });
  defer(() => c.db.close());
  return c;
}

describe("pull with the push", () => {
  test("a sync with one change is one request, and brings another client's change with it", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s);
    await a.db.collection("t").put({ id: "a1", v: 1 });
    await a.db.sync();
    await b.db.sync(); // b has a cursor now
    await a.db.collection("t").put({ id: "a2", v: 2 });
    await a.db.sync();
    b.requests.length = 0;
    await b.db.collection("t").put({ id: "b1", v: 1 });
    const r = await b.db.sync();
    const cursor = JSON.stringify(await b.db.store!.getMeta("sync_cursor"));
    expect(b.requests).toEqual([`POST /v1/push?pull=v1.1&limit=100`]);
    expect(r).toMatchObject({ pushed: 1, pulled: 2 }); // a2 and our own b1
    expect(cursor).toBe('"v1.3"');
    expect(await b.db.collection("t").get("a2")).toEqual({ id: "a2", v: 2 });
    expect(await b.db.status()).toMatchObject({ outbox: { size: 0 } });
    expect(await stateHash(b.db)).toBe(await serverHash(s.url, s.key, ["t"]));
  });

  test("a client far behind drops the page (more than one page waits) and pulls page by page", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s, { pullLimit: 100 });
    await b.db.sync();
    await a.db.collection("t").putMany(Array.from({ length: 150 }, (_, i) => ({ id: `a${i}`, i })));
    await a.db.sync();
    b.requests.length = 0;
    await b.db.collection("t").put({ id: "b1", v: 1 });
    await b.db.sync();
    expect(b.requests).toEqual([`POST /v1/push?pull=v1.0&limit=100`, "GET /v1/pull?limit=100&cursor=v1.0", "GET /v1/pull?limit=100&cursor=v1.100"]);
    expect(await b.db.collection("t").count()).toBe(151);
    expect(await stateHash(b.db)).toBe(await serverHash(s.url, s.key, ["t"]));
  });

  test("a push of several batches asks for no page; the pull after the last batch starts past its own writes", async () => {
    const s = await server();
    const a = await client(s);
    await a.db.sync();
    await a.db.collection("t").putMany(Array.from({ length: 1000 }, (_, i) => ({ id: `a${i}`, i })));
    await a.db.collection("t").putMany(Array.from({ length: 200 }, (_, i) => ({ id: `b${i}`, i })));
    a.requests.length = 0;
    await a.db.sync();
    expect(a.requests).toEqual(["POST /v1/push", "POST /v1/push", "GET /v1/pull?limit=1000&cursor=v1.1200"]);
    expect(JSON.stringify(await a.db.store!.getMeta("sync_cursor"))).toBe('"v1.1200"');
  });

  test("push() alone and a first sync (no cursor yet) ask for no page", async () => {
    const s = await server();
    const a = await client(s);
    await a.db.collection("t").put({ id: "x", v: 1 });
    await a.db.sync();
    expect(a.requests).toEqual(["POST /v1/push", "GET /v1/pull?limit=250"]); // a pull from the start: a small first page (cycle.ts FIRST_PAGE)
    a.requests.length = 0;
    await a.db.collection("t").put({ id: "y", v: 1 });
    await a.db.push();
    expect(a.requests).toEqual(["POST /v1/push"]);
  });

  test("a server that ignores ?pull (older than this protocol addition): the cycle pulls as before", async () => {
    const s = await server();
    const a = await client(s);
    const b = await client(s, {}, (url) => url.replace(/\/v1\/push\?.*$/, "/v1/push"));
    await b.db.sync();
    await a.db.collection("t").put({ id: "a1", v: 1 });
    await a.db.sync();
    b.requests.length = 0;
    await b.db.collection("t").put({ id: "b1", v: 1 });
    await b.db.sync();
    expect(b.requests).toEqual(["POST /v1/push", "GET /v1/pull?limit=1000&cursor=v1.0"]);
    expect(await stateHash(b.db)).toBe(await serverHash(s.url, s.key, ["t"]));
  });

  test("the answer lost after the server committed: the resend is a duplicate, its page applied, nothing twice", async () => {
    const s = await server();
    const a = await client(s);
    let drop = false;
    const b = await client(s, {
      fetch: (async (input: string | URL | Request, init?: RequestInit) => {
        const res = await globalThis.fetch(input, init);
        if (drop && String(input).includes("/v1/push")) {
          drop = false;
          await res.arrayBuffer(); // the server answered; the answer never arrives
          throw new TypeError("fetch failed: connection reset");
        }
        return res;
      }) as typeof fetch,
    });
    await b.db.sync();
    await a.db.collection("t").put({ id: "a1", v: 1 });
    await a.db.sync();
    await b.db.collection("t").put({ id: "b1", v: 1 });
    drop = true;
    await expect(b.db.sync()).rejects.toMatchObject({ code: "transport" });
    expect(await b.db.collection("t").get("a1")).toBeUndefined();
    const r = await b.db.sync();
    expect(r).toMatchObject({ pushed: 1, pulled: 2 });
    expect(await b.db.collection("t").get("a1")).toEqual({ id: "a1", v: 1 });
    expect(await b.db.status()).toMatchObject({ outbox: { size: 0 } });
    expect(await stateHash(b.db)).toBe(await serverHash(s.url, s.key, ["t"]));
  });

  test("a sync's page, with its push or alone, wakes a live query once (`change` and `pulled` in one stretch)", async () => {
    const s = await server();
    const a = await client(s);
    const log: SqlEvent[] = [];
    const b = await client(s, { adapter: countingAdapter(file("c"), "client", log) });
    await b.db.sync();
    const seen: number[] = [];
    b.db.collection("t").watch({ orderBy: "-v", limit: 1 }, (items) => seen.push(items[0]?.v as number));
    await until("the watch's first run", () => seen.length === 1);
    const runs = () => log.filter((e) => e.sql.startsWith("select id, body")).length;
    for (const [v, withPush] of [[1, false], [2, true], [3, false]] as const) {
      await a.db.collection("t").put({ id: `a${v}`, v });
      await a.db.sync();
      if (withPush) await b.db.collection("t").put({ id: "b", v: 0 });
      await new Promise((r) => setTimeout(r, 30)); // the local write's own run
      const before = runs();
      b.requests.length = 0;
      await b.db.sync();
      await until(`B sees ${v}`, () => seen.at(-1) === v);
      await new Promise((r) => setTimeout(r, 30)); // a second run would come now
      expect([v, b.requests.length, runs() - before]).toEqual([v, 1, 1]);
    }
  });
});
