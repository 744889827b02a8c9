import type { z } from "zod";
import { all, first, run, type Executor } from "./sql.ts";
import type { Kysely } from "kysely";

/**
 * One read-only SQL view per collection, so `sqlite3`, Datasette, a BI tool or Kysely can read
 * the documents as rows: `id`, one column per field, and `body` (the whole document as JSON).
 * Writes through a view fail (INSTEAD OF triggers raise): a write that bypassed the library
 * would never reach the outbox, so it would silently never sync.
 */

/** How a column's value is read from the document. */
export type ColumnKind = "text" | "integer" | "number" | "boolean" | "json" | "any";

export interface ViewColumn {
  /** The top-level field name, also the column name. */
  name: string;
  kind: ColumnKind;
}

/** Most columns a schemaless collection's view gets from sampled documents. */
const MAX_SAMPLED_COLUMNS = 100;
/** Documents sampled for a schemaless collection's fields: bounded so declaring stays cheap. */
const SAMPLE_DOCS = 200;

/** The view is named after the collection; SQLite reserves `sqlite_*`, so those get none. */
export function hasView(collection: string): boolean {
  return !collection.startsWith("sqlite_");
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/** A field can be a column when its JSON path needs no escaping and it does not shadow id/body. */
function usableField(name: string): boolean {
  return name.length > 0 && name.length <= 200 && !/["\\\u0000-\u001f]/.test(name) && !["id", "body"].includes(name.toLowerCase());
}

/** The kind of one zod field (zod 4 definitions); wrappers such as optional/default are unwrapped. */
export function zodKind(t: unknown, depth = 0): ColumnKind {
  const def = (t as { _zod?: { def?: any } } | undefined)?._zod?.def;
  if (!def || depth > 20) return "any";
  switch (def.type) {
    case "string":
    case "enum":
    case "template_literal":
      return "text";
    case "number": {
      const int = def.format === "safeint" || def.format === "int32" || def.format === "uint32" ||
        (def.checks ?? []).some((c: any) => ["safeint", "int32", "uint32"].includes(c?._zod?.def?.format));
      return int ? "integer" : "number";
    }
    case "int":
      return "integer";
    case "boolean":
      return "boolean";
    case "object":
    case "array":
    case "record":
    case "tuple":
    case "map":
      return "json";
    case "literal": {
      const values: unknown[] = def.values ?? [];
      if (values.every((v) => typeof v === "string")) return "text";
      if (values.every((v) => typeof v === "boolean")) return "boolean";
      if (values.every((v) => typeof v === "number")) return values.every(Number.isInteger) ? "integer" : "number";
      return "any";
    }
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "readonly":
    case "catch":
    case "nonoptional":
      return zodKind(def.innerType, depth + 1);
    case "pipe":
      return zodKind(def.out, depth + 1);
    case "union": {
      const kinds = new Set((def.options ?? []).map((o: unknown) => zodKind(o, depth + 1)));
      kinds.delete("any"); // z.null() members and the like
      return kinds.size === 1 ? ([...kinds][0] as ColumnKind) : "any";
    }
    default:
      return "any";
  }
}

/** Columns for a collection with a zod object schema, in the schema's field order; undefined without one. */
export function schemaColumns(schema: z.ZodType | undefined): ViewColumn[] | undefined {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  if (!shape || typeof shape !== "object") return undefined;
  return Object.entries(shape)
    .filter(([name]) => usableField(name))
    .map(([name, t]) => ({ name, kind: zodKind(t) }));
}

/**
 * Columns for a schemaless collection: the top-level fields of its declared indexes and
 * search fields, then those seen in (a bounded sample of) its stored documents, sorted.
 */
export async function sampledColumns(db: Executor, collection: string, declared: string[]): Promise<ViewColumn[]> {
  const rows = await all<{ key: string }>(
    db,
    `select distinct j.key as key from (select body from _stowage_docs where collection = ? limit ${SAMPLE_DOCS}) d, json_each(d.body) j order by j.key limit ${MAX_SAMPLED_COLUMNS * 2}`,
    [collection],
  );
  const names = new Set<string>();
  for (const f of declared) names.add(f.split(".")[0]);
  for (const r of rows) if (names.size < MAX_SAMPLED_COLUMNS) names.add(r.key);
  return [...names].filter(usableField).sort().map((name) => ({ name, kind: "any" }));
}

function columnExpr(c: ViewColumn): string {
  const raw = `json_extract(body, ${quoteString(`$."${c.name}"`)})`;
  // CAST gives generic tools (pragma table_info, Datasette) a declared type; the schema already
  // validated the values, so the cast never changes one.
  switch (c.kind) {
    case "text":
      return `CAST(${raw} AS TEXT)`;
    case "integer":
    case "boolean":
      return `CAST(${raw} AS INTEGER)`;
    case "number":
      return `CAST(${raw} AS NUMERIC)`;
    default:
      return raw; // json: JSON text for objects and arrays; any: as stored
  }
}

const READ_ONLY_OPS = ["insert", "update", "delete"] as const;

/** The DDL for one collection's view and its three refusing triggers. */
export function viewDdl(collection: string, columns: ViewColumn[]): string[] {
  const view = quoteIdent(collection);
  const cols = ["id", ...columns.map((c) => `${columnExpr(c)} AS ${quoteIdent(c.name)}`), "body"];
  const message = quoteString(`stowage: ${collection} is a read-only view; write through the Stowage library so the change syncs`);
  return [
    `CREATE VIEW ${view} AS SELECT ${cols.join(", ")} FROM _stowage_docs WHERE collection = ${quoteString(collection)}`,
    ...READ_ONLY_OPS.map(
      (op) => `CREATE TRIGGER ${quoteIdent(`_stowage_view_${collection}_${op}`)} INSTEAD OF ${op.toUpperCase()} ON ${view} BEGIN SELECT RAISE(ABORT, ${message}); END`,
    ),
  ];
}

/**
 * Creates or replaces a collection's view when its definition changed; answers false when the
 * name is taken by something that is not our view (a user's own table), which is left alone.
 * Drop and create share one transaction, so readers never see the view missing.
 */
export async function ensureView(db: Kysely<any>, collection: string, columns: ViewColumn[]): Promise<boolean> {
  if (!hasView(collection)) return false;
  const ddl = viewDdl(collection, columns);
  const current = await first<{ type: string; sql: string }>(db, "select type, sql from sqlite_master where name = ? collate nocase", [collection]);
  if (current?.type === "view" && current.sql === ddl[0]) return true;
  if (current && current.type !== "view") return false;
  return db.transaction().execute(async (trx) => {
    // Re-read inside the write lock: another process may have just done the same.
    const now = await first<{ type: string; sql: string }>(trx, "select type, sql from sqlite_master where name = ? collate nocase", [collection]);
    if (now?.type === "view" && now.sql === ddl[0]) return true;
    if (now && now.type !== "view") return false;
    if (now) await run(trx, `DROP VIEW ${quoteIdent(collection)}`); // drops its triggers too
    for (const stmt of ddl) await run(trx, stmt);
    return true;
  });
}

/** A store's views: remembers what it created, so re-declaring a collection costs no DDL. */
export class CollectionViews {
  readonly #db: Kysely<any>;
  readonly #done = new Map<string, string>();
  readonly #sampled = new Map<string, string>();
  /** Scheduled work, one at a time; never rejects. */
  #pending: Promise<void> = Promise.resolve();

  constructor(db: Kysely<any>) {
    this.#db = db;
  }

  /** Queues `ensure` in the background; a failure only means no view yet (retried on the next declaration). */
  schedule(collection: string, options: { schema?: z.ZodType; indexes?: (string | string[])[]; search?: string[] }): void {
    this.#pending = this.#pending.then(() => this.ensure(collection, options)).then(() => {}, () => {});
  }

  /** Resolves once scheduled view work has finished (close and `db.query()` wait for it). */
  idle(): Promise<void> {
    return this.#pending;
  }

  /**
   * Creates or updates `collection`'s view for these options; answers whether the view exists.
   * A schemaless collection samples its documents once per process and declared field list;
   * `resample` (what `db.query()` passes) looks again for fields written since.
   */
  async ensure(
    collection: string,
    options: { schema?: z.ZodType; indexes?: (string | string[])[]; search?: string[] },
    resample = false,
  ): Promise<boolean> {
    if (!hasView(collection)) return false;
    const declared = [...(options.indexes ?? []).flat(), ...(options.search ?? [])];
    let columns = schemaColumns(options.schema);
    if (!columns) {
      const sampledKey = `schemaless:${JSON.stringify(declared)}`;
      if (!resample && this.#sampled.get(collection) === sampledKey) return this.#done.has(collection);
      columns = await sampledColumns(this.#db, collection, declared);
      this.#sampled.set(collection, sampledKey);
    } else this.#sampled.delete(collection);
    const key = JSON.stringify(columns);
    if (this.#done.get(collection) === key) return true;
    const ok = await ensureView(this.#db, collection, columns);
    if (ok) this.#done.set(collection, key);
    return ok;
  }
}
