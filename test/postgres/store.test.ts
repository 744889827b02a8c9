import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPostgresAdapter, listenForChanges, postgresTarget, type ChangePoke } from "../../adapters/postgres/index.ts";
import { isStowageError } from "../../src/errors.ts";
import { createKey, createTenant } from "../../src/server/keys.ts";
import { createServerHandler } from "../../src/server/handler.ts";
import { pullPage } from "../../src/server/pull.ts";
import { push } from "../../src/server/push.ts";
import { openServerStore, type ServerStore } from "../../src/server/store.ts";
import { PG_URL, newSchemaName, pgAvailable, pgQuery, pgTestAdapter, dropSchema } from "../helpers/pg.ts";
import { POSTGRES, SQLITE } from "../../src/server/sql/index.ts";

const LIMITS = { maxValueChars: 1 << 20, maxValueDepth: 64 };
const run = await pgAvailable("PostgreSQL server store");

describe("createPostgresAdapter", () => {
  test("declares a persistent, multi-process postgres store and hides the password", () => {
    const a = createPostgresAdapter({ url: "postgres://app:s3cret@db.example:5432/prod", schema: "stowage" });
    expect(a.name).toBe("postgres");
    expect(a.capabilities).toEqual({ sql: "postgres", persistent: true, multiProcess: true, savepoints: true, fts5: false, pipeline: true });
    expect(a.location).toBe("postgres://app:***@db.example:5432/prod (schema stowage)");
  });

  test("refuses a URL that is not postgres:// and a schema name that would need quoting", () => {
    for (const bad of [() => createPostgresAdapter({ url: "mysql://x/y" }), () => createPostgresAdapter({ url: PG_URL, schema: "a; drop" })]) {
      let error: unknown;
      try {
        bad();
      } catch (e) {
        error = e;
      }
      expect(isStowageError(error, "config")).toBe(true);
    }
  });

  test("a ?schema= URL parameter picks the schema and leaves the connection string", () => {
    const a = createPostgresAdapter({ url: "postgres://u:pw@h:5432/db?schema=stow&sslmode=disable" });
    expect(a.location).toBe("postgres://u:***@h:5432/db?sslmode=disable (schema stow)");
    expect(postgresTarget({ url: "postgres://h/db?schema=stow" })).toEqual({ url: "postgres://h/db", schema: "stow" });
    expect(postgresTarget({ url: "postgres://h/db?schema=stow", schema: "given" })).toEqual({ url: "postgres://h/db", schema: "given" });
    expect(() => postgresTarget({ url: "postgres://h/db?schema=Bad-Name" })).toThrow('invalid PostgreSQL schema name "Bad-Name"');
  });

  test("unstorableJson finds U+0000 and lone surrogates only where jsonb would refuse them", () => {
    expect(POSTGRES.unstorableJson(JSON.stringify({ a: "x\u0000" }))).toContain("U+0000");
    expect(POSTGRES.unstorableJson(JSON.stringify({ ["k\u0000"]: 1 }))).toContain("U+0000");
    expect(POSTGRES.unstorableJson(JSON.stringify({ a: "\ud800" }))).toContain("surrogate");
    expect(POSTGRES.unstorableJson(JSON.stringify({ a: "\\u0000" }))).toBeUndefined(); // an escaped backslash, then text
    expect(POSTGRES.unstorableJson(JSON.stringify({ a: "\\\u0000" }))).toContain("U+0000");
    expect(POSTGRES.unstorableJson(JSON.stringify({ a: "😀 \u0001 é" }))).toBeUndefined();
    expect(SQLITE.unstorableJson(JSON.stringify({ a: "x\u0000" }))).toBeUndefined();
  });
});

describe.skipIf(!run)("PostgreSQL server store", () => {
  const schema = newSchemaName();
  let a: ServerStore;
  let b: ServerStore;
  let tenantId: string;

  beforeAll(async () => {
    // Two instances opening (and migrating) the same fresh schema at once.
    [a, b] = await Promise.all([
      openServerStore({ adapter: pgTestAdapter({ schema }).adapter }),
      openServerStore({ adapter: pgTestAdapter({ schema }).adapter }),
    ]);
    tenantId = (await createTenant(a, "acme")).id;
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    await dropSchema(schema);
  });

  test("migrations: jsonb bodies, byte-order ids, the notify triggers, the (tenant_id, seq) index", async () => {
    const columns = await pgQuery<{ column_name: string; data_type: string; collation_name: string | null }>(
      "select column_name, data_type, collation_name from information_schema.columns where table_schema = $1 and table_name = 'stowage_docs' and column_name in ('body','id','collection') order by column_name",
      [schema],
    );
    expect(columns).toEqual([
      { column_name: "body", data_type: "jsonb", collation_name: null },
      { column_name: "collection", data_type: "text", collation_name: "C" },
      { column_name: "id", data_type: "text", collation_name: "C" },
    ]);
    const triggers = await pgQuery("select tgname from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace where n.nspname = $1 and not tgisinternal order by tgname", [schema]);
    expect(triggers).toEqual([{ tgname: "stowage_keys_notify" }, { tgname: "stowage_tenants_notify" }]);
  });

  test("a push through one instance is pulled through the other, bodies byte-for-byte as JSON", async () => {
    const res = await push(a, tenantId, { clientId: "client-one", ops: [{ opId: 1, collection: "todos", id: "t1", op: "put", value: { title: "é 😀", n: 1.5, nested: { ok: true } } }] }, LIMITS, Date.now());
    expect(res).toEqual({ results: [{ opId: 1, status: "applied", version: 1 }], lastOpId: 1 });
    const page = JSON.parse(await pullPage(b, tenantId, 0, 10));
    expect(page).toEqual({ changes: [{ collection: "todos", id: "t1", version: 1, value: { title: "é 😀", n: 1.5, nested: { ok: true }, id: "t1" }, deleted: false }], cursor: "v1.1", more: false });
  });

  test("LISTEN/NOTIFY: a change accepted by instance A wakes a subscriber of instance B, only for its tenant", async () => {
    const listener = listenForChanges({ url: PG_URL, schema });
    try {
      await listener.ready;
      const pokes: ChangePoke[] = [];
      const other: ChangePoke[] = [];
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      listener.subscribe(tenantId, (p) => {
        pokes.push(p);
        if (p.seq === 3) wake();
      });
      listener.subscribe("t_someoneelse", (p) => other.push(p));
      const res = await push(a, tenantId, {
        clientId: "client-one",
        ops: [
          { opId: 2, tx: 2, collection: "todos", id: "t2", op: "put", value: {} },
          { opId: 3, tx: 2, collection: "todos", id: "t3", op: "put", value: {} },
        ],
      }, LIMITS, Date.now());
      expect(res.results.map((r) => r.version)).toEqual([2, 3]);
      await woken;
      // One poke per committed transaction, carrying the counter it committed.
      expect(pokes).toEqual([{ tenant: tenantId, seq: 3 }]);
      expect(other).toEqual([]);
    } finally {
      await listener.close();
    }
  });

  test("a rolled-back write sends no poke and takes no sequence number", async () => {
    const listener = listenForChanges({ url: PG_URL, schema });
    try {
      await listener.ready;
      const pokes: ChangePoke[] = [];
      listener.subscribe(tenantId, (p) => pokes.push(p));
      await expect(
        a.db.transaction().execute(async (trx) => {
          await trx.updateTable("stowage_tenants").set({ seq: 999 }).where("id", "=", tenantId).execute();
          throw new Error("roll back");
        }),
      ).rejects.toThrow("roll back");
      // A later committed change is the first poke that arrives.
      let wake!: () => void;
      const woken = new Promise<void>((resolve) => (wake = resolve));
      listener.subscribe(tenantId, () => wake());
      await push(b, tenantId, { clientId: "client-two", ops: [{ opId: 1, collection: "todos", id: "t4", op: "put", value: {} }] }, LIMITS, Date.now());
      await woken;
      expect(pokes).toEqual([{ tenant: tenantId, seq: 4 }]);
    } finally {
      await listener.close();
    }
  });

  test("the listener reconnects after its connection is killed, pokes everyone to look again, and keeps receiving", async () => {
    const listener = listenForChanges({ url: PG_URL, schema, retryMs: 50, applicationName: `stowage-listen-${schema}` });
    try {
      await listener.ready;
      const pokes: ChangePoke[] = [];
      let onPoke = () => {};
      listener.subscribe(tenantId, (p) => {
        pokes.push(p);
        onPoke();
      });
      const next = () => new Promise<void>((resolve) => (onPoke = resolve));
      const missed = next();
      const killed = await pgQuery<{ ok: boolean }>("select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = $1", [`stowage-listen-${schema}`]);
      expect(killed.length).toBeGreaterThan(0);
      await missed;
      expect(pokes).toEqual([{ tenant: tenantId }]);
      const woken = next();
      const res = await push(a, tenantId, { clientId: "client-three", ops: [{ opId: 1, collection: "todos", id: "t5", op: "put", value: {} }] }, LIMITS, Date.now());
      await woken;
      expect(pokes).toEqual([{ tenant: tenantId }, { tenant: tenantId, seq: res.results[0].version! }]);
    } finally {
      await listener.close();
    }
  });

  test("what jsonb cannot store (U+0000, a lone surrogate) is a 400 before anything is applied, not a 500", async () => {
    const { key } = await createKey(a, "acme");
    const handler = createServerHandler({ store: b, limits: { rate: false }, onError: () => {} });
    const req = (path: string, method: string, body: unknown) =>
      handler(new Request(`http://stowage.test${path}`, { method, headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) }));
    const before = JSON.parse(await pullPage(a, tenantId, 0, 1000)).changes.length;
    const res = await req("/v1/push", "POST", {
      clientId: "client-bad",
      ops: [
        { opId: 1, collection: "todos", id: "ok1", op: "put", value: { fine: true } },
        { opId: 2, collection: "todos", id: "bad1", op: "put", value: { text: "a\u0000b" } },
      ],
    });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: string; issues: { path: unknown[] }[] } };
    expect(body.error.code).toBe("bad_request");
    expect(body.error.issues[0].path).toEqual(["ops", 1, "value"]);
    const put = await req("/v1/docs/todos/bad2", "PUT", { text: "\ud800" });
    expect(put.status).toBe(400);
    expect(JSON.parse(await pullPage(a, tenantId, 0, 1000)).changes.length).toBe(before);
  });

  test("pull reads changes through the (tenant_id, seq) index and gc finds tombstones through a partial index, neither scanning documents", async () => {
    const other = (await createTenant(a, "bulk")).id;
    await pgQuery(
      "insert into stowage_docs (tenant_id, collection, id, seq, deleted, writer, body, updated_at) select $1, 'bulk', 'd' || g, g, 0, null, '{}'::jsonb, 0 from generate_series(1, 20000) g",
      [other],
      schema,
    );
    await pgQuery("analyze stowage_docs", [], schema);
    const plan = await pgQuery<{ "QUERY PLAN": string }>(
      "explain select collection, id, seq, deleted, body from stowage_docs where tenant_id = $1 and seq > $2 order by seq limit 501",
      [other, 19990],
      schema,
    );
    const text = plan.map((r) => r["QUERY PLAN"]).join("\n");
    expect(text).toContain("stowage_docs_seq");
    expect(text).not.toContain("Seq Scan");
    const gcPlan = await pgQuery<{ "QUERY PLAN": string }>(
      "explain select max(seq), count(*) from stowage_docs where tenant_id = $1 and deleted = 1 and updated_at < $2",
      [other, Date.now()],
      schema,
    );
    expect(gcPlan.map((r) => r["QUERY PLAN"]).join("\n")).toContain("stowage_docs_tombstones");
  });
});
