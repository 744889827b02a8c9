import { StowageError, describeValue } from "../../errors.ts";
import type { JsonValue } from "../../json.ts";
import { assertPointer } from "./pointer.ts";
import { assertPathTemplate, bodyHasDoc } from "./template.ts";

/**
 * The declarative part of a REST config: one entry per operation (method, path template,
 * body template), where things are in answers (JSON Pointers), and how the feed is read.
 * Everything here can be said in a JSON file; `toServer`/`fromServer` stay library-only.
 */

/** A write or a read of one item. */
export interface OperationMapping {
  /** HTTP method. */
  method?: string;
  /** Path template: `{resource}`, `{server_id}`, `{id}` (see template.ts). */
  path?: string;
  /** Body template: `"$doc"`, `"$patch"`, `"$server_id"`, `"$id"` are filled in (writes only). */
  body?: JsonValue;
}

/** The create: as an operation, plus where the answer keeps the new server id. */
export interface CreateMapping extends OperationMapping {
  /** JSON Pointer of the server id in the create's answer (default: item.id). */
  id?: string;
}

/** Reading one item back (`stowage rest check`, refused writes, hard-delete confirmation). */
export interface GetMapping extends OperationMapping {
  /** JSON Pointer of the item inside the answer (default `""`: the answer is the item). */
  item?: string;
}

/** Where fields are inside one item of the feed (and of get/create answers). */
export interface ItemMapping {
  /** Server id (default `/id`). */
  id?: string;
  /** The document inside the item (default `""`: the item itself, minus id and server fields). */
  doc?: string;
  /** The local id the item carries, for duplicate repair and other clients' ids (default: doc + `/` + localIdField; null: none). */
  localId?: string | null;
  /** Change time (default `/updated_at`). */
  updatedAt?: string;
  /** Non-null and not false on soft-deleted items (default `/deleted_at`; null: the API hard-deletes). */
  tombstone?: string | null;
}

/** The change feed: one GET (or several pages) per collection per pull. */
export interface FeedMapping {
  /** Path template (default `{resource}/sync`). */
  path?: string;
  /** Query parameters sent only once a cursor exists; `{since}` is replaced (default `{ "since": "{since}" }`). */
  since?: Record<string, string>;
  /** Query parameters sent on every feed request (e.g. a sort order). */
  params?: Record<string, string>;
  /** JSON Pointer of the item list in an answer (default `/items`; `""` when the answer is the list). */
  items?: string;
  /** JSON Pointer of the next `since` in an answer (default `/server_time`); null: the highest updatedAt seen. */
  cursor?: string | null;
  /** JSON Pointer of the next page's URL (absolute or relative to baseUrl); absent or null ends the feed. */
  nextLink?: string | null;
  /** JSON Pointer of an opaque next-page token, sent back as `nextParam`; absent, null or "" ends the feed. */
  nextCursor?: string | null;
  /** Query parameter carrying `nextCursor` (default `cursor`). */
  nextParam?: string;
  /** Page or offset paging: `{ "param": "page", "start": 1, "size": 100, "sizeParam": "per_page" }`, `"offset": true` counts items. */
  page?: { param: string; start?: number; size: number; sizeParam?: string; offset?: boolean } | null;
}

export interface ResolvedOperation {
  method: string;
  path: string;
  body: JsonValue;
}

export interface ResolvedFeed {
  path: string;
  since: Record<string, string>;
  params: Record<string, string>;
  items: string;
  cursor: string | null;
  nextLink: string | null;
  nextCursor: string | null;
  nextParam: string;
  page: { param: string; start: number; size: number; sizeParam: string | null; offset: boolean } | null;
}

export interface ResolvedItem {
  id: string;
  doc: string;
  localId: string | null;
  updatedAt: string;
  tombstone: string | null;
}

const METHODS = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

function obj(value: unknown, key: string, example: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!value || typeof value !== "object" || Array.isArray(value)) throw new StowageError("config", `rest config: ${key} must be an object like ${example}, got ${describeValue(value)}`);
  return value as Record<string, unknown>;
}

function only(o: Record<string, unknown>, key: string, allowed: string[]): void {
  for (const k of Object.keys(o)) if (!allowed.includes(k)) throw new StowageError("config", `rest config: unknown setting ${key}.${k} (known: ${allowed.join(", ")})`);
}

function method(value: unknown, key: string, fallback: string): string {
  const m = value === undefined ? fallback : typeof value === "string" ? value.toUpperCase() : "";
  if (!METHODS.has(m)) throw new StowageError("config", `rest config: ${key} must be one of GET, POST, PUT, PATCH, DELETE, got ${describeValue(value)}`);
  return m;
}

/** Resolves one write/read operation, with its defaults. */
export function resolveOperation(
  value: unknown,
  key: string,
  d: { method: string; path: string; body: JsonValue; needsServerId: boolean; extra?: string[] },
): ResolvedOperation & Record<string, unknown> {
  const o = obj(value, key, `{ "method": "${d.method}", "path": "${d.path}" }`);
  only(o, key, ["method", "path", "body", ...(d.extra ?? [])]);
  const body = o.body === undefined ? d.body : (o.body as JsonValue);
  if (d.body !== null && !bodyHasDoc(body)) throw new StowageError("config", `rest config: ${key}.body must place the document with "$doc" (e.g. { "body": "$doc" }), got ${describeValue(JSON.stringify(body))}`);
  return { ...o, method: method(o.method, `${key}.method`, d.method), path: assertPathTemplate(o.path ?? d.path, `${key}.path`, d.needsServerId), body };
}

function params(value: unknown, key: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const o = obj(value, key, `{ "since": "{since}" }`);
  for (const [k, v] of Object.entries(o)) if (typeof v !== "string") throw new StowageError("config", `rest config: ${key}.${k} must be a string, got ${describeValue(v)}`);
  return o as Record<string, string>;
}

function nullablePointer(value: unknown, key: string, fallback: string | null): string | null {
  if (value === undefined) return fallback;
  return value === null ? null : assertPointer(value, key);
}

/** Resolves the feed mapping; `legacy` carries the flat keys of earlier configs. */
export function resolveFeed(value: unknown, legacy: { syncPath?: string; cursorParam?: string; itemsField?: string; cursorField?: string }): ResolvedFeed {
  const o = obj(value, "feed", `{ "path": "{resource}/sync", "items": "/items" }`);
  only(o, "feed", ["path", "since", "params", "items", "cursor", "nextLink", "nextCursor", "nextParam", "page"]);
  const path = o.path ?? `{resource}${legacy.syncPath ?? "/sync"}`;
  let page: ResolvedFeed["page"] = null;
  if (o.page !== undefined && o.page !== null) {
    const p = obj(o.page, "feed.page", `{ "param": "page", "start": 1, "size": 100, "sizeParam": "per_page" }`);
    only(p, "feed.page", ["param", "start", "size", "sizeParam", "offset"]);
    if (typeof p.param !== "string" || !p.param) throw new StowageError("config", `rest config: feed.page.param must name the page query parameter, e.g. "page", got ${describeValue(p.param)}`);
    if (!Number.isInteger(p.size) || (p.size as number) < 1) throw new StowageError("config", `rest config: feed.page.size must be an integer ≥ 1 (the API's page size), got ${describeValue(p.size)}`);
    if (p.sizeParam !== undefined && typeof p.sizeParam !== "string") throw new StowageError("config", `rest config: feed.page.sizeParam must be a string, got ${describeValue(p.sizeParam)}`);
    const start = p.start ?? (p.offset ? 0 : 1);
    if (!Number.isInteger(start)) throw new StowageError("config", `rest config: feed.page.start must be an integer, got ${describeValue(p.start)}`);
    page = { param: p.param, start: start as number, size: p.size as number, sizeParam: (p.sizeParam as string | undefined) ?? null, offset: p.offset === true };
  }
  const nextParam = o.nextParam ?? "cursor";
  if (typeof nextParam !== "string") throw new StowageError("config", `rest config: feed.nextParam must be a string, got ${describeValue(nextParam)}`);
  return {
    path: assertPathTemplate(path, "feed.path", false),
    since: params(o.since, "feed.since") ?? { [legacy.cursorParam ?? "since"]: "{since}" },
    params: params(o.params, "feed.params") ?? {},
    items: o.items === undefined ? (legacy.itemsField !== undefined ? pointerOf(legacy.itemsField) : "/items") : assertPointer(o.items, "feed.items"),
    cursor: nullablePointer(o.cursor, "feed.cursor", legacy.cursorField !== undefined ? pointerOf(legacy.cursorField) : "/server_time"),
    nextLink: nullablePointer(o.nextLink, "feed.nextLink", null),
    nextCursor: nullablePointer(o.nextCursor, "feed.nextCursor", null),
    nextParam,
    page,
  };
}

/** Resolves the item mapping; `legacy` carries the flat keys of earlier configs. */
export function resolveItem(value: unknown, localIdField: string | null, legacy: { idField?: string; tombstoneField?: string; updatedAtField?: string }): ResolvedItem {
  const o = obj(value, "item", `{ "id": "/id", "doc": "/body", "localId": "/body/local_id" }`);
  only(o, "item", ["id", "doc", "localId", "updatedAt", "tombstone"]);
  const doc = o.doc === undefined ? "" : assertPointer(o.doc, "item.doc");
  return {
    id: o.id === undefined ? pointerOf(legacy.idField ?? "id") : assertPointer(o.id, "item.id"),
    doc,
    localId: nullablePointer(o.localId, "item.localId", localIdField ? `${doc}/${escape(localIdField)}` : null),
    updatedAt: o.updatedAt === undefined ? pointerOf(legacy.updatedAtField ?? "updated_at") : assertPointer(o.updatedAt, "item.updatedAt"),
    tombstone: nullablePointer(o.tombstone, "item.tombstone", pointerOf(legacy.tombstoneField ?? "deleted_at")),
  };
}

function escape(field: string): string {
  return field.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** A top-level field name as a pointer. */
export function pointerOf(field: string): string {
  return `/${escape(field)}`;
}
