import { afterAll, describe, expect, test } from "bun:test";
import { sql } from "kysely";
import { createPostgresAdapter, postgresTarget } from "../../adapters/postgres/index.ts";
import { openServerStore, type ServerStore } from "../../src/server/index.ts";
import { newSchemaName } from "../helpers/pg.ts";
import { extraUrl } from "./extras.ts";

test("URL settings: pooler, pool size, statement timeout and TLS modes are read and taken out of the URL", () => {
  expect(postgresTarget({ url: "postgres://h/db?pgbouncer=true&schema=s" })).toEqual({ url: "postgres://h/db", schema: "s", pooler: "transaction" });
  expect(postgresTarget({ url: "postgres://h/db?pooler=transaction&pool_size=4&statement_timeout=5000" })).toEqual({ url: "postgres://h/db", pooler: "transaction", poolSize: 4, statementTimeoutMs: 5000 });
  expect(postgresTarget({ url: "postgres://h/db?pooler=session" })).toEqual({ url: "postgres://h/db" });
  expect(postgresTarget({ url: "postgres://h/db?sslmode=verify-full&sslrootcert=/ca.crt&connect_timeout=5" })).toEqual({
    url: "postgres://h/db?connect_timeout=5",
    tls: { mode: "verify-full", rootCertPath: "/ca.crt" },
  });
  expect(() => postgresTarget({ url: "postgres://h/db?pooler=statement" })).toThrow("invalid PostgreSQL URL parameter pooler=\"statement\"");
  expect(() => postgresTarget({ url: "postgres://h/db?pool_size=0" })).toThrow("invalid PostgreSQL URL parameter pool_size=\"0\"");
  expect(() => postgresTarget({ url: "postgres://h/db?statement_timeout=5s" })).toThrow("invalid PostgreSQL URL parameter statement_timeout=\"5s\"");
  expect(() => createPostgresAdapter({ url: "postgres://h/db?sslmode=verify-full&sslrootcert=/no/such/ca.crt" })).toThrow("cannot read sslrootcert \"/no/such/ca.crt\"");
});

/** The private primary of scripts/ci-pg-extras.sh serves TLS with a certificate of its own CA, for localhost and 127.0.0.1. */
const TLS = extraUrl("STOWAGE_TEST_PG_TLS_URL", "PostgreSQL over TLS");

describe.skipIf(!TLS)("PostgreSQL over TLS (a private CA)", () => {
  const schema = newSchemaName();
  const stores: ServerStore[] = [];
  afterAll(async () => {
    await sql.raw(`drop schema if exists ${schema} cascade`).execute(stores[0].db).catch(() => {});
    await Promise.all(stores.map((s) => s.close()));
  });
  const open = async (url: string) => {
    const s = await openServerStore({ adapter: createPostgresAdapter({ url, schema, pool: { max: 2 } }) });
    stores.push(s);
    return s;
  };
  const encrypted = async (s: ServerStore) => (await sql<{ ssl: boolean }>`select ssl from pg_stat_ssl where pid = pg_backend_pid()`.execute(s.db)).rows[0].ssl;

  test("verify-full with sslrootcert connects encrypted; without the CA the certificate is refused; require encrypts without checking", async () => {
    expect(await encrypted(await open(TLS!))).toBe(true);
    const noCa = TLS!.replace(/&sslrootcert=[^&]*/, "");
    const refused = createPostgresAdapter({ url: noCa, schema, pool: { max: 1 } });
    await expect(openServerStore({ adapter: refused })).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
    expect(await encrypted(await open(noCa.replace("sslmode=verify-full", "sslmode=require")))).toBe(true);
  });

  test("statement_timeout: a statement running longer is cancelled by the server", async () => {
    const s = await open(`${TLS}&statement_timeout=200`);
    await expect(sql`select pg_sleep(2)`.execute(s.db)).rejects.toThrow(/statement timeout/);
  });
});
