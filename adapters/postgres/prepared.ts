import type pg from "pg";
// The conversion node-postgres applies to every bound value (its `exports` open pg/lib/*).
// A CommonJS module: its default export is module.exports, on Node as on Bun.
import pgUtils from "pg/lib/utils";
import { PIPELINE, REUSABLE_PLAN, type PipelineStatement } from "../../src/adapter.ts";

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

/** Makes `client` run marked texts as named statements (see above), and PIPELINE queries (below). */
export function prepareMarkedStatements(client: pg.PoolClient | pg.Client): void {
  const query = client.query as (...args: unknown[]) => unknown;
  // Kysely calls query(text, values); anything else (a config object, a cursor, a callback) passes through.
  client.query = function (this: unknown, text: unknown, values?: unknown, callback?: unknown) {
    if (text === PIPELINE && Array.isArray(values) && values.length === 1 && callback === undefined) {
      return runPipeline(client, (t: string) => query.call(this, t) as Promise<pg.QueryResult | pg.QueryResult[]>, values[0] as PipelineStatement[]);
    }
    if (typeof text === "string" && Array.isArray(values) && values.length > 0 && callback === undefined) {
      const name = statementName(text);
      if (name !== undefined) return query.call(this, { name, text, values });
    }
    return query.apply(this, arguments as unknown as unknown[]);
  } as typeof client.query;
}

/**
 * A PIPELINE query (src/adapter.ts): the statements go as ONE simple-protocol message, the
 * ones with values as `EXECUTE name(literal, …)` of a statement this connection prepared with
 * SQL PREPARE (once, in a round trip of its own the first time), so their plans stay cached as
 * with named protocol statements. node-postgres cannot pipeline extended-protocol messages;
 * a simple query with several statements is how one round trip carries a transaction's first
 * (or last) steps. Under READ COMMITTED each statement of the message still takes its own
 * snapshot, when it starts: a read placed after a locking statement sees every commit made
 * before the lock was granted, exactly as when the two are sent one after another.
 * Answers the rows of each statement, in order, as the query's rows.
 */
async function runPipeline(
  client: pg.PoolClient | pg.Client,
  send: (text: string) => Promise<pg.QueryResult | pg.QueryResult[]>,
  statements: PipelineStatement[],
): Promise<{ rows: unknown[][]; rowCount: null; command: string }> {
  let prepared = preparedBySql.get(client);
  if (!prepared) preparedBySql.set(client, (prepared = new Set()));
  const parts: string[] = [];
  for (const { text, values } of statements) {
    if (!values || values.length === 0) {
      parts.push(text);
      continue;
    }
    if (!text.startsWith(REUSABLE_PLAN)) throw new Error("a pipelined statement with values must be a REUSABLE_PLAN text");
    let name = pipelineNames.get(text);
    if (name === undefined) {
      if (pipelineNames.size >= MAX_NAMES) throw new Error(`more than ${MAX_NAMES} pipelined statement texts`);
      pipelineNames.set(text, (name = `stowage_p${pipelineNames.size + 1}`));
    }
    // PREPARE is not transactional: once done it holds for the connection's life, whatever
    // happens to the transaction around it.
    if (!prepared.has(name)) {
      await send(`prepare ${name} as ${text}`);
      prepared.add(name);
    }
    parts.push(`execute ${name}(${values.map((v) => literal(client, v)).join(", ")})`);
  }
  const res = await send(parts.join(";\n"));
  const results = Array.isArray(res) ? res : [res];
  return { rows: results.map((r) => r.rows), rowCount: null, command: "PIPELINE" };
}

/** Statement names prepared with SQL PREPARE, per connection (node-postgres tracks only its own). */
const preparedBySql = new WeakMap<object, Set<string>>();
/** Pipelined text → its name, shared by every connection (a namespace apart from statementName's). */
const pipelineNames = new Map<string, string>();

/**
 * A parameter as an SQL literal: node-postgres's own text for a bound value (arrays as array
 * literals, and so on), quoted. An untyped quoted literal then takes the statement's parameter
 * type, as the bound value would.
 */
function literal(client: pg.PoolClient | pg.Client, v: unknown): string {
  const text = pgUtils.prepareValue(v);
  if (text === null || text === undefined) return "null";
  if (typeof text !== "string") throw new Error("a pipelined parameter must be text, a number, an array or null");
  // A NUL would end the message's text early; PostgreSQL text cannot hold one anyway.
  if (text.includes("\u0000")) throw new Error("a pipelined parameter holds U+0000");
  return client.escapeLiteral(text);
}
