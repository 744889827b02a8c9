import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import {
  pointerOf, resolveFeed, resolveItem, resolveOperation,
  type CreateMapping, type FeedMapping, type GetMapping, type ItemMapping, type OperationMapping,
  type ResolvedFeed, type ResolvedItem, type ResolvedOperation,
} from "./mapping.ts";
import { resolvePointer } from "./pointer.ts";

/**
 * How to talk to a REST API Stowage does not own. Defaults follow the seed's shape:
 * `POST /api/items` (server assigns `id`), `PUT /api/items/{id}`, `DELETE /api/items/{id}`
 * (soft delete), `GET /api/items/sync?since=<ts>` → `{ items, server_time }` with tombstones
 * (`deleted_at` non-null). The operation, feed and item mappings (mapping.ts) say where an
 * API differs; docs/examples/rest/ has one config file per shape.
 */
export interface RestConfig {
  /** API base URL, e.g. `https://api.example.com`. */
  baseUrl: string;
  /** API key (else the `apiKey` option / `STOWAGE_API_KEY`); none means local mode unless `auth` is "none". */
  apiKey?: string;
  /** "none": the API needs no key (no header is sent, no key is asked for); default "key". */
  auth?: "key" | "none";
  /** Header carrying the key (default `authorization`). */
  authHeader?: string;
  /** Header value with `{key}` replaced (default `Bearer {key}`). */
  authFormat?: string;
  /** Collection → resource path (default `{ "items": "/api/items" }`); only these collections sync. */
  resources?: Record<string, string>;
  /** Create: default `POST {resource}` with `"$doc"`, server id at item.id in the answer. */
  create?: CreateMapping;
  /** Update: default `PUT {resource}/{server_id}` with `"$doc"` (POST upsert: `{ "method": "POST", "path": "{resource}", "body": { "id": "$server_id", "body": "$doc" } }`). */
  update?: OperationMapping;
  /** Delete: default `DELETE {resource}/{server_id}`. */
  delete?: OperationMapping;
  /** Get one: default `GET {resource}/{server_id}`, the answer is the item. */
  get?: GetMapping;
  /** The change feed (mapping.ts FeedMapping). */
  feed?: FeedMapping;
  /** Where fields are in an item (mapping.ts ItemMapping). */
  item?: ItemMapping;
  /** Field added to the sent document with its local id, for duplicate repair; null disables (default `local_id`). */
  localIdField?: string | null;
  /** Server-managed fields dropped from pulled documents (default `created_at`, `updated_at`). */
  serverFields?: string[];
  /** A 404 on an update re-creates the item (default false: the local document follows the server, deleted, with a `gone` issue). */
  recreateOnMissing?: boolean;
  /** Hard-deleting APIs: compare a full listing with the id map every N pulls and after a reset (default: every 10 pulls when item.tombstone is null, else never; 0 never). */
  fullListEvery?: number;
  /** Each pull asks from `cursor − overlapMs` (default 5000) so late-stamped commits are not missed. */
  overlapMs?: number;
  /** Send `Idempotency-Key: <clientId>-<opId>` with every write (default true). */
  idempotencyKeys?: boolean;
  /** Request timeout (default 10,000 ms). */
  timeoutMs?: number;
  /** Local document → the `"$doc"` of request bodies (default: the document without `id`). Library only. */
  toServer?: (doc: JsonObject, collection: string) => JsonObject;
  /** Server item → local document fields (default: item.doc without id, tombstone and server fields). Library only. */
  fromServer?: (item: JsonObject, collection: string) => JsonObject;
  /** Shorthands of earlier versions: update.method, feed.path suffix, feed.since's name, feed.items, feed.cursor, item.id, item.tombstone, item.updatedAt (top-level fields). */
  updateMethod?: "PUT" | "PATCH";
  syncPath?: string;
  cursorParam?: string;
  itemsField?: string;
  cursorField?: string;
  idField?: string;
  tombstoneField?: string;
  updatedAtField?: string;
}

/** A RestConfig with every default filled in. */
export interface ResolvedRestConfig {
  baseUrl: string;
  apiKey: string | null;
  auth: "key" | "none";
  authHeader: string;
  authFormat: string;
  resources: Record<string, string>;
  create: ResolvedOperation & { id: string };
  update: ResolvedOperation;
  delete: ResolvedOperation;
  get: ResolvedOperation & { item: string };
  feed: ResolvedFeed;
  item: ResolvedItem;
  localIdField: string | null;
  serverFields: string[];
  recreateOnMissing: boolean;
  fullListEvery: number;
  overlapMs: number;
  idempotencyKeys: boolean;
  timeoutMs: number;
  toServer: (doc: JsonObject, collection: string) => JsonObject;
  fromServer: (item: JsonObject, collection: string) => JsonObject;
}

const KEYS = new Set([
  "baseUrl", "apiKey", "auth", "authHeader", "authFormat", "resources", "create", "update", "delete", "get", "feed", "item",
  "localIdField", "serverFields", "recreateOnMissing", "fullListEvery", "overlapMs", "idempotencyKeys", "timeoutMs",
  "toServer", "fromServer", "updateMethod", "syncPath", "cursorParam", "itemsField", "cursorField", "idField", "tombstoneField", "updatedAtField",
  "$comment",
]);

function str(value: unknown, key: string, example: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value === "") throw new StowageError("config", `rest config: ${key} must be a non-empty string, e.g. ${example}, got ${describeValue(value)}`);
  return value;
}

/** Fills defaults and checks the shape (config files are user input: errors name the key, the expected form and the bad value). */
export function resolveRestConfig(config: RestConfig, apiKey: string | null): ResolvedRestConfig {
  if (!config || typeof config !== "object" || Array.isArray(config)) throw new StowageError("config", `rest config must be an object, got ${describeValue(config)}`);
  for (const k of Object.keys(config)) if (!KEYS.has(k)) throw new StowageError("config", `rest config: unknown setting ${describeValue(k)}`);
  const base = String(config.baseUrl ?? "").trim().replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/.test(base)) throw new StowageError("config", `rest config: baseUrl must start with http:// or https://, got ${describeValue(config.baseUrl)}`);
  const updateMethod = config.updateMethod ?? "PUT";
  if (updateMethod !== "PUT" && updateMethod !== "PATCH") throw new StowageError("config", `rest config: updateMethod must be PUT or PATCH, got ${describeValue(updateMethod)}`);
  const auth = config.auth ?? "key";
  if (auth !== "key" && auth !== "none") throw new StowageError("config", `rest config: auth must be "key" or "none", got ${describeValue(auth)}`);
  const overlapMs = number(config.overlapMs, "overlapMs", 5000, 0);
  const timeoutMs = number(config.timeoutMs, "timeoutMs", 10_000, 1);
  for (const k of ["recreateOnMissing", "idempotencyKeys"] as const) {
    if (config[k] !== undefined && typeof config[k] !== "boolean") throw new StowageError("config", `rest config: ${k} must be true or false, got ${describeValue(config[k])}`);
  }
  const serverFields = config.serverFields ?? ["created_at", "updated_at"];
  if (!Array.isArray(serverFields) || serverFields.some((f) => typeof f !== "string")) throw new StowageError("config", `rest config: serverFields must be a list of field names, e.g. ["created_at"], got ${describeValue(serverFields)}`);
  const localIdField = config.localIdField === undefined ? "local_id" : config.localIdField === null ? null : str(config.localIdField, "localIdField", '"local_id"')!;
  const item = resolveItem(config.item, localIdField, config);
  const feed = resolveFeed(config.feed, config);
  const fullListEvery = number(config.fullListEvery, "fullListEvery", item.tombstone === null ? 10 : 0, 0);
  if (!Number.isInteger(fullListEvery)) throw new StowageError("config", `rest config: fullListEvery must be a whole number of pulls, got ${describeValue(fullListEvery)}`);
  for (const k of ["toServer", "fromServer"] as const) {
    if (config[k] !== undefined && typeof config[k] !== "function") throw new StowageError("config", `rest config: ${k} is a function (library only; a JSON file says the same with create/update body templates and item pointers), got ${describeValue(config[k])}`);
  }
  const create = resolveOperation(config.create, "create", { method: "POST", path: "{resource}", body: "$doc", needsServerId: false, extra: ["id"] });
  if (create.id !== undefined && typeof create.id !== "string") throw new StowageError("config", `rest config: create.id must be a JSON Pointer, e.g. "/data/id", got ${describeValue(create.id)}`);
  const get = resolveOperation(config.get, "get", { method: "GET", path: "{resource}/{server_id}", body: null, needsServerId: true, extra: ["item"] });
  const strip = new Set([item.id, item.tombstone, ...serverFields.map(pointerOf), ...(localIdField ? [pointerOf(localIdField)] : [])]);
  return {
    baseUrl: base,
    apiKey: auth === "none" ? null : (config.apiKey ?? apiKey ?? "").trim() || null,
    auth,
    authHeader: str(config.authHeader, "authHeader", '"x-api-key"') ?? "authorization",
    authFormat: str(config.authFormat, "authFormat", '"Token {key}"') ?? "Bearer {key}",
    resources: checkResources(config.resources ?? { items: "/api/items" }),
    create: { ...create, id: create.id === undefined ? item.id : assertCreateId(create.id) },
    update: resolveOperation(config.update, "update", { method: updateMethod, path: "{resource}/{server_id}", body: updateMethod === "PATCH" ? "$patch" : "$doc", needsServerId: false }),
    delete: resolveOperation(config.delete, "delete", { method: "DELETE", path: "{resource}/{server_id}", body: null, needsServerId: false }),
    get: { ...get, item: get.item === undefined ? "" : assertGetItem(get.item) },
    feed,
    item,
    localIdField,
    serverFields,
    recreateOnMissing: config.recreateOnMissing ?? false,
    fullListEvery,
    overlapMs,
    idempotencyKeys: config.idempotencyKeys ?? true,
    timeoutMs,
    toServer: config.toServer ?? ((doc) => {
      const { id: _id, ...rest } = doc;
      return rest;
    }),
    fromServer: config.fromServer ?? ((raw) => {
      // The document inside the item; at the top level, minus the id, tombstone and server fields.
      const doc = resolvePointer(raw, item.doc);
      if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
        throw new StowageError("protocol", `an item has no document at item.doc ${describeValue(item.doc)}: ${JSON.stringify(raw).slice(0, 120)}`);
      }
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(doc as JsonObject)) if (!strip.has(pointerOf(k))) out[k] = v;
      return out;
    }),
  };
}

function assertCreateId(v: unknown): string {
  if (typeof v !== "string" || (v !== "" && !v.startsWith("/"))) throw new StowageError("config", `rest config: create.id must be a JSON Pointer, e.g. "/data/id", got ${describeValue(v)}`);
  return v;
}

function assertGetItem(v: unknown): string {
  if (typeof v !== "string" || (v !== "" && !v.startsWith("/"))) throw new StowageError("config", `rest config: get.item must be a JSON Pointer, e.g. "/data", got ${describeValue(v)}`);
  return v;
}

function number(v: unknown, key: string, fallback: number, min: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isFinite(v) || v < min) throw new StowageError("config", `rest config: ${key} must be a number ≥ ${min}, got ${describeValue(v)}`);
  return v;
}

function checkResources(r: unknown): Record<string, string> {
  if (!r || typeof r !== "object" || Array.isArray(r)) throw new StowageError("config", `rest config: resources must map collection names to paths, e.g. { "notes": "/api/notes" }, got ${describeValue(r)}`);
  const out: Record<string, string> = {};
  const used = new Set<string>();
  for (const [c, p] of Object.entries(r)) {
    if (typeof p !== "string" || !p.startsWith("/")) throw new StowageError("config", `rest config: resource path for ${describeValue(c)} must start with /, got ${describeValue(p)}`);
    out[c] = p.replace(/\/+$/, "");
    // One feed cannot tell which of two collections an item belongs to.
    if (used.has(out[c])) throw new StowageError("config", `rest config: two collections share the resource ${describeValue(out[c])}`);
    used.add(out[c]);
  }
  if (Object.keys(out).length === 0) throw new StowageError("config", "rest config: resources names no collection");
  return out;
}

/** The resource path a collection maps to; undefined when it does not sync. */
export function resourceOf(config: ResolvedRestConfig, collection: string): string | undefined {
  return Object.hasOwn(config.resources, collection) ? config.resources[collection] : undefined;
}

/** Parses the JSON text of a `--rest FILE` config (mapping functions are library-only). */
export function parseRestConfigText(text: string, source: string): RestConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new StowageError("config", `rest config ${source} is not JSON: ${(e as Error).message}`);
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new StowageError("config", `rest config ${source} must be a JSON object`);
  return parsed as RestConfig;
}
