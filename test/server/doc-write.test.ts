/**
 * The one single-document write path (src/server/write.ts), on SQLite and PostgreSQL, through a
 * real listener serving the handler and the console side by side as `serve --console` does:
 * a console edit reaches a live client as a change event carrying the value, /metrics counts
 * direct /v1/docs writes and console edits, and both write with the injected clock.
 */
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createConsoleHandler } from "../../src/server/console/index.ts";
import { readTenantSeq } from "../../src/server/events/endpoint.ts";
import { ChangeFeed } from "../../src/server/events/feed.ts";
import { createKey, createServerHandler, createServerOps, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { serverMetrics } from "../../src/server/ops/metrics.ts";
import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { openEvents } from "../helpers/sse.ts";
import { tempDir } from "../helpers/tmp.ts";

setDefaultTimeout(30_000);

const ADMIN = "doc-write-admin-key-0123456789";
const CLOCK = 1_700_000_123_456;

interface Stack {
  url: string;
  key: string;
  store: ServerStore;
  stop(): Promise<void>;
}

/** Handler + console on one feed and one ops wrapper, with a fixed clock, on a real port. */
async function startStack(adapter: StowageAdapter): Promise<Stack> {
  const store = await openServerStore({ adapter });
  const { key } = await createKey(store, "acme", { createIfMissing: true });
  const metrics = serverMetrics();
  const ops = createServerOps({ metrics, metricsAccess: { open: true } });
  const feed = new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t) });
  const now = () => CLOCK;
  const handler = createServerHandler({ store, changes: feed, limits: { rate: false }, now, hooks: ops.hooks });
  const console = createConsoleHandler({ store, adminKey: ADMIN, feed, now, hooks: ops.hooks });
  const fetch = Object.assign(
    ops.wrap((req) => (console.owns(new URL(req.url).pathname) ? console(req) : handler(req))),
    { isStream: (req: Request) => handler.isStream(req) },
  );
  const server = await serve({ fetch, port: 0 });
  return {
    url: server.url,
    key,
    store,
    stop: async () => {
      console.close();
      await handler.close();
      await server.stop();
      await feed.close();
      await store.close();
    },
  };
}

function writeSuite(name: string, openAdapter: () => { adapter: StowageAdapter; cleanup(): Promise<void> | void }) {
  describe(`single-document writes (${name})`, () => {
    let s: Stack;
    let cleanup: () => Promise<void> | void;
    beforeAll(async () => {
      const a = openAdapter();
      cleanup = a.cleanup;
      s = await startStack(a.adapter);
    });
    afterAll(async () => {
      await s.stop();
      await cleanup();
    });
    const asAdmin = (path: string, init: RequestInit = {}) =>
      fetch(`${s.url}/console/api/${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json", ...(init.headers as object) } });
    const direct = (method: string, path: string, body?: unknown) =>
      fetch(`${s.url}/v1/docs/${path}`, { method, headers: { authorization: `Bearer ${s.key}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });

    test("a console edit reaches a live client as a change event carrying the value", async () => {
      const events = await openEvents(s.url, s.key, {}, "?changes=1");
      expect(events.status).toBe(200);
      await events.waitFor((i) => i.kind === "event" && i.event === "change"); // the head
      const put = await asAdmin("tenants/acme/docs/notes/n1", { method: "PUT", body: JSON.stringify({ title: "from the console", n: 7 }) });
      expect(put.status).toBe(200);
      const { version } = await put.json();
      const event = await events.waitFor((i) => i.kind === "event" && i.event === "change" && i.id === String(version), 10_000);
      const data = JSON.parse((event as { data: string }).data);
      // Without the changes (a plain poke) the client would have to pull: the old console's behaviour.
      expect(data.changes).toEqual([{ collection: "notes", id: "n1", version, value: { id: "n1", title: "from the console", n: 7 }, deleted: false }]);

      const del = await asAdmin("tenants/acme/docs/notes/n1", { method: "DELETE", headers: { "if-match": String(version) } });
      expect(del.status).toBe(200);
      const gone = await events.waitFor((i) => i.kind === "event" && i.event === "change" && i.id === String(version + 1), 10_000);
      expect(JSON.parse((gone as { data: string }).data).changes).toEqual([{ collection: "notes", id: "n1", version: version + 1, value: null, deleted: true }]);
      events.close();
    });

    test("/metrics counts direct /v1/docs writes and console edits, by result", async () => {
      expect((await direct("PUT", "todos/t1", { title: "a" })).status).toBe(200);
      expect((await direct("PATCH", "todos/t1", { done: true })).status).toBe(200);
      expect((await direct("PATCH", "todos/missing", { done: true })).status).toBe(404);
      expect((await direct("DELETE", "todos/t1")).status).toBe(200);
      expect((await direct("DELETE", "todos/t1")).status).toBe(404);
      expect((await asAdmin("tenants/acme/docs/todos/t2", { method: "PUT", body: "{}", headers: { "if-match": "99" } })).status).toBe(409);
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const sample = (labels: string) => Number(new RegExp(`^stowage_doc_writes_total\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
      expect(sample('source="api",result="applied"')).toBe(3);
      expect(sample('source="api",result="rejected"')).toBe(1);
      expect(sample('source="api",result="not_found"')).toBe(1);
      expect(sample('source="console",result="conflict"')).toBe(1);
      expect(sample('source="console",result="applied"')).toBe(2); // the previous test's put and delete
    });

    test("direct writes and console edits are written with the injected clock", async () => {
      expect((await direct("PUT", "clock/a", { x: 1 })).status).toBe(200);
      expect((await asAdmin("tenants/acme/docs/clock/b", { method: "PUT", body: JSON.stringify({ x: 2 }) })).status).toBe(200);
      const rows = await s.store.db.selectFrom("stowage_docs").select(["id", "updated_at"]).where("collection", "=", "clock").orderBy("id").execute();
      expect(rows.map((r) => [r.id, Number(r.updated_at)])).toEqual([
        ["a", CLOCK],
        ["b", CLOCK],
      ]);
    });
  });
}

const tmp = tempDir("stowage-doc-write-");
afterAll(() => tmp.cleanup());
writeSuite("sqlite", () => ({ adapter: createBunSqliteAdapter({ path: join(tmp.path, "s.db") }), cleanup: () => {} }));
if (await pgAvailable("single-document writes on PostgreSQL")) {
  writeSuite("postgres", () => {
    const pg = pgTestAdapter();
    return { adapter: pg.adapter, cleanup: pg.drop };
  });
}
