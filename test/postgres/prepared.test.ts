import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createPostgresAdapter, postgresTarget } from "../../adapters/postgres/index.ts";
import { statementName } from "../../adapters/postgres/prepared.ts";
import { REUSABLE_PLAN } from "../../src/adapter.ts";
import { createKey, createServerHandler, openServerStore, type ServerStore } from "../../src/server/index.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";

/**
 * Named prepared statements (adapters/postgres/prepared.ts): texts the core marks with
 * REUSABLE_PLAN are parsed once per connection; `?prepare=false` or `prepare: false` keeps
 * every statement unnamed.
 */
const run = await pgAvailable("PostgreSQL prepared statements");

test("only marked texts get a name, the same one every time", () => {
  const text = `select 1 as x where $1 = $1 -- ${crypto.randomUUID()}`;
  expect(statementName(text)).toBeUndefined();
  expect(statementName(text)).toBeUndefined();
  const name = statementName(REUSABLE_PLAN + text);
  expect(name).toMatch(/^stowage_[0-9]+$/);
  expect(statementName(REUSABLE_PLAN + text)).toBe(name!);
});

test("?prepare= on the URL is read and removed; anything but true or false is refused", () => {
  expect(postgresTarget({ url: "postgres://h/db?prepare=false&schema=s" })).toEqual({ url: "postgres://h/db", schema: "s", prepare: false });
  expect(postgresTarget({ url: "postgres://h/db?sslmode=disable&prepare=true" })).toEqual({ url: "postgres://h/db?sslmode=disable", prepare: true });
  expect(() => postgresTarget({ url: "postgres://h/db?prepare=0" })).toThrow('invalid PostgreSQL URL parameter prepare="0"');
});

describe.skipIf(!run)("PostgreSQL prepared statements", () => {
  const schemas: string[] = [];
  const stores: ServerStore[] = [];
  afterAll(async () => {
    for (const s of stores) await s.close().catch(() => {});
    for (const s of schemas) await dropSchema(s);
  });

  /** A server on one pooled connection, so pg_prepared_statements (per session) sees all of it. */
  const serverOn = async (url: string) => {
    const schema = newSchemaName();
    schemas.push(schema);
    const store = await openServerStore({ adapter: createPostgresAdapter({ url: `${url}${url.includes("?") ? "&" : "?"}schema=${schema}`, pool: { max: 1 } }) });
    stores.push(store);
    const { key } = await createKey(store, "t", { createIfMissing: true });
    const handler = createServerHandler({ store, limits: { rate: false } });
    const push = async (opId: number) => {
      const body = JSON.stringify({ clientId: "client-prepared", ops: [{ opId, collection: "docs", id: `d${opId}`, op: "put", value: { n: opId } }] });
      const res = await handler(new Request(`http://x/v1/push?pull=v1.${opId - 1}&limit=10`, { method: "POST", headers: { authorization: `Bearer ${key}` }, body }));
      expect(res.status).toBe(200);
      return (await res.json()) as { results: { status: string; version: number }[]; pull: { changes: { id: string }[] } };
    };
    const pull = async (cursor: string) => {
      const res = await handler(new Request(`http://x/v1/pull?cursor=${cursor}&limit=1`, { headers: { authorization: `Bearer ${key}` } }));
      expect(res.status).toBe(200);
      return (await res.json()) as { changes: { id: string }[] };
    };
    const prepared = async () =>
      (await sql<{ n: number }>`select count(*)::int as n from pg_prepared_statements where name like 'stowage_%'`.execute(store.db)).rows[0].n;
    return { push, pull, prepared, db: store.db };
  };

  test("by default, the marked statements of a push run named, with the same answers", async () => {
    const s = await serverOn(PG_URL);
    const first = await s.push(1);
    expect(first.results).toEqual([{ opId: 1, status: "applied", version: 1 }] as never);
    for (let op = 2; op <= 12; op++) {
      const res = await s.push(op);
      expect(res.results[0]).toMatchObject({ status: "applied", version: op });
      expect(res.pull.changes.map((c) => c.id)).toEqual([`d${op}`]);
    }
    // Each push was caught up, so its page came from its commit (no read); plain pulls read.
    for (let op = 1; op <= 12; op++) expect((await s.pull(`v1.${op - 1}`)).changes.map((c) => c.id)).toEqual([`d${op}`]);
    // The key read, the tenant's lock, the marks and document read (a probe per id), the
    // write and the pull's counters read; the pull page stays unnamed (its plan follows the
    // statistics). Each ran at least 12 times: planned for its values 5 times, then generic.
    const rows = (
      await sql<{ statement: string; generic_plans: number; custom_plans: number }>`
        select statement, generic_plans::int, custom_plans::int from pg_prepared_statements where name like 'stowage_%' order by statement`.execute(s.db)
    ).rows;
    // The push's lock, read and write go pipelined (src/server/tx.ts), prepared by SQL: `prepare <name> as <text>`.
    const names = rows.map((r) => r.statement.replace(/^prepare \w+ as /, ""));
    expect(names.length).toBe(5);
    for (const text of names) expect(text.startsWith(REUSABLE_PLAN)).toBe(true);
    expect(names.some((t) => t.includes("stowage_keys"))).toBe(true);
    expect(names.some((t) => t.includes("for update"))).toBe(true);
    expect(names.some((t) => t.includes("cross join lateral"))).toBe(true);
    // The schema is named in the statement itself (adapters/postgres/schema-names.ts).
    expect(names.some((t) => /insert into "stowage_t_\w+"\.stowage_docs/.test(t))).toBe(true);
    expect(names.some((t) => /"purged_seq" from "stowage_t_\w+"\."stowage_tenants"/.test(t) && !t.includes("for update"))).toBe(true);
    expect(names.some((t) => t.includes("order by"))).toBe(false);
    expect(rows.map((r) => r.custom_plans)).toEqual(rows.map(() => 5));
    for (const r of rows) expect(r.generic_plans).toBeGreaterThanOrEqual(7);
  });

  test("?prepare=false: the same pushes, nothing prepared", async () => {
    const s = await serverOn(`${PG_URL}${PG_URL.includes("?") ? "&" : "?"}prepare=false`);
    for (let op = 1; op <= 12; op++) expect((await s.push(op)).results[0]).toMatchObject({ status: "applied", version: op });
    expect(await s.prepared()).toBe(0);
  });
});
