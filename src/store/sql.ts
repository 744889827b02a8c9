import { RawNode, createQueryId, type CompiledQuery, type Kysely } from "kysely";
import type { DirectConnection } from "../sqlite/sync-database.ts";

/** Anything that runs a compiled query: the Kysely instance or an open transaction. */
export type Executor = Pick<Kysely<any>, "executeQuery">;

/**
 * Inside a transaction on a synchronous SQLite driver, raw statements run on the connection
 * directly. Through Kysely each one passes half a dozen async layers (executor, connection
 * provider, the transaction's own query queue, result transform) that add 5 µs and a dozen
 * allocations to a statement SQLite runs in 2 µs; a small sync runs about thirty, on client
 * and server together, most of them in transactions. The transaction already owns the
 * connection (the driver's lock is held until it ends), so nothing else can run on it
 * meanwhile. Looked up once per transaction; outside one, or on another driver, the normal
 * path (which takes the connection's lock) runs.
 */
const directOf = new WeakMap<object, DirectConnection | null>();

/** The connection to run on directly, if any: a lookup in the map for every call, one async hop per transaction. */
async function findDirect(db: Executor): Promise<DirectConnection | null> {
  const trx = db as Partial<Pick<Kysely<any>, "isTransaction" | "getExecutor">>;
  let found: DirectConnection | null = null;
  if (trx.isTransaction === true && trx.getExecutor !== undefined) {
    const connection = await trx.getExecutor().provideConnection(async (c) => c);
    if (typeof (connection as Partial<DirectConnection>).executeSync === "function") found = connection as unknown as DirectConnection;
  }
  directOf.set(db, found);
  return found;
}

/**
 * Like Kysely's `CompiledQuery.raw`, minus `Object.freeze` on the parameters: freezing a
 * 3,500-element parameter array costs more than SQLite spends inserting its 500 rows. The
 * query node (three frozen objects, immutable) is made once per SQL text: the hot paths run
 * the same few texts over and over (a live event's apply is five statements).
 */
function compiled(sql: string, parameters: readonly unknown[]): CompiledQuery {
  return { sql, parameters, query: rawNode(sql), queryId: createQueryId() };
}

const NODES = new Map<string, RawNode>();
/** Most query nodes kept; texts with a varying number of placeholders come and go. */
const MAX_NODES = 512;

function rawNode(sql: string): RawNode {
  let node = NODES.get(sql);
  if (node) return node;
  node = RawNode.createWithSql(sql);
  if (NODES.size >= MAX_NODES) NODES.delete(NODES.keys().next().value as string);
  NODES.set(sql, node);
  return node;
}

/** Runs raw SQL and returns its rows. The core's hot paths skip the query builder. */
export async function all<R>(db: Executor, sql: string, params: readonly unknown[] = []): Promise<R[]> {
  const direct = directOf.get(db) ?? (directOf.has(db) ? null : await findDirect(db));
  if (direct) return direct.executeSync<R>(sql, params).rows;
  return (await db.executeQuery<R>(compiled(sql, params))).rows;
}

export async function first<R>(db: Executor, sql: string, params: readonly unknown[] = []): Promise<R | undefined> {
  return (await all<R>(db, sql, params))[0];
}

/** Runs raw SQL that returns no rows and answers how many rows it changed. */
export async function run(db: Executor, sql: string, params: readonly unknown[] = []): Promise<number> {
  const direct = directOf.get(db) ?? (directOf.has(db) ? null : await findDirect(db));
  if (direct) return Number(direct.executeSync(sql, params).numAffectedRows ?? 0);
  return Number((await db.executeQuery(compiled(sql, params))).numAffectedRows ?? 0);
}

/** `(?,?,?),(?,?,?)` for `rows` rows of `width` parameters. */
export function placeholders(rows: number, width: number): string {
  const one = `(${new Array(width).fill("?").join(",")})`;
  return new Array(rows).fill(one).join(",");
}

/**
 * Bound parameters the SQLite query planner does not look into, for the statements that run
 * on every sync. SQLite (seen on 3.53 and 3.54: bun:sqlite, node:sqlite) marks a prepared
 * statement to be prepared again on every bind when its plan could depend on a parameter's
 * value: `LIMIT ?`, and `text_column = ?` in a query that also orders or joins. That costs
 * 8-15 µs per run, several times what the statement itself costs (a 1-row outbox read: 11.4
 * µs as `limit ?`, 1.7 µs as `limit cast(? as integer)`). Behind a cast the value is opaque to
 * the planner and the prepared plan is reused. The casts are exact for what we bind (strings
 * as text, safe integers as integer). The switch that turns this planner behaviour off,
 * SQLITE_DBCONFIG_ENABLE_QPSG, is exposed by none of our drivers.
 */
export const TEXT_PARAM = "cast(? as text)";
export const INTEGER_PARAM = "cast(? as integer)";

/** Rows per multi-row statement: stays far under SQLite's 32,766 bound parameters. */
export const BATCH_ROWS = 500;
