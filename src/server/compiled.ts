import type { Compilable, Kysely } from "kysely";
import { REUSABLE_PLAN, type PipelineStatement } from "../adapter.ts";
import { all, run, type Executor } from "../store/sql.ts";
import type { ServerDialect } from "./sql/dialect.ts";
import type { ServerTables } from "./tables.ts";

/**
 * Builder queries of the per-request path, compiled once per SQL dialect and then run as
 * text with each call's parameters. Building and compiling a Kysely query cost 15-70 µs
 * (the upsert of a client mark the most), more than SQLite spends running it, and a small
 * sync ran eleven of them per round trip. The builder stays the source of the SQL (one text
 * per dialect, as before); only its compilation is cached.
 *
 * How the parameters are found again: the query is built once with a unique sentinel string
 * per argument, and each compiled parameter must be exactly one of them. A query whose
 * compilation inlines or transforms an argument cannot be cached that way, and is then built
 * on every call (a test checks that the ones used here are cached).
 */
export interface CompiledOnce<A extends unknown[]> {
  /** The rows of the query with these arguments. */
  all<R>(db: Executor, dialect: ServerDialect, ...args: A): Promise<R[]>;
  /** Runs a statement that returns no rows; answers the rows changed. */
  run(db: Executor, dialect: ServerDialect, ...args: A): Promise<number>;
  /** The text and values `all`/`run` would send, for a pipeline; undefined when the text is not cached. */
  statement(db: Executor, dialect: ServerDialect, ...args: A): PipelineStatement | undefined;
  /** Whether `dialect`'s text is cached (false: it is built each call). For tests. */
  cached(dialect: ServerDialect): boolean;
}

type Plan = { sql: string; slots: number[] } | null;

const SENTINEL = "\u0000stowage-arg-";

/**
 * `reusablePlan`: the text starts with REUSABLE_PLAN (src/adapter.ts), so an adapter may
 * prepare it; only for statements whose plan cannot go bad as tables grow.
 */
export function compiledOnce<A extends unknown[]>(
  arity: A["length"],
  build: (db: Kysely<ServerTables>, dialect: ServerDialect, ...args: A) => Compilable,
  options: { reusablePlan?: boolean } = {},
): CompiledOnce<A> {
  const plans = new Map<ServerDialect, Plan>();
  const planFor = (db: Executor, dialect: ServerDialect): Plan => {
    let plan = plans.get(dialect);
    if (plan !== undefined) return plan;
    const sentinels = Array.from({ length: arity }, (_, i) => `${SENTINEL}${i}`) as A;
    const compiled = build(db as Kysely<ServerTables>, dialect, ...sentinels).compile();
    const slots = compiled.parameters.map((p) => (typeof p === "string" && p.startsWith(SENTINEL) ? Number(p.slice(SENTINEL.length)) : -1));
    plan = slots.includes(-1) || new Set(slots).size !== arity || compiled.sql.includes(SENTINEL) ? null : { sql: (options.reusablePlan ? REUSABLE_PLAN : "") + compiled.sql, slots };
    plans.set(dialect, plan);
    return plan;
  };
  const params = (plan: { slots: number[] }, args: A) => plan.slots.map((i) => args[i]);
  return {
    async all<R>(db: Executor, dialect: ServerDialect, ...args: A): Promise<R[]> {
      const plan = planFor(db, dialect);
      if (!plan) return (await db.executeQuery<R>(build(db as Kysely<ServerTables>, dialect, ...args).compile() as never)).rows;
      return all<R>(db, plan.sql, params(plan, args));
    },
    async run(db: Executor, dialect: ServerDialect, ...args: A): Promise<number> {
      const plan = planFor(db, dialect);
      if (!plan) return Number((await db.executeQuery(build(db as Kysely<ServerTables>, dialect, ...args).compile() as never)).numAffectedRows ?? 0);
      return run(db, plan.sql, params(plan, args));
    },
    statement(db: Executor, dialect: ServerDialect, ...args: A): PipelineStatement | undefined {
      const plan = planFor(db, dialect);
      return plan ? { text: plan.sql, values: params(plan, args) } : undefined;
    },
    cached: (dialect) => plans.get(dialect) != null,
  };
}
