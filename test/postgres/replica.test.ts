import { afterAll, describe, expect, test } from "bun:test";
import pg from "pg";
import { newSchemaName } from "../helpers/pg.ts";
import { call } from "./spawn.ts";
import { createKeyCli, extraUrl, p50, startServe, type ServeProcess } from "./extras.ts";

/**
 * `stowage serve --read-url` against the private primary and its streaming standby
 * (scripts/ci-pg-extras.sh): pulls and document reads go to the standby; a standby that
 * lags, even one whose replay is paused, only delays what a pull returns.
 */
const suite = "PostgreSQL read replicas";
const PRIMARY = extraUrl("STOWAGE_TEST_PG_PRIMARY_URL", suite);
const REPLICA = PRIMARY ? extraUrl("STOWAGE_TEST_PG_REPLICA_URL", suite) : undefined;

const WRITES = 1000;
const WRITERS = 4;
const PER_PUSH = 5;

describe.skipIf(!PRIMARY || !REPLICA)(suite, () => {
  // Also: a document pushed and then read back never comes back older (read your writes), which a standby that served while lagging broke.
  const schema = newSchemaName();
  const data = `${PRIMARY}?schema=${schema}`;
  const procs: ServeProcess[] = [];
  const replica = new pg.Client({ connectionString: REPLICA });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await replica.query("select pg_wal_replay_resume()").catch(() => {});
    await replica.end().catch(() => {});
    const c = new pg.Client({ connectionString: PRIMARY });
    await c.connect();
    await c.query(`drop schema if exists ${schema} cascade`);
    await c.end();
  });

  /** Replica lag in sequence numbers: the primary's tenant seq minus the standby's. */
  const seqOn = async (url: string | pg.Client, tenant: string) => {
    const c = typeof url === "string" ? new pg.Client({ connectionString: url }) : url;
    if (typeof url === "string") await c.connect();
    try {
      const { rows } = await c.query(`select seq::int as seq from ${schema}.stowage_tenants where name = $1`, [tenant]);
      return (rows[0]?.seq as number | undefined) ?? 0;
    } finally {
      if (typeof url === "string") await c.end();
    }
  };

  /** 1,000 writes by 4 writers through `base` while a reader pulls through it; answers figures and what the reader saw. */
  const run = async (base: string, key: string, tenant: string, pauseReplay: boolean) => {
    const seen = new Map<string, number>();
    let lastSeq = 0;
    let outOfOrder = 0;
    let writing = true;
    const lagSamples: number[] = [];
    const start = performance.now();
    const writer = async (w: number) => {
      let opId = 0;
      while (opId < WRITES / WRITERS) {
        const ops = Array.from({ length: PER_PUSH }, () => {
          opId++;
          return { opId, collection: "notes", id: `${tenant}-w${w}-${opId}`, op: "put", value: { w, opId } };
        });
        const r = await call(base, key, "/v1/push", { clientId: `replica-writer-${w}`, ops });
        expect(r.status).toBe(200);
      }
    };
    const reader = async () => {
      let cursor = "";
      for (;;) {
        const done = !writing;
        const r = await call(base, key, `/v1/pull?limit=100${cursor ? `&cursor=${cursor}` : ""}`);
        expect(r.status).toBe(200);
        expect(r.json.reset).toBeUndefined();
        for (const c of r.json.changes) {
          if (c.version <= lastSeq) outOfOrder++;
          lastSeq = c.version;
          seen.set(c.id, c.version);
        }
        cursor = r.json.cursor;
        if (done && !r.json.more && seen.size >= WRITES) return;
        if (done && !r.json.more) await Bun.sleep(20);
      }
    };
    const sampler = async () => {
      const primary = new pg.Client({ connectionString: PRIMARY });
      await primary.connect();
      while (writing) {
        lagSamples.push((await seqOn(primary, tenant)) - (await seqOn(replica, tenant)));
        await Bun.sleep(50);
      }
      await primary.end();
    };
    const pausing = async () => {
      if (!pauseReplay) return;
      // Paused from the start, so writes are sure to land while the standby stands still (a
      // pause begun later found nothing left to replay when the writers finished first).
      await replica.query("select pg_wal_replay_pause()");
      await Bun.sleep(1500);
      await replica.query("select pg_wal_replay_resume()");
    };
    const readerDone = reader();
    const sampling = sampler();
    await Promise.all([...Array.from({ length: WRITERS }, (_, w) => writer(w)), pausing()]);
    const writeMs = performance.now() - start;
    writing = false;
    await Promise.all([readerDone, sampling]);
    return { seen, outOfOrder, writeMs, lagSamples };
  };

  test("1,000 writes, pulls from a standby whose replay pauses for 1.5 s: every change once, in order, none missed; a cursor past the standby is answered by the primary", async () => {
    await replica.connect();
    const key = createKeyCli(data, "replicated");
    const withReplica = await startServe(["--data", data, "--read-url", `${REPLICA}`, "--metrics"]);
    procs.push(withReplica);
    const r = await run(withReplica.url, key, "replicated", true);
    expect(r.outOfOrder).toBe(0);
    expect(r.seen.size).toBe(WRITES);
    const maxLag = Math.max(...r.lagSamples);
    // The pause held the standby back; pulls came from it when it had caught up, from the primary while it lagged.
    expect(maxLag).toBeGreaterThan(0);
    console.log(
      `replica: ${WRITES} writes in ${r.writeMs.toFixed(0)} ms (${((WRITES / r.writeMs) * 1000).toFixed(0)} writes/s), 0 missed, lag in sequence numbers p50 ${p50(r.lagSamples)} max ${maxLag} over ${r.lagSamples.length} samples (replay paused 1.5 s)`,
    );

    // While the standby is paused, a client whose cursor came from the primary is not reset.
    await replica.query("select pg_wal_replay_pause()");
    const pushed = await call(withReplica.url, key, "/v1/push?pull=v1.0", { clientId: "replica-ahead", ops: [{ opId: 1, collection: "notes", id: "ahead", op: "put", value: {} }] });
    expect(pushed.status).toBe(200);
    const top = pushed.json.results[0].version as number;
    const pulled = await call(withReplica.url, key, `/v1/pull?cursor=v1.${top}`);
    expect(pulled.json).toEqual({ changes: [], cursor: `v1.${top}`, more: false });
    expect((await call(withReplica.url, key, "/v1/docs/notes/ahead")).status).toBe(200);
    await replica.query("select pg_wal_replay_resume()");
    // Caught up again, the standby answers (whether it served the run's pulls depends on how far
    // it lagged then; these two reads make both counters certain, not timing luck).
    const primary = new pg.Client({ connectionString: PRIMARY });
    await primary.connect();
    const deadline = Date.now() + 30_000;
    while ((await seqOn(replica, "replicated")) < (await seqOn(primary, "replicated")) && Date.now() < deadline) await Bun.sleep(20);
    await primary.end();
    expect((await call(withReplica.url, key, `/v1/pull?cursor=v1.${top}`)).status).toBe(200);
    const metrics = await (await fetch(`${withReplica.url}/metrics`)).text();
    const served = Number(/^stowage_replica_reads (\d+)$/m.exec(metrics)?.[1]);
    const fallbacks = Number(/^stowage_replica_fallbacks (\d+)$/m.exec(metrics)?.[1]);
    expect(served).toBeGreaterThan(0);
    expect(fallbacks).toBeGreaterThan(0);
    console.log(`replica: ${served} reads served by the standby, ${fallbacks} by the primary while it lagged`);

    // The same load with reads on the primary, for the throughput figure.
    const key2 = createKeyCli(data, "primaryonly");
    const primaryOnly = await startServe(["--data", data]);
    procs.push(primaryOnly);
    const p = await run(primaryOnly.url, key2, "primaryonly", false);
    expect(p.seen.size).toBe(WRITES);
    console.log(`primary only: ${WRITES} writes in ${p.writeMs.toFixed(0)} ms (${((WRITES / p.writeMs) * 1000).toFixed(0)} writes/s) with the reader's pulls on the primary`);
  }, 180_000);
});
