import { describe, expect, test } from "bun:test";
import { constantTimeEqual, createKey, listKeys, revokeKey, sha256Hex } from "../../src/server/index.ts";
import type { TestServer } from "../helpers/server.ts";
import { api, puts, useServer, type Api } from "./client.ts";
import type { SuiteContext } from "./suite.ts";

export function isolationTests(name: string, ctx: SuiteContext): void {
  describe(`server tenant isolation [${name}]`, () => {
    let s: TestServer;
    let a: Api;
    let b: Api;
    useServer(ctx.start, async (server, client) => {
      s = server;
      a = client;
      b = api(s.url, (await createKey(s.store, "tenant-b", { createIfMissing: true })).key);
      await b.push({ clientId: "shared-client", ops: puts(5, { prefix: "secret-", collection: "vault" }) });
    });

    test("a key of tenant A cannot read, write or learn of tenant B's data on any endpoint", async () => {
      expect(await a.pull()).toEqual({ changes: [], cursor: "v1.0", more: false });
      expect(await a.pull("v1.3")).toEqual({ reset: true }); // B's sequence is not A's
      expect((await a.call("GET", "/v1/docs/vault")).json).toEqual({ items: [], versions: [] });
      expect((await a.call("GET", `/v1/docs/vault?where=${encodeURIComponent('{"n":{"gte":0}}')}&orderBy=-n`)).json).toEqual({ items: [], versions: [] });
      const get = await a.call("GET", "/v1/docs/vault/secret-1");
      expect(get.status).toBe(404);
      expect((await a.call("PATCH", "/v1/docs/vault/secret-1", { x: 1 })).status).toBe(404);
      expect((await a.call("DELETE", "/v1/docs/vault/secret-1")).status).toBe(404);
      expect((await a.call("PUT", "/v1/docs/vault/secret-1", { x: 1 }, { "if-match": "1" })).status).toBe(409);
      // Same clientId in A: its own op-id mark, so op 1 is applied, not a duplicate of B's.
      const pushed = await a.push({
        clientId: "shared-client",
        ops: [
          { opId: 1, collection: "vault", id: "secret-2", op: "put", value: { mine: true }, baseVersion: 2 },
          { opId: 2, collection: "vault", id: "secret-3", op: "patch", value: { x: 1 } },
          { opId: 3, collection: "vault", id: "secret-4", op: "put", value: { mine: true } },
        ],
      });
      expect(pushed.results.map((r) => r.status)).toEqual(["conflict", "rejected", "applied"]);
      expect(pushed.results[0]).toMatchObject({ value: null });
      expect(pushed.results[0].version).toBeUndefined();
      expect(pushed.results[2].version).toBe(1); // A's sequence starts at 1
      // B sees exactly its own data, untouched.
      const bChanges = (await b.pullAll()).flatMap((p) => p.changes);
      expect(bChanges.map((c) => [c.id, c.version, c.value])).toEqual(
        [1, 2, 3, 4, 5].map((i) => [`secret-${i}`, i, { id: `secret-${i}`, title: `t${i}`, n: i }]),
      );
      const aChanges = (await a.pullAll()).flatMap((p) => p.changes);
      expect(aChanges.map((c) => [c.id, c.value])).toEqual([["secret-4", { id: "secret-4", mine: true }]]);
    });

    test("keys are stored as SHA-256 only, listed without secrets, and revocable by id", async () => {
      const made = await createKey(s.store, "tenant-c", { createIfMissing: true, label: "ci" });
      expect(made.key).toMatch(/^stw_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
      const rows = await s.store.db.selectFrom("stowage_keys").selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain(made.key.slice(21));
      expect(rows.find((r) => r.id === made.id)?.hash).toBe(await sha256Hex(made.key));
      const listed = await listKeys(s.store, "tenant-c");
      expect(listed.map((k) => [k.id, k.tenantName, k.label, k.revokedAt])).toEqual([[made.id, "tenant-c", "ci", null]]);
      expect(JSON.stringify(listed)).not.toContain(made.key.slice(21));
      const c = api(s.url, made.key);
      expect((await c.call("GET", "/v1/pull")).status).toBe(200);
      expect((await revokeKey(s.store, made.id)).revokedAt).not.toBeNull();
      expect((await c.call("GET", "/v1/pull")).status).toBe(401);
      expect(constantTimeEqual("abc", "abc")).toBe(true);
      expect(constantTimeEqual("abc", "abd")).toBe(false);
      expect(constantTimeEqual("abc", "abcd")).toBe(false);
      expect(constantTimeEqual("", "a")).toBe(false);
    });
  });
}
