import type pg from "pg";
// The conversion node-postgres applies to every bound value (its `exports` open pg/lib/*).
// A CommonJS module: its default export is module.exports, on Node as on Bun.
import pgUtils from "pg/lib/utils";
import { PIPELINE, REUSABLE_PLAN, type PipelineStatement } from "../../src/adapter.ts";
import { StowageError } from "../../src/errors.ts";
import { asUnavailable, isSessionLoss, type PostgresSession } from "./session.ts";

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
 * hold at any size. `?prepare=false` on the URL turns this off; so does a connection found
 * to keep no session (a pooler in transaction mode that does not track prepared statements,
 * e.g. PgBouncer before 1.21, hands a named statement to a server connection that never
 * parsed it: session.ts).
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

/** How the adapter's connections run statements (index.ts sets it up once per adapter). */
export interface StatementSettings {
  /** Named prepared statements and pipelines of EXECUTEs, while the session holds (?prepare=). */
  prepare: boolean;
  /** Whether connections keep a session (session.ts). */
  session: PostgresSession;
  /** Qualifies the core's names with the schema (schema-names.ts), when there is one. */
  qualify?: (text: string) => string;
  /** Sent with every BEGIN in the same message, e.g. a SET LOCAL statement_timeout behind a pooler. */
  onBegin?: string;
}

/**
 * Makes `client` run every statement the adapter's way: the core's names qualified with the
 * schema, marked texts as named statements (see above) and PIPELINE queries (below) while the
 * session holds, failures of availability as 503s (session.ts). A named statement that finds
 * the session gone (a pooler in transaction mode) turns them off for good; outside a
 * transaction it is run again unnamed at once, inside one the transaction is lost and the
 * error is answered 503 (src/server/tx.ts retries a push once).
 */
export function wrapStatements(client: pg.PoolClient | pg.Client, settings: StatementSettings): void {
  const query = client.query as (...args: unknown[]) => Promise<unknown>;
  const { session, qualify = (t: string) => t } = settings;
  let inTransaction = false;
  const send = (self: unknown, ...args: unknown[]) => query.apply(self, args).catch((e: unknown) => Promise.reject(asUnavailable(e)));
  // Kysely calls query(text, values); anything else (a config object, a cursor, a callback) passes through.
  client.query = function (this: unknown, text: unknown, values?: unknown, callback?: unknown) {
    if (typeof text !== "string" || callback !== undefined || (values !== undefined && !Array.isArray(values))) {
      return query.apply(this, arguments as unknown as unknown[]);
    }
    if (text === PIPELINE && Array.isArray(values) && values.length === 1) {
      const statements = (values[0] as PipelineStatement[]).map((st) => ({ ...st, text: qualify(st.text) }));
      inTransaction = statements.some((st) => st.text === "begin") || inTransaction;
      if (statements.some((st) => st.text === "commit")) inTransaction = false;
      const run = settings.prepare && !session.pooled ? runPipeline(client, (t: string) => send(this, t) as Promise<pg.QueryResult | pg.QueryResult[]>, statements, session, settings.onBegin) : undefined;
      return (run ?? Promise.reject(RUN_ONE_BY_ONE)).catch((e: unknown) => {
        if (e !== RUN_ONE_BY_ONE) throw e;
        return runOneByOne((t, v) => send(this, t, v) as Promise<pg.QueryResult>, statements, settings.onBegin);
      });
    }
    const lower = text.length < 10 ? text.toLowerCase() : "";
    if (lower === "begin") {
      inTransaction = true;
      if (settings.onBegin) return send(this, `begin; ${settings.onBegin}`).then((r) => (Array.isArray(r) ? r[0] : r));
    } else if (lower === "commit" || lower === "rollback") inTransaction = false;
    const sql = qualify(text);
    const name = settings.prepare && !session.pooled && Array.isArray(values) && values.length > 0 ? statementName(text) : undefined;
    if (name === undefined) return send(this, sql, values);
    const inTx = inTransaction;
    return query.call(this, { name, text: sql, values }).catch((e: unknown) => {
      if (!isSessionLoss(e)) throw asUnavailable(e);
      session.lost(`prepared statement ${name}: ${(e as Error).message}`);
      if (inTx) throw new StowageError("storage", "PostgreSQL lost this transaction's session (a pooler in transaction mode?); retry", { cause: e, status: 503 });
      return send(this, sql, values);
    });
  } as typeof client.query;
}

/** runPipeline's signal that the statements must go one at a time (nothing was sent). */
const RUN_ONE_BY_ONE = new Error("run one by one");

/** A PIPELINE query without a session: each statement on its own, unnamed (a pooler keeps a transaction on one server connection). */
async function runOneByOne(send: (text: string, values?: unknown[]) => Promise<pg.QueryResult>, statements: PipelineStatement[], onBegin?: string) {
  const rows: unknown[][] = [];
  for (const { text, values } of statements) {
    const res = await send(text === "begin" && onBegin ? `begin; ${onBegin}` : text, values && values.length > 0 ? [...values] : undefined);
    rows.push((Array.isArray(res) ? res[0] : res).rows);
  }
  return { rows, rowCount: null, command: "PIPELINE" };
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
  session: PostgresSession,
  onBegin?: string,
): Promise<{ rows: unknown[][]; rowCount: null; command: string }> {
  let prepared = preparedBySql.get(client);
  if (!prepared) preparedBySql.set(client, (prepared = new Set()));
  const parts: string[] = [];
  for (const { text, values } of statements) {
    if (!values || values.length === 0) {
      parts.push(text === "begin" && onBegin ? `begin; ${onBegin}` : text);
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
      try {
        await send(`prepare ${name} as ${text}`);
      } catch (e) {
        // Already prepared on this server connection by another client: a pooler hands them
        // round. Nothing of the transaction was sent yet, so it can still go one by one.
        if (!isSessionLoss(e)) throw e;
        session.lost(`PREPARE ${name}: ${(e as Error).message}`);
        throw RUN_ONE_BY_ONE;
      }
      prepared.add(name);
    }
    parts.push(`execute ${name}(${values.map((v) => literal(client, v)).join(", ")})`);
  }
  let res: pg.QueryResult | pg.QueryResult[];
  try {
    res = await send(parts.join(";\n"));
  } catch (e) {
    if (!isSessionLoss(e)) throw e;
    // A statement prepared on another server connection: this transaction is lost.
    session.lost(`EXECUTE: ${(e as Error).message}`);
    throw new StowageError("storage", "PostgreSQL lost this transaction's session (a pooler in transaction mode?); retry", { cause: e, status: 503 });
  }
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
