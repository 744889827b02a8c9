import { afterAll, test } from "bun:test";
import { PG_URL, dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { runServerSuite } from "./suite.ts";

// The shared server suite (one definition) on PostgreSQL: every server gets a fresh schema.
const schemas: string[] = [];
if (await pgAvailable("server suite on PostgreSQL")) {
  runServerSuite({
    name: "postgres",
    openAdapter: () => {
      const schema = newSchemaName();
      schemas.push(schema);
      return createPostgresAdapter({ url: PG_URL, schema, pool: { max: 4 } });
    },
  });
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });
} else {
  test.skip("server suite on PostgreSQL (PostgreSQL unreachable)", () => {});
}
