import { afterAll, describe, expect, test } from "bun:test";
import pg from "pg";
import type { StowageAdapter } from "../../src/adapter.ts";
import type { JsonObject } from "../../src/json.ts";
import type { PushRequest } from "../../src/protocol/wire.ts";
import { createKey, createServerHandler, findTenant, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { push } from "../../src/server/push.ts";
import { PG_URL, dropSchema, pgAvailable, pgQuery, pgTestAdapter } from "../helpers/pg.ts";

/**
 * A push over PostgreSQL sends BEGIN, the tenant's lock and its read as one message, and its
 * last write with COMMIT as another (src/server/tx.ts). These tests hold what that must not
 * change: the read still sees every commit made before the lock was granted, and values still
 * arrive byte for byte although they now travel as SQL literals. Each runs pipelined (the
 * default) and one statement at a time.
 */
const run = await pgAvailable("PostgreSQL pipeline test");
const limits = { maxValueChars: 1_000_000, maxValueDepth: 64 };

describe.skipIf(!run)("PostgreSQL push transactions in two round trips", () => {
  const schemas: string[] = [];
  const stores: ServerStore[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close();
    for (const s of schemas) await dropSchema(s);
  });

  /** A store on `schema` (a new one if absent), pipelined or not. */
  const storeOn = async (pipeline: boolean, schema?: string) => {
    const made = pgTestAdapter({ schema, pool: { max: 2 } });
    if (!schema) schemas.push(made.schema);
    const adapter: StowageAdapter = { ...made.adapter, capabilities: { ...made.adapter.capabilities, pipeline } };
    const store = await openServerStore({ adapter });
    stores.push(store);
    return { store, schema: made.schema };
  };
  const put = (clientId: string, opId: number, id: string, value: JsonObject, baseVersion?: number): PushRequest => ({
    clientId,
    ops: [{ opId, collection: "docs", id, op: "put", value, ...(baseVersion === undefined ? {} : { baseVersion }) }],
  });
  const lockWaiters = async () =>
    (await pgQuery<{ n: number }>("select count(*)::int as n from pg_stat_activity where application_name = 'stowage' and wait_event_type = 'Lock'"))[0].n;

  for (const pipeline of [true, false]) {
    test(`${pipeline ? "pipelined" : "one statement at a time"}: a push that waited for the tenant's lock reads the commit it waited for, and answers conflict`, async () => {
      // Two instances on one schema. P1 (client c1) holds the tenant's lock while its last write
      // waits on a row lock we hold; P2 (client c2, same document, same base version) queues on
      // the tenant's lock. Released, P1 commits first; P2's read must see P1's version. A read
      // whose snapshot predated the lock would see the old one and overwrite P1's write.
      const one = await storeOn(pipeline);
      const two = await storeOn(pipeline, one.schema);
      const { tenant } = await createKey(one.store, "t", { createIfMissing: true });
      const seeded = await push(one.store, tenant.id, { clientId: "client-one", ops: [
        { opId: 1, collection: "docs", id: "d", op: "put", value: { by: 0 } },
      ] }, limits, Date.now());
      const base = seeded.results[0].version!;
      await push(two.store, tenant.id, put("client-two", 1, "other", { by: 2 }), limits, Date.now());

      const blocker = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${one.schema}` });
      await blocker.connect();
      try {
        await blocker.query("begin");
        await blocker.query("select * from stowage_clients where client_id = 'client-one' for update");
        const p1 = push(one.store, tenant.id, put("client-one", 2, "d", { by: 1 }, base), limits, Date.now());
        while ((await lockWaiters()) < 1) await Bun.sleep(5);
        const p2 = push(two.store, tenant.id, put("client-two", 2, "d", { by: 2 }, base), limits, Date.now());
        while ((await lockWaiters()) < 2) await Bun.sleep(5);
        await blocker.query("rollback");
        const [r1, r2] = await Promise.all([p1, p2]);
        expect(r1.results[0]).toMatchObject({ status: "applied", version: base + 2 });
        expect(r2.results[0]).toMatchObject({ status: "conflict", version: base + 2, value: { by: 1 } });
      } finally {
        await blocker.end();
      }
      const [row] = await pgQuery<{ body: { id: string; by: number }; seq: number }>("select body, seq::int from stowage_docs where id = 'd'", [], one.schema);
      expect(row).toEqual({ body: { id: "d", by: 1 }, seq: base + 2 });
    });

    test(`${pipeline ? "pipelined" : "one statement at a time"}: values that look like SQL, quotes and backslashes arrive byte for byte`, async () => {
      const { store, schema } = await storeOn(pipeline);
      const { key } = await createKey(store, "t", { createIfMissing: true });
      const handler = createServerHandler({ store, limits: { rate: false } });
      const nasty = [
        "it's",
        "''",
        "\\",
        "\\'",
        "E'\\x41'",
        "$1, $2::jsonb",
        "'); commit; drop table stowage_docs; --",
        "line\nbreak\ttab\r",
        "\u2028\u2029 ünïcødé 🎉 \ud83d\ude00",
        "\"quoted\" {braces} [brackets] ,comma",
        "NULL",
      ];
      const values = nasty.map((s, i) => ({ id: `v${i}`, s, nested: [s, { s }], n: i * 1.5, big: 2 ** 52 + i, nothing: null, yes: true }));
      const body = JSON.stringify({ clientId: "client-nasty", ops: values.map((value, i) => ({ opId: i + 1, collection: "docs", id: value.id, op: "put", value })) });
      const res = await handler(new Request("http://x/v1/push", { method: "POST", headers: { authorization: `Bearer ${key}` }, body }));
      expect(res.status).toBe(200);
      expect(((await res.json()) as { results: { status: string }[] }).results.map((r) => r.status)).toEqual(values.map(() => "applied"));
      const pulled = await handler(new Request("http://x/v1/pull?limit=100", { headers: { authorization: `Bearer ${key}` } }));
      const page = (await pulled.json()) as { changes: { id: string; value: unknown }[] };
      expect(page.changes.map((c) => c.value)).toEqual(values);
      // One of them changed once more, by a patch: the stored value as merged, still exact.
      const tenant = (await findTenant(store, "t"))!;
      const patched = await push(store, tenant.id, { clientId: "client-nasty", ops: [{ opId: values.length + 1, collection: "docs", id: "v6", op: "patch", value: { s: nasty[4] } }] }, limits, Date.now());
      expect(patched.results[0].status).toBe("applied");
      const [row] = await pgQuery<{ s: string }>("select body->>'s' as s from stowage_docs where id = 'v6'", [], schema);
      expect(row.s).toBe(nasty[4]);
    });
  }
});
