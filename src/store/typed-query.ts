import { sql, SelectQueryNode, type Kysely, type KyselyPlugin, type OperationNode } from "kysely";
import type { z } from "zod";
import { StowageError } from "../errors.ts";
import type { Store } from "./store.ts";
import type { CollectionOptions } from "./types.ts";
import { castExpr, docsSource, hasView, quoteIdent, schemaColumns } from "./views.ts";

/**
 * Typed Kysely over the collection views (views.ts): joins, aggregates and reports the
 * collection API does not cover. The row type of each view comes from the collection's zod
 * schema at the type level, so a wrong table or column name fails `tsc`.
 */

/** A column's SQL value for a field of type T: JSON text for objects/arrays, 0/1 for booleans. */
export type ColumnValue<T> = T extends undefined | null
  ? null
  : T extends string
    ? string
    : T extends number
      ? number
      : T extends boolean
        ? number
        : T extends object
          ? string
          : unknown;

/** Fields that are not ALWAYS present become nullable columns (a missing field reads NULL). */
type FieldColumns<T> = { [K in Exclude<keyof T, "id" | "body"> & string]-?: ColumnValue<T[K]> | (undefined extends T[K] ? null : never) };

/** The row of a collection's view: `id`, its fields as columns, and `body` (the document's JSON). */
export type ViewRow<O> = O extends { schema: infer S extends z.ZodType }
  ? { id: string; body: string } & FieldColumns<z.output<S>>
  : { id: string; body: string } & Record<string, unknown>;

/** Declarations by collection name, as passed to `collection(name, options)`. */
export type CollectionDeclarations = Record<string, CollectionOptions<any>>;

/** The Kysely database type of a set of declarations: one table (view) per collection. */
export type ViewTables<D extends CollectionDeclarations> = { [N in keyof D & string]: ViewRow<D[N]> };

/**
 * Kysely without its write builders: the views refuse writes at run time too (their triggers
 * raise), so writes go through the collections and reach the outbox.
 */
export type ReadOnlyKysely<DB> = Pick<Kysely<DB>, "selectFrom" | "selectNoFrom" | "with" | "withRecursive" | "fn" | "dynamic" | "case">;

/**
 * Declares `collections` on the store (as `store.collection(name, options)` would), makes sure
 * each view exists and is current (schemaless ones re-sample their fields), and answers a typed
 * read-only Kysely on the store's own connection. A collection given with a schema is read, in
 * every query, through a CTE of its name that casts each schema field to its kind: the cast
 * lives in the query, and the file's view keeps its one shape for every other reader.
 */
export async function typedQuery<D extends CollectionDeclarations>(store: Store, collections: D): Promise<ReadOnlyKysely<ViewTables<D>>> {
  for (const [name, options] of Object.entries(collections)) store.collection(name, options);
  try {
    await store.views.idle();
    for (const c of store.declared()) await store.views.ensure(c.name, c.options, true);
  } catch (e) {
    throw new StowageError("storage", `cannot create the collection views: ${(e as Error)?.message ?? String(e)}`, { cause: e });
  }
  const ctes: [string, string][] = [];
  for (const [name, options] of Object.entries(collections)) {
    const columns = schemaColumns(options.schema);
    if (!columns || !hasView(name)) continue;
    const cols = ["id", ...columns.map((c) => `${castExpr(c)} AS ${quoteIdent(c.name)}`), "body"];
    // `main.` so the CTE's own name cannot refer back to itself.
    ctes.push([name, `(SELECT ${cols.join(", ")} ${docsSource(name, "main.")})`]);
  }
  const db = ctes.length ? store.db.withPlugin(castingPlugin(store.db, ctes)) : store.db;
  return db as unknown as ReadOnlyKysely<ViewTables<D>>;
}

/**
 * Prepends `WITH "<collection>" AS (SELECT … CAST …)` to every select, so the typed
 * collections' names resolve to the casting CTEs (a CTE shadows the view of the same name). A
 * query that defines a CTE of the same name itself keeps its own.
 */
function castingPlugin(db: Kysely<any>, ctes: [string, string][]): KyselyPlugin {
  type Cte = OperationNode & { name: { table: { table: { identifier: { name: string } } } } };
  let built: { expressions: Cte[] } | undefined;
  const withNode = () => {
    if (built) return built;
    let qc = db as any;
    for (const [name, text] of ctes) qc = qc.with(name, () => sql.raw(text));
    return (built = (qc.selectNoFrom(sql`1`.as("x")).toOperationNode() as { with: { expressions: Cte[] } }).with);
  };
  return {
    transformQuery({ node }) {
      if (!SelectQueryNode.is(node)) return node;
      const ours = withNode().expressions;
      const own = node.with?.expressions ?? [];
      const taken = new Set(own.map((e) => (e as unknown as Cte).name.table.table.identifier.name));
      const add = ours.filter((e) => !taken.has(e.name.table.table.identifier.name));
      if (!add.length) return node;
      return { ...node, with: node.with ? { ...node.with, expressions: [...add, ...own] } : { ...(withNode() as object), expressions: add } } as typeof node;
    },
    transformResult: async ({ result }) => result,
  };
}
