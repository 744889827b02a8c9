/**
 * Sync rules on every path a document leaves the server by (issue 34), with two principals of
 * one tenant (JWT `sub` ann and bob, tenant claim `org`) under the contract's rules: each sees
 * its own and the shared documents only, and a document made private leaves the other's view.
 * Run on SQLite and PostgreSQL (sqlite.test.ts, postgres.test.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import type { StowageAdapter } from "../../src/adapter.ts";
import { gc } from "../../src/server/index.ts";
import { openEvents, type SseReader } from "../helpers/sse.ts";
import { call, startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";

export const SECRET = "sync-rules-suite-secret-long-enough-for-hs256";
export const RULES = `claims: sub
index todos: project, n
todos read: owner == auth.sub or shared == true
todos write: owner == auth.sub
drop read: owner == auth.sub
drop write: true
notes write: true
* read: true
`;

export const token = (sub: string, org: string) =>
  new SignJWT({ sub, org }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m").sign(new TextEncoder().encode(SECRET));

const ids = (changes: { id: string }[]) => changes.map((c) => c.id).sort();
const enc = (v: unknown) => encodeURIComponent(JSON.stringify(v));

export function syncRulesSuite(store: string, adapter: () => { adapter: StowageAdapter; drop?: () => Promise<void> } | undefined): void {
  describe(`sync rules, two principals of one tenant [${store}]`, () => {
    let s: EmbeddedServer;
    let drop: (() => Promise<void>) | undefined;
    let ann: string;
    let bob: string;
    const readers: SseReader[] = [];
    let org: string;
    const put = (t: string, path: string, body: unknown) => call(s.url, t, "PUT", path, body);

    beforeAll(async () => {
      const a = adapter();
      drop = a?.drop;
      s = await startEmbedded({ jwt: { secret: SECRET, tenantClaim: "org" }, rules: RULES }, a?.adapter);
      org = `org-${Math.random().toString(36).slice(2, 8)}`;
      ann = await token("ann", org);
      bob = await token("bob", org);
      // ann: a1 private, a2 shared; bob: b1 private, b2 shared.
      for (const [t, id, owner, shared, project] of [
        [ann, "a1", "ann", false, "x"],
        [ann, "a2", "ann", true, "y"],
        [bob, "b1", "bob", false, "x"],
        [bob, "b2", "bob", true, "x"],
      ] as const) {
        expect((await put(t, `/v1/docs/todos/${id}`, { owner, shared, project })).status).toBe(200);
      }
      expect((await put(ann, "/v1/docs/notes/n1", { text: "anyone reads notes" })).status).toBe(200);
    });
    afterAll(async () => {
      for (const r of readers) r.close();
      await s.stop();
      await drop?.();
    });

    test("pull: each sees its own and the shared documents only", async () => {
      const a = await call(s.url, ann, "GET", "/v1/pull");
      const b = await call(s.url, bob, "GET", "/v1/pull");
      expect(ids(a.json.changes)).toEqual(["a1", "a2", "b2", "n1"]);
      expect(ids(b.json.changes)).toEqual(["a2", "b1", "b2", "n1"]);
      expect(a.json.more).toBe(false);
      // The cursor carries the rules' fingerprint for this principal.
      expect(a.json.cursor).toMatch(/^v1\.5\.f[0-9a-z]+$/);
      expect(a.json.cursor).not.toBe(b.json.cursor);
      // Paging through the view: one change a page, the same set.
      const seen: string[] = [];
      let cursor = "";
      for (let i = 0; i < 10; i++) {
        const p = await call(s.url, bob, "GET", `/v1/pull?limit=1&cursor=${cursor}`);
        seen.push(...p.json.changes.map((c: { id: string }) => c.id));
        cursor = p.json.cursor;
        if (!p.json.more) break;
      }
      expect(seen.sort()).toEqual(["a2", "b1", "b2", "n1"]);
    });

    test("a cursor made under other rules or claims is answered reset", async () => {
      const b = await call(s.url, bob, "GET", "/v1/pull");
      // bob's cursor presented by ann: another principal's fingerprint.
      expect((await call(s.url, ann, "GET", `/v1/pull?cursor=${b.json.cursor}`)).json).toEqual({ reset: true });
      // A cursor without a fingerprint (made before the rules) is reset too.
      expect((await call(s.url, ann, "GET", "/v1/pull?cursor=v1.3")).json).toEqual({ reset: true });
    });

    test("GET one and list (and so refresh GETs) answer only readable documents", async () => {
      expect((await call(s.url, bob, "GET", "/v1/docs/todos/a2")).status).toBe(200);
      const hidden = await call(s.url, bob, "GET", "/v1/docs/todos/a1");
      expect(hidden.status).toBe(404);
      expect(hidden.json.error.code).toBe("not_found");
      expect(JSON.stringify(hidden.json)).not.toContain("ann");
      const list = await call(s.url, bob, "GET", "/v1/docs/todos");
      expect(list.json.items.map((d: { id: string }) => d.id)).toEqual(["a2", "b1", "b2"]);
      // Paged one at a time, in both orders: the same documents, nothing of ann's private a1.
      for (const orderBy of ["", "&orderBy=-id"]) {
        const seen: string[] = [];
        let cursor = "";
        for (let i = 0; i < 10; i++) {
          const p = await call(s.url, bob, "GET", `/v1/docs/todos?limit=1${orderBy}${cursor ? `&cursor=${cursor}` : ""}`);
          seen.push(...p.json.items.map((d: { id: string }) => d.id));
          expect(p.json.versions).toHaveLength(p.json.items.length);
          if (!p.json.next) break;
          cursor = p.json.next;
        }
        expect(seen).toEqual(orderBy ? ["b2", "b1", "a2"] : ["a2", "b1", "b2"]);
      }
      const filtered = await call(s.url, ann, "GET", `/v1/docs/todos?where=${enc({ project: "x" })}`);
      expect(filtered.json.items.map((d: { id: string }) => d.id)).toEqual(["a1", "b2"]);
    });

    test("writes: PUT, PATCH and DELETE of another's document, or a put giving it away, are 403 forbidden", async () => {
      for (const [method, body] of [["PUT", { owner: "bob", shared: true }], ["PATCH", { shared: false }], ["DELETE", undefined]] as const) {
        const r = await call(s.url, bob, method, "/v1/docs/todos/a2", body);
        expect([method, r.status, r.json.error.code]).toEqual([method, 403, "forbidden"]);
      }
      const give = await put(bob, "/v1/docs/todos/b9", { owner: "ann" });
      expect(give.status).toBe(403);
      expect((await call(s.url, ann, "GET", "/v1/docs/todos/a2")).json.value).toEqual({ id: "a2", owner: "ann", shared: true, project: "y" });
    });

    test("push: refused ops are per-op rejected forbidden; a conflict answer carries no value the writer may not read", async () => {
      const r = await call(s.url, bob, "POST", "/v1/push", {
        clientId: "bob-client-push",
        ops: [
          { opId: 1, collection: "todos", id: "a2", op: "patch", value: { shared: false } },
          { opId: 2, collection: "todos", id: "b3", op: "put", value: { owner: "bob" } },
          { opId: 3, collection: "todos", id: "b4", op: "put", value: { owner: "ann" } },
        ],
      });
      expect(r.status).toBe(200);
      expect(r.json.results.map((x: { status: string; error?: { code: string } }) => [x.status, x.error?.code])).toEqual([
        ["rejected", "forbidden"],
        ["applied", undefined],
        ["rejected", "forbidden"],
      ]);
      // A drop box: anyone writes, only the owner reads. ann's letter exists; bob's strict create conflicts.
      expect((await put(ann, "/v1/docs/drop/letter", { owner: "ann", secret: "s3cret" })).status).toBe(200);
      const c = await call(s.url, bob, "POST", "/v1/push", { clientId: "bob-client-push", ops: [{ opId: 4, collection: "drop", id: "letter", op: "put", value: { owner: "bob" }, baseVersion: null }] });
      expect(c.json.results[0].status).toBe("conflict");
      expect(c.json.results[0].value).toBeNull();
      expect(JSON.stringify(c.json)).not.toContain("s3cret");
      // Resent, it is answered from the record: still no value.
      const again = await call(s.url, bob, "POST", "/v1/push", { clientId: "bob-client-push", ops: [{ opId: 4, collection: "drop", id: "letter", op: "put", value: { owner: "bob" }, baseVersion: null }] });
      expect(JSON.stringify(again.json)).not.toContain("s3cret");
      // ann's own conflict does carry it.
      const mine = await call(s.url, ann, "POST", "/v1/push", { clientId: "ann-client-push", ops: [{ opId: 1, collection: "drop", id: "letter", op: "put", value: { owner: "ann" }, baseVersion: null }] });
      expect(mine.json.results[0].value).toEqual({ id: "letter", owner: "ann", secret: "s3cret" });
      // The push's own pull answers through the view as well.
      const withPull = await call(s.url, bob, "POST", "/v1/push?pull=", { clientId: "bob-client-push", ops: [{ opId: 5, collection: "todos", id: "b5", op: "put", value: { owner: "bob" } }] });
      expect(ids(withPull.json.pull.changes)).toEqual(["a2", "b1", "b2", "b3", "b5", "n1"]);
    });

    test("a document made private leaves the other's view: pull sends left, an open stream carries it in one event", async () => {
      const before = await call(s.url, bob, "GET", "/v1/pull");
      const stream = await openEvents(s.url, bob, {}, "?changes=1");
      readers.push(stream);
      await stream.next(); // retry
      await stream.next(); // the head
      const wakes = s.handler.streamWakes();
      // ann's private write is none of bob's business: his stream stays asleep.
      expect((await put(ann, "/v1/docs/todos/a1", { owner: "ann", shared: false, project: "z" })).status).toBe(200);
      expect((await call(s.url, ann, "PATCH", "/v1/docs/todos/a2", { shared: false })).status).toBe(200);
      const event = await stream.next();
      if (event.kind !== "event") throw new Error(`expected an event, got ${JSON.stringify(event)}`);
      const data = JSON.parse(event.data);
      expect(data.changes).toEqual([{ collection: "todos", id: "a2", version: data.seq, value: null, deleted: true, left: true }]);
      expect(data.cursor).toMatch(/\.f[0-9a-z]+$/);
      // ann's private commit came between, outside bob's view: the event still continues bob's cursor.
      expect(`v1.${data.prev}`).toBe(before.json.cursor.replace(/\.f.*$/, ""));
      expect(s.handler.streamWakes() - wakes).toBe(1);
      const after = await call(s.url, bob, "GET", `/v1/pull?cursor=${before.json.cursor}`);
      expect(after.json.changes).toEqual([{ collection: "todos", id: "a2", version: data.seq, value: null, deleted: true, left: true }]);
      // Shared again, it comes back; deleted, it is an ordinary tombstone.
      expect((await call(s.url, ann, "PATCH", "/v1/docs/todos/a2", { shared: true })).status).toBe(200);
      const back = await stream.next();
      expect(back.kind === "event" && JSON.parse(back.data).changes.map((c: { id: string; deleted: boolean }) => [c.id, c.deleted])).toEqual([["a2", false]]);
      expect((await call(s.url, ann, "DELETE", "/v1/docs/todos/a2")).status).toBe(200);
      const gone = await stream.next();
      const goneData = gone.kind === "event" ? JSON.parse(gone.data) : null;
      expect(goneData.changes).toEqual([{ collection: "todos", id: "a2", version: goneData.seq, value: null, deleted: true }]);
      const final = await call(s.url, bob, "GET", `/v1/pull?cursor=${before.json.cursor}`);
      expect(final.json.changes).toEqual([{ collection: "todos", id: "a2", version: goneData.seq, value: null, deleted: true }]);
      // ann's pull from the same point never mentions bob's private documents.
      expect(JSON.stringify((await call(s.url, ann, "GET", "/v1/pull")).json)).not.toContain('"b1"');
    });

    test("a leave found on a later page than its move (the origin rides in the cursor)", async () => {
      expect((await put(ann, "/v1/docs/todos/m1", { owner: "ann", shared: true })).status).toBe(200);
      const start = (await call(s.url, bob, "GET", "/v1/pull")).json.cursor;
      // m1 moves out of bob's view, then bob's writes land, then m1 changes again (still private).
      expect((await call(s.url, ann, "PATCH", "/v1/docs/todos/m1", { shared: false })).status).toBe(200);
      expect((await put(bob, "/v1/docs/todos/p1", { owner: "bob" })).status).toBe(200);
      expect((await put(bob, "/v1/docs/todos/p2", { owner: "bob" })).status).toBe(200);
      expect((await call(s.url, ann, "PATCH", "/v1/docs/todos/m1", { note: "still private" })).status).toBe(200);
      const got: unknown[] = [];
      let cursor = start;
      for (let i = 0; i < 10; i++) {
        const p = await call(s.url, bob, "GET", `/v1/pull?limit=1&cursor=${cursor}`);
        got.push(...p.json.changes.map((c: { id: string; left?: boolean }) => [c.id, c.left ?? false]));
        cursor = p.json.cursor;
        if (!p.json.more) break;
      }
      expect(got).toEqual([["p1", false], ["p2", false], ["m1", true]]);
      expect(cursor).not.toContain(".o");
    });

    test("subscriptions: subs narrows the view, have leaves out what is held, an unindexed where is refused", async () => {
      const x = await call(s.url, bob, "GET", `/v1/pull?subs=${enc([{ collection: "todos", where: { project: "x" } }])}`);
      expect(ids(x.json.changes)).toEqual(["b1", "b2"]);
      const backfill = await call(s.url, bob, "GET", `/v1/pull?subs=${enc([{ collection: "todos" }])}&have=${enc([{ collection: "todos", where: { project: "x" } }])}`);
      expect(ids(backfill.json.changes)).toEqual(["b3", "b5", "p1", "p2"]);
      const bad = await call(s.url, bob, "GET", `/v1/pull?subs=${enc([{ collection: "todos", where: { title: "a" } }])}`);
      expect(bad.status).toBe(400);
      expect(bad.json.error.code).toBe("unindexed_filter");
      expect(bad.json.error.message).toContain('add "index todos: title" to the rules file');
      const badEvents = await openEvents(s.url, bob, {}, `?subs=${enc([{ collection: "todos", where: { title: "a" } }])}`);
      expect([badEvents.status, badEvents.error?.error?.code]).toEqual([400, "unindexed_filter"]);
      // A subscription's document moving out of it is a leave.
      const start = x.json.cursor;
      expect((await call(s.url, bob, "PATCH", "/v1/docs/todos/b1", { project: "w" })).status).toBe(200);
      const moved = await call(s.url, bob, "GET", `/v1/pull?cursor=${start}&subs=${enc([{ collection: "todos", where: { project: "x" } }])}`);
      expect(moved.json.changes.map((c: { id: string; left?: boolean }) => [c.id, c.left])).toEqual([["b1", true]]);
    });

    test("a scan from the start sends no leave for what left before its first page, and one for what it sent that left since", async () => {
      const tag = `t${Math.random().toString(36).slice(2, 6)}`;
      // A backfill of project=tag while holding shared=true (chaos seed 35's shape): q1 moves into `have` before the scan.
      expect((await put(bob, `/v1/docs/todos/${tag}q1`, { owner: "bob", project: tag, shared: false })).status).toBe(200);
      expect((await put(bob, `/v1/docs/todos/${tag}q2`, { owner: "bob", project: tag, shared: false })).status).toBe(200);
      expect((await put(bob, `/v1/docs/todos/${tag}q3`, { owner: "bob", project: tag, shared: false })).status).toBe(200);
      expect((await call(s.url, bob, "PATCH", `/v1/docs/todos/${tag}q1`, { shared: true })).status).toBe(200);
      const q = `subs=${enc([{ collection: "todos", where: { project: tag } }])}&have=${enc([{ collection: "todos", where: { shared: true } }])}&limit=1`;
      const p1 = await call(s.url, bob, "GET", `/v1/pull?${q}`);
      expect(p1.json.changes.map((c: { id: string }) => c.id)).toEqual([`${tag}q2`]);
      expect(p1.json.more).toBe(true);
      // q3 (not sent yet) and q2 (sent) both move out of the view after the first page.
      expect((await call(s.url, bob, "PATCH", `/v1/docs/todos/${tag}q2`, { shared: true })).status).toBe(200);
      expect((await call(s.url, bob, "PATCH", `/v1/docs/todos/${tag}q3`, { shared: true })).status).toBe(200);
      const rest: unknown[] = [];
      let cursor = p1.json.cursor;
      for (let i = 0; i < 10; i++) {
        const p = await call(s.url, bob, "GET", `/v1/pull?${q}&cursor=${cursor}`);
        rest.push(...p.json.changes.map((c: { id: string; left?: boolean }) => [c.id, c.left ?? false]));
        cursor = p.json.cursor;
        if (!p.json.more) break;
      }
      // q1 left before the scan began: no leave. q2 was sent, so it leaves. q3 was not sent but moved
      // after the first page read it: the server cannot tell, and a leave of nothing held is harmless.
      expect(rest).toEqual([[`${tag}q2`, true], [`${tag}q3`, true]]);
    });

    test("a push that moves documents out of a view records the moves (group commit, pipelined on PostgreSQL)", async () => {
      expect((await put(bob, "/v1/docs/todos/g1", { owner: "bob", shared: true })).status).toBe(200);
      expect((await put(bob, "/v1/docs/todos/g2", { owner: "bob", shared: true })).status).toBe(200);
      const start = (await call(s.url, ann, "GET", "/v1/pull")).json.cursor;
      const pushes = await Promise.all([
        call(s.url, bob, "POST", "/v1/push", { clientId: "bob-client-g1", ops: [{ opId: 1, collection: "todos", id: "g1", op: "patch", value: { shared: false } }] }),
        call(s.url, bob, "POST", "/v1/push", { clientId: "bob-client-g2", ops: [{ opId: 1, collection: "todos", id: "g2", op: "delete" }] }),
      ]);
      expect(pushes.map((p) => p.json.results[0].status)).toEqual(["applied", "applied"]);
      const after = await call(s.url, ann, "GET", `/v1/pull?cursor=${start}`);
      expect(after.json.changes.map((c: { id: string; deleted: boolean; left?: boolean; value: unknown }) => [c.id, c.deleted, c.left ?? false, c.value]).sort()).toEqual([
        ["g1", true, true, null],
        ["g2", true, false, null],
      ]);
    });

    test("a numeric range subscription: like with like, through the field's index", async () => {
      for (const [id, n] of [["r1", 1], ["r2", 2], ["r3", "3"], ["r4", 7], ["r5", true]] as const) {
        expect((await put(bob, `/v1/docs/todos/${id}`, { owner: "bob", n })).status).toBe(200);
      }
      const r = await call(s.url, bob, "GET", `/v1/pull?subs=${enc([{ collection: "todos", where: { n: { gte: 2, lt: 7 } } }])}`);
      expect(ids(r.json.changes)).toEqual(["r2"]);
      const start = r.json.cursor;
      expect((await call(s.url, bob, "PATCH", "/v1/docs/todos/r2", { n: 9 })).status).toBe(200);
      expect((await call(s.url, bob, "PATCH", "/v1/docs/todos/r1", { n: 3 })).status).toBe(200);
      const next = await call(s.url, bob, "GET", `/v1/pull?cursor=${start}&subs=${enc([{ collection: "todos", where: { n: { gte: 2, lt: 7 } } }])}`);
      expect(next.json.changes.map((c: { id: string; left?: boolean }) => [c.id, c.left ?? false])).toEqual([["r2", true], ["r1", false]]);
    });

    test("fan-out: a write wakes only the streams whose view holds the document before or after", async () => {
      // Streams of earlier tests (bob's reads notes too) are closed first.
      for (const r of readers.splice(0)) r.close();
      for (let i = 0; i < 200 && s.handler.openStreams() > 0; i++) await new Promise((r) => setTimeout(r, 25));
      expect(s.handler.openStreams()).toBe(0);
      const n = 30;
      const subs = Array.from({ length: n }, (_, i) => `u${i}`);
      const tokens = await Promise.all(subs.map((u) => token(u, org)));
      const streams = await Promise.all(tokens.map((t) => openEvents(s.url, t, {}, `?changes=1&subs=${enc([{ collection: "todos" }])}`)));
      readers.push(...streams);
      for (const r of streams) {
        await r.next();
        await r.next();
      }
      const before = s.handler.streamWakes();
      expect((await put(tokens[7], "/v1/docs/todos/w7", { owner: "u7" })).status).toBe(200);
      const e = await streams[7].next();
      expect(e.kind === "event" && JSON.parse(e.data).changes.map((c: { id: string }) => c.id)).toEqual(["w7"]);
      expect(s.handler.streamWakes() - before).toBe(1);
      expect((await put(tokens[3], "/v1/docs/notes/z", { text: "notes are everyone's" })).status).toBe(200);
      const all = s.handler.streamWakes() - before;
      // A notes commit is outside every todos subscription: nobody else woke.
      expect(all).toBe(1);
      // A commit too large for an event (101 documents) still wakes only its view's stream, with a plain poke.
      const big = await call(s.url, tokens[7], "POST", "/v1/push", {
        clientId: "u7-client-bulk",
        ops: Array.from({ length: 101 }, (_, i) => ({ opId: i + 1, collection: "todos", id: `bulk${i}`, op: "put", value: { owner: "u7" } })),
      });
      expect(big.json.results.filter((r: { status: string }) => r.status === "applied")).toHaveLength(101);
      const poke = await streams[7].next();
      expect(poke.kind === "event" && JSON.parse(poke.data)).toEqual({ seq: big.json.results[100].version });
      expect(s.handler.streamWakes() - before).toBe(2);
      for (const [i, r] of streams.entries()) if (i !== 7) expect(r.items.filter((x) => x.kind === "event")).toHaveLength(1);
      for (const r of streams) r.close();
    });

    test("gc prunes moves with the tombstones and moves the horizon over them", async () => {
      const { purged } = await purgeAll();
      expect(purged).toBeGreaterThan(0);
    });

    async function purgeAll(): Promise<{ purged: number }> {
      await gc(s.store, { olderThanMs: 0, now: Date.now() + 60_000 });
      const row = await s.store.db.selectFrom("stowage_doc_moves").select((eb) => eb.fn.countAll().as("n")).executeTakeFirst();
      expect(Number(row?.n)).toBe(0);
      const t = await s.store.db.selectFrom("stowage_tenants").select(["purged_seq"]).where("name", "=", org).executeTakeFirst();
      return { purged: Number(t?.purged_seq) };
    }
  });
}
