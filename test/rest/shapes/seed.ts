import { intIds, invalid, json, notFound, startShape, userFields, type Row, type ShapeOptions, type ShapeRouter, type ShapeServer } from "./base.ts";

/**
 * Shape 1, the seed's exact API (seed/local-first-sqlite-sync-pattern.md): `POST /api/items`
 * (server-assigned integer id), `PUT /api/items/{id}`, `DELETE /api/items/{id}` (soft delete),
 * `GET /api/items/sync?since=<iso>` → `{ memories, server_time }` (tombstones included after
 * `since`; live items only without it). `Authorization: Bearer <key>`. docs/examples/rest/seed.json.
 */
const RESERVED = ["id", "created_at", "updated_at", "deleted_at"];
const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
const render = (r: Row) => ({ id: r.id, ...JSON.parse(r.body), created_at: iso(r.created_at), updated_at: iso(r.updated_at), deleted_at: iso(r.deleted_at) });

export const seedRouter: ShapeRouter = {
  name: "seed",
  authorized: (req, key) => key === null || req.headers.get("authorization") === `Bearer ${key}`,
  route(db, method, url, body) {
    if (url.pathname === "/api/items/sync" && method === "GET") {
      const serverTime = db.now();
      const since = url.searchParams.get("since");
      const t = since === null ? null : Date.parse(since);
      if (t !== null && !Number.isFinite(t)) return invalid(`bad since ${since}`);
      return json(200, { memories: db.changed(t).map(render), server_time: iso(serverTime) });
    }
    if (url.pathname === "/api/items" && method === "POST") {
      if (!body) return invalid("body must be a JSON object");
      return json(201, render(db.insert(userFields(body, RESERVED))));
    }
    const m = /^\/api\/items\/(\d+)$/.exec(url.pathname);
    if (!m) return notFound("route");
    const row = db.byId(Number(m[1]));
    if (!row || row.deleted_at !== null) return notFound(`item ${m[1]}`);
    if (method === "GET") return json(200, render(row));
    if (method === "DELETE") return json(200, render(db.softDelete(row.id)));
    if (method === "PUT") {
      if (!body) return invalid("body must be a JSON object");
      return json(200, render(db.update(row.id, userFields(body, RESERVED))));
    }
    return json(405, { error: { code: "method", message: `${method} not allowed` } });
  },
};

export function startSeedShape(options: ShapeOptions = {}): ShapeServer {
  return startShape(seedRouter, intIds, options);
}
