import { afterEach, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { gc } from "../../src/server/gc.ts";
import { pullPage } from "../../src/server/pull.ts";
import { findTenant } from "../../src/server/keys.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

// Found by the fault tester (chaos/): after a tombstone purge, a client scanning from the
// start with pages smaller than the live documents below the purge horizon was answered
// `reset` after every page, so it could never finish its first sync.

const cleanups: (() => Promise<void> | void)[] = [];
/** gc options that purge every tombstone, also one written this very millisecond (not "older than 0 ms" at `now`). */
const PURGE_ALL = () => ({ olderThanMs: 0, now: Date.now() + 1000 });
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(): Promise<{ server: TestServer; open: (name: string, pullLimit?: number) => Promise<Stowage> }> {
  const dir = tempDir("stowage-resync-");
  const server = await startServer();
  cleanups.push(() => dir.cleanup(), () => server.stop());
  const open = async (name: string, pullLimit?: number) => {
    const db = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`${name}.db`) }), url: server.url, apiKey: server.key, env: {}, autoSync: false, pullLimit });
    cleanups.push(() => db.close());
    return db;
  };
  return { server, open };
}

test("a fresh client with pages of 1 finishes its first sync after a purge, with every live document", async () => {
  const { server, open } = await setup();
  const w = await open("w");
  const docs = w.collection("docs");
  for (const id of ["a", "b", "c"]) await docs.put({ id, v: id });
  await docs.put({ id: "x" });
  await docs.delete("x");
  await w.sync();
  expect((await gc(server.store, PURGE_ALL())).tombstones).toBe(1);

  const r = await open("r", 1);
  const result = await r.sync();
  expect(result.reset).toBe(false);
  expect((await r.collection("docs").list()).items.map((d) => d.id)).toEqual(["a", "b", "c"]);
  // Later syncs go on from the stored cursor, which is past the horizon.
  await docs.put({ id: "d" });
  await w.sync();
  await r.sync();
  expect((await r.collection("docs").list()).items.map((d) => d.id)).toEqual(["a", "b", "c", "d"]);
});

test("a purge during a scan from the start answers reset, so a delete the scan missed is not kept", async () => {
  const { server } = await setup();
  const w = await openStowage({ adapter: createBunSqliteAdapter({ path: ":memory:" }), url: server.url, apiKey: server.key, env: {}, autoSync: false });
  cleanups.push(() => w.close());
  const docs = w.collection("docs");
  for (const id of ["a", "b"]) await docs.put({ id }); // seq 1, 2
  await docs.put({ id: "old" }); // 3
  await docs.delete("old"); // 4
  await w.sync();
  await gc(server.store, PURGE_ALL()); // horizon 4
  const tenant = (await findTenant(server.store, server.tenant))!;

  const first = JSON.parse(await pullPage(server.store, tenant.id, 0, 1));
  expect(first.changes.map((c: { id: string }) => c.id)).toEqual(["a"]);
  expect(first.cursor).toBe("v1.1.h4"); // behind the horizon: the scan carries the horizon it started at
  const second = JSON.parse(await pullPage(server.store, tenant.id, { seq: 1, horizon: 4 }, 1));
  expect(second.changes.map((c: { id: string }) => c.id)).toEqual(["b"]);
  expect(second.cursor).toBe("v1.4"); // the scan ended: it stands at the horizon, unmarked
  await docs.delete("a"); // seq 5: a document the scan already holds
  await w.sync();
  await gc(server.store, PURGE_ALL()); // horizon 5: a scan still at v1.2.h4 would never learn of that delete
  expect(JSON.parse(await pullPage(server.store, tenant.id, { seq: 2, horizon: 4 }, 1))).toEqual({ reset: true });
  // A cursor behind the horizon without the scan mark is reset as before.
  expect(JSON.parse(await pullPage(server.store, tenant.id, { seq: 2 }, 1))).toEqual({ reset: true });
  // A scan that reaches the horizon drops the mark.
  const fresh = JSON.parse(await pullPage(server.store, tenant.id, 0, 10));
  expect(fresh.cursor).toBe("v1.5");
});

// Found by the fault tester too (PostgreSQL seed 184): a client that had pushed but never
// pulled (no cursor) holds its own writes; a scan from the start does not list a document
// deleted and purged since, so that write stayed on the client for good.
test("a client that pushed but never pulled drops its own write that was deleted and purged meanwhile; pending ops stay", async () => {
  const { server, open } = await setup();
  const a = await open("a", 2);
  const b = await open("b");
  await a.collection("docs").putMany([{ id: "gone", by: "a" }, { id: "kept", by: "a" }]);
  await a.push(); // pushed, never pulled: no cursor
  await b.sync();
  await b.collection("docs").delete("gone");
  await b.sync();
  expect((await gc(server.store, PURGE_ALL())).tombstones).toBe(1);
  await a.collection("docs").put({ id: "pending", by: "a" });
  await a.collection("docs").patch("kept", { more: true });
  const r = await a.sync();
  expect(r.reset).toBe(false);
  expect((await a.collection("docs").list()).items).toEqual([
    { id: "kept", by: "a", more: true },
    { id: "pending", by: "a" },
  ]);
  await b.sync();
  expect((await b.collection("docs").list()).items).toEqual((await a.collection("docs").list()).items);
});
