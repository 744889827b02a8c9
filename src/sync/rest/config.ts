import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";

/**
 * How to talk to a REST API Stowage does not own. Defaults follow the seed's shape:
 * `POST /api/items` (server assigns `id`), `PUT /api/items/{id}`, `DELETE /api/items/{id}`
 * (soft delete), `GET /api/items/sync?since=<ts>` → `{ items, server_time }` with tombstones
 * (`deleted_at` non-null).
 */
export interface RestConfig {
  /** API base URL, e.g. `https://api.example.com`. */
  baseUrl: string;
  /** API key (else the `apiKey` option / `STOWAGE_API_KEY`); none means local mode. */
  apiKey?: string;
  /** Header carrying the key (default `authorization`). */
  authHeader?: string;
  /** Header value with `{key}` replaced (default `Bearer {key}`). */
  authFormat?: string;
  /** Collection → resource path (default `{ "items": "/api/items" }`); only these collections sync. */
  resources?: Record<string, string>;
  /** Path of the change feed, relative to the resource (default `/sync`). */
  syncPath?: string;
  /** Method for updates: PUT sends the whole document, PATCH the merge patch (default PUT). */
  updateMethod?: "PUT" | "PATCH";
  /** Field of the server's id (default `id`). */
  idField?: string;
  /** Field carrying the local id inside bodies, for duplicate repair; null disables (default `local_id`). */
  localIdField?: string | null;
  /** Query parameter of the change feed's cursor (default `since`). */
  cursorParam?: string;
  /** Field of the feed answer holding the items (default `items`). */
  itemsField?: string;
  /** Field of the feed answer holding the next cursor (default `server_time`). */
  cursorField?: string;
  /** Field that is non-null on soft-deleted items (default `deleted_at`). */
  tombstoneField?: string;
  /** Field holding the item's change time (default `updated_at`). */
  updatedAtField?: string;
  /** Server-managed fields dropped from pulled documents (default `created_at`, `updated_at`). */
  serverFields?: string[];
  /** Each pull asks from `cursor − overlapMs` (default 5000) so late-stamped commits are not missed. */
  overlapMs?: number;
  /** Send `Idempotency-Key: <clientId>-<opId>` with every write (default true). */
  idempotencyKeys?: boolean;
  /** Request timeout (default 10,000 ms). */
  timeoutMs?: number;
  /** Local document → request body (default: the document without `id`). */
  toServer?: (doc: JsonObject, collection: string) => JsonObject;
  /** Server item → local document fields (default: the item without id, tombstone and server fields). */
  fromServer?: (item: JsonObject, collection: string) => JsonObject;
}

/** A RestConfig with every default filled in. */
export type ResolvedRestConfig = Required<Omit<RestConfig, "apiKey" | "resources" | "localIdField">> & {
  apiKey: string | null;
  resources: Record<string, string>;
  localIdField: string | null;
};

const KEYS = new Set([
  "baseUrl", "apiKey", "authHeader", "authFormat", "resources", "syncPath", "updateMethod", "idField",
  "localIdField", "cursorParam", "itemsField", "cursorField", "tombstoneField", "updatedAtField", "serverFields",
  "overlapMs", "idempotencyKeys", "timeoutMs", "toServer", "fromServer",
]);

/** Fills defaults and checks the shape (config files are user input: errors name the bad value). */
export function resolveRestConfig(config: RestConfig, apiKey: string | null): ResolvedRestConfig {
  if (!config || typeof config !== "object") throw new StowageError("config", `rest config must be an object, got ${describeValue(config)}`);
  for (const k of Object.keys(config)) if (!KEYS.has(k)) throw new StowageError("config", `rest config: unknown setting ${describeValue(k)}`);
  const base = String(config.baseUrl ?? "").trim().replace(/\/+$/, "");
  if (!/^https?:\/\/[^/]/.test(base)) throw new StowageError("config", `rest config: baseUrl must start with http:// or https://, got ${describeValue(config.baseUrl)}`);
  const method = config.updateMethod ?? "PUT";
  if (method !== "PUT" && method !== "PATCH") throw new StowageError("config", `rest config: updateMethod must be PUT or PATCH, got ${describeValue(method)}`);
  const overlapMs = config.overlapMs ?? 5000;
  if (!Number.isFinite(overlapMs) || overlapMs < 0) throw new StowageError("config", `rest config: overlapMs must be a number ≥ 0, got ${describeValue(overlapMs)}`);
  const serverFields = config.serverFields ?? ["created_at", "updated_at"];
  const idField = config.idField ?? "id";
  const tombstoneField = config.tombstoneField ?? "deleted_at";
  const localIdField = config.localIdField === undefined ? "local_id" : config.localIdField;
  const strip = new Set([idField, tombstoneField, ...serverFields, ...(localIdField ? [localIdField] : [])]);
  return {
    baseUrl: base,
    apiKey: (config.apiKey ?? apiKey ?? "").trim() || null,
    authHeader: config.authHeader ?? "authorization",
    authFormat: config.authFormat ?? "Bearer {key}",
    resources: checkResources(config.resources ?? { items: "/api/items" }),
    syncPath: config.syncPath ?? "/sync",
    updateMethod: method,
    idField,
    localIdField,
    cursorParam: config.cursorParam ?? "since",
    itemsField: config.itemsField ?? "items",
    cursorField: config.cursorField ?? "server_time",
    tombstoneField,
    updatedAtField: config.updatedAtField ?? "updated_at",
    serverFields,
    overlapMs,
    idempotencyKeys: config.idempotencyKeys ?? true,
    timeoutMs: config.timeoutMs ?? 10_000,
    toServer: config.toServer ?? ((doc) => {
      const { id: _id, ...rest } = doc;
      return rest;
    }),
    fromServer: config.fromServer ?? ((item) => {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(item)) if (!strip.has(k)) out[k] = v;
      return out;
    }),
  };
}

function checkResources(r: unknown): Record<string, string> {
  if (!r || typeof r !== "object" || Array.isArray(r)) throw new StowageError("config", `rest config: resources must map collection names to paths, got ${describeValue(r)}`);
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
