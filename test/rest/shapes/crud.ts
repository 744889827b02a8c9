import { intIds, invalid, json, notFound, startShape, userFields, type Row, type ShapeOptions, type ShapeRouter, type ShapeServer } from "./base.ts";

/**
 * Shape 3, plain CRUD without auth, hard deletes and no sync endpoint: `POST /notes`,
 * `PUT /notes/{id}` (replace), `PATCH /notes/{id}` (merge), `DELETE /notes/{id}` (the row is gone: 204, then 404),
 * `GET /notes/{id}`, and `GET /notes?updated_after=<iso>&page=N&per_page=M` → `{ results }`
 * ordered by `updated_at` (pages of per_page; a short page is the last). Deletions show
 * nowhere: clients find them by comparing a full listing. docs/examples/rest/crud.json.
 */
const RESERVED = ["id", "created_at", "updated_at"];
const iso = (t: number) => new Date(t).toISOString();
const render = (r: Row) => ({ id: r.id, ...JSON.parse(r.body), created_at: iso(r.created_at), updated_at: iso(r.updated_at) });

export const crudRouter: ShapeRouter = {
  name: "crud",
  // No auth at all: a client that sends credentials anyway is told so (Stowage must send none).
  authorized: (req) => req.headers.get("authorization") === null,
  route(db, method, url, body) {
    if (url.pathname === "/notes" && method === "GET") {
      const after = url.searchParams.get("updated_after");
      const t = after === null ? null : Date.parse(after);
      if (t !== null && !Number.isFinite(t)) return invalid(`bad updated_after ${after}`);
      const page = Number(url.searchParams.get("page") ?? "1");
      const per = Math.min(100, Number(url.searchParams.get("per_page") ?? "20"));
      if (!Number.isInteger(page) || page < 1 || !Number.isInteger(per) || per < 1) return invalid("page and per_page must be integers ≥ 1");
      const rows = db.changed(t).filter((r) => r.deleted_at === null);
      return json(200, { results: rows.slice((page - 1) * per, page * per).map(render), page });
    }
    if (url.pathname === "/notes" && method === "POST") {
      if (!body) return invalid("body must be a JSON object");
      return json(201, render(db.insert(userFields(body, RESERVED))));
    }
    const m = /^\/notes\/(\d+)$/.exec(url.pathname);
    if (!m) return notFound("route");
    const row = db.byId(Number(m[1]));
    if (!row) return notFound(`note ${m[1]}`);
    if (method === "GET") return json(200, render(row));
    if (method === "DELETE") {
      db.hardDelete(row.id);
      return { status: 204 };
    }
    if (method === "PUT") {
      if (!body) return invalid("body must be a JSON object");
      return json(200, render(db.update(row.id, userFields(body, RESERVED))));
    }
    if (method === "PATCH") {
      if (!body) return invalid("body must be a JSON object");
      const next: Record<string, unknown> = { ...JSON.parse(row.body) };
      for (const [k, v] of Object.entries(userFields(body, RESERVED))) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      return json(200, render(db.update(row.id, next)));
    }
    return json(405, { error: { code: "method", message: `${method} not allowed` } });
  },
};

export function startCrudShape(options: ShapeOptions = {}): ShapeServer {
  return startShape(crudRouter, { ...intIds, hardDeletes: true }, { ...options, key: null });
}
