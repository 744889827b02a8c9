import { afterAll, describe, expect, test } from "bun:test";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { mergePatch, type JsonObject } from "../../src/json.ts";
import type { OpResult, PushRequest } from "../../src/protocol/wire.ts";
import { createTenant, openServerStore } from "../../src/server/index.ts";
import { pullPage } from "../../src/server/pull.ts";
import { push } from "../../src/server/push.ts";
import { countingAdapter, type SqlEvent } from "../helpers/counting-sqlite.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";

/**
 * Group commit (src/server/push-group.ts): concurrent pushes of one tenant share a
 * transaction. Whatever grouping happened, the outcome must be that of the pushes committed
 * one after another: versions 1..N without gaps or repeats, every op applied once, each
 * push's own results (conflicts, tx groups, resends), and documents equal to replaying the
 * applied ops in version order.
 */
const LIMITS = { maxValueChars: 1 << 20, maxValueDepth: 64 };
const pg = await pgAvailable("group commit on PostgreSQL");

/** Deterministic pseudo-random numbers from a seed (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 12 clients x 6 pushes of 1–30 ops on partly shared ids: puts, patches, strict creates, tx groups. */
function workload(seed: number): PushRequest[][] {
  const r = rng(seed);
  return Array.from({ length: 12 }, (_, c) => {
    let opId = 0;
    let tx = 0;
    return Array.from({ length: 6 }, () => {
      const n = 1 + Math.floor(r() * 30);
      const ops: PushRequest["ops"] = [];
      while (ops.length < n) {
        const id = r() < 0.5 ? `shared-${Math.floor(r() * 20)}` : `c${c}-${Math.floor(r() * 50)}`;
        const kind = r();
        const group = r() < 0.2 ? ++tx : undefined;
        const size = group === undefined ? 1 : 2;
        for (let k = 0; k < size && ops.length < n; k++) {
          const op: PushRequest["ops"][number] =
            kind < 0.6
              ? { opId: ++opId, collection: "docs", id, op: "put", value: { by: c, n: opId } }
              : kind < 0.85
                ? { opId: ++opId, collection: "docs", id, op: "patch", value: { [`f${c}`]: opId } }
                : { opId: ++opId, collection: "docs", id, op: "put", value: { strict: c }, baseVersion: null };
          if (group !== undefined) op.tx = group;
          ops.push(op);
        }
      }
      return { clientId: `client-${c}`, ops };
    });
  });
}

async function scenario(adapter: StowageAdapter, seed: number, log?: SqlEvent[]): Promise<{ pushes: number; begins: number }> {
  const store = await openServerStore({ adapter });
  try {
    const tenant = await createTenant(store, `t${seed}`);
    const work = workload(seed);
    const answers = new Map<string, OpResult>();
    let pushes = 0;
    const from = log?.length ?? 0;
    await Promise.all(
      work.map(async (batches, c) => {
        for (const [b, req] of batches.entries()) {
          // Client 0 sends its third batch twice at once (a resend racing the original).
          const sends = c === 0 && b === 2 ? [req, req] : [req];
          pushes += sends.length;
          const responses = await Promise.all(sends.map((s) => push(store, tenant.id, s, LIMITS, 1000)));
          for (const res of responses) {
            expect(res.results.map((x) => x.opId)).toEqual(req.ops.map((o) => o.opId));
            expect(res.lastOpId).toBe(req.ops[req.ops.length - 1].opId);
          }
          if (sends.length === 2) {
            // One of the two applied the batch; the other answers duplicates and the recorded refusals.
            const [x, y] = responses;
            const first = x.results.some((o) => o.status === "applied") ? x : y;
            const second = first === x ? y : x;
            for (let i = 0; i < req.ops.length; i++) {
              const a = first.results[i];
              expect(second.results[i]).toEqual(a.status === "applied" ? { opId: a.opId, status: "duplicate" } : a);
            }
            responses.length = 1;
            responses[0] = first;
          }
          for (const res of responses) for (const result of res.results) answers.set(`${req.clientId}/${result.opId}`, result);
        }
      }),
    );
    const begins = (log ?? []).slice(from).filter((e) => /^begin/i.test(e.sql)).length;
    // Every applied op took exactly one version; together they are 1..N.
    const applied: { version: number; op: PushRequest["ops"][number] }[] = [];
    for (const batches of work) {
      for (const req of batches) {
        for (const op of req.ops) {
          const res = answers.get(`${req.clientId}/${op.opId}`)!;
          expect(["applied", "conflict", "rejected"]).toContain(res.status);
          if (res.status === "applied") applied.push({ version: res.version!, op });
        }
      }
    }
    applied.sort((a, b) => a.version - b.version);
    expect(applied.map((a) => a.version)).toEqual(Array.from({ length: applied.length }, (_, i) => i + 1));
    // Replaying the applied ops in version order gives the stored documents.
    const model = new Map<string, { value: JsonObject; version: number }>();
    for (const { version, op } of applied) {
      const before = model.get(op.id)?.value;
      if (op.op === "delete") throw new Error("the workload has no deletes");
      const value = op.op === "put" ? { id: op.id, ...op.value } : (mergePatch(before!, op.value) as JsonObject);
      model.set(op.id, { value, version });
    }
    const page = JSON.parse(await pullPage(store, tenant.id, 0, 10_000)) as { changes: { id: string; version: number; value: JsonObject }[]; cursor: string };
    expect(page.cursor).toBe(`v1.${applied[applied.length - 1].version}`);
    expect(page.changes.length).toBe(model.size);
    for (const ch of page.changes) {
      expect(ch.version).toBe(model.get(ch.id)!.version);
      expect(ch.value).toEqual(model.get(ch.id)!.value);
    }
    // A later resend of everything is answered from the record: applied → duplicate, refusals as before.
    for (const batches of work) {
      for (const req of batches) {
        const res = await push(store, tenant.id, req, LIMITS, 2000);
        res.results.forEach((r, i) => {
          const was = answers.get(`${req.clientId}/${req.ops[i].opId}`)!;
          expect(r).toEqual(was.status === "applied" ? { opId: was.opId, status: "duplicate" } : was);
        });
      }
    }
    return { pushes, begins };
  } finally {
    await store.close();
  }
}

describe("group commit: concurrent pushes of one tenant", () => {
  const dir = tempDir("stowage-group-");
  afterAll(() => dir.cleanup());

  test("sqlite: fewer transactions than pushes, and the outcome of one-by-one commits (seeds 1–3)", async () => {
    for (const seed of [1, 2, 3]) {
      const log: SqlEvent[] = [];
      const { pushes, begins } = await scenario(countingAdapter(dir.file(`g${seed}.db`), "server", log), seed, log);
      // 12 clients push at once, each waiting for its answer before its next push: while one
      // group commits, the others' next pushes queue, so each round of 12 is ~1-2 transactions.
      expect(pushes).toBe(73);
      expect(begins).toBeLessThanOrEqual(20);
    }
  });

  test("sqlite over HTTP: pushes whose requests arrived together share a transaction (16 clients x 5 single-op pushes)", async () => {
    const log: SqlEvent[] = [];
    const s = await startServer({ adapter: countingAdapter(dir.file("http.db"), "server", log), limits: { rate: false } });
    try {
      const from = log.length;
      const answers = await Promise.all(
        Array.from({ length: 16 }, async (_, c) => {
          const statuses: number[] = [];
          for (let i = 1; i <= 5; i++) {
            const res = await fetch(`${s.url}/v1/push`, {
              method: "POST",
              headers: { authorization: `Bearer ${s.key}`, "content-type": "application/json" },
              body: JSON.stringify({ clientId: `http-client-${String(c).padStart(2, "0")}`, ops: [{ opId: i, collection: "t", id: `c${c}-${i}`, op: "put", value: { i } }] }),
            });
            statuses.push(res.status, ((await res.json()) as { results: OpResult[] }).results[0].version ?? 0);
          }
          return statuses;
        }),
      );
      // Every push applied, each at its own version 1..80.
      const versions = answers.flatMap((a) => a.filter((_, k) => k % 2 === 1)).sort((a, b) => a - b);
      expect(versions).toEqual(Array.from({ length: 80 }, (_, k) => k + 1));
      expect(answers.flatMap((a) => a.filter((_, k) => k % 2 === 0))).toEqual(new Array(80).fill(200));
      // The synchronous driver runs a transaction without a turn of the event loop: had each
      // push started its group at once, there would be 80 transactions.
      const begins = log.slice(from).filter((e) => /^begin/i.test(e.sql)).length;
      expect(begins).toBeLessThanOrEqual(40);
    } finally {
      await s.stop();
    }
  });

  test.skipIf(!pg)("postgres: the outcome of one-by-one commits (seeds 4–5)", async () => {
    for (const seed of [4, 5]) {
      const schema = newSchemaName();
      try {
        await scenario(createPostgresAdapter({ url: PG_URL, schema, pool: { max: 4 } }), seed);
      } finally {
        await dropSchema(schema);
      }
    }
  }, 60_000);
});
