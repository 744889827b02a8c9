import type { z } from "zod";
import { StowageError, describeValue } from "../errors.ts";
import { uuidv7 } from "../ids.ts";
import { assertJsonObject, type JsonObject } from "../json.ts";
import { assertCollectionName, assertDocId } from "../names.ts";
import type { Collection, Input } from "../store/collection.ts";
import type { SearchOptions, SearchResult } from "../search/types.ts";
import type { CollectionOptions, Doc, ListOptions, ListPage } from "../store/types.ts";
import { validateDoc } from "../store/validate.ts";
import type { HttpClient } from "./v1/http.ts";

/** What every collection handle offers, whether it reads SQLite, the server, or both. */
export interface DocCollection<T extends object = JsonObject> {
  /** Collection name. */
  readonly name: string;
  /** Creates or replaces a document; an id is generated (UUIDv7) unless the value has one. */
  put(value: Input<T>): Promise<Doc<T>>;
  /** Creates or replaces many documents. */
  putMany(values: Input<T>[], options?: { atomic?: boolean }): Promise<Doc<T>[]>;
  /** Merges a JSON Merge Patch into a document. */
  patch(id: string, patch: Partial<T> | JsonObject): Promise<Doc<T>>;
  /** Deletes a document; answers whether it existed. */
  delete(id: string): Promise<boolean>;
  /** Reads one document. */
  get(id: string): Promise<Doc<T> | undefined>;
  /** Lists documents with filters, ordering and pagination. */
  list(options?: ListOptions): Promise<ListPage<T>>;
  /** Counts documents matching `where`. */
  count(where?: ListOptions["where"]): Promise<number>;
  /** Full-text search over the collection's `search` fields (local data only). */
  search(query: string, options?: SearchOptions): Promise<SearchResult<T>>;
  /** Live query over the local copy (README "Live"); answers the unsubscribe function. */
  watch(query: ListOptions, callback: (items: Doc<T>[]) => void): () => void;
}

/**
 * putMany without a local store (http-only, over protocol v1 or a REST API): one put per
 * document, in order; there is no transaction to make several atomic, so that is refused.
 */
export async function putEach<T extends object>(collection: DocCollection<T>, values: Input<T>[], options: { atomic?: boolean }): Promise<Doc<T>[]> {
  if (options.atomic && values.length > 1) {
    throw new StowageError("config", `putMany({ atomic: true }) on ${collection.name} needs a local store; http-only mode writes each document on its own`);
  }
  const out: Doc<T>[] = [];
  for (const v of values) out.push(await collection.put(v));
  return out;
}

/** http-only mode: every read and write is one call on `/v1/docs`; nothing is stored locally. */
export class RemoteCollection<T extends object = JsonObject> implements DocCollection<T> {
  readonly name: string;
  readonly #http: HttpClient;
  readonly #schema: z.ZodType | undefined;

  constructor(name: string, options: CollectionOptions<z.ZodType | undefined>, http: HttpClient) {
    this.name = assertCollectionName(name);
    this.#schema = options.schema;
    this.#http = http;
  }

  async put(value: Input<T>): Promise<Doc<T>> {
    const raw = assertJsonObject(value, `document for ${this.name}`);
    const id = raw.id === undefined ? uuidv7() : assertDocId(raw.id);
    const doc = validateDoc(this.name, { ...raw, id }, this.#schema);
    doc.id = id;
    const res = await this.#http.writeDoc("PUT", this.name, id, doc);
    return (res?.value ?? doc) as Doc<T>;
  }

  /** One request per document: direct access has no batch endpoint, and no atomicity. */
  putMany(values: Input<T>[], options: { atomic?: boolean } = {}): Promise<Doc<T>[]> {
    return putEach(this, values, options);
  }

  async patch(id: string, patch: Partial<T> | JsonObject): Promise<Doc<T>> {
    assertDocId(id);
    const body = assertJsonObject(patch, `patch for ${this.name}/${id}`);
    const res = await this.#http.writeDoc("PATCH", this.name, id, body);
    if (!res) throw new StowageError("input", `document ${this.name}/${id} not found`);
    return res.value as Doc<T>;
  }

  async delete(id: string): Promise<boolean> {
    return this.#http.deleteDoc(this.name, assertDocId(id));
  }

  async get(id: string): Promise<Doc<T> | undefined> {
    return (await this.#http.getDoc(this.name, assertDocId(id)))?.value as Doc<T> | undefined;
  }

  async list(options: ListOptions = {}): Promise<ListPage<T>> {
    const query: Record<string, string> = {};
    if (options.limit !== undefined) query.limit = String(options.limit);
    if (options.cursor !== undefined) query.cursor = options.cursor;
    if (options.orderBy !== undefined) query.orderBy = options.orderBy;
    if (options.where && Object.keys(options.where).length) query.where = JSON.stringify(options.where);
    const res = await this.#http.listDocs(this.name, query);
    return (res.next ? { items: res.items, next: res.next } : { items: res.items }) as ListPage<T>;
  }

  async count(where: ListOptions["where"] = {}): Promise<number> {
    let n = 0;
    let cursor: string | undefined;
    do {
      const page = await this.list({ where, limit: 1000, cursor });
      n += page.items.length;
      cursor = page.next;
    } while (cursor);
    return n;
  }

  /** The server has no search endpoint (protocol v1); search needs the local store. */
  async search(query: string): Promise<SearchResult<T>> {
    throw new StowageError("config", `search ${describeValue(query)} on ${this.name} needs a local store; http-only mode has none`);
  }

  /** Live queries watch the local copy; http-only mode has none. */
  watch(): () => void {
    throw new StowageError("config", `watch on ${this.name} needs a local store; http-only mode has none`);
  }
}

/**
 * A `remoteFirst` collection in hybrid mode: writes go local (outbox, synced as usual); reads
 * ask the server first, so sensitive data is as fresh as the server, and fall back to the
 * local copy when the server cannot be reached.
 */
export class RemoteFirstCollection<T extends object = JsonObject> implements DocCollection<T> {
  readonly name: string;
  readonly #local: Collection<T>;
  readonly #remote: RemoteCollection<T>;
  readonly #pending: (collection: string, id: string) => Promise<boolean>;

  /** `pending` answers whether a document has local ops the server has not acknowledged. */
  constructor(local: Collection<T>, remote: RemoteCollection<T>, pending: (collection: string, id: string) => Promise<boolean>) {
    this.name = local.name;
    this.#local = local;
    this.#remote = remote;
    this.#pending = pending;
  }

  put(value: Input<T>): Promise<Doc<T>> {
    return this.#local.put(value);
  }

  putMany(values: Input<T>[], options?: { atomic?: boolean }): Promise<Doc<T>[]> {
    return this.#local.putMany(values, options);
  }

  patch(id: string, patch: Partial<T> | JsonObject): Promise<Doc<T>> {
    return this.#local.patch(id, patch);
  }

  delete(id: string): Promise<boolean> {
    return this.#local.delete(id);
  }

  /** Our own unpushed write wins over the server's older value (read your writes). */
  async get(id: string): Promise<Doc<T> | undefined> {
    if (await this.#pending(this.name, id)) return this.#local.get(id);
    return offline(() => this.#remote.get(id), () => this.#local.get(id));
  }

  list(options?: ListOptions): Promise<ListPage<T>> {
    return offline(() => this.#remote.list(options), () => this.#local.list(options));
  }

  count(where?: ListOptions["where"]): Promise<number> {
    return offline(() => this.#remote.count(where), () => this.#local.count(where));
  }

  /** Search runs on the local copy (the server has no search endpoint). */
  search(query: string, options?: SearchOptions): Promise<SearchResult<T>> {
    return this.#local.search(query, options);
  }

  /** Live queries run on the local copy, which pulls keep current. */
  watch(query: ListOptions, callback: (items: Doc<T>[]) => void): () => void {
    return this.#local.watch(query, callback);
  }
}

/** Runs `remote`; on a transport failure (server unreachable, 5xx) runs `local` instead. */
async function offline<R>(remote: () => Promise<R>, local: () => Promise<R>): Promise<R> {
  try {
    return await remote();
  } catch (e) {
    if (e instanceof StowageError && e.code === "transport") return local();
    throw e;
  }
}
