/**
 * The console's tenant and search API on both server stores: rename keeps a tenant's keys and
 * data, delete takes everything (its keys answer 401) and needs the name as confirmation,
 * search finds documents containing every word, ranks them, and says when it stopped early.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { createConsoleHandler } from "../../src/server/console/index.ts";
import { searchDocs } from "../../src/server/console/search.ts";
import { createKey, createServerHandler, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { tempDir } from "../helpers/tmp.ts";

const ADMIN = "tenant-admin-key-0123456789";

function suite(name: string, open: () => { adapter: StowageAdapter; cleanup(): Promise<void> | void }) {
  describe(`console tenant admin and search (${name})`, () => {
    let store: ServerStore;
    let cleanup: () => Promise<void> | void;
    let admin: ReturnType<typeof createConsoleHandler>;
    let api: ReturnType<typeof createServerHandler>;
    beforeAll(async () => {
      const o = open();
      cleanup = o.cleanup;
      store = await openServerStore({ adapter: o.adapter });
      admin = createConsoleHandler({ store, adminKey: ADMIN });
      api = createServerHandler({ store, limits: { rate: false } });
    });
    afterAll(async () => {
      admin.close();
      await store.close();
      await cleanup();
    });
    const call = (path: string, init: RequestInit = {}) =>
      admin(new Request(`http://x/console/api/${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" } }));
    const direct = (key: string, method: string, path: string, body?: unknown) =>
      api(new Request(`http://x/v1/docs/${path}`, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) }));
    const put = (tenant: string, c: string, id: string, value: unknown) => call(`tenants/${tenant}/docs/${c}/${id}`, { method: "PUT", body: JSON.stringify(value) });

    test("search: every word must occur (any case, any field, any depth); ranked by occurrences; one collection on request", async () => {
      await createKey(store, "findme", { createIfMissing: true });
      expect((await put("findme", "notes", "a", { text: "Blue umbrella", extra: { deep: ["storm coming"] } })).status).toBe(200);
      expect((await put("findme", "notes", "b", { text: "umbrella umbrella storm" })).status).toBe(200);
      expect((await put("findme", "notes", "c", { text: "sunny day" })).status).toBe(200);
      expect((await put("findme", "todos", "d", { title: "buy an UMBRELLA before the storm" })).status).toBe(200);
      const res = await call("tenants/findme/search?q=umbrella%20STORM");
      expect(res.status).toBe(200);
      const answer = await res.json();
      expect(answer.hits.map((h: { collection: string; id: string; score: number }) => [h.collection, h.id, h.score])).toEqual([
        ["notes", "b", 3],
        ["notes", "a", 2],
        ["todos", "d", 2],
      ]);
      expect(answer.hits[0].snippet).toBe("umbrella umbrella storm");
      expect(answer).toMatchObject({ terms: ["umbrella", "STORM"], scanned: 4, truncated: false });
      const only = await (await call("tenants/findme/search?q=umbrella&collection=todos")).json();
      expect(only.hits.map((h: { id: string }) => h.id)).toEqual(["d"]);
      // A bounded scan says it stopped.
      const tenantId = (await store.db.selectFrom("stowage_tenants").select("id").where("name", "=", "findme").executeTakeFirstOrThrow()).id;
      expect(await searchDocs(store, tenantId, "umbrella", { maxScanned: 2 })).toMatchObject({ scanned: 2, truncated: true });
      // Deleted documents are not found; bad queries are a 400.
      expect((await call("tenants/findme/docs/notes/b", { method: "DELETE" })).status).toBe(200);
      expect((await (await call("tenants/findme/search?q=umbrella")).json()).hits.map((h: { id: string }) => h.id)).toEqual(["a", "d"]);
      expect((await call("tenants/findme/search?q=%20%20")).status).toBe(400);
      expect((await call("tenants/findme/search?q=x&collection=Bad-Name")).status).toBe(400);
    });

    test("rename keeps the tenant's id, keys and data; a taken or invalid name is a 400", async () => {
      const { key } = await createKey(store, "oldname", { createIfMissing: true });
      expect((await direct(key, "PUT", "todos/r1", { n: 1 })).status).toBe(200);
      await createKey(store, "taken", { createIfMissing: true });
      expect((await call("tenants/oldname", { method: "PATCH", body: JSON.stringify({ name: "taken" }) })).status).toBe(400);
      expect((await call("tenants/oldname", { method: "PATCH", body: JSON.stringify({ name: "no spaces" }) })).status).toBe(400);
      const res = await call("tenants/oldname", { method: "PATCH", body: JSON.stringify({ name: "newname" }) });
      expect(res.status).toBe(200);
      expect((await res.json()).name).toBe("newname");
      expect((await call("tenants/oldname/collections")).status).toBe(404);
      expect(await (await call("tenants/newname/collections")).json()).toEqual([{ name: "todos", docs: 1 }]);
      expect((await direct(key, "GET", "todos/r1")).status).toBe(200);
      expect((await direct(key, "PUT", "todos/r2", { n: 2 })).status).toBe(200);
    });

    test("delete needs ?confirm=<name>, then takes documents, history and keys (401 after)", async () => {
      const { key } = await createKey(store, "doomed", { createIfMissing: true });
      const other = await createKey(store, "bystander", { createIfMissing: true });
      expect((await direct(key, "PUT", "todos/x1", { n: 1 })).status).toBe(200);
      expect((await direct(key, "PUT", "todos/x2", { n: 2 })).status).toBe(200);
      expect((await direct(key, "DELETE", "todos/x2")).status).toBe(200);
      expect((await direct(other.key, "PUT", "todos/keep", { n: 1 })).status).toBe(200);
      expect((await call("tenants/doomed", { method: "DELETE" })).status).toBe(400);
      expect((await call("tenants/doomed?confirm=doome", { method: "DELETE" })).status).toBe(400);
      expect((await direct(key, "GET", "todos/x1")).status).toBe(200); // nothing happened
      const res = await call("tenants/doomed?confirm=doomed", { method: "DELETE" });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ tenant: { name: "doomed" }, docs: 1, keys: 1 });
      expect((await direct(key, "GET", "todos/x1")).status).toBe(401);
      expect((await call("tenants/doomed/collections")).status).toBe(404);
      const tenantRows = await store.db.selectFrom("stowage_tenants").select("name").where("name", "=", "doomed").execute();
      expect(tenantRows).toEqual([]);
      expect((await direct(other.key, "GET", "todos/keep")).status).toBe(200); // other tenants untouched
    });
  });
}

const tmp = tempDir("stowage-tenant-admin-");
afterAll(() => tmp.cleanup());
suite("sqlite", () => ({ adapter: createBunSqliteAdapter({ path: join(tmp.path, "s.db") }), cleanup: () => {} }));
if (await pgAvailable("console tenant admin on PostgreSQL")) {
  suite("postgres", () => {
    const pg = pgTestAdapter();
    return { adapter: pg.adapter, cleanup: pg.drop };
  });
}
