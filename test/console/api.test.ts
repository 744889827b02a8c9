/**
 * The console's admin API in process (no browser): admin-only, deletes and edits take
 * sequence numbers and poke the feed, the change stream sends the changed rows, bad input is a
 * 4xx with the error shape.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { ChangeFeed } from "../../src/server/events/feed.ts";
import { readTenantSeq } from "../../src/server/events/endpoint.ts";
import { createConsoleHandler } from "../../src/server/console/index.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { pullPage } from "../../src/server/pull.ts";
import { tempDir } from "../helpers/tmp.ts";

const tmp = tempDir("stowage-console-api-");
const ADMIN = "api-admin-key-0123456789";
const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: join(tmp.path, "s.db") }) });
const feed = new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t) });
const consoleHandler = createConsoleHandler({ store, adminKey: ADMIN, feed });
afterAll(async () => {
  consoleHandler.close();
  await feed.close();
  await store.close();
  tmp.cleanup();
});

const call = (path: string, init: RequestInit & { key?: string } = {}) =>
  consoleHandler(new Request(`http://x/console/api/${path}`, { ...init, headers: { authorization: `Bearer ${init.key ?? ADMIN}`, "content-type": "application/json", ...(init.headers as object) } }));

test("only the admin key opens the API; a tenant key is a 401", async () => {
  const { key } = await createKey(store, "acme", { createIfMissing: true });
  expect((await call("tenants", { key })).status).toBe(401);
  expect((await call("tenants", { key: "x".repeat(24) })).status).toBe(401);
  const ok = await call("tenants");
  expect(ok.status).toBe(200);
  expect((await ok.json()).map((t: { name: string }) => t.name)).toEqual(["acme"]);
});

test("edits and deletes take sequence numbers, are pulled by clients and stream as rows; stale If-Match is a 409", async () => {
  const seen: number[] = [];
  const stop = feed.subscribe((await store.db.selectFrom("stowage_tenants").select("id").where("name", "=", "acme").executeTakeFirstOrThrow()).id, (s) => seen.push(s));
  const stream = await call("tenants/acme/changes?after=0");
  const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();

  const put = await call("tenants/acme/docs/todos/a1", { method: "PUT", body: JSON.stringify({ title: "one" }) });
  expect(put.status).toBe(200);
  const { version } = await put.json();
  expect(version).toBe(1);
  expect((await call("tenants/acme/docs/todos/a1", { method: "PUT", body: "{}", headers: { "if-match": "7" } })).status).toBe(409);
  const del = await call("tenants/acme/docs/todos/a1", { method: "DELETE", headers: { "if-match": "1" } });
  expect(await del.json()).toEqual({ deleted: true, version: 2 });
  expect(seen).toEqual([1, 2]);

  const tenantId = (await store.db.selectFrom("stowage_tenants").select("id").where("name", "=", "acme").executeTakeFirstOrThrow()).id;
  const pulled = JSON.parse(await pullPage(store, tenantId, 0, 100));
  expect(pulled.changes.map((c: { id: string; version: number; deleted: boolean }) => [c.id, c.version, c.deleted])).toEqual([["a1", 2, true]]);

  let text = "";
  while (!text.includes('"seq":2')) text += (await reader.read()).value;
  expect(text).toContain("event: head");
  expect(text).toContain('"collection":"todos","id":"a1","deleted":true');
  await reader.cancel();
  stop();
});

test("bad input answers 4xx with the error shape, never a 500", async () => {
  const bad = [
    await call("tenants", { method: "POST", body: JSON.stringify({ name: "no spaces" }) }),
    await call("tenants", { method: "POST", body: JSON.stringify({ name: "acme" }) }),
    await call("keys", { method: "POST", body: JSON.stringify({ tenant: "acme", scope: "admin" }) }),
    await call("keys/k_nope/revoke", { method: "POST" }),
    await call("tenants/nobody/collections"),
    await call("tenants/acme/docs/Bad-Name"),
    await call("tenants/acme/docs/todos?where=nope"),
    await call("tenants/acme/docs/todos/a1", { method: "PUT", body: "[1]" }),
    await call("tenants/acme/docs/todos/missing"),
    await call("nothing/here"),
  ];
  expect(bad.map((r) => r.status)).toEqual([400, 400, 400, 400, 404, 400, 400, 400, 404, 404]);
  for (const r of bad) expect((await r.json()).error.code).toMatch(/^[a-z_]+$/);
});
