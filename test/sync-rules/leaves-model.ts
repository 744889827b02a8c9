/**
 * A reader that only pulls through its view holds exactly the view: random writes move
 * documents in and out (field changes, deletes, re-creations, other principals' writes), the
 * reader catches up from its cursor in small pages at random moments (or follows live events),
 * tombstones and moves are purged now and then, and after every catch-up its copy equals the
 * view computed from the server's documents. Deterministic seeds.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import type { StowageAdapter } from "../../src/adapter.ts";
import { compileWhere } from "../../src/server/filter.ts";
import { gc } from "../../src/server/index.ts";
import { parseCursor } from "../../src/protocol/cursor.ts";
import { openEvents, type SseReader } from "../helpers/sse.ts";
import { call, startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";

const SECRET = "leaves-model-secret-long-enough-for-hs256";
const RULES = `claims: sub
index docs: tag, n
docs read: owner == auth.sub or shared == true
docs write: true
`;

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function leavesModel(store: string, adapter: () => { adapter: StowageAdapter; drop?: () => Promise<void> } | undefined): void {
  describe(`a reader pulling through its view holds exactly the view [${store}]`, () => {
    let s: EmbeddedServer;
    let drop: (() => Promise<void>) | undefined;
    beforeAll(async () => {
      const a = adapter();
      drop = a?.drop;
      s = await startEmbedded({ jwt: { secret: SECRET, tenantClaim: "org" }, rules: RULES }, a?.adapter);
    });
    afterAll(async () => {
      await s.stop();
      await drop?.();
    });

    for (const [seed, live] of [[1, false], [2, false], [3, false], [4, false], [5, false], [6, false], [7, true], [8, true], [9, true], [10, true]] as const) {
      test(`seed ${seed}${live ? " (live events applied when they continue the cursor)" : ""}`, async () => {
        const r = rng(seed);
        const org = `model-${seed}-${Math.random().toString(36).slice(2, 6)}`;
        const sign = (sub: string) => new SignJWT({ sub, org }).setProtectedHeader({ alg: "HS256" }).setExpirationTime("10m").sign(new TextEncoder().encode(SECRET));
        const ann = await sign("ann");
        const bob = await sign("bob");
        const subs = seed % 2 === 0 ? [{ collection: "docs", where: { tag: "a" } }, { collection: "docs", where: { n: { gte: 5 } } }] : undefined;
        const match = subs ? ((d: Record<string, unknown>) => subs.some((x) => compileWhere(JSON.stringify(x.where))(d as never))) : () => true;
        const inView = (d: Record<string, unknown> | undefined) => d !== undefined && (d.owner === "ann" || d.shared === true) && match(d);
        const server = new Map<string, Record<string, unknown>>();
        const held = new Map<string, unknown>();
        let cursor = "";
        const q = subs ? `&subs=${encodeURIComponent(JSON.stringify(subs))}` : "";
        const catchUp = async () => {
          for (let p = 0; p < 1000; p++) {
            const res = await call(s.url, ann, "GET", `/v1/pull?limit=${1 + Math.floor(r() * 4)}&cursor=${cursor}${q}`);
            expect(res.status).toBe(200);
            if (res.json.reset) {
              // Behind a purge: start again from nothing (this reader has no pending writes).
              expect(cursor).not.toBe("");
              held.clear();
              cursor = "";
              resets++;
              continue;
            }
            for (const c of res.json.changes) {
              if (c.deleted) held.delete(c.id);
              else held.set(c.id, c.value);
            }
            cursor = res.json.cursor;
            if (!res.json.more) break;
            // Writes land between pages too.
            if (r() < 0.3) await write();
          }
        };
        const write = async () => {
          const id = `d${Math.floor(r() * 12)}`;
          const who = r() < 0.5 ? ann : bob;
          const roll = r();
          if (roll < 0.15) {
            await call(s.url, who, "DELETE", `/v1/docs/docs/${id}`);
            server.delete(id);
            return;
          }
          const value: Record<string, unknown> = { owner: r() < 0.5 ? "ann" : "bob", shared: r() < 0.4, tag: r() < 0.5 ? "a" : "b", n: Math.floor(r() * 10) };
          if (roll < 0.5 || !server.has(id)) {
            expect((await call(s.url, who, "PUT", `/v1/docs/docs/${id}`, value)).status).toBe(200);
            server.set(id, { id, ...value });
          } else {
            const patch: Record<string, unknown> = {};
            const f = ["owner", "shared", "tag", "n", "note"][Math.floor(r() * 5)];
            patch[f] = value[f] ?? `x${Math.floor(r() * 100)}`;
            expect((await call(s.url, who, "PATCH", `/v1/docs/docs/${id}`, patch)).status).toBe(200);
            server.set(id, { ...server.get(id)!, ...patch });
          }
        };
        let resets = 0;
        let stream: SseReader | undefined;
        let applied = 0;
        if (live) {
          stream = await openEvents(s.url, ann, {}, `?changes=1${q}`);
          await stream.next(); // retry
          await stream.next(); // head
          await catchUp();
        }
        /** Live: a marker write in the view, then every event up to its seq, applied when it continues the cursor, else a pull. */
        const followEvents = async () => {
          const marker = { owner: "ann", shared: true, tag: "a", n: 9 };
          const put = await call(s.url, ann, "PUT", "/v1/docs/docs/marker", marker);
          server.set("marker", { id: "marker", ...marker });
          const target = put.json.version as number;
          for (;;) {
            const e = await stream!.next(10_000);
            if (e.kind !== "event") continue;
            const data = JSON.parse(e.data);
            if (data.changes && data.prev === parseCursor(cursor)?.seq && parseCursor(cursor)?.origin === undefined) {
              for (const c of data.changes) {
                if (c.deleted) held.delete(c.id);
                else held.set(c.id, c.value);
              }
              cursor = data.cursor;
              // Single-document commits: a prev below seq - 1 continued the cursor across commits outside the view.
              if (data.prev < data.seq - 1) applied++;
            } else await catchUp();
            if (data.seq >= target) break;
          }
        };
        for (let round = 0; round < 25; round++) {
          const n = Math.floor(r() * 6);
          for (let i = 0; i < n; i++) await write();
          // Now and then tombstones and moves are purged: a reader behind the horizon is reset.
          if (round % 9 === 8) await gc(s.store, { olderThanMs: 0, now: Date.now() + 60_000 });
          if (live) await followEvents();
          else await catchUp();
          // Nothing landed since the last page (no write after the final one): the copy is the view.
          const expected = new Map([...server].filter(([, d]) => inView(d)));
          expect([round, [...held.keys()].sort()]).toEqual([round, [...expected.keys()].sort()]);
          for (const [id, v] of expected) expect(held.get(id)).toEqual(v);
        }
        stream?.close();
        // A reader that pulls meets the purges (reset, then its view again); one that follows events stays current through them.
        if (live) expect(resets).toBe(0);
        else expect(resets).toBeGreaterThan(0);
        // Some events continued the cursor across commits outside the view (prev = the stream's anchor).
        if (live) expect(applied).toBeGreaterThan(0);
      }, 60_000);
    }
  });
}
