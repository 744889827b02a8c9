import type pg from "pg";
import { REUSABLE_PLAN } from "../../src/adapter.ts";

/**
 * Named prepared statements for the texts the core marks as having a reusable plan
 * (REUSABLE_PLAN in src/adapter.ts: the key read, the tenant's counter lock, a push's marks
 * and document read, a push's write).
 * Kysely hands node-postgres unnamed queries, so PostgreSQL parses, analyzes and plans every
 * one again: for a one-op push that was about 0.6 of its 1.7 ms (the write is one statement
 * of a dozen CTE branches). Named, a text is parsed once per connection and, after five runs,
 * served from a cached generic plan, as long as that plan is costed no higher than the ones
 * made for the values (docs-sql.ts PG_SELECT_STATES: why the push read takes JSON arrays;
 * plans.test.ts checks pg_prepared_statements).
 *
 * Only marked texts: a generic plan is made once, from the statistics of that moment. One
 * made for a document read while the table was nearly empty kept scanning it as it grew
 * (measured: 572 ms per group read, 32 clients pushing into a new schema, until ANALYZE).
 * (That read was `id = any($ids)`; it is now a probe per id that has no other plan.) The
 * marked statements find rows by whole primary keys or insert parameter rows, so their plans
 * hold at any size. `?prepare=false` on the URL turns this off (a pooler in
 * transaction mode that does not track prepared statements, e.g. PgBouncer before 1.21,
 * would hand a named statement to a connection that never parsed it).
 */
const MAX_NAMES = 256;

/** Text → statement name, shared by every connection of the process (each parses on first use). */
const names = new Map<string, string>();

/** The name `text` runs under, or undefined to run it unnamed. */
export function statementName(text: string): string | undefined {
  if (!text.startsWith(REUSABLE_PLAN)) return undefined;
  const name = names.get(text);
  if (name !== undefined || names.size >= MAX_NAMES) return name;
  const made = `stowage_${names.size + 1}`;
  names.set(text, made);
  return made;
}

/** Makes `client` run marked texts as named statements (see above). */
export function prepareMarkedStatements(client: pg.PoolClient | pg.Client): void {
  const query = client.query as (...args: unknown[]) => unknown;
  // Kysely calls query(text, values); anything else (a config object, a cursor, a callback) passes through.
  client.query = function (this: unknown, text: unknown, values?: unknown, callback?: unknown) {
    if (typeof text === "string" && Array.isArray(values) && values.length > 0 && callback === undefined) {
      const name = statementName(text);
      if (name !== undefined) return query.call(this, { name, text, values });
    }
    return query.apply(this, arguments as unknown as unknown[]);
  } as typeof client.query;
}
