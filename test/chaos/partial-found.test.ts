/**
 * Anomalies the partial-sync fault tester found (`bun run chaos --partial`), each replayed
 * deterministically against the real server (in-process, real SQLite files).
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { spawnServe } from "../cli/ops-serve.ts";

const dir = tempDir("stowage-partial-found-");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(() => dir.cleanup());

async function held(db: Stowage): Promise<string[]> {
  const rows = await db.store!.db.selectFrom("_stowage_docs" as any).select(["collection", "id"] as any).execute();
  return (rows as { collection: string; id: string }[]).map((r) => `${r.collection}/${r.id}`).sort();
}

// Seed 6 (--short): bob wrote k3 outside his subscriptions (pending, so kept); the answer to
// its push was lost; the resend was answered `duplicate`, so the client fetched k3's server
// value (refresh) and kept it for good: after quiescence it held a document outside its view.
test("a pending write outside the view whose push answer was lost goes once its server value is fetched", async () => {
  const s = await startServer();
  cleanups.push(() => s.stop());
  let lose = 1;
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    const res = await globalThis.fetch(input, init);
    // The first push reaches the server and commits; its answer never arrives.
    if (new URL(input).pathname === "/v1/push" && lose-- > 0) throw new TypeError("fetch failed: connection reset");
    return res;
  };
  const db = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file("bob.db") }), url: s.url, apiKey: s.key, env: {}, autoSync: false, fetch, subscriptions: [{ collection: "shared" }] });
  cleanups.push(() => db.close());
  await db.collection("private").put({ id: "k3", n: 8 });
  expect(await held(db)).toEqual(["private/k3"]); // pending: kept
  await db.sync().catch(() => {}); // the lost answer
  await db.sync(); // resent: duplicate, then k3's server value is fetched
  await db.sync();
  expect((await db.status()).outbox.size).toBe(0);
  expect(await held(db)).toEqual([]);
});

// Seed 35 (--short): a backfill (`subs=S&have=H` from the empty cursor) paged; its second page
// was asked from the first page's cursor, which carried no origin, so the server took that
// cursor for the origin and sent a LEAVE for k1, a document that had moved from S-only into H
// (shared: false -> true). The client applied that leave beside the catch-up pull's k1 and lost
// k1 for good: after quiescence bob lacked a document in his view.
test("a backfill from the empty cursor sends no leaves on any page (the origin 0 survives paging)", async () => {
  const dir2 = tempDir("stowage-partial-found-srv-");
  cleanups.push(async () => dir2.cleanup());
  writeFileSync(dir2.file("rules.txt"), "claims: sub\nindex docs: tag, shared\ndocs read: true\ndocs write: true\n");
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir2.file("server.db") }) });
  const { key } = await createKey(store, "t", { createIfMissing: true });
  await store.close();
  const srv = await spawnServe(dir2.file("server.db"), ["--rules", dir2.file("rules.txt"), "--rate-limit", "off"]);
  cleanups.push(async () => void (await srv.signal("SIGTERM")));
  const call = async (path: string, body?: unknown) => {
    const res = await fetch(`${srv.url}${path}`, { method: body ? "POST" : "GET", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body ? JSON.stringify(body) : undefined });
    expect(res.status).toBe(200);
    return res.json();
  };
  const put = (opId: number, id: string, value: object) => ({ opId, collection: "docs", id, op: "put", value });
  await call("/v1/push", { clientId: "writer0001", ops: [put(1, "d1", { tag: "a", shared: false }), put(2, "d2", { tag: "a", shared: false })] });
  await call("/v1/push", { clientId: "writer0001", ops: [{ opId: 3, collection: "docs", id: "d1", op: "patch", value: { shared: true } }] });
  const subs = encodeURIComponent(JSON.stringify([{ collection: "docs", where: { tag: "a" } }]));
  const have = encodeURIComponent(JSON.stringify([{ collection: "docs", where: { shared: true } }]));
  const pages: { id: string; left?: boolean; deleted: boolean }[][] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 10; i++) {
    const page = await call(`/v1/pull?limit=1&subs=${subs}&have=${have}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    pages.push(page.changes.map((c: { id: string; left?: boolean; deleted: boolean }) => ({ id: c.id, deleted: c.deleted, ...(c.left ? { left: true } : {}) })));
    cursor = page.cursor;
    if (!page.more) break;
  }
  // d2 only: d1 matches `have` (the client holds it or gets it from its main pull).
  expect(pages.flat()).toEqual([{ id: "d2", deleted: false }]);
});

// Seed 3 (--short, timing-dependent): bob's first pull found an empty tenant (cursor v1.0.f…),
// his own write k3 settled, his later pulls never applied (process killed), ann deleted k3;
// bob's finisher pulled the view from the start (a v1.0 cursor counts as a start: no tombstones
// come) and k3 stayed for good although the start pull no longer listed it.
test("a from-start pull of the view drops an own settled write the server deleted meanwhile", async () => {
  const dir2 = tempDir("stowage-partial-found-srv3-");
  cleanups.push(async () => dir2.cleanup());
  writeFileSync(dir2.file("rules.txt"), "claims: sub\ndocs read: true\ndocs write: true\n");
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir2.file("server.db") }) });
  const { key } = await createKey(store, "t", { createIfMissing: true });
  const other = (await createKey(store, "t")).key;
  await store.close();
  const srv = await spawnServe(dir2.file("server.db"), ["--rules", dir2.file("rules.txt"), "--rate-limit", "off"]);
  cleanups.push(async () => void (await srv.signal("SIGTERM")));
  let pulls = true;
  const fetch = async (input: string, init?: RequestInit): Promise<Response> => {
    if (!pulls && new URL(input).pathname === "/v1/pull") throw new TypeError("fetch failed: connection reset");
    return globalThis.fetch(input, init);
  };
  const open = (file: string, apiKey: string) => openStowage({ adapter: createBunSqliteAdapter({ path: dir2.file(file) }), url: srv.url, apiKey, env: {}, autoSync: false, fetch, subscriptions: [{ collection: "docs" }] });
  const bob = await open("bob.db", key);
  cleanups.push(() => bob.close());
  await bob.sync(); // the tenant is empty: cursor v1.0.f…
  pulls = false;
  await bob.collection("docs").put({ id: "k3", n: 0 });
  await bob.sync().catch(() => {}); // pushed and settled; the pull fails
  expect((await bob.status()).outbox.size).toBe(0);
  pulls = true;
  const ann = await open("ann.db", other);
  cleanups.push(() => ann.close());
  await ann.sync();
  await ann.collection("docs").put({ id: "k8", n: 1 });
  await ann.collection("docs").delete("k3");
  await ann.sync();
  await bob.sync();
  expect(await held(bob)).toEqual(["docs/k8"]);
});
