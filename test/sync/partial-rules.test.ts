/**
 * Partial sync under sync rules, through the library (issue 34): two principals (API keys: an
 * API key's `sub` is `k_<id>`) share a tenant; each client holds its own and shared documents
 * only; a document made private leaves the other's store within one live event; a change of
 * the rules (a new cursor fingerprint) makes the client re-pull its view.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler } from "../../src/server/index.ts";
import { openStowage, type Stowage, type StowageOptions } from "../../src/stowage.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";

const dir = tempDir("stowage-partial-rules-");
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});
afterAll(() => dir.cleanup());

const RULES = ["index todos: shared", "todos read: owner == auth.sub or shared == true", "todos write: owner == auth.sub"].join("\n");

let n = 0;
async function open(url: string, key: string, options: Partial<StowageOptions> = {}, file = `c${++n}.db`): Promise<Stowage> {
  const db = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(file) }), url, apiKey: key, env: {}, autoSync: false, ...options });
  cleanups.push(() => db.close());
  return db;
}

async function held(db: Stowage): Promise<string[]> {
  const rows = await db.store!.db.selectFrom("_stowage_docs" as any).select(["id"] as any).execute();
  return (rows as { id: string }[]).map((r) => r.id).sort();
}

/** Ann (the server's key) and Bob (a second key of the same tenant), with Ann's a1 (shared), a2 (private) and Bob's b1 (private). */
async function setup(): Promise<{ s: TestServer; ann: Stowage; bobKey: string; bobSub: string }> {
  const s = await startServer({ rules: RULES });
  cleanups.push(() => s.stop());
  const annSub = `k_${s.key.split("_")[1]}`;
  const bob = await createKey(s.store, s.tenant);
  const ann = await open(s.url, s.key);
  await ann.collection("todos").put({ id: "a1", owner: annSub, shared: true });
  await ann.collection("todos").put({ id: "a2", owner: annSub, shared: false });
  await ann.sync();
  const b = await open(s.url, bob.key);
  await b.collection("todos").put({ id: "b1", owner: bob.id, shared: false });
  expect((await b.sync()).issues).toEqual([]);
  await b.close();
  return { s, ann, bobKey: bob.key, bobSub: bob.id };
}

test("each principal holds its own and shared documents; one made private leaves the other within one live event", async () => {
  const { s, ann, bobKey } = await setup();
  const trace: string[] = [];
  const bob = await open(s.url, bobKey, { autoSync: true, onTrace: (l) => trace.push(l), subscriptions: [{ collection: "todos" }] });
  await until("bob's first sync", async () => (await held(bob)).length === 2);
  expect(await held(bob)).toEqual(["a1", "b1"]);
  await ann.sync();
  expect(await held(ann)).toEqual(["a1", "a2"]);
  await until("bob's stream open and idle", () => s.handler.openStreams() === 1 && trace.at(-1) === "idle");
  const from = trace.length;
  await ann.collection("todos").patch("a1", { shared: false });
  await ann.sync();
  await until("a1 leaves bob", async () => !(await held(bob)).includes("a1"));
  expect(await held(bob)).toEqual(["b1"]);
  expect(trace.slice(from).filter((l) => l.startsWith("live:poke"))).toHaveLength(1);
  expect(trace.slice(from)).toContain("live:apply:1");
});

test("a subscription within the rules: bob subscribed to shared documents holds only those", async () => {
  const { s, bobKey } = await setup();
  const bob = await open(s.url, bobKey, { subscriptions: [{ collection: "todos", where: { shared: true } }] });
  await bob.sync();
  expect(await held(bob)).toEqual(["a1"]);
  await bob.unsubscribe("todos");
  expect(await held(bob)).toEqual([]);
});

test("a change of the rules (a new cursor fingerprint) makes the client re-pull its view", async () => {
  const { s, bobKey } = await setup();
  const file = `bob-${++n}.db`;
  const pulls: string[] = [];
  const fetch = async (input: string, init?: RequestInit) => {
    const u = new URL(input);
    if (u.pathname === "/v1/pull") pulls.push(`${u.searchParams.get("cursor") ?? "-"} ${u.searchParams.get("subs")}`);
    return globalThis.fetch(input, init);
  };
  const before = await open(s.url, bobKey, { fetch, subscriptions: [{ collection: "todos" }] }, file);
  await before.sync();
  expect(await held(before)).toEqual(["a1", "b1"]);
  await before.close();
  // The same data served under other rules: shared documents are no longer readable by others.
  const handler = createServerHandler({ store: s.store, limits: { rate: false }, rules: ["todos read: owner == auth.sub", "todos write: owner == auth.sub"].join("\n") });
  const other = await serve({ fetch: handler, port: 0 });
  cleanups.push(() => other.stop());
  const after = await open(other.url, bobKey, { fetch }, file);
  pulls.length = 0;
  const r = await after.sync();
  expect(r.reset).toBe(true);
  expect(await held(after)).toEqual(["b1"]);
  expect(pulls.at(-1)).toBe(`- ${JSON.stringify([{ collection: "todos" }])}`);
});

test("a write the rules refuse, outside the view: recorded, and its server value is not kept", async () => {
  const s = await startServer({ rules: ["index todos: shared", "todos read: true", "todos write: owner == auth.sub"].join("\n") });
  cleanups.push(() => s.stop());
  const bob = await createKey(s.store, s.tenant);
  const b = await open(s.url, bob.key);
  await b.collection("todos").put({ id: "b1", owner: bob.id, shared: false });
  await b.sync();
  const ann = await open(s.url, s.key, { subscriptions: [{ collection: "todos", where: { shared: true } }] });
  await ann.sync();
  expect(await held(ann)).toEqual([]);
  await ann.collection("todos").put({ id: "b1", owner: bob.id, shared: false, title: "not yours" }); // pending: held until answered
  expect(await held(ann)).toEqual(["b1"]);
  const r = await ann.sync();
  expect(r.issues.map((i) => [i.kind, i.id])).toEqual([["rejected", "b1"]]);
  expect(r.unresolved).toBeUndefined();
  // Its server value (readable, but outside the subscription) was fetched and not kept.
  expect(await held(ann)).toEqual([]);
  expect((await ann.issues()).map((i) => i.message)).toEqual([expect.stringContaining("forbidden")]);
});
