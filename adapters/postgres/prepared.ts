import type pg from "pg";

/**
 * Named prepared statements for the texts this process runs over and over. Kysely hands
 * node-postgres unnamed queries, so PostgreSQL parses, analyzes and plans every one again:
 * for a one-op push that was about 0.7 of its 1.7 ms (the write is one statement of a dozen
 * CTE branches). Named, a text is parsed once per connection and, after five runs, served
 * from a cached generic plan (plans.test.ts checks those plans use the indexes).
 *
 * Only texts with parameters, and only from their second run on: one-off statements
 * (migrations, admin reads) never take a name. At most MAX_NAMES texts per process get one;
 * past that, new texts run unnamed as before, so varying texts cannot grow the server's
 * per-connection statement memory without bound. `?prepare=false` on the URL turns this off
 * (a pooler in transaction mode that does not track prepared statements, e.g. PgBouncer
 * before 1.21, would hand a named statement to a connection that never parsed it).
 */
const MAX_NAMES = 256;
/** Texts seen once are remembered up to this many, then forgotten together. */
const MAX_SEEN = 2048;

/** Text → statement name, shared by every connection of the process (each parses on first use). */
const names = new Map<string, string>();
const seenOnce = new Set<string>();

/** The name `text` runs under, or undefined to run it unnamed. */
export function statementName(text: string): string | undefined {
  const name = names.get(text);
  if (name !== undefined || names.size >= MAX_NAMES) return name;
  if (!seenOnce.has(text)) {
    if (seenOnce.size >= MAX_SEEN) seenOnce.clear();
    seenOnce.add(text);
    return undefined;
  }
  seenOnce.delete(text);
  const made = `stowage_${names.size + 1}`;
  names.set(text, made);
  return made;
}

/** Makes `client` run repeated parameterized texts as named statements (see above). */
export function prepareRepeatedStatements(client: pg.PoolClient | pg.Client): void {
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
