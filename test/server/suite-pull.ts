import { describe, expect, test } from "bun:test";
import { gc } from "../../src/server/index.ts";
import { api, puts, useServer, type Api } from "./client.ts";
import type { SuiteContext } from "./suite.ts";

export function pullTests(name: string, ctx: SuiteContext): void {
  describe(`server pull [${name}]`, () => {
    let a: Api;
    useServer(ctx.start, (_server, client) => {
      a = client;
    });

    test("paginates over 10,000 changes: each document once, at its latest version, in order", async () => {
      for (let b = 0; b < 20; b++) await a.push({ clientId: "client-pager", ops: puts(500, { firstOpId: b * 500 + 1 }) });
      // Rewrite 100 documents: they move to the end of the sequence.
      const rewrite = Array.from({ length: 100 }, (_, i) => ({ opId: 10_001 + i, collection: "todos", id: `d${i * 100 + 1}`, op: "patch" as const, value: { edited: true } }));
      await a.push({ clientId: "client-pager", ops: rewrite });
      const pages = await a.pullAll(undefined, 1000);
      expect(pages.length).toBe(10);
      expect(pages.map((p) => p.more)).toEqual([...Array(9).fill(true), false]);
      const changes = pages.flatMap((p) => p.changes);
      expect(changes.length).toBe(10_000);
      expect(new Set(changes.map((c) => c.id)).size).toBe(10_000);
      for (let i = 1; i < changes.length; i++) expect(changes[i].version).toBeGreaterThan(changes[i - 1].version);
      expect(changes.slice(-100).map((c) => c.id)).toEqual(rewrite.map((r) => r.id));
      expect(changes.slice(-100).every((c) => (c.value as any).edited === true && c.version > 10_000)).toBe(true);
      expect(changes[changes.length - 1].version).toBe(10_100);
      // The last cursor is caught up; a default-limit pull pages by 500.
      const tail = await a.pull(pages[9].cursor);
      expect(tail).toEqual({ changes: [], cursor: pages[9].cursor, more: false });
      const first = await a.pull();
      expect("changes" in first && first.changes.length).toBe(500);
      // A page boundary resumes exactly: cursors cover exactly the changes returned.
      const p1 = await a.pull(undefined, 7);
      const p2 = await a.pull("changes" in p1 ? p1.cursor : "", 7);
      expect("changes" in p2 && p2.changes.map((c) => c.id)).toEqual(changes.slice(7, 14).map((c) => c.id));
    });

    test("tombstones propagate; a cursor behind the purge horizon or ahead of the server answers reset", async () => {
      const t = await ctx.start();
      const b = api(t.url, t.key);
      try {
        await b.push({ clientId: "client-gc", ops: puts(10, { prefix: "g" }) });
        const early = await b.pull(undefined, 3);
        const del = await b.push({ clientId: "client-gc", ops: [2, 3, 4].map((n, i) => ({ opId: 11 + i, collection: "todos", id: `g${n}`, op: "delete" as const })) });
        expect(del.results.map((r) => r.version)).toEqual([11, 12, 13]);
        const all = (await b.pullAll()).flatMap((p) => p.changes);
        expect(all.filter((c) => c.deleted).map((c) => [c.id, c.value, c.version])).toEqual([["g2", null, 11], ["g3", null, 12], ["g4", null, 13]]);
        // Nothing is old enough yet.
        expect((await gc(t.store, { olderThanMs: 60_000 })).tombstones).toBe(0);
        const report = await gc(t.store, { olderThanMs: 0, now: Date.now() + 1000 });
        expect(report.tombstones).toBe(3);
        expect(await b.pull("changes" in early ? early.cursor : "")).toEqual({ reset: true });
        expect(await b.pull("v1.10")).toEqual({ reset: true }); // saw every put, none of the deletes
        expect(await b.pull("v1.999")).toEqual({ reset: true });
        // At the horizon nothing was missed; from the start the live documents come without tombstones.
        expect(await b.pull("v1.13")).toEqual({ changes: [], cursor: "v1.13", more: false });
        const fresh = (await b.pullAll()).flatMap((p) => p.changes);
        expect(fresh.map((c) => c.id)).toEqual(["g1", "g5", "g6", "g7", "g8", "g9", "g10"]);
        // New writes continue the sequence.
        const next = await b.push({ clientId: "client-gc", ops: puts(1, { prefix: "g", firstOpId: 20 }) });
        expect(next.results[0].version).toBe(14);
      } finally {
        await t.stop();
      }
    });

    test("bad cursors and limits are refused", async () => {
      for (const q of ["cursor=abc", "cursor=v1.-1", "cursor=v2.5", "cursor=v1.01", "cursor=v1.99999999999999999", "limit=0", "limit=1001", "limit=x", "limit=1.5", "limit=", "other=1", "limit=5&limit=6"]) {
        const r = await a.call("GET", `/v1/pull?${q}`);
        expect([q, r.status]).toEqual([q, 400]);
        expect(["bad_request", "invalid_cursor"]).toContain(r.json.error.code);
      }
      expect((await a.call("GET", "/v1/pull?cursor=zz")).json.error.code).toBe("invalid_cursor");
    });
  });
}
