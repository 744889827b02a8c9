import { describe, expect, test } from "bun:test";
import type { JsonObject } from "../../src/json.ts";
import { createServer, connect, type Server, type Socket } from "node:net";
import { gc } from "../../src/server/gc.ts";
import type { TestServer } from "../helpers/server.ts";
import { api, puts, useServer, type Api } from "./client.ts";
import type { SuiteContext } from "./suite.ts";

export function pushTests(name: string, ctx: SuiteContext): void {
  describe(`server push [${name}]`, () => {
    let s: TestServer;
    let a: Api;
    useServer(ctx.start, (server, client) => {
      s = server;
      a = client;
    });

    test("the same batch sent twice is applied once; refusals are replayed", async () => {
      const ops = [
        ...puts(3, { prefix: "twice-" }),
        { opId: 4, collection: "todos", id: "twice-missing", op: "patch" as const, value: { x: 1 } },
      ];
      const first = await a.push({ clientId: "client-twice", ops });
      expect(first.results.map((r) => r.status)).toEqual(["applied", "applied", "applied", "rejected"]);
      expect(first.results[3].error?.code).toBe("not_found");
      expect(first.lastOpId).toBe(4);
      const again = await a.push({ clientId: "client-twice", ops });
      expect(again.results.map((r) => r.status)).toEqual(["duplicate", "duplicate", "duplicate", "rejected"]);
      expect(again.results[3]).toEqual(first.results[3]);
      expect(again.lastOpId).toBe(4);
      const changes = (await a.pullAll()).flatMap((p) => p.changes).filter((c) => c.id.startsWith("twice-"));
      expect(changes.map((c) => [c.id, c.version])).toEqual([["twice-1", first.results[0].version!], ["twice-2", first.results[1].version!], ["twice-3", first.results[2].version!]]);
    });

    test("a refusal is replayed however old until the client reports it settled; then gc forgets it", async () => {
      const refused = { opId: 1, collection: "todos", id: "settle-missing", op: "patch" as const, value: { x: 1 } };
      const first = await a.push({ clientId: "client-settle", settled: 0, ops: [refused] });
      expect(first.results[0].status).toBe("rejected");
      // The answer was lost. A gc far in the future keeps the refusal: the client has not settled op 1.
      const later = Date.now() + 400 * 86_400_000;
      expect((await gc(s.store, { olderThanMs: 0, now: later })).opResults).toBe(0);
      const resent = await a.push({ clientId: "client-settle", settled: 0, ops: [refused] });
      expect(resent.results).toEqual(first.results);
      // Op 1 settled (reported with op 2): the next gc forgets exactly that record, at any age.
      const next = await a.push({ clientId: "client-settle", settled: 1, ops: [{ opId: 2, collection: "todos", id: "settle-2", op: "put", value: { v: 2 } }] });
      expect(next.results.map((r) => r.status)).toEqual(["applied"]);
      expect((await gc(s.store, { olderThanMs: 30 * 86_400_000 })).opResults).toBe(1);
      await a.push({ clientId: "client-settle", settled: 1, ops: [{ opId: 3, collection: "todos", id: "settle-missing", op: "patch", value: { y: 1 } }] });
      expect((await gc(s.store, { olderThanMs: 0, now: later })).opResults).toBe(0);
      await a.push({ clientId: "client-settle", settled: 3, ops: [{ opId: 4, collection: "todos", id: "settle-4", op: "put", value: { v: 4 } }] });
      // A late copy of an older request carries an older mark: the kept mark does not go back.
      await a.push({ clientId: "client-settle", settled: 0, ops: [{ opId: 5, collection: "todos", id: "settle-5", op: "put", value: { v: 5 } }] });
      const mark = await s.store.db.selectFrom("stowage_clients").select("settled_op_id").where("client_id", "=", "client-settle").executeTakeFirstOrThrow();
      expect(Number(mark.settled_op_id)).toBe(3);
      expect((await gc(s.store, { olderThanMs: 0, now: later })).opResults).toBe(1);
    });

    test("?pull=<cursor> answers the pull page after that cursor, read after the push committed", async () => {
      const start = (await a.pullAll()).at(-1)!.cursor;
      const other = await a.push({ clientId: "client-pp-other", ops: puts(1, { prefix: "pp-other-" }) });
      const r = await a.call("POST", `/v1/push?pull=${encodeURIComponent(start)}&limit=10`, { clientId: "client-pp", ops: puts(2, { prefix: "pp-" }) });
      expect(r.status).toBe(200);
      const mine = r.json.results as { status: string; version: number }[];
      expect(mine.map((x) => x.status)).toEqual(["applied", "applied"]);
      // The other client's change and ours, in commit order, at the versions the push answered.
      const page = r.json.pull;
      expect(page.changes.map((c: { id: string; version: number }) => [c.id, c.version])).toEqual([
        ["pp-other-1", other.results[0].version!],
        ["pp-1", mine[0].version],
        ["pp-2", mine[1].version],
      ]);
      expect(page.more).toBe(false);
      expect(page.cursor).toBe(`v1.${mine[1].version}`);
      // The same text a plain pull of that cursor answers.
      expect(JSON.stringify(page)).toBe(JSON.stringify(await a.pull(start, 10)));
      // A smaller page says there is more, like a pull would.
      const small = await a.call("POST", `/v1/push?pull=${encodeURIComponent(start)}&limit=1`, { clientId: "client-pp", ops: puts(1, { prefix: "pp-more-", firstOpId: 3 }) });
      expect(small.json.pull.changes.map((c: { id: string }) => c.id)).toEqual(["pp-other-1"]);
      expect(small.json.pull.more).toBe(true);
      // Without the parameter a push answers no page.
      const plain = await a.push({ clientId: "client-pp", ops: puts(1, { prefix: "pp-plain-", firstOpId: 4 }) });
      expect("pull" in plain).toBe(false);
    });

    test("a caught-up client's ?pull= page is its own commit's rows: what a pull right after it reads, through every kind of op", async () => {
      // handler.ts answers it from the commit (events/changes.ts commitPage) when the cursor is
      // where the commit began; the answer must be what a read would have been, op for op.
      const sqlite = s.store.dialect.keepsJsonText;
      // (A read's page has a change per line, docs/PROTOCOL.md "Page layout"; re-serializing keeps the order of keys.)
      const same = (got: string, read: string) => (sqlite ? expect(got).toBe(JSON.stringify(JSON.parse(read))) : expect(JSON.parse(got)).toEqual(JSON.parse(read)));
      let cursor = (await a.pullAll()).at(-1)!.cursor;
      let opId = 0;
      const put = (id: string, value: JsonObject) => ({ opId: ++opId, collection: "caught", id, op: "put" as const, value });
      const rounds: Record<string, unknown>[][] = [
        [put("c-1", { n: 1, nested: { b: 2, a: [1, "é"] } })],
        [put("c-2", { id: "c-2", z: 1, a: 2 }), put("c-3", { n: 3 }), put("c-2", { again: true })], // c-2 twice: one row
        [{ opId: ++opId, collection: "caught", id: "c-1", op: "patch", value: { n: 10, nested: { a: null } } }],
        [{ opId: ++opId, collection: "caught", id: "c-3", op: "delete" }, { opId: ++opId, collection: "caught", id: "never-there", op: "delete" }],
        [{ opId: ++opId, tx: 1, collection: "caught", id: "c-4", op: "put", value: { t: 1 } }, { opId: ++opId, tx: 1, collection: "other", id: "c-4", op: "put", value: { t: 2 } }],
        // Another client, caught up too: its stale write is a conflict, its other op lands.
        [{ opId: 1, collection: "caught", id: "c-1", op: "put", value: { stale: true }, baseVersion: 1 }, { opId: 2, collection: "caught", id: "c-5", op: "put", value: { after: "conflict" } }],
      ];
      for (const [i, ops] of rounds.entries()) {
        const clientId = i === rounds.length - 1 ? "client-caught-up-2" : "client-caught-up";
        const r = await a.call("POST", `/v1/push?pull=${encodeURIComponent(cursor)}&limit=100`, { clientId, ops });
        expect(r.status).toBe(200);
        if (i === rounds.length - 1) expect(r.json.results.map((x: { status: string }) => x.status)).toEqual(["conflict", "applied"]);
        const page = JSON.stringify(r.json.pull);
        const read = await a.call("GET", `/v1/pull?cursor=${encodeURIComponent(cursor)}&limit=100`);
        same(page, read.text);
        expect(r.json.pull.more).toBe(false);
        expect(r.json.pull.changes.length).toBeGreaterThan(0);
        cursor = r.json.pull.cursor;
      }
      expect(await a.pull(cursor)).toEqual({ changes: [], cursor, more: false });
      // A page smaller than the commit is read instead, and says there is more.
      const small = await a.call("POST", `/v1/push?pull=${encodeURIComponent(cursor)}&limit=1`, { clientId: "client-caught-up", ops: [put("c-6", {}), put("c-7", {})] });
      expect([small.json.pull.changes.length, small.json.pull.more]).toEqual([1, true]);
      same(JSON.stringify(small.json.pull), (await a.call("GET", `/v1/pull?cursor=${encodeURIComponent(cursor)}&limit=1`)).text);
    });

    test("asSent: only when every applied op left its document as sent (SQLite, puts holding their id, deletes)", async () => {
      const sqlite = s.store.dialect.keepsJsonText;
      const put = (opId: number, id: string, value: JsonObject) => ({ opId, collection: "todos", id, op: "put" as const, value });
      const r1 = await a.push({ clientId: "client-as-sent", ops: [put(1, "as-1", { id: "as-1", b: 1, a: [1.5, "é"] }), put(2, "as-2", { id: "as-2" })] });
      expect(r1.asSent).toBe(sqlite ? true : undefined);
      // ...and a pull brings back exactly the text sent.
      const page = await a.call("GET", `/v1/pull?cursor=v1.${r1.results[0].version! - 1}&limit=1`);
      if (sqlite) expect(page.text).toContain(`"value":${JSON.stringify({ id: "as-1", b: 1, a: [1.5, "é"] })}`);
      const r2 = await a.push({ clientId: "client-as-sent", ops: [{ opId: 3, collection: "todos", id: "as-2", op: "delete" }] });
      expect(r2.asSent).toBe(sqlite ? true : undefined);
      // A patch merges with what the server holds; a put without its id is stored with it.
      const r3 = await a.push({ clientId: "client-as-sent", ops: [put(4, "as-3", { id: "as-3" }), { opId: 5, collection: "todos", id: "as-1", op: "patch", value: { c: 1 } }] });
      expect(r3.results.map((r) => r.status)).toEqual(["applied", "applied"]);
      expect(r3.asSent).toBeUndefined();
      const r4 = await a.push({ clientId: "client-as-sent", ops: [put(6, "as-4", { v: 1 })] });
      expect(r4.asSent).toBeUndefined();
      // Nothing applied (a replayed batch): nothing to claim.
      const r5 = await a.push({ clientId: "client-as-sent", ops: [put(6, "as-4", { v: 1 })] });
      expect(r5.results[0].status).toBe("duplicate");
      expect(r5.asSent).toBeUndefined();
    });

    test("a bad pull request on a push is refused (400) before the push is applied", async () => {
      const op = puts(1, { prefix: "pp-bad-" });
      for (const [query, code] of [
        ["pull=v1.x", "invalid_cursor"],
        ["pull=v1.1&limit=0", "bad_request"],
        ["pull=v1.1&limit=ten", "bad_request"],
        ["limit=5", "bad_request"],
        ["pull=v1.1&pull=v1.2", "bad_request"],
        ["cursor=v1.1", "bad_request"],
      ]) {
        const r = await a.call("POST", `/v1/push?${query}`, { clientId: "client-pp-bad", ops: op });
        expect([query, r.status, r.json?.error?.code]).toEqual([query, 400, code]);
      }
      // Nothing was applied: the same op is fresh, not a duplicate.
      expect((await a.push({ clientId: "client-pp-bad", ops: op })).results.map((x) => x.status)).toEqual(["applied"]);
    });

    test("the same batch sent twice at once is applied once", async () => {
      const ops = puts(200, { prefix: "race-" });
      const [x, y] = await Promise.all([a.push({ clientId: "client-racer", ops }), a.push({ clientId: "client-racer", ops })]);
      const statuses = [x, y].map((r) => [...new Set(r.results.map((o) => o.status))]);
      expect(statuses.sort()).toEqual([["applied"], ["duplicate"]]);
      const raced = (await a.pullAll()).flatMap((p) => p.changes).filter((c) => c.id.startsWith("race-"));
      expect(raced.length).toBe(200);
    });

    test("a batch resent after the connection dropped post-commit is applied once", async () => {
      // A proxy that forwards the request, then drops the client once the server starts answering.
      const target = new URL(s.url);
      let drop = true;
      const sockets: Socket[] = [];
      const proxy: Server = createServer((client) => {
        const upstream = connect(Number(target.port), target.hostname);
        sockets.push(client, upstream);
        client.on("data", (d) => upstream.write(d));
        client.on("error", () => {});
        upstream.on("error", () => {});
        upstream.on("data", (d) => {
          if (drop) {
            client.destroy();
            upstream.destroy();
          } else client.write(d);
        });
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
      const port = (proxy.address() as { port: number }).port;
      const via = api(`http://127.0.0.1:${port}`, s.key);
      const ops = puts(50, { prefix: "drop-" });
      const before = (await a.pullAll()).flatMap((p) => p.changes).length;
      await expect(via.push({ clientId: "client-dropped", ops })).rejects.toThrow();
      drop = false;
      const resent = await via.push({ clientId: "client-dropped", ops });
      expect(resent.results.every((r) => r.status === "duplicate")).toBe(true);
      expect(resent.lastOpId).toBe(50);
      const changes = (await a.pullAll()).flatMap((p) => p.changes);
      expect(changes.length).toBe(before + 50);
      const dropped = changes.filter((c) => c.id.startsWith("drop-"));
      expect(dropped.map((c) => c.id).sort()).toEqual(ops.map((o) => o.id).sort());
      for (const sock of sockets) sock.destroy();
      await new Promise((r) => proxy.close(r));
    });

    test("8 concurrent pushers x 500 ops: a pull with limit 100 sees every change once, in order", async () => {
      const t = await ctx.start();
      const b = api(t.url, t.key);
      try {
        await Promise.all(
          Array.from({ length: 8 }, async (_, p) => {
            for (let batch = 0; batch < 10; batch++) {
              const res = await b.push({ clientId: `pusher-${p}-xx`, ops: puts(50, { prefix: `p${p}-`, firstOpId: batch * 50 + 1 }) });
              expect(res.results.every((r) => r.status === "applied")).toBe(true);
            }
          }),
        );
        const pages = await b.pullAll(undefined, 100);
        expect(pages.length).toBe(40);
        const changes = pages.flatMap((p) => p.changes);
        expect(changes.length).toBe(4000);
        expect(changes.map((c) => c.version)).toEqual(Array.from({ length: 4000 }, (_, i) => i + 1));
        expect(new Set(changes.map((c) => c.id)).size).toBe(4000);
        const ids = new Set(changes.map((c) => c.id));
        const missing: string[] = [];
        for (let p = 0; p < 8; p++) for (let i = 1; i <= 500; i++) if (!ids.has(`p${p}-${i}`)) missing.push(`p${p}-${i}`);
        expect(missing).toEqual([]);
      } finally {
        await t.stop();
      }
    });

    test("tx groups are all-or-nothing; patches merge; strict refuses stale versions", async () => {
      const c = "client-txgroup";
      const r1 = await a.push({
        clientId: c,
        ops: [
          { opId: 1, collection: "notes", id: "n1", op: "put", value: { a: 1, nested: { x: 1, y: 2 } } },
          { opId: 2, tx: 2, collection: "notes", id: "n2", op: "put", value: { b: 1 } },
          { opId: 3, tx: 2, collection: "notes", id: "nope", op: "patch", value: { b: 2 } },
          { opId: 4, collection: "notes", id: "n1", op: "patch", value: { nested: { x: null, z: 3 }, c: true } },
        ],
      });
      expect(r1.results.map((r) => [r.status, r.error?.code])).toEqual([
        ["applied", undefined],
        ["rejected", "tx_aborted"],
        ["rejected", "not_found"],
        ["applied", undefined],
      ]);
      const n1 = await a.call("GET", "/v1/docs/notes/n1");
      expect(n1.json).toEqual({ value: { id: "n1", a: 1, nested: { y: 2, z: 3 }, c: true }, version: r1.results[3].version });
      expect((await a.call("GET", "/v1/docs/notes/n2")).status).toBe(404);

      // Another client with a stale base version gets a conflict carrying the current value.
      const stale = await a.push({ clientId: "client-other", ops: [{ opId: 1, collection: "notes", id: "n1", op: "put", value: { a: 9 }, baseVersion: r1.results[0].version }] });
      expect(stale.results[0]).toMatchObject({ status: "conflict", version: r1.results[3].version, value: n1.json.value });
      const fresh = await a.push({ clientId: "client-other", ops: [{ opId: 2, collection: "notes", id: "n1", op: "put", value: { a: 9 }, baseVersion: r1.results[3].version }] });
      expect(fresh.results[0].status).toBe("applied");
      // Its own last write passes the check even with an older base version.
      const own = await a.push({ clientId: "client-other", ops: [{ opId: 3, collection: "notes", id: "n1", op: "patch", value: { a: 10 }, baseVersion: r1.results[3].version }] });
      expect(own.results[0].status).toBe("applied");
      // baseVersion null: "I expect no live document".
      const exists = await a.push({ clientId: "client-third", ops: [{ opId: 1, collection: "notes", id: "n1", op: "put", value: {}, baseVersion: null }] });
      expect(exists.results[0].status).toBe("conflict");
      const absent = await a.push({ clientId: "client-third", ops: [{ opId: 2, collection: "notes", id: "n9", op: "put", value: {}, baseVersion: null }] });
      expect(absent.results[0].status).toBe("applied");
      // Deleting what is not there is applied without a version.
      const del = await a.push({ clientId: "client-third", ops: [{ opId: 3, collection: "notes", id: "never", op: "delete" }] });
      expect(del.results[0]).toEqual({ opId: 3, status: "applied" });
    });

    test("malformed pushes are refused whole before anything is applied", async () => {
      const bad = [
        { clientId: "client-bad1", ops: [...puts(2, { prefix: "bad-" }), { ...puts(1, { prefix: "bad-" })[0], opId: 1 }] },
        { clientId: "client-bad1", ops: [{ opId: 1, tx: 1, collection: "t", id: "a", op: "put", value: {} }, { opId: 2, collection: "t", id: "b", op: "put", value: {} }, { opId: 3, tx: 1, collection: "t", id: "c", op: "put", value: {} }] },
        { clientId: "client-bad1", ops: [{ opId: 1, collection: "t", id: "a", op: "put", value: { id: "b" } }] },
        { clientId: "client-bad1", ops: [{ opId: 1, collection: "t", id: "a", op: "delete", value: {} }] },
        { clientId: "short", ops: puts(1) },
        JSON.parse('{"clientId":"client-bad1","ops":[{"opId":1,"collection":"t","id":"a","op":"put","value":{"x":{"__proto__":{"polluted":true}}}}]}'),
      ];
      for (const body of bad) {
        const r = await a.call("POST", "/v1/push", body);
        expect(r.status).toBe(400);
        expect(r.json.error.code).toBe("bad_request");
        expect(r.json.error.issues.length).toBeGreaterThan(0);
      }
      const ok = await a.push({ clientId: "client-bad1", ops: puts(1, { prefix: "bad-" }) });
      expect(ok.results[0].status).toBe("applied");
    });
  });
}
