import { afterAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { gc, startGc, type GcReport } from "../../src/server/gc.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { push } from "../../src/server/push.ts";
import { DEFAULT_LIMITS } from "../../src/server/handler.ts";
import { startServer } from "../helpers/server.ts";
import { PG_URL, pgAvailable, pgTestAdapter } from "../helpers/pg.ts";
import { tempDir } from "../helpers/tmp.ts";
import { openClient } from "../sync/clients.ts";

const dir = tempDir("stowage-ops-gc-");
afterAll(() => dir.cleanup());
const DAY = 86_400_000;

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await Bun.sleep(10);
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

describe("scheduled gc", () => {
  test("on a timer with an injected clock: tombstones past retention purged, a client behind the horizon resets and keeps its pending ops", async () => {
    let clock = Date.UTC(2026, 0, 1);
    const server = await startServer({ now: () => clock });
    const reports: GcReport[] = [];
    const loop = startGc(server.store, { olderThanMs: 30 * DAY, everyMs: 20, now: () => clock, atStart: false, onRun: (r) => reports.push(r) });
    try {
      const a = await openClient(dir.file("a.db"), server.url, server.key);
      const b = await openClient(dir.file("b.db"), server.url, server.key);
      await a.collection("t").putMany([{ id: "x", v: 1 }, { id: "y", v: 1 }, { id: "w", v: 1 }]);
      await a.sync();
      await b.sync();
      await a.collection("t").delete("y");
      await a.collection("t").delete("w");
      await a.sync();
      // Runs within retention purge nothing.
      await until(() => reports.length >= 2, "two gc runs");
      expect(reports.every((r) => r.tombstones === 0)).toBe(true);
      clock += 29 * DAY;
      const seen = reports.length;
      await until(() => reports.length >= seen + 2, "two more gc runs");
      expect(reports.every((r) => r.tombstones === 0)).toBe(true);
      // Past retention: the next run purges both tombstones, once.
      clock += 2 * DAY;
      await until(() => reports.some((r) => r.tombstones > 0), "a purge");
      await loop.stop();
      expect(reports.reduce((n, r) => n + r.tombstones, 0)).toBe(2);
      expect(reports.filter((r) => r.tombstones > 0)).toEqual([{ tombstones: 2, opResults: 0, tenants: 1, skipped: 0 }]);
      // B is behind the horizon (it never saw the deletes) and has offline writes queued.
      await b.collection("t").patch("x", { byB: true });
      await b.collection("t").put({ id: "b-pending" });
      const r = await b.sync();
      expect(r.reset).toBe(true);
      expect((await b.status()).outbox.size).toBe(0);
      expect((await b.collection("t").list()).items).toEqual([{ id: "b-pending" }, { id: "x", v: 1, byB: true }]);
      await a.sync();
      expect((await a.collection("t").list()).items).toEqual([{ id: "b-pending" }, { id: "x", v: 1, byB: true }]);
      await a.close();
      await b.close();
    } finally {
      await loop.stop();
      await server.stop();
    }
  });

  test("a failing run is reported and the schedule goes on; nothing runs after stop()", async () => {
    const store = await openServerStore({ adapter: (await import("../../adapters/bun-sqlite/index.ts")).createBunSqliteAdapter({ path: dir.file("fail.db") }) });
    const errors: unknown[] = [];
    const reports: GcReport[] = [];
    let fail = true;
    const loop = startGc(store, {
      olderThanMs: DAY,
      everyMs: 10,
      now: () => {
        if (fail) throw new Error("clock broke");
        return Date.now();
      },
      onRun: (r) => reports.push(r),
      onError: (e) => errors.push(e),
    });
    await until(() => errors.length >= 2, "two failures");
    fail = false;
    await until(() => reports.length >= 1, "a good run");
    await loop.stop();
    const after = reports.length;
    await Bun.sleep(50);
    expect(reports.length).toBe(after);
    expect((errors[0] as Error).message).toBe("clock broke");
    await store.close();
  });
});

const runPg = await pgAvailable("ops-gc (PostgreSQL)");

describe.skipIf(!runPg)("scheduled gc on PostgreSQL, two instances", () => {
  test("a second instance skips a tenant another is collecting, instead of waiting; together they purge each tombstone once", async () => {
    const first = pgTestAdapter();
    const one = await openServerStore({ adapter: first.adapter });
    const two = await openServerStore({ adapter: pgTestAdapter({ schema: first.schema }).adapter });
    const holder = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${first.schema}` });
    try {
      const { tenant } = await createKey(one, "gc-pg", { createIfMissing: true });
      const t0 = Date.now() - 10 * DAY;
      const ops = Array.from({ length: 40 }, (_, i) => ({ opId: i + 1, collection: "c", id: `d${i}`, op: "put" as const, value: { i } }));
      await push(one, tenant.id, { clientId: "pg-gc-client", ops }, DEFAULT_LIMITS, t0);
      const deletes = Array.from({ length: 25 }, (_, i) => ({ opId: 41 + i, collection: "c", id: `d${i}`, op: "delete" as const }));
      await push(one, tenant.id, { clientId: "pg-gc-client", ops: deletes }, DEFAULT_LIMITS, t0);
      // Instance one is "collecting" this tenant: it holds the gc lock in an open transaction.
      await holder.connect();
      await holder.query("begin");
      await holder.query("select pg_advisory_xact_lock(hashtext('stowage_gc'), hashtext($1))", [tenant.id]);
      const skipped = await gc(two, { olderThanMs: DAY });
      expect(skipped).toMatchObject({ tombstones: 0, tenants: 0, skipped: 1 });
      await holder.query("rollback");
      // Both at once: every tombstone purged exactly once, whichever instance got it.
      const [r1, r2] = await Promise.all([gc(one, { olderThanMs: DAY }), gc(two, { olderThanMs: DAY })]);
      expect(r1.tombstones + r2.tombstones).toBe(25);
      expect(r1.tenants + r2.tenants).toBe(1);
      const left = await one.db.selectFrom("stowage_docs").select((eb) => eb.fn.countAll().as("n")).where("deleted", "=", 1).executeTakeFirstOrThrow();
      expect(Number(left.n)).toBe(0);
      const t = await one.db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenant.id).executeTakeFirstOrThrow();
      expect([Number(t.seq), Number(t.purged_seq)]).toEqual([65, 65]);
    } finally {
      await holder.end().catch(() => {});
      await one.close();
      await two.close();
      await first.drop();
    }
  });
});
