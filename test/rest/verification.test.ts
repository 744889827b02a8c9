import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { all } from "../../src/store/sql.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { startFaultProxy, type FaultProxy } from "../helpers/fault-proxy.ts";
import { tempDir } from "../helpers/tmp.ts";
import { openRest } from "./helpers.ts";
import { resolveRestConfig } from "../../src/sync/rest/config.ts";
import { restTransport } from "../../src/sync/rest/transport.ts";
import type { CycleContext } from "../../src/sync/transport.ts";
import { startReferenceServer, type ReferenceServer } from "./reference-server.ts";

/** The seed's "Verification" section, all four steps, against a server shaped like its API. */
const dir = tempDir("stowage-rest-verify-");
let server: ReferenceServer;
let proxy: FaultProxy;
const open: Stowage[] = [];
let n = 0;
async function client(rest = {}, options = {}): Promise<Stowage> {
  const s = await openRest(dir.file(`c${n++}.db`), proxy.url, server.key, rest, options);
  open.push(s);
  return s;
}
async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await fetch(server.url + path, {
    method,
    headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return res.json();
}
const idMap = (s: Stowage) => all<{ collection: string; local_id: string; server_id: string | null }>(s.store!.db, "select collection, local_id, server_id from _stowage_rest_ids order by local_id");

/** What a cycle step needs, without the engine (for running one step alone). */
function stepsFor(s: Stowage): CycleContext {
  return { store: s.store!, pullLimit: 1000, trace: () => {}, setState: () => {}, markOnline: () => {}, renewLease: async () => {}, emitIssue: () => {} };
}

beforeAll(async () => {
  server = startReferenceServer();
  proxy = await startFaultProxy(server.url);
});
afterAll(async () => {
  for (const s of open) await s.close();
  await proxy.stop();
  await server.stop();
  dir.cleanup();
});

describe("seed verification against the reference REST API", () => {
  test("1. hybrid: a write lands in local SQLite and on the API, with its server id recorded", async () => {
    const s = await client();
    expect(s.mode).toBe("hybrid");
    const doc = await s.collection("items").put({ content: "first memory", tags: ["a"] });
    expect(await s.collection("items").get(doc.id)).toEqual({ id: doc.id, content: "first memory", tags: ["a"] });
    const r = await s.push();
    expect(r.pushed).toBe(1);
    const rows = server.rows();
    expect(rows.length).toBe(1);
    expect(rows[0].body).toEqual({ content: "first memory", tags: ["a"], local_id: doc.id });
    expect(await idMap(s)).toEqual([{ collection: "items", local_id: doc.id, server_id: String(rows[0].id) }]);
    // An update goes to the same server item (PUT /api/items/{server_id}).
    await s.collection("items").patch(doc.id, { content: "first memory, edited" });
    await s.sync();
    expect(server.rows().length).toBe(1);
    expect(server.rows()[0].body.content).toBe("first memory, edited");
    expect((await s.status()).outbox.size).toBe(0);
  });

  test("2. offline: writes and reads work with the API down, queue in the outbox, and drain when it returns", async () => {
    const s = await client();
    const before = server.rows().length;
    proxy.refuse = true;
    const ids: string[] = [];
    for (const content of ["offline one", "offline two", "offline three"]) ids.push((await s.collection("items").put({ content })).id);
    await expect(s.push()).rejects.toMatchObject({ code: "transport" });
    expect((await s.status()).outbox.size).toBe(3);
    expect((await s.status()).online).toBe(false);
    expect((await s.collection("items").get(ids[1]))?.content).toBe("offline two");
    expect(server.rows().length).toBe(before);
    proxy.refuse = false;
    const r = await s.sync();
    expect(r.pushed).toBe(3);
    expect((await s.status()).outbox.size).toBe(0);
    const mine = server.rows().filter((row) => ids.includes(row.body.local_id as string));
    expect(mine.map((row) => row.body.content)).toEqual(["offline one", "offline two", "offline three"]);
  });

  test("3. a change made directly on the API reaches the cache; a server-side delete removes it", async () => {
    const s = await client();
    await s.sync();
    const created = await api("POST", "/api/items", { content: "made on the API" });
    await s.sync();
    const localId = `srv-${created.id}`;
    expect(await s.collection("items").get(localId)).toEqual({ id: localId, content: "made on the API" });
    await api("PUT", `/api/items/${created.id}`, { content: "edited on the API" });
    await s.sync();
    expect((await s.collection("items").get(localId))?.content).toBe("edited on the API");
    await api("DELETE", `/api/items/${created.id}`);
    await s.sync();
    expect(await s.collection("items").get(localId)).toBeUndefined();
    // A local edit of an API-created item goes back to the same server id.
    const again = await api("POST", "/api/items", { content: "second" });
    await s.sync();
    await s.collection("items").patch(`srv-${again.id}`, { content: "second, edited locally" });
    await s.sync();
    expect(server.rows().find((r) => r.id === again.id)!.body.content).toBe("second, edited locally");
  });

  test("4. no key = local only (no request); key + sync disabled = every call straight to the API", async () => {
    const requests = server.stats.requests;
    const local = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("local.db") }), rest: { baseUrl: server.url }, env: {} });
    open.push(local);
    expect(local.mode).toBe("local");
    await local.collection("items").put({ id: "x", content: "only here" });
    expect(await local.sync()).toEqual({ pushed: 0, pulled: 0, issues: [], reset: false, leased: false });
    expect(server.stats.requests).toBe(requests);

    const direct = await openStowage({ rest: { baseUrl: server.url }, env: { STOWAGE_API_KEY: server.key, STOWAGE_SYNC_DISABLE: "1" } });
    open.push(direct);
    expect(direct.mode).toBe("http-only");
    expect(direct.store).toBeNull();
    const items = direct.collection("items");
    const doc = await items.put({ content: "straight to the API" });
    expect(server.rows().find((r) => String(r.id) === doc.id)!.body).toEqual({ content: "straight to the API" });
    expect(await items.get(doc.id)).toEqual({ id: doc.id, content: "straight to the API" });
    expect((await items.patch(doc.id, { tag: "t" })).tag).toBe("t");
    expect((await items.list({ where: { content: "straight to the API" } })).items.map((d) => d.id)).toEqual([doc.id]);
    expect(await items.delete(doc.id)).toBe(true);
    expect(await items.delete(doc.id)).toBe(false);
    expect(await items.get(doc.id)).toBeUndefined();
    expect(server.rows().find((r) => String(r.id) === doc.id)!.deleted_at).not.toBeNull();
  });
});

describe("REST transport details", () => {
  test("a delete of an item that never reached the API cancels its queued create: nothing is sent", async () => {
    const s = await client();
    await s.sync();
    const before = server.stats.creates;
    proxy.refuse = true;
    const doc = await s.collection("items").put({ content: "never sent" });
    await s.collection("items").patch(doc.id, { more: 1 });
    await s.collection("items").delete(doc.id);
    expect((await s.status()).outbox.size).toBe(3);
    proxy.refuse = false;
    const r = await s.sync();
    expect(r.pushed).toBe(0);
    expect((await s.status()).outbox.size).toBe(0);
    expect(server.stats.creates).toBe(before);
    expect(server.rows().some((row) => row.body.local_id === doc.id)).toBe(false);
  });

  test("a delete of a pushed item soft-deletes it on the API; a 404 (already deleted there) counts as done", async () => {
    const s = await client();
    const a = await s.collection("items").put({ content: "to delete" });
    const b = await s.collection("items").put({ content: "deleted twice" });
    await s.sync();
    const rowB = server.rows().find((r) => r.body.local_id === b.id)!;
    await api("DELETE", `/api/items/${rowB.id}`); // gone on the API before our delete arrives
    await s.collection("items").delete(a.id);
    await s.collection("items").delete(b.id);
    await s.sync();
    expect((await s.status()).outbox.size).toBe(0);
    expect(server.rows().find((r) => r.body.local_id === a.id)!.deleted_at).not.toBeNull();
    expect(await s.issues()).toEqual([]);
  });

  test("a pull never clobbers a pending local edit: the API's value is the base, the local edit stays on top", async () => {
    const s = await client();
    const doc = await s.collection("items").put({ content: "base", n: 1 });
    await s.sync();
    const row = server.rows().find((r) => r.body.local_id === doc.id)!;
    await api("PUT", `/api/items/${row.id}`, { content: "changed on the API", n: 1, local_id: doc.id });
    await s.collection("items").patch(doc.id, { n: 2 }); // queued, not pushed
    // The pull step alone, as a cycle would run it while the edit is still queued.
    const transport = restTransport(resolveRestConfig({ baseUrl: proxy.url, apiKey: server.key }, null));
    const result = { pushed: 0, pulled: 0, issues: [], reset: false, leased: true };
    await transport.pull(stepsFor(s), result);
    expect(result.pulled).toBe(1);
    expect((await s.status()).outbox.size).toBe(1);
    expect(await s.collection("items").get(doc.id)).toEqual({ id: doc.id, content: "changed on the API", n: 2 });
    await s.sync(); // pushes the whole local document (PUT): the API's field and the local edit
    expect(server.rows().find((r) => r.id === row.id)!.body).toEqual({ content: "changed on the API", n: 2, local_id: doc.id });
  });

  test("duplicate repair: a lost create answer and a retry make two items; the lower id is kept, with the latest local value", async () => {
    const raw = startReferenceServer({ idempotency: false });
    let drops = 1; // only the first answer is lost
    const lossy = await startFaultProxy(raw.url, { dropRate: 0.5, random: () => (drops-- > 0 ? 0 : 1) });
    const s = await openRest(dir.file(`dup${n++}.db`), lossy.url, raw.key);
    try {
      const doc = await s.collection("items").put({ v: 1 });
      await expect(s.push()).rejects.toMatchObject({ code: "transport" }); // committed, answer lost
      await s.collection("items").patch(doc.id, { v: 2 });
      await s.sync(); // POST again (second item), PUT v2 to it, pull sees both: repair
      const rows = raw.rows();
      expect(rows.map((r) => [r.id, r.body.v, r.deleted_at === null])).toEqual([[1, 2, true], [2, 2, false]]);
      expect(await s.collection("items").get(doc.id)).toEqual({ id: doc.id, v: 2 });
      expect(await idMap(s)).toEqual([{ collection: "items", local_id: doc.id, server_id: "1" }]);
      const issues = await s.issues();
      expect(issues.map((i) => [i.kind, i.id, i.serverValue])).toEqual([["repaired", doc.id, { kept: "1", deleted: "2" }]]);
      expect((await s.status()).outbox.size).toBe(0);
    } finally {
      await s.close();
      await lossy.stop();
      await raw.stop();
    }
  });

  test("a 404 on an item another client deleted as a duplicate: the writer's edit and delete follow the document to the kept item (no false `gone`)", async () => {
    const raw = startReferenceServer({ idempotency: false });
    try {
      const writer = await openRest(dir.file(`w${n++}.db`), raw.url, raw.key);
      const reader = await openRest(dir.file(`r${n++}.db`), raw.url, raw.key);
      open.push(writer, reader);
      // The writer's first create landed but its answer was lost (item 1, made here directly);
      // the retry made item 2, which the writer maps to.
      const first = await (await fetch(`${raw.url}/api/items`, { method: "POST", headers: { authorization: `Bearer ${raw.key}`, "content-type": "application/json" }, body: JSON.stringify({ v: 1, local_id: "w1" }) })).json();
      await writer.collection("items").put({ id: "w1", v: 1 });
      await writer.push();
      await writer.collection("items").patch("w1", { v: 2 });
      await writer.push();
      // The reader sees both, keeps the lower id and deletes item 2 on the API.
      await reader.sync();
      expect(raw.rows().map((r) => [r.id, r.deleted_at === null])).toEqual([[first.id, true], [first.id + 1, false]]);
      // The writer's next edit answers 404 on item 2: it goes to item 1, the document lives on.
      await writer.collection("items").patch("w1", { v: 3 });
      const result = await writer.sync();
      expect(result.issues).toEqual([]);
      expect(raw.rows().filter((r) => r.deleted_at === null).map((r) => [r.id, r.body.v])).toEqual([[first.id, 3]]);
      expect(await writer.collection("items").get("w1")).toEqual({ id: "w1", v: 3 });
      // And its delete reaches item 1 too.
      await writer.collection("items").delete("w1");
      await writer.sync();
      expect(raw.rows().filter((r) => r.deleted_at === null)).toEqual([]);
      await reader.sync();
      expect(await reader.collection("items").get("w1")).toBeUndefined();
    } finally {
      await raw.stop();
    }
  });

  test("a bad key or a wrong resource path keeps the writes queued (never dropped as rejected)", async () => {
    const wrongKey = await openRest(dir.file(`k${n++}.db`), server.url, "not-the-key");
    const wrongPath = await openRest(dir.file(`k${n++}.db`), server.url, server.key, { resources: { items: "/api/nope" } });
    try {
      for (const s of [wrongKey, wrongPath]) {
        await s.collection("items").put({ content: "kept" });
        await expect(s.push()).rejects.toBeDefined();
        expect((await s.status()).outbox.size).toBe(1);
        expect(await s.issues()).toEqual([]);
      }
    } finally {
      await wrongKey.close();
      await wrongPath.close();
    }
  });

  test("an update answered 404 (deleted on the API): the local document follows, deleted, with a `gone` issue; never a second server item", async () => {
    const s = await client();
    const a = await s.collection("items").put({ content: "a" });
    const b = await s.collection("items").put({ content: "b" });
    await s.sync();
    const [rowA, rowB] = [a, b].map((d) => server.rows().find((r) => r.body.local_id === d.id)!);
    await api("DELETE", `/api/items/${rowA.id}`);
    await api("DELETE", `/api/items/${rowB.id}`);
    await s.collection("items").put({ id: a.id, content: "a again" });
    await s.collection("items").patch(b.id, { content: "b edited" });
    const before = server.rows().length;
    const result = await s.sync();
    expect(server.rows().length).toBe(before);
    expect(server.rows().filter((r) => (r.body.local_id === a.id || r.body.local_id === b.id) && r.deleted_at === null)).toEqual([]);
    expect(await s.collection("items").get(a.id)).toBeUndefined();
    expect(await s.collection("items").get(b.id)).toBeUndefined();
    expect(result.issues.map((i) => [i.kind, i.id, i.op])).toEqual([["gone", a.id, "put"], ["gone", b.id, "patch"]]);
    const issues = await s.issues();
    expect(issues.map((i) => [i.kind, i.id, i.value])).toEqual([["gone", a.id, { id: a.id, content: "a again" }], ["gone", b.id, { id: b.id, content: "b edited" }]]);
    expect(issues[0].message).toContain("answered 404");
    expect((await s.status()).outbox.size).toBe(0);
  });

  test("recreateOnMissing: true re-creates an item deleted on the API, once", async () => {
    const s = await client({ recreateOnMissing: true });
    const a = await s.collection("items").put({ content: "a" });
    await s.sync();
    const rowA = server.rows().find((r) => r.body.local_id === a.id)!;
    await api("DELETE", `/api/items/${rowA.id}`);
    await s.collection("items").put({ id: a.id, content: "a again" });
    await s.sync();
    const live = server.rows().filter((r) => r.body.local_id === a.id && r.deleted_at === null);
    expect(live.map((r) => r.body.content)).toEqual(["a again"]);
    expect(live[0].id).not.toBe(rowA.id);
    expect(await s.collection("items").get(a.id)).toEqual({ id: a.id, content: "a again" });
    expect(await s.issues()).toEqual([]);
  });

  test("a refused write (4xx) is recorded and its document returns to the API's state at once", async () => {
    const s = await client();
    const kept = await s.collection("items").put({ content: "kept" });
    await s.sync();
    // The reference API refuses bodies over its limit with 413; the update and the create are refused.
    await s.collection("items").put({ id: kept.id, content: "x".repeat(70_000) });
    const fresh = await s.collection("items").put({ content: "y".repeat(70_000) });
    const result = await s.sync();
    expect(result.issues.map((i) => [i.kind, i.id, i.op])).toEqual([["rejected", kept.id, "put"], ["rejected", fresh.id, "put"]]);
    expect(result.issues[0].message).toContain("answered 413: body too large");
    expect(await s.collection("items").get(kept.id)).toEqual({ id: kept.id, content: "kept" });
    expect(await s.collection("items").get(fresh.id)).toBeUndefined();
    expect(server.rows().filter((r) => r.body.local_id === fresh.id)).toEqual([]);
    expect((await s.status()).outbox.size).toBe(0);
  });

  test("bad config names the bad value", async () => {
    await expect(openStowage({ rest: { baseUrl: "ftp://x" }, env: {} })).rejects.toThrow(/baseUrl .*"ftp:\/\/x"/);
    await expect(openStowage({ rest: { baseUrl: "http://x", updateMethod: "POST" as any }, env: {} })).rejects.toThrow(/updateMethod .*"POST"/);
    await expect(openStowage({ rest: { baseUrl: "http://x", bogus: 1 } as any, env: {} })).rejects.toThrow(/unknown setting "bogus"/);
  });
});
