import { sql, type Kysely } from "kysely";
import type { ServerTables } from "./schema.ts";

/** Rows written before the first ANALYZE: a scan of fewer costs less than the ANALYZE. */
const MIN_ROWS = 1000;

/**
 * The columns the push and pull statements find rows by. Not `body`: statistics of a jsonb
 * column cost most of an ANALYZE (35 -> 24 ms at 25,000 documents) and no plan of ours uses them.
 */
const ANALYZE = "analyze stowage_docs (tenant_id, collection, id, seq, deleted)";

/**
 * PostgreSQL only: keeps the planner's statistics of the server's tables current when
 * autovacuum does not (it is off, as on some CI databases and on this project's test machine,
 * or has not reached a table that just grew): ANALYZE once the rows added since the last one
 * pass 1,000 plus the table's size then, so a growing table is analyzed each time it doubles.
 * (Autovacuum's own rule, 50 + 10%, analyzed about 65 times while a bench pushed 25,600
 * documents into a new tenant and cost a third of its throughput; each ANALYZE also drops
 * the connections' cached plans of these tables.)
 *
 * Why: a table that was never analyzed has no statistics, and the planner then guesses that
 * `tenant_id = $1 and collection = $2` matches one row. A push's read of the documents it
 * names (`… and id = any($3)`) was planned as a scan of the whole tenant with `id` as a
 * filter: measured 1.85 ms instead of 0.1 at 10,000 documents, growing with every document,
 * and inside the tenant's lock. A pull from the start was planned as a sort of every change
 * after the cursor, per page. Once analyzed, both are the index scans plans.test.ts checks.
 *
 * ANALYZE samples a bounded number of rows (cheap on any size) and takes a lock that
 * neither reads nor writes wait for. It runs in the background, one at a time; close()
 * waits for a running one.
 */
export class PlannerStats {
  readonly #db: Kysely<ServerTables>;
  readonly #onError: (e: unknown) => void;
  /** Rows added since the last ANALYZE (by this process). */
  #pending = 0;
  /** The table's size at the last ANALYZE, as the planner knows it. */
  #rows = 0;
  #running?: Promise<void>;
  #closed = false;

  constructor(db: Kysely<ServerTables>, onError: (e: unknown) => void = () => {}) {
    this.#db = db;
    this.#onError = onError;
  }

  /** Reads where the table stands (the rows it gained since its last ANALYZE, by any process) and analyzes now if that is due. */
  async start(): Promise<void> {
    const { rows } = await sql<{ reltuples: number; live: number | null }>`
      select greatest(c.reltuples, 0)::float8 as reltuples, s.n_live_tup::float8 as live
      from pg_class c left join pg_stat_user_tables s on s.relid = c.oid
      where c.oid = to_regclass('stowage_docs')`.execute(this.#db);
    this.#rows = Number(rows[0]?.reltuples ?? 0);
    this.added(Math.max(0, Number(rows[0]?.live ?? 0) - this.#rows));
  }

  /** Counts `n` new rows (after their commit); starts an ANALYZE when they make one due. Rows replaced in place do not count: they do not change what the plans depend on. */
  added(n: number): void {
    this.#pending += n;
    if (this.#running || this.#closed || this.#pending < MIN_ROWS + this.#rows) return;
    this.#pending = 0;
    this.#running = this.#analyze().finally(() => (this.#running = undefined));
  }

  async #analyze(): Promise<void> {
    try {
      await sql.raw(ANALYZE).execute(this.#db);
      const { rows } = await sql<{ reltuples: number }>`select greatest(reltuples, 0)::float8 as reltuples from pg_class where oid = to_regclass('stowage_docs')`.execute(this.#db);
      this.#rows = Number(rows[0]?.reltuples ?? this.#rows);
    } catch (e) {
      if (!this.#closed) this.#onError(e);
    }
  }

  /** Starts no more runs and waits for the one in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#running;
  }
}
