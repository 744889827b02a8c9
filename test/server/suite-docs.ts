import { describe, expect, test } from "bun:test";
import { useServer, type Api } from "./client.ts";
import type { SuiteContext } from "./suite.ts";

export function docsTests(name: string, ctx: SuiteContext): void {
  describe(`server direct document access [${name}]`, () => {
    let a: Api;
    useServer(ctx.start, (_server, client) => {
      a = client;
    });

    test("GET, PUT, PATCH, DELETE with If-Match; writes take sequence numbers and are pulled", async () => {
      expect((await a.call("GET", "/v1/docs/items/i1")).status).toBe(404);
      const put = await a.call("PUT", "/v1/docs/items/i1", { name: "one", tags: { a: 1 } }, { "if-match": "0" });
      expect(put.json).toEqual({ value: { id: "i1", name: "one", tags: { a: 1 } }, version: 1 });
      expect((await a.call("PUT", "/v1/docs/items/i1", { name: "x" }, { "if-match": "0" })).status).toBe(409);
      const patch = await a.call("PATCH", "/v1/docs/items/i1", { tags: { a: null, b: 2 } }, { "if-match": "1" });
      expect(patch.json).toEqual({ value: { id: "i1", name: "one", tags: { b: 2 } }, version: 2 });
      const stale = await a.call("PATCH", "/v1/docs/items/i1", { name: "late" }, { "if-match": "1" });
      expect([stale.status, stale.json.error.code]).toEqual([409, "conflict"]);
      expect((await a.call("PATCH", "/v1/docs/items/none", { a: 1 })).status).toBe(404);
      expect((await a.call("GET", "/v1/docs/items/i1")).json).toEqual(patch.json);
      expect((await a.call("DELETE", "/v1/docs/items/i1", undefined, { "if-match": "1" })).status).toBe(409);
      expect((await a.call("DELETE", "/v1/docs/items/i1")).json).toEqual({ deleted: true, version: 3 });
      expect((await a.call("DELETE", "/v1/docs/items/i1")).status).toBe(404);
      expect((await a.call("GET", "/v1/docs/items/i1")).status).toBe(404);
      const changes = (await a.pullAll()).flatMap((p) => p.changes);
      expect(changes).toEqual([{ collection: "items", id: "i1", version: 3, value: null, deleted: true }]);
    });

    test("list pages by id, and filters and orders with keyset cursors", async () => {
      const ops = Array.from({ length: 25 }, (_, i) => ({
        opId: i + 1,
        collection: "list",
        id: `k${String(i).padStart(2, "0")}`,
        op: "put" as const,
        value: { n: i % 5, even: i % 2 === 0, label: i % 3 === 0 ? null : `L${i}` },
      }));
      await a.push({ clientId: "client-lister", ops });
      const ids: string[] = [];
      let next: string | undefined;
      do {
        const r = await a.call("GET", `/v1/docs/list?limit=10${next ? `&cursor=${next}` : ""}`);
        expect(r.status).toBe(200);
        ids.push(...r.json.items.map((d: any) => d.id));
        next = r.json.next;
      } while (next);
      expect(ids).toEqual(ops.map((o) => o.id));

      const where = encodeURIComponent(JSON.stringify({ even: true, n: { gte: 2 } }));
      const got: any[] = [];
      next = undefined;
      do {
        const r = await a.call("GET", `/v1/docs/list?where=${where}&orderBy=-n&limit=2${next ? `&cursor=${next}` : ""}`);
        expect(r.status).toBe(200);
        got.push(...r.json.items);
        next = r.json.next;
      } while (next);
      const expected = ops
        .map((o) => ({ id: o.id, ...o.value }))
        .filter((d) => d.even && d.n >= 2)
        .sort((x, y) => y.n - x.n || (x.id < y.id ? 1 : -1));
      expect(got).toEqual(expected);
      const inList = await a.call("GET", `/v1/docs/list?where=${encodeURIComponent('{"n":{"in":[0,4]},"label":null}')}`);
      expect(inList.json.items.map((d: any) => d.id)).toEqual(["k00", "k09", "k15", "k24"]);
    });
  });
}
