import type { z } from "zod";
import { StowageError } from "../errors.ts";
import { uuidv7 } from "../ids.ts";
import { assertJsonObject, mergePatch, type JsonObject } from "../json.ts";
import { assertCollectionName, assertDocId } from "../names.ts";
import { searchCollection } from "../search/search.ts";
import type { SearchOptions, SearchResult } from "../search/types.ts";
import { buildList, encodeCursor } from "./query.ts";
import { all, first, run, type Executor } from "./sql.ts";
import type { CollectionOptions, Doc, ListOptions, ListPage } from "./types.ts";
import { validateDoc } from "./validate.ts";
import { watchQuery } from "./watch.ts";
import { appendOutbox, nextOpId, upsertDocs, versionsOf, type NewOp, type WriteContext } from "./writes.ts";

/** How a collection reaches the database: directly, or inside a caller's transaction. */
export interface Scope {
  /** Runs `fn` in a write transaction (its own, or the caller's open one). */
  write<R>(fn: (ctx: WriteContext) => Promise<R>): Promise<R>;
  /** Runs a read on the database or the open transaction. */
  read<R>(fn: (db: Executor) => Promise<R>): Promise<R>;
  /** Calls `fn` after each committed transaction touching this collection (absent inside a transaction). */
  subscribe?(fn: () => void): () => void;
  /** Whether the store is closed (live queries end quietly). */
  closed?(): boolean;
}

export type Input<T> = T & { id?: string };

/** One named set of documents. Obtain it from `store.collection(name, options)`. */
export class Collection<T extends object = JsonObject> {
  readonly name: string;
  readonly options: Readonly<CollectionOptions<z.ZodType | undefined>>;
  readonly #scope: Scope;
  readonly #knownField: (field: string) => boolean;

  constructor(name: string, options: CollectionOptions<z.ZodType | undefined>, scope: Scope) {
    this.name = assertCollectionName(name);
    this.options = options;
    this.#scope = scope;
    this.#knownField = knownFields(options.schema);
  }

  /** Creates or replaces a document; an id is generated (UUIDv7) unless the value has one. */
  async put(value: Input<T>): Promise<Doc<T>> {
    return (await this.putMany([value]))[0];
  }

  /** Creates or replaces many documents in one local transaction. */
  async putMany(values: Input<T>[], options: { atomic?: boolean } = {}): Promise<Doc<T>[]> {
    if (!Array.isArray(values)) throw new StowageError("input", `putMany expects an array of documents`);
    const docs: Doc<T>[] = new Array(values.length);
    const rows: { id: string; body: string }[] = new Array(values.length);
    for (let i = 0; i < values.length; i++) {
      const raw = values[i] as JsonObject;
      const id = raw?.id === undefined ? uuidv7() : assertDocId(raw.id); // our own ids need no check
      const doc = validateDoc(this.name, raw?.id === id ? raw : { ...assertJsonObject(raw, `document for ${this.name}`), id }, this.options.schema) as Doc<T>;
      if (doc.id !== id) (doc as JsonObject).id = id; // a schema may strip unknown keys, id included
      docs[i] = doc;
      rows[i] = { id, body: JSON.stringify(doc) };
    }
    const atomic = options.atomic ?? false;
    await this.#scope.write(async (ctx) => {
      const versions = this.options.strict ? await versionsOf(ctx.db, this.name, rows.map((r) => r.id)) : null;
      await upsertDocs(ctx.db, this.name, rows);
      const ops: NewOp[] = rows.map((r) => ({
        collection: this.name,
        id: r.id,
        op: "put",
        body: r.body,
        // Strict: the version last seen, 0 for "no document expected"; null means not strict.
        baseVersion: versions ? (versions.get(r.id) ?? 0) : null,
      }));
      if (atomic && ctx.tx === null && ops.length > 1) {
        ctx.tx = await nextOpId(ctx.db);
      }
      await appendOutbox(ctx, ops);
    });
    return docs;
  }

  /** Merges `patch` into the document (JSON Merge Patch: `null` removes a field). */
  async patch(id: string, patch: Partial<T> | JsonObject): Promise<Doc<T>> {
    assertDocId(id);
    const patchObj = assertJsonObject(patch, `patch for ${this.name}/${id}`);
    if ("id" in patchObj && patchObj.id !== id) {
      throw new StowageError("input", `patch for ${this.name}/${id} cannot change the id`);
    }
    return this.#scope.write(async (ctx) => {
      const row = await first<{ body: string; version: number | null }>(
        ctx.db,
        "select body, version from _stowage_docs where collection = ? and id = ?",
        [this.name, id],
      );
      if (!row) throw new StowageError("input", `document ${this.name}/${id} not found`);
      const merged = mergePatch(JSON.parse(row.body), patchObj) as JsonObject;
      merged.id = id;
      const doc = validateDoc(this.name, merged, this.options.schema) as Doc<T>;
      if (doc.id !== id) (doc as JsonObject).id = id;
      const body = JSON.stringify(doc);
      await run(ctx.db, "update _stowage_docs set body = ? where collection = ? and id = ?", [body, this.name, id]);
      // The outbox keeps the patch, not the merged value, so the server merges per field
      // and a concurrent edit to another field survives.
      await appendOutbox(ctx, [
        { collection: this.name, id, op: "patch", body: JSON.stringify(patchObj), baseVersion: this.options.strict ? (row.version ?? 0) : null },
      ]);
      return doc;
    });
  }

  /** Deletes a document; answers whether it existed locally. */
  async delete(id: string): Promise<boolean> {
    assertDocId(id);
    return this.#scope.write(async (ctx) => {
      const row = await first<{ version: number | null }>(
        ctx.db,
        "select version from _stowage_docs where collection = ? and id = ?",
        [this.name, id],
      );
      await run(ctx.db, "delete from _stowage_docs where collection = ? and id = ?", [this.name, id]);
      // Queue the delete even when the document is not here yet: it may exist on the server.
      await appendOutbox(ctx, [
        { collection: this.name, id, op: "delete", body: null, baseVersion: this.options.strict ? (row?.version ?? 0) : null },
      ]);
      return row !== undefined;
    });
  }

  async get(id: string): Promise<Doc<T> | undefined> {
    assertDocId(id);
    const row = await this.#scope.read((db) =>
      first<{ body: string }>(db, "select body from _stowage_docs where collection = ? and id = ?", [this.name, id]),
    );
    return row ? (JSON.parse(row.body) as Doc<T>) : undefined;
  }

  /** Lists documents with filters, ordering and keyset pagination. */
  async list(options: ListOptions = {}): Promise<ListPage<T>> {
    const q = buildList(this.name, options, this.#knownField);
    const rows = await this.#scope.read((db) => all<{ id: string; body: string; k?: unknown }>(db, q.sql, q.params));
    const more = rows.length > q.limit;
    if (more) rows.length = q.limit;
    const items = rows.map((r) => JSON.parse(r.body) as Doc<T>);
    const last = rows[rows.length - 1];
    return more && last ? { items, next: encodeCursor(q.orderField === "id" ? null : last.k, last.id) } : { items };
  }

  /** Ranked full-text search over the fields declared in `search`; pending local writes included. */
  search(query: string, options: SearchOptions = {}): Promise<SearchResult<T>> {
    const target = {
      collection: this.name,
      fields: this.options.search,
      read: <R>(fn: (db: Executor) => Promise<R>) => this.#scope.read(fn),
      write: <R>(fn: (db: Executor) => Promise<R>) => this.#scope.write((ctx) => fn(ctx.db)),
    };
    return searchCollection<T>(target, query, options);
  }

  /**
   * A live query: `callback` gets the documents `list(query)` answers now, then again after
   * every committed transaction (a local write, a pulled page) that changes that answer:
   * once per transaction, not once per document; an identical answer is not repeated.
   * Returns the unsubscribe function; `close()` ends every watch too.
   */
  watch(query: ListOptions, callback: (items: Doc<T>[]) => void): () => void {
    const scope = this.#scope;
    if (!scope.subscribe) throw new StowageError("input", `watch is not available inside a transaction; call it on db.collection(${JSON.stringify(this.name)})`);
    // Built once (bad options throw here, not in the background); each run is then one
    // statement, and only a changed result is parsed (watch.ts).
    const q = buildList(this.name, query, this.#knownField);
    const run = async () => {
      const rows = await scope.read((db) => all<{ body: string }>(db, q.sql, q.params));
      if (rows.length > q.limit) rows.length = q.limit;
      return rows.map((r) => r.body);
    };
    return watchQuery<T>({ run, subscribe: (fn) => scope.subscribe!(fn), closed: () => scope.closed?.() ?? false }, callback);
  }

  /** Number of documents matching `where`. */
  async count(where: ListOptions["where"] = {}): Promise<number> {
    const q = buildList(this.name, { where, limit: 1 }, this.#knownField);
    const sql = q.sql.replace(/^select .*? from/, "select count(*) as n from").replace(/ order by .*$/, "");
    const row = await this.#scope.read((db) => first<{ n: number }>(db, sql, q.params.slice(0, -1)));
    return Number(row?.n ?? 0);
  }
}

function knownFields(schema: z.ZodType | undefined): (field: string) => boolean {
  const shape = (schema as { shape?: Record<string, unknown> } | undefined)?.shape;
  if (!shape || typeof shape !== "object") return () => true;
  return (field) => Object.hasOwn(shape, field.split(".")[0]);
}
