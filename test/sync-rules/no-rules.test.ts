import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { call, startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";

/** Without --rules: everything as before, whole-collection subscriptions, no filters, rules' cursors reset. */
describe("subscriptions without sync rules", () => {
  let s: EmbeddedServer;
  const enc = (v: unknown) => encodeURIComponent(JSON.stringify(v));
  beforeAll(async () => {
    s = await startEmbedded();
    for (const [c, id] of [["todos", "t1"], ["notes", "n1"], ["todos", "t2"]]) expect((await call(s.url, s.key, "PUT", `/v1/docs/${c}/${id}`, { x: 1 })).status).toBe(200);
    expect((await call(s.url, s.key, "DELETE", "/v1/docs/todos/t2")).status).toBe(200);
  });
  afterAll(() => s.stop());

  test("no subs: the page and cursor are exactly as before", async () => {
    const r = await call(s.url, s.key, "GET", "/v1/pull");
    expect(r.json).toEqual({
      changes: [
        { collection: "todos", id: "t1", version: 1, value: { id: "t1", x: 1 }, deleted: false },
        { collection: "notes", id: "n1", version: 2, value: { id: "n1", x: 1 }, deleted: false },
        { collection: "todos", id: "t2", version: 4, value: null, deleted: true },
      ],
      cursor: "v1.4",
      more: false,
    });
  });

  test("a whole-collection subscription holds that collection; its tombstones come after the start", async () => {
    const r = await call(s.url, s.key, "GET", `/v1/pull?subs=${enc([{ collection: "todos" }])}`);
    expect(r.json).toEqual({ changes: [{ collection: "todos", id: "t1", version: 1, value: { id: "t1", x: 1 }, deleted: false }], cursor: "v1.4", more: false });
    const later = await call(s.url, s.key, "GET", `/v1/pull?cursor=v1.1&subs=${enc([{ collection: "todos" }])}`);
    expect(later.json.changes).toEqual([{ collection: "todos", id: "t2", version: 4, value: null, deleted: true }]);
  });

  test("a where is unindexed without rules; a rules cursor is reset", async () => {
    const r = await call(s.url, s.key, "GET", `/v1/pull?subs=${enc([{ collection: "todos", where: { x: 1 } }])}`);
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("unindexed_filter");
    expect(r.json.error.message).toContain('serve with --rules FILE holding "index todos: x"');
    expect((await call(s.url, s.key, "GET", "/v1/pull?cursor=v1.2.fabc")).json).toEqual({ reset: true });
    expect((await call(s.url, s.key, "POST", "/v1/push?pull=v1.2.fabc", { clientId: "client-nr-1", ops: [{ opId: 1, collection: "todos", id: "t9", op: "put", value: {} }] })).json.pull).toEqual({ reset: true });
    for (const bad of ["[]", "{}", '[{"collection":"Todos"}]', "nope", '[{"collection":"todos","extra":1}]']) {
      const b = await call(s.url, s.key, "GET", `/v1/pull?subs=${encodeURIComponent(bad)}`);
      expect([bad, b.status, b.json.error.code]).toEqual([bad, 400, "bad_request"]);
    }
  });
});
