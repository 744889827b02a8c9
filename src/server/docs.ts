import type { DocListQuery } from "../protocol/wire.ts";
import type { JsonObject } from "../json.ts";
import { compareValues, compileWhere, field, getField } from "./filter.ts";
import { opaqueParam } from "./dialect-sql.ts";
import { HttpError } from "./http.ts";
import { num } from "./tables.ts";
import type { ServerStore } from "./store.ts";

/** Most live documents a filtered or ordered listing scans in memory. */
export const MAX_SCAN = 100_000;

/** GET /v1/docs/:collection/:id: the live document and its version, or undefined. */
export async function getDoc(store: ServerStore, tenantId: string, collection: string, id: string): Promise<{ value: JsonObject; version: number } | undefined> {
  const row = await store.db
    .selectFrom("stowage_docs")
    .select(["seq", "body"])
    .where("tenant_id", "=", tenantId)
    .where("collection", "=", collection)
    .where("id", "=", id)
    .where("deleted", "=", 0)
    .executeTakeFirst();
  return row ? { value: JSON.parse(row.body ?? "{}") as JsonObject, version: num(row.seq) } : undefined;
}

/**
 * For a 404 of GET /v1/docs/:collection/:id: the sequence number since which the document is
 * absent, so a client can tell whether "absent" belongs to a state it already holds (its
 * cursor is at or past it). A tombstone's own sequence; with no row at all (never written,
 * or its tombstone purged), the tenant's purge horizon, which bounds any purged delete.
 */
export async function absentSince(store: ServerStore, tenantId: string, collection: string, id: string): Promise<number> {
  const row = await store.db
    .selectFrom("stowage_docs")
    .select(["seq"])
    .where("tenant_id", "=", tenantId)
    .where("collection", "=", collection)
    .where("id", "=", id)
    .executeTakeFirst();
  if (row) return num(row.seq);
  const tenant = await store.db.selectFrom("stowage_tenants").select(["purged_seq"]).where("id", "=", tenantId).executeTakeFirst();
  return num(tenant?.purged_seq);
}

/**
 * GET /v1/docs/:collection: a page of documents and, at the same index, each one's version
 * (what GET of the document answers as `version` and `ETag`). Ordered by id, it is a keyset scan in SQL. With `where` or another
 * `orderBy` the collection's live documents are filtered and sorted in memory (up to MAX_SCAN),
 * which keeps the SQL the same on every store; the cursor is keyset either way.
 */
export async function listDocs(
  store: ServerStore,
  tenantId: string,
  collection: string,
  q: DocListQuery,
  readable?: (doc: JsonObject) => boolean,
): Promise<{ items: JsonObject[]; versions: number[]; next?: string }> {
  const limit = q.limit ?? 100;
  const where = compileWhere(q.where);
  // Sync rules (`readable`): the documents the principal may not read are not there for it.
  const match = readable ? (d: JsonObject) => readable(d) && where(d) : where;
  let order = q.orderBy ?? "id";
  const descending = order.startsWith("-");
  if (descending) order = order.slice(1);
  field(order);
  const after = q.cursor === undefined || q.cursor === "" ? undefined : decodeCursor(q.cursor);
  const dir = descending ? -1 : 1;

  if (q.where === undefined && order === "id" && readable) return readableById(store, tenantId, collection, limit, descending, after?.[1], readable);
  if (q.where === undefined && order === "id") {
    let query = store.db
      .selectFrom("stowage_docs")
      .select(["id", "body", "seq"])
      .where("tenant_id", "=", opaqueParam(store.dialect, tenantId, "text"))
      .where("collection", "=", collection)
      .where("deleted", "=", 0)
      .orderBy("id", descending ? "desc" : "asc")
      .limit(opaqueParam(store.dialect, limit + 1, "integer"));
    if (after) query = query.where("id", descending ? "<" : ">", after[1]);
    const rows = await query.execute();
    const page = rows.slice(0, limit).map((r) => JSON.parse(r.body ?? "{}") as JsonObject);
    const versions = rows.slice(0, limit).map((r) => num(r.seq));
    const last = page[page.length - 1];
    return rows.length > limit ? { items: page, versions, next: encodeCursor(last.id, String(last.id)) } : { items: page, versions };
  }

  const docs: { doc: JsonObject; version: number }[] = [];
  let lastId = "";
  for (;;) {
    const rows = await store.db
      .selectFrom("stowage_docs")
      .select(["id", "body", "seq"])
      .where("tenant_id", "=", tenantId)
      .where("collection", "=", collection)
      .where("deleted", "=", 0)
      .where("id", ">", lastId)
      .orderBy("id")
      .limit(1000)
      .execute();
    for (const r of rows) {
      const doc = JSON.parse(r.body ?? "{}") as JsonObject;
      if (match(doc)) docs.push({ doc, version: num(r.seq) });
    }
    if (rows.length < 1000) break;
    lastId = rows[rows.length - 1].id;
    if (docs.length > MAX_SCAN) {
      throw new HttpError(400, "bad_request", `collection ${collection} has more than ${MAX_SCAN} matching documents; narrow the where filter`);
    }
  }
  const key = (d: JsonObject) => (order === "id" ? d.id : getField(d, order));
  const cmp = (a: [unknown, string], b: [unknown, string]) => dir * (compareValues(a[0], b[0]) || compareValues(a[1], b[1]));
  const keyed = docs.map(({ doc: d, version }) => ({ k: [key(d), String(d.id)] as [unknown, string], d, version }));
  keyed.sort((a, b) => cmp(a.k, b.k));
  const rest = after ? keyed.filter((x) => cmp(x.k, after) > 0) : keyed;
  const page = rest.slice(0, limit);
  const last = page[page.length - 1];
  const items = page.map((x) => x.d);
  const versions = page.map((x) => x.version);
  return rest.length > limit ? { items, versions, next: encodeCursor(last.k[0], last.k[1]) } : { items, versions };
}

/**
 * A listing by id under sync rules: the keyset scan in SQL, a batch at a time, keeping the
 * documents the principal may read, until the page is full (a principal seeing few of many
 * documents costs more batches, never a scan of the whole collection into memory).
 */
async function readableById(
  store: ServerStore,
  tenantId: string,
  collection: string,
  limit: number,
  descending: boolean,
  afterId: string | undefined,
  readable: (doc: JsonObject) => boolean,
): Promise<{ items: JsonObject[]; versions: number[]; next?: string }> {
  const items: JsonObject[] = [];
  const versions: number[] = [];
  let last = afterId;
  const batch = Math.max(limit + 1, 200);
  for (;;) {
    let query = store.db
      .selectFrom("stowage_docs")
      .select(["id", "body", "seq"])
      .where("tenant_id", "=", tenantId)
      .where("collection", "=", collection)
      .where("deleted", "=", 0)
      .orderBy("id", descending ? "desc" : "asc")
      .limit(batch);
    if (last !== undefined) query = query.where("id", descending ? "<" : ">", last);
    const rows = await query.execute();
    for (const r of rows) {
      const doc = JSON.parse(r.body ?? "{}") as JsonObject;
      if (!readable(doc)) continue;
      if (items.length === limit) {
        const end = items[items.length - 1];
        return { items, versions, next: encodeCursor(end.id, String(end.id)) };
      }
      items.push(doc);
      versions.push(num(r.seq));
    }
    if (rows.length < batch) return { items, versions };
    last = rows[rows.length - 1].id;
  }
}

function encodeCursor(value: unknown, id: string): string {
  const bytes = new TextEncoder().encode(JSON.stringify([value ?? null, id]));
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function decodeCursor(cursor: string): [unknown, string] {
  try {
    const bin = atob(cursor.replace(/-/g, "+").replace(/_/g, "/"));
    const parsed = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(Uint8Array.from(bin, (c) => c.charCodeAt(0))));
    if (Array.isArray(parsed) && parsed.length === 2 && typeof parsed[1] === "string") return parsed as [unknown, string];
  } catch {
    // answered below
  }
  throw new HttpError(400, "invalid_cursor", `invalid list cursor ${JSON.stringify(cursor.slice(0, 80))}`);
}
