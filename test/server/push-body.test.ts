import { afterAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import type { JsonObject } from "../../src/json.ts";
import { checkPush, push } from "../../src/server/push.ts";
import { createTenant, openServerStore } from "../../src/server/index.ts";
import { pullPage } from "../../src/server/pull.ts";
import { tempDir } from "../helpers/tmp.ts";

/**
 * A put stores its value's JSON text with `"id"` first when the value lacks it, exactly as
 * `JSON.stringify({ id, ...value })` writes it; the push reuses the text its size check
 * wrote (apply.ts, noteValueJson), which must not change a byte of it. SQLite keeps the text
 * as written, so a pull shows it.
 */
const LIMITS = { maxValueChars: 1 << 20, maxValueDepth: 64 };

describe("a put's stored text", () => {
  const dir = tempDir("stowage-push-body-");
  afterAll(() => dir.cleanup());

  test("is JSON.stringify({ id, ...value }) for values with and without id, empty, and with integer-like or odd keys", async () => {
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file("server.db") }) });
    try {
      const tenant = (await createTenant(store, "body")).id;
      const values: [string, JsonObject][] = [
        ["with-id", { id: "with-id", a: 1, b: [true, null] }],
        ["id-last", { a: "x", id: "id-last" }],
        ["no-id", { title: 'say "hi"', n: 2 }],
        ["empty", {}],
        ["int-keys", { b: 1, 2: "two", 10: "ten", a: 3 }],
        ["odd-keys", { "-1": "neg", " sp": 1, "": 0 }],
        ["int-keys-with-id", { 1: "one", id: "int-keys-with-id" }],
      ];
      const req = { clientId: "body-client", ops: values.map(([id, value], i) => ({ opId: i + 1, collection: "docs", id, op: "put" as const, value })) };
      expect(checkPush(req, LIMITS)).toEqual([]);
      const res = await push(store, tenant, req, LIMITS, Date.now());
      expect(res.results.map((r) => r.status)).toEqual(values.map(() => "applied"));
      const page = await pullPage(store, tenant, 0, 100);
      const expected = values.map(([id, value]) => `"value":${JSON.stringify(value.id === id ? value : { id, ...value })}`);
      for (const e of expected) expect(page).toContain(e);
    } finally {
      await store.close();
    }
  });

  test("of a resent push is each fresh op's own text, after the ops the server already has", async () => {
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dir.file("resend.db") }) });
    try {
      const tenant = (await createTenant(store, "resend")).id;
      const op = (opId: number, id: string, value: JsonObject) => ({ opId, collection: "docs", id, op: "put" as const, value });
      const first = { clientId: "resend-client", ops: [op(1, "a", { n: 1 }), op(2, "b", { n: 2 })] };
      expect(checkPush(first, LIMITS)).toEqual([]);
      await push(store, tenant, first, LIMITS, Date.now());
      // The answer was lost: the client sends 1 and 2 again, with 3 and 4 after them.
      const again = { clientId: "resend-client", ops: [op(1, "a", { n: 1 }), op(2, "b", { n: 2 }), op(3, "c", { n: 3, id: "c" }), op(4, "d", { m: "four" })] };
      expect(checkPush(again, LIMITS)).toEqual([]);
      const res = await push(store, tenant, again, LIMITS, Date.now());
      expect(res.results.map((r) => r.status)).toEqual(["duplicate", "duplicate", "applied", "applied"]);
      const page = JSON.parse(await pullPage(store, tenant, 0, 100)) as { changes: { id: string; value: JsonObject }[] };
      expect(page.changes.map((c) => [c.id, c.value])).toEqual([
        ["a", { id: "a", n: 1 }],
        ["b", { id: "b", n: 2 }],
        ["c", { n: 3, id: "c" }],
        ["d", { id: "d", m: "four" }],
      ]);
    } finally {
      await store.close();
    }
  });
});
