import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { schemaQualifier } from "../../adapters/postgres/schema-names.ts";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { call } from "./spawn.ts";
import { extraUrl } from "./extras.ts";

test("the schema is written into the core's names only: not into literals, function bodies or other identifiers", () => {
  const q = schemaQualifier("app");
  expect(q(`select "stowage_docs"."id" from "stowage_docs" where x = 'stowage_docs'`)).toBe(`select "app"."stowage_docs"."id" from "app"."stowage_docs" where x = 'stowage_docs'`);
  expect(q("create trigger stowage_tenants_notify after update of seq on stowage_tenants for each row execute function stowage_notify_change()")).toBe(
    'create trigger stowage_tenants_notify after update of seq on "app".stowage_tenants for each row execute function "app".stowage_notify_change()',
  );
  expect(q("create function stowage_notify_key() returns trigger as $$ begin perform pg_notify('stowage_keys', old.id); end $$")).toBe(
    "create function \"app\".stowage_notify_key() returns trigger as $$ begin perform pg_notify('stowage_keys', old.id); end $$",
  );
  expect(q(`select current_schema(), "other"."stowage_docs", my_stowage_docs, stowage_docs_tombstones`)).toBe(`select 'app'::name, "other"."stowage_docs", my_stowage_docs, stowage_docs_tombstones`);
});

const run = await pgAvailable("PostgreSQL session loss");

describe.skipIf(!run)("prepared statements that lose their session", () => {
  const schema = newSchemaName();
  const logged: string[] = [];
  let server: TestServer;
  afterAll(async () => {
    await server?.stop();
    await dropSchema(schema);
  });

  test("a prepared statement gone from the connection is found out once, logged once, and no request fails for it", async () => {
    // One connection, so DEALLOCATE ALL reaches the one that holds the statements, as a pooler
    // handing it to another client would leave it: node-postgres still believes them prepared.
    const adapter = createPostgresAdapter({ url: PG_URL, schema, pool: { max: 1 }, log: (m) => logged.push(m) });
    server = await startServer({ adapter });
    const push = (opId: number) => call(server.url, server.key, "/v1/push", { clientId: "session-client", ops: [{ opId, collection: "notes", id: `n${opId}`, op: "put", value: { opId } }] });
    for (let i = 1; i <= 3; i++) expect((await push(i)).status).toBe(200);
    expect(adapter.capabilities.pipeline).toBe(true);
    await sql`deallocate all`.execute(server.store.db);
    // The key read finds its statement gone outside a transaction (run again unnamed); the push's
    // pipelined EXECUTE inside one (the transaction runs again one statement at a time).
    const r = await push(4);
    expect(r.status).toBe(200);
    expect(r.json.results).toEqual([{ opId: 4, status: "applied", version: 4 }]);
    expect(adapter.capabilities.pipeline).toBe(false);
    expect(adapter.session.pooled).toBe(true);
    for (let i = 5; i <= 8; i++) expect((await push(i)).status).toBe(200);
    expect((await call(server.url, server.key, "/v1/pull")).json.changes.map((c: { id: string }) => c.id)).toEqual(["n1", "n2", "n3", "n4", "n5", "n6", "n7", "n8"]);
    expect(logged.length).toBe(1);
    expect(logged[0]).toContain("do not keep a session");
    expect(logged[0]).toContain("?pooler=transaction");
  });
});

const bouncer = run ? extraUrl("STOWAGE_TEST_PGBOUNCER_URL", "statement_timeout behind PgBouncer") : undefined;

describe.skipIf(!bouncer)("statement_timeout behind a declared pooler", () => {
  test("SET LOCAL in each transaction: a statement running longer is cancelled", async () => {
    const schema = newSchemaName();
    const server = await startServer({ adapter: createPostgresAdapter({ url: `${bouncer}?schema=${schema}&pooler=transaction&statement_timeout=300`, pool: { max: 2 } }) });
    try {
      await expect(server.store.db.transaction().execute((trx) => sql`select pg_sleep(2)`.execute(trx))).rejects.toThrow(/statement timeout/);
      // Pushes run inside such transactions and are far below it.
      expect((await call(server.url, server.key, "/v1/push", { clientId: "timeout-client", ops: [{ opId: 1, collection: "n", id: "a", op: "put", value: {} }] })).status).toBe(200);
    } finally {
      await server.stop();
      await dropSchema(schema);
    }
  });
});
