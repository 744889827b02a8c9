import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createServerHandler, openServerStore, type ServerHandler, type ServerStore } from "../../src/server/index.ts";
import { ChangeFeed } from "../../src/server/events/feed.ts";
import { readTenantSeq } from "../../src/server/events/endpoint.ts";
import { openEvents, type SseReader } from "../helpers/sse.ts";
import { tempDir } from "../helpers/tmp.ts";
import { pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { call } from "../server/embed-helpers.ts";

/**
 * Commits made by another instance reach a view stream with their rows read once by this one
 * (sync-rules/view-feed.ts): only the streams whose view they touch wake, with the view's part
 * as the event's changes. Instance A writes; instance B learns of A's commits only as bare seqs
 * (as from PostgreSQL's NOTIFY or another process on a SQLite file).
 */
const SECRET = "cross-process-secret-long-enough-for-hs256";
const RULES = "claims: sub\ntodos read: owner == auth.sub or shared == true\ntodos write: true\n";

const runPg = await pgAvailable("cross-instance view streams on PostgreSQL");
for (const kind of runPg ? ["sqlite", "postgres"] : ["sqlite"]) crossInstance(kind);

function crossInstance(kind: string): void {
  describe(`view streams and other instances' commits [${kind}]`, () => {
    const tmp = tempDir("stowage-cross-");
    let dropPg: (() => Promise<void>) | undefined;
    let store: ServerStore;
    let a: ServerHandler;
    let b: ServerHandler;
    let urlA: string;
    let urlB: string;
    let stopA: () => Promise<void>;
    let stopB: () => Promise<void>;
    let pokeB: ((seq?: number) => void) | undefined;
    const readers: SseReader[] = [];
    const token = (sub: string) => new SignJWT({ sub, org: "x" }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m").sign(new TextEncoder().encode(SECRET));

    beforeAll(async () => {
      let adapter: StowageAdapter;
      if (kind === "postgres") {
        const pg = pgTestAdapter();
        adapter = pg.adapter;
        dropPg = pg.drop;
      } else adapter = createBunSqliteAdapter({ path: tmp.file("s.db") });
      store = await openServerStore({ adapter });
      const options = { jwt: { secret: SECRET, tenantClaim: "org" }, rules: RULES, limits: { rate: false as const } };
      a = createServerHandler({ ...options, store });
      const feedB = new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t), source: { watch: (_t, poke) => ((pokeB = poke), () => {}) } });
      b = createServerHandler({ ...options, store, changes: feedB });
      const sa = await serve({ fetch: a, port: 0 });
      const sb = await serve({ fetch: b, port: 0 });
      urlA = sa.url;
      urlB = sb.url;
      stopA = () => sa.stop();
      stopB = () => sb.stop();
    });
    afterAll(async () => {
      for (const r of readers) r.close();
      await b.close();
      await a.close();
      await stopA();
      await stopB();
      await store.close();
      await dropPg?.();
      tmp.cleanup();
    });

    test("a commit on A wakes on B only the streams whose view it touches, with its changes", async () => {
      const subs = ["u0", "u1", "u2", "u3", "u4"];
      const tokens = await Promise.all(subs.map(token));
      expect((await call(urlA, tokens[3], "PUT", "/v1/docs/todos/seed", { owner: "u3" })).status).toBe(200);
      const streams = await Promise.all(tokens.map((t) => openEvents(urlB, t, {}, "?changes=1")));
      readers.push(...streams);
      for (const r of streams) {
        await r.next();
        await r.next();
      }
      const before = b.streamWakes();
      const w = await call(urlA, tokens[3], "PUT", "/v1/docs/todos/w3", { owner: "u3", shared: false });
      pokeB!(w.json.version);
      const e = await streams[3].next();
      const data = e.kind === "event" ? JSON.parse(e.data) : null;
      expect(data.changes).toEqual([{ collection: "todos", id: "w3", version: w.json.version, value: { id: "w3", owner: "u3", shared: false }, deleted: false }]);
      expect(b.streamWakes() - before).toBe(1);

      // Shared, then private again, both on A, B told once of the last: u1 saw it shared? No: one poke for both,
      // and the range's start (w3 private) and end (private) hold nothing of u1's view: u1 stays asleep.
      await call(urlA, tokens[3], "PATCH", "/v1/docs/todos/w3", { shared: true });
      const last = await call(urlA, tokens[3], "PATCH", "/v1/docs/todos/w3", { shared: false });
      pokeB!(last.json.version);
      const again = await streams[3].next();
      expect(again.kind === "event" && JSON.parse(again.data).seq).toBe(last.json.version);
      expect(b.streamWakes() - before).toBe(2);

      // Made shared on A: every stream's view now holds it; then private: each leaves.
      const shared = await call(urlA, tokens[3], "PATCH", "/v1/docs/todos/w3", { shared: true });
      pokeB!(shared.json.version);
      for (const r of streams) await r.next();
      expect(b.streamWakes() - before).toBe(2 + 5);
      const hidden = await call(urlA, tokens[3], "PATCH", "/v1/docs/todos/w3", { shared: false });
      pokeB!(hidden.json.version);
      const left = await streams[1].next();
      expect(left.kind === "event" && JSON.parse(left.data).changes).toEqual([{ collection: "todos", id: "w3", version: hidden.json.version, value: null, deleted: true, left: true }]);
    });
  });
}
