import { invalid, json, notFound, startShape, userFields, type Row, type ShapeOptions, type ShapeRouter, type ShapeServer } from "./base.ts";

/**
 * Shape 4, PocketBase's documented records API (pocketbase.io/docs/api-records):
 * `POST /api/collections/{c}/records`, `PATCH …/records/{id}`, `DELETE …/records/{id}` (204,
 * hard delete), `GET …/records/{id}`, and the list `GET …/records?page=&perPage=&filter=&sort=`
 * → `{ page, perPage, totalItems, totalPages, items }`. Records carry a 15-character text `id`,
 * `collectionId`, `collectionName`, `created` and `updated` as "2024-01-02 03:04:05.678Z".
 * Only the filter this reference needs is understood: `updated > "<datetime>"`. The token goes
 * in `Authorization` as is. docs/examples/rest/pocketbase.json.
 */
const RESERVED = ["id", "collectionId", "collectionName", "created", "updated"];
const stamp = (t: number) => new Date(t).toISOString().replace("T", " ");
const render = (r: Row) => ({ collectionId: "pbc_notes0001", collectionName: "notes", id: r.uid, ...JSON.parse(r.body), created: stamp(r.created_at), updated: stamp(r.updated_at) });
const BASE = "/api/collections/notes/records";

function pbId(): string {
  const a = "abcdefghijklmnopqrstuvwxyz0123456789";
  let s = "";
  for (let i = 0; i < 15; i++) s += a[Math.floor(Math.random() * a.length)];
  return s;
}

export const pocketbaseRouter: ShapeRouter = {
  name: "pocketbase",
  authorized: (req, key) => key === null || req.headers.get("authorization") === key,
  route(db, method, url, body) {
    const err = (status: number, message: string) => json(status, { status, message, data: {} });
    if (url.pathname === BASE && method === "GET") {
      const page = Number(url.searchParams.get("page") ?? "1");
      const perPage = Math.min(500, Number(url.searchParams.get("perPage") ?? "30"));
      const filter = url.searchParams.get("filter") ?? "";
      let since: number | null = null;
      if (filter) {
        const m = /^\(?updated\s*>\s*["']([^"']+)["']\)?$/.exec(filter.trim());
        if (!m || !Number.isFinite(Date.parse(m[1].replace(" ", "T")))) return err(400, "Something went wrong while processing your request. Invalid filter parameters.");
        since = Date.parse(m[1].replace(" ", "T"));
      }
      const rows = db.changed(since).filter((r) => r.deleted_at === null);
      const items = rows.slice((page - 1) * perPage, page * perPage).map(render);
      return json(200, { page, perPage, totalItems: rows.length, totalPages: Math.ceil(rows.length / perPage), items });
    }
    if (url.pathname === BASE && method === "POST") {
      if (!body) return err(400, "Failed to load the submitted data due to invalid formatting.");
      return json(200, render(db.insert(userFields(body, RESERVED), pbId())));
    }
    const m = new RegExp(`^${BASE}/([a-z0-9]{15})$`).exec(url.pathname);
    if (!m) return url.pathname.startsWith(BASE + "/") ? err(404, "The requested resource wasn't found.") : notFound("route");
    const row = db.byUid(m[1]);
    if (!row || row.deleted_at !== null) return err(404, "The requested resource wasn't found.");
    if (method === "GET") return json(200, render(row));
    if (method === "DELETE") {
      db.hardDelete(row.id);
      return { status: 204 };
    }
    if (method === "PATCH") {
      if (!body) return invalid("Failed to load the submitted data due to invalid formatting.");
      return json(200, render(db.update(row.id, { ...JSON.parse(row.body), ...userFields(body, RESERVED) })));
    }
    return err(405, "Method not allowed.");
  },
};

export function startPocketbaseShape(options: ShapeOptions = {}): ShapeServer {
  return startShape(pocketbaseRouter, { serverId: (r) => r.uid, find: (db, s) => db.byUid(s), hardDeletes: true }, options);
}
