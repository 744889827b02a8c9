import { afterAll, test } from "bun:test";
import { createPostgresAdapter } from "../../adapters/postgres/index.ts";
import { dropSchema, newSchemaName, pgAvailable } from "../helpers/pg.ts";
import { extraUrl } from "../postgres/extras.ts";
import { runServerSuite } from "./suite.ts";

// The shared server suite through PgBouncer in transaction mode (scripts/ci-pg-extras.sh), on
// the adapter's defaults: the schema named in each statement, the missing session detected.
const schemas: string[] = [];
const bouncer = (await pgAvailable("server suite through PgBouncer")) ? extraUrl("STOWAGE_TEST_PGBOUNCER_URL", "server suite through PgBouncer") : undefined;
if (bouncer) {
  runServerSuite({
    name: "postgres via PgBouncer",
    openAdapter: () => {
      const schema = newSchemaName();
      schemas.push(schema);
      return createPostgresAdapter({ url: `${bouncer}?schema=${schema}`, pool: { max: 4 }, log: () => {} });
    },
  });
  afterAll(async () => {
    for (const schema of schemas) await dropSchema(schema);
  });
} else {
  test.skip("server suite through PgBouncer (not set up)", () => {});
}
