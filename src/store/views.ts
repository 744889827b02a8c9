import type { z } from "zod";
import { all, first, run, type Executor } from "./sql.ts";
import type { Kysely } from "kysely";

/**
 * One read-only SQL view per collection, so `sqlite3`, Datasette, a BI tool or Kysely can read
 * the documents as rows: `id`, one column per field, and `body` (the whole document as JSON).
 * Writes through a view fail (INSTEAD OF triggers raise): a write that bypassed the library
 * would never reach the outbox, so it would silently never sync.
 *
 * A view has one shape whoever opens the file: its columns are recorded in `_stowage_meta`
 * (`view:<collection>`, with the declared schema's field kinds) and only ever grow, in the
 * recorded order, by the fields a declaration names (schema, indexes, search) or stored
 * documents carry. No opener narrows it, so saved SQL keeps working after a typed query, a CLI
 * `list` or an app with an older schema opened the file. Columns are the values as stored
 * (`json_extract`: text, integer, real, 0/1, JSON text for objects and arrays); a typed
 * `db.query()` casts in its own query (typed-query.ts), never in the view.
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

function rawExpr(name: string): string {
  return `json_extract(body, ${quoteString(`$."${name}"`)})`;
}

/**
 * A field read with its schema kind's cast, for typed queries: the declared type reaches the
 * driver and generic tools; the schema already validated the values, so a cast changes none.
 */
export function castExpr(c: ViewColumn): string {
  const raw = rawExpr(c.name);
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

/** Where a collection's rows come from, as its view and a typed query's CTE read them. */
export function docsSource(collection: string, schema = ""): string {
  return `FROM ${schema}_stowage_docs WHERE collection = ${quoteString(collection)}`;
}

/** The DDL for one collection's view (uncast columns, in order) and its three refusing triggers. */
export function viewDdl(collection: string, columns: readonly string[]): string[] {
  const view = quoteIdent(collection);
  const cols = ["id", ...columns.map((c) => `${rawExpr(c)} AS ${quoteIdent(c)}`), "body"];
  const message = quoteString(`stowage: ${collection} is a read-only view; write through the Stowage library so the change syncs`);
  return [
    `CREATE VIEW ${view} AS SELECT ${cols.join(", ")} ${docsSource(collection)}`,
    ...READ_ONLY_OPS.map(
      (op) => `CREATE TRIGGER ${quoteIdent(`_stowage_view_${collection}_${op}`)} INSTEAD OF ${op.toUpperCase()} ON ${view} BEGIN SELECT RAISE(ABORT, ${message}); END`,
    ),
  ];
}

/** What `_stowage_meta` records for a collection's view. */
export interface ViewRecord {
  /** The view's field columns, in order (between `id` and `body`); they only ever grow. */
  columns: string[];
  /** The kinds of the last declared schema's fields (what a typed query casts to). */
  schema?: ViewColumn[];
}

const recordKey = (collection: string) => `view:${collection}`;

/** The recorded shape of a collection's view, if any. */
export async function readViewRecord(db: Executor, collection: string): Promise<ViewRecord | undefined> {
  const row = await first<{ value: string }>(db, "select value from _stowage_meta where key = ?", [recordKey(collection)]);
  if (!row) return undefined;
  try {
    const parsed = JSON.parse(row.value) as ViewRecord;
    return Array.isArray(parsed.columns) ? parsed : undefined;
  } catch {
    return undefined; // unreadable: rebuilt from the existing view's columns below
  }
}

/** The recorded columns followed by any new ones (sorted): the shape only ever grows. */
export function grow(recorded: readonly string[], wanted: readonly string[]): string[] {
  const have = new Set(recorded);
  return [...recorded, ...[...new Set(wanted)].filter((c) => !have.has(c)).sort()];
}

/**
 * Makes a collection's view hold at least `wanted` columns (and every column it already has),
 * recording the shape (and `schema`, when given) in the same transaction. Answers false when
 * the name is taken by something that is not our view (a user's own table), which is left
 * alone. Drop and create share one transaction, so readers never see the view missing.
 */
export async function ensureView(db: Kysely<any>, collection: string, wanted: readonly string[], schema?: ViewColumn[]): Promise<boolean> {
  if (!hasView(collection)) return false;
  const plan = async (ex: Executor) => {
    const current = await first<{ type: string; sql: string }>(ex, "select type, sql from sqlite_master where name = ? collate nocase", [collection]);
    if (current && current.type !== "view") return { skip: true as const };
    const record = await readViewRecord(ex, collection);
    // A file from before the record: the existing view's columns are its shape.
    const before = record?.columns ?? (current ? await existingColumns(ex, collection) : []);
    const columns = grow(before, wanted);
    const ddl = viewDdl(collection, columns);
    const schemaSame = schema === undefined || JSON.stringify(record?.schema) === JSON.stringify(schema);
    const done = current?.sql === ddl[0] && record !== undefined && JSON.stringify(record.columns) === JSON.stringify(columns) && schemaSame;
    return { skip: false as const, current, columns, ddl, done, record };
  };
  const outside = await plan(db);
  if (outside.skip) return false;
  if (outside.done) return true;
  return db.transaction().execute(async (trx) => {
    // Re-read inside the write lock: another process may have just grown it.
    const p = await plan(trx);
    if (p.skip) return false;
    if (p.done) return true;
    if (p.current?.sql !== p.ddl[0]) {
      if (p.current) await run(trx, `DROP VIEW ${quoteIdent(collection)}`); // drops its triggers too
      for (const stmt of p.ddl) await run(trx, stmt);
    }
    const record: ViewRecord = { columns: p.columns, ...((schema ?? p.record?.schema) ? { schema: schema ?? p.record?.schema } : {}) };
    await run(trx, "insert into _stowage_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value", [recordKey(collection), JSON.stringify(record)]);
    return true;
  });
}

async function existingColumns(ex: Executor, collection: string): Promise<string[]> {
  const rows = await all<{ name: string }>(ex, "select name from pragma_table_info(?)", [collection]);
  return rows.map((r) => r.name).filter(usableField);
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
    const schema = schemaColumns(options.schema);
    // Stored documents' fields join the declared ones (a schema may not name every field the
    // data carries: another app version, the CLI); sampled once per process and declaration.
    const sampledKey = JSON.stringify({ declared, schema });
    if (!resample && this.#sampled.get(collection) === sampledKey) return this.#done.has(collection);
    const sampled = await sampledColumns(this.#db, collection, declared);
    this.#sampled.set(collection, sampledKey);
    const wanted = [...(schema ?? []).map((c) => c.name), ...sampled.map((c) => c.name)];
    const key = JSON.stringify({ wanted, schema });
    if (this.#done.get(collection) === key) return true;
    const ok = await ensureView(this.#db, collection, wanted, schema);
    if (ok) this.#done.set(collection, key);
    return ok;
  }
}
