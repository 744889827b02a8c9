import { sql, type Kysely } from "kysely";
import type { ServerTables } from "./tables.ts";

/** Rows a table holds before its first ANALYZE: a scan of fewer costs less than the ANALYZE. */
const MIN_ROWS = 1000;

/**
 * The columns the pull and push statements find rows by. Not `body`: statistics of a jsonb
 * column cost most of an ANALYZE (35 -> 24 ms at 25,000 documents) and no plan of ours uses them.
 */
const ANALYZE = "analyze stowage_docs (tenant_id, collection, id, seq, deleted)";

/**
 * PostgreSQL only: makes sure stowage_docs has planner statistics once it holds 1,000 rows,
 * when autovacuum has not given it any (it is off, as on some CI databases and on this
 * project's test machine, or has not reached a new table yet).
 *
 * Why: on a table that was never analyzed the planner guesses that `tenant_id = $1` matches
 * almost nothing, and plans a pull page as "every change after the cursor, then sort": from
 * the start of a large tenant, each page read all of it. One ANALYZE made at 1,000 rows is
 * enough for good: as the table grows the planner scales its row counts by the table's
 * current size, and reads the index's real bounds for a cursor past the histogram (checked:
 * statistics from 1,000 rows, then 1,000,000 rows over two tenants, every pull page an index
 * scan of (tenant_id, seq)). A push's document read does not depend on statistics at all
 * (sql/postgres-docs.ts PG_SELECT_STATES).
 *
 * Only once, and in the background: each ANALYZE costs the database a sample of the table
 * and drops the connections' cached plans, and analyzing at every doubling, as a first
 * version did, cost a fresh tenant's bulk pushes 10-15% of their throughput. ANALYZE takes a
 * lock that neither reads nor writes wait for; close() waits for a running one.
 */
export class PlannerStats {
  readonly #db: Kysely<ServerTables>;
  readonly #onError: (e: unknown) => void;
  /** Rows the table holds beyond what its last ANALYZE saw, as far as this process knows. */
  #pending = 0;
  /** True once the table has statistics of at least MIN_ROWS rows: nothing more to do. */
  #done = false;
  #running?: Promise<void>;
  #closed = false;

  constructor(db: Kysely<ServerTables>, onError: (e: unknown) => void = () => {}) {
    this.#db = db;
    this.#onError = onError;
  }

  /** Reads where the table stands (written by any process) and analyzes now if that is due. */
  async start(): Promise<void> {
    const { analyzed, live } = await this.#read();
    this.#done = analyzed >= MIN_ROWS;
    this.added(Math.max(0, live - Math.max(analyzed, 0)));
  }

  /** Counts `n` new rows (after their commit); starts the ANALYZE when they make it due. */
  added(n: number): void {
    if (this.#done) return;
    this.#pending += n;
    if (this.#running || this.#closed || this.#pending < MIN_ROWS) return;
    this.#running = this.#analyze().finally(() => (this.#running = undefined));
  }

  async #analyze(): Promise<void> {
    try {
      await sql.raw(ANALYZE).execute(this.#db);
      const { analyzed } = await this.#read();
      this.#done = analyzed >= MIN_ROWS;
      this.#pending = 0;
    } catch (e) {
      if (!this.#closed) this.#onError(e);
    }
  }

  /** The rows the last ANALYZE (or VACUUM) counted, -1 for never, and the rows the statistics collector counts now. */
  async #read(): Promise<{ analyzed: number; live: number }> {
    const { rows } = await sql<{ reltuples: number; live: number | null }>`
      select c.reltuples::float8 as reltuples, s.n_live_tup::float8 as live
      from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
      where c.oid = to_regclass(quote_ident(current_schema()) || '.stowage_docs')`.execute(this.#db);
    return { analyzed: Number(rows[0]?.reltuples ?? -1), live: Number(rows[0]?.live ?? 0) };
  }

  /** Starts no more runs and waits for the one in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }
}
