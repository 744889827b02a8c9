import { intIds, invalid, json, notFound, startShape, type Row, type ShapeOptions, type ShapeRouter, type ShapeServer } from "./base.ts";

/**
 * Shape 2, an envelope API with POST-upsert updates (the shape issue 30 was found on):
 * `POST /api/items {"body": {...}}` creates, `POST /api/items {"id": <id>, "body": {...}}`
 * replaces (404 when that item does not exist: never a second item), `DELETE /api/items/{id}`
 * soft-deletes, `GET /api/items/{id}` → `{ data: item }`, `GET /api/items/changes?after=<ms>` →
 * `{ data: { items, cursor } }`. Items keep the document inside `body`: `{ id, body, updated,
 * deleted }` (ms numbers, a boolean tombstone). `X-Api-Key: <key>`. docs/examples/rest/envelope.json.
 */
const render = (r: Row) => ({ id: r.id, body: JSON.parse(r.body), updated: r.updated_at, deleted: r.deleted_at !== null });

export const envelopeRouter: ShapeRouter = {
  name: "envelope",
  authorized: (req, key) => key === null || req.headers.get("x-api-key") === key,
  route(db, method, url, body) {
    if (url.pathname === "/api/items/changes" && method === "GET") {
      const cursor = db.now();
      const after = url.searchParams.get("after");
      if (after !== null && !/^\d+(\.\d+)?$/.test(after)) return invalid(`after must be milliseconds, got ${after}`);
      return json(200, { data: { items: db.changed(after === null ? null : Number(after)).map(render), cursor } });
    }
    if (url.pathname === "/api/items" && method === "POST") {
      if (!body || !body.body || typeof body.body !== "object" || Array.isArray(body.body)) return invalid("body required");
      const doc = body.body as Record<string, unknown>;
      if (body.id === undefined || body.id === null) return json(201, { data: render(db.insert(doc)) });
      const row = typeof body.id === "number" ? db.byId(body.id) : null;
      if (!row || row.deleted_at !== null) return notFound(`item ${JSON.stringify(body.id)}`);
      return json(200, { data: render(db.update(row.id, doc)) });
    }
    const m = /^\/api\/items\/(\d+)$/.exec(url.pathname);
    if (!m) return notFound("route");
    const row = db.byId(Number(m[1]));
    if (!row || row.deleted_at !== null) return notFound(`item ${m[1]}`);
    if (method === "GET") return json(200, { data: render(row) });
    if (method === "DELETE") return json(200, { data: render(db.softDelete(row.id)) });
    return json(405, { error: { code: "method", message: `${method} not allowed here; updates are POST /api/items {id, body}` } });
  },
};

export function startEnvelopeShape(options: ShapeOptions = {}): ShapeServer {
  return startShape(envelopeRouter, intIds, options);
}
