import type { z } from "zod";
import { StowageError, describeValue } from "../../errors.ts";
import { assertJsonObject, mergePatch, type JsonObject } from "../../json.ts";
import { assertCollectionName, assertDocId } from "../../names.ts";
import type { Input } from "../../store/collection.ts";
import type { SearchResult } from "../../search/types.ts";
import type { CollectionOptions, Doc, FieldFilter, ListOptions, ListPage } from "../../store/types.ts";
import { validateDoc } from "../../store/validate.ts";
import { putEach, type DocCollection } from "../remote-collection.ts";
import { compareServerIds, serverIdOf, type RestClient } from "./client.ts";
import { resourceOf } from "./config.ts";
import { readFeed } from "./feed.ts";
import { getOne } from "./get-one.ts";
import { fillBody, fillPath } from "./template.ts";

/**
 * http-only mode over a REST API (key + STOWAGE_SYNC_DISABLE=1): every call goes straight to
 * the API, as the seed's legacy mode did. Document ids ARE the server's ids here: `put`
 * without an id creates (POST) and answers the id the server assigned. Lists read the change
 * feed without a cursor (the seed's full dump of live items) and filter it here; only
 * equality filters on fields are supported. Search needs the local store.
 */
export class RestCollection<T extends object = JsonObject> implements DocCollection<T> {
  readonly name: string;
  readonly #client: RestClient;
  readonly #schema: z.ZodType | undefined;
  readonly #resource: string;

  constructor(name: string, options: CollectionOptions<z.ZodType | undefined>, client: RestClient) {
    this.name = assertCollectionName(name);
    this.#schema = options.schema;
    this.#client = client;
    const resource = resourceOf(client.config, this.name);
    if (!resource) throw new StowageError("config", `no REST resource is configured for collection ${describeValue(this.name)}`);
    this.#resource = resource;
  }

  async put(value: Input<T>): Promise<Doc<T>> {
    const raw = assertJsonObject(value, `document for ${this.name}`);
    const doc = validateDoc(this.name, raw, this.#schema);
    const c = this.#client.config;
    const resource = this.#resource;
    if (raw.id === undefined) {
      const op = c.create;
      const answer = await this.#client.request(op.method, fillPath(op.path, { resource }), { body: fillBody(op.body, { resource, doc: c.toServer(doc, this.name) }) });
      const id = serverIdOf(c, answer.body, op.id);
      if (id === null) throw new StowageError("protocol", `${op.method} ${resource}: the answer has no server id at create.id ${describeValue(op.id)}`);
      return (await this.get(id)) ?? ({ ...doc, id } as Doc<T>);
    }
    const id = assertDocId(raw.id);
    const op = c.update;
    const body = fillBody(op.body, { resource, serverId: id, doc: c.toServer(doc, this.name) });
    const answer = await this.#client.request(op.method, fillPath(op.path, { resource, serverId: id }), { body, allow404: true });
    if (answer.status === 404) throw new StowageError("input", `document ${this.name}/${id} not found on the API (http-only mode: ids are the server's)`);
    return { ...doc, id } as Doc<T>;
  }

  putMany(values: Input<T>[], options: { atomic?: boolean } = {}): Promise<Doc<T>[]> {
    return putEach(this, values, options);
  }

  async patch(id: string, patch: Partial<T> | JsonObject): Promise<Doc<T>> {
    const body = assertJsonObject(patch, `patch for ${this.name}/${assertDocId(id)}`);
    const current = await this.get(id);
    if (!current) throw new StowageError("input", `document ${this.name}/${id} not found`);
    const next = mergePatch(current as unknown as JsonObject, body) as JsonObject;
    return this.put({ ...next, id } as Input<T>);
  }

  async delete(id: string): Promise<boolean> {
    const op = this.#client.config.delete;
    const answer = await this.#client.request(op.method, fillPath(op.path, { resource: this.#resource, serverId: assertDocId(id) }), { allow404: true });
    return answer.status !== 404;
  }

  async get(id: string): Promise<Doc<T> | undefined> {
    const item = await getOne(this.#client, this.#resource, assertDocId(id));
    return item ? this.#doc(item) : undefined;
  }

  /** Live queries watch the local copy; http-only mode has none. */
  watch(): () => void {
    throw new StowageError("config", `watch on ${this.name} needs a local store; http-only mode has none`);
  }

  async list(options: ListOptions = {}): Promise<ListPage<T>> {
    const feed = await readFeed(this.#client, this.#resource, null);
    const where = Object.entries(options.where ?? {});
    const docs = feed.items
      .filter((i) => !i.dead)
      .map((i) => this.#doc(i.raw))
      .filter((d) => where.every(([field, f]) => matches(d as JsonObject, field, f)))
      .sort((a, b) => compareServerIds(String((a as JsonObject).id), String((b as JsonObject).id)));
    if (options.orderBy !== undefined && options.orderBy !== "id") {
      throw new StowageError("config", `list orderBy ${describeValue(options.orderBy)} on ${this.name}: http-only REST lists order by id only`);
    }
    const start = options.cursor ? Number(options.cursor) : 0;
    if (!Number.isInteger(start) || start < 0) throw new StowageError("input", `invalid list cursor ${describeValue(options.cursor)}`);
    const limit = options.limit ?? 100;
    const page = docs.slice(start, start + limit);
    return start + limit < docs.length ? { items: page, next: String(start + limit) } : { items: page };
  }

  async count(where: ListOptions["where"] = {}): Promise<number> {
    return (await this.list({ where, limit: Number.MAX_SAFE_INTEGER })).items.length;
  }

  async search(query: string): Promise<SearchResult<T>> {
    throw new StowageError("config", `search ${describeValue(query)} on ${this.name} needs a local store; http-only mode has none`);
  }

  #doc(item: unknown): Doc<T> {
    const c = this.#client.config;
    const id = serverIdOf(c, item);
    if (id === null) throw new StowageError("protocol", `${this.#resource}: an answer has no server id at item.id ${describeValue(c.item.id)}: ${describeValue(JSON.stringify(item)?.slice(0, 120))}`);
    return { ...c.fromServer(item as JsonObject, this.name), id } as Doc<T>;
  }
}

function matches(doc: JsonObject, field: string, filter: FieldFilter): boolean {
  if (filter !== null && typeof filter === "object") {
    throw new StowageError("config", `list filter on ${describeValue(field)}: http-only REST lists support equality filters only`);
  }
  let v: unknown = doc;
  for (const part of field.split(".")) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[part] : undefined;
  return v === filter;
}
