/**
 * Anomalies the partial-sync fault tester found (`bun run chaos --partial`), each replayed
 * deterministically against the real server (in-process, real SQLite files).
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

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
