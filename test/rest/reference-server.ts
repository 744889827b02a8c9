import { Database } from "bun:sqlite";
import { readObjectBody } from "./request-body.ts";

/**
 * A REST API shaped exactly like the seed's (local-first-sqlite-sync-pattern.md), for tests:
 * server-assigned integer ids, millisecond `updated_at` (ISO-8601), soft delete,
 * `GET /api/items/sync?since=<ts>` → `{ items, server_time }` (tombstones included when
 * `since` is given; live items only without it). Switches: `idempotency` honours
 * `Idempotency-Key` (the stored answer is replayed), `skewMs` stamps this instance's writes
 * `skewMs` in the past (a writer whose server clock is behind: run two instances over one file).
 */
export interface ReferenceServer {
  url: string;
  key: string;
  /** Requests per method+route, and how many idempotent replays were served. */
  stats: { requests: number; creates: number; replays: number };
  /** Every row, deleted ones included, straight from the database. */
  rows(): { id: number; body: Record<string, unknown>; updated_at: number; deleted_at: number | null }[];
  stop(): Promise<void>;
}

export interface ReferenceServerOptions {
  /** SQLite file (share it between instances); default in-memory. */
  path?: string;
  key?: string;
  idempotency?: boolean;
  skewMs?: number;
  port?: number;
}

const RESERVED = new Set(["id", "created_at", "updated_at", "deleted_at"]);

export function startReferenceServer(options: ReferenceServerOptions = {}): ReferenceServer {
  const key = options.key ?? "ref-key";
  const db = new Database(options.path ?? ":memory:");
  db.exec("pragma journal_mode = wal; pragma busy_timeout = 5000");
  db.exec(`create table if not exists items (
    id integer primary key autoincrement, body text not null, created_at integer not null,
    updated_at integer not null, deleted_at integer)`);
  db.exec("create index if not exists items_updated on items (updated_at)");
  db.exec("create table if not exists idem (key text primary key, status integer not null, body text not null)");
  const now = () => Date.now() - (options.skewMs ?? 0);
  const stats = { requests: 0, creates: 0, replays: 0 };
  type Row = { id: number; body: string; created_at: number; updated_at: number; deleted_at: number | null };
  const render = (r: Row) => ({
    id: r.id,
    ...JSON.parse(r.body),
    created_at: new Date(r.created_at).toISOString(),
    updated_at: new Date(r.updated_at).toISOString(),
    deleted_at: r.deleted_at === null ? null : new Date(r.deleted_at).toISOString(),
  });
  const get = (id: number) => db.query<Row, [number]>("select * from items where id = ?").get(id);
  const clean = (v: Record<string, unknown>) => Object.fromEntries(Object.entries(v).filter(([k]) => !RESERVED.has(k)));
  const json = (status: number, body: unknown) => ({ status, body: JSON.stringify(body) });

  function handle(method: string, url: URL, body: Record<string, unknown> | null): { status: number; body: string } {
    if (url.pathname === "/api/items/sync" && method === "GET") {
      const serverTime = now();
      const since = url.searchParams.get("since");
      let rows: Row[];
      if (since !== null) {
        const t = Date.parse(since);
        if (!Number.isFinite(t)) return json(400, { error: { code: "invalid", message: `bad since ${since}` } });
        rows = db.query<Row, [number]>("select * from items where updated_at > ? order by updated_at, id").all(t);
      } else rows = db.query<Row, []>("select * from items where deleted_at is null order by updated_at, id").all();
      return json(200, { items: rows.map(render), server_time: new Date(serverTime).toISOString() });
    }
    if (url.pathname === "/api/items" && method === "POST") {
      if (!body) return json(400, { error: { code: "invalid", message: "body must be a JSON object" } });
      const t = now();
      const r = db.query<Row, [string, number, number]>("insert into items (body, created_at, updated_at) values (?, ?, ?) returning *").get(JSON.stringify(clean(body)), t, t)!;
      stats.creates++;
      return json(201, render(r));
    }
    const m = /^\/api\/items\/(\d+)$/.exec(url.pathname);
    if (!m) return json(404, { error: { code: "not_found", message: "no such route" } });
    const id = Number(m[1]);
    const row = get(id);
    if (!row || row.deleted_at !== null) return json(404, { error: { code: "not_found", message: `item ${id} not found` } });
    if (method === "GET") return json(200, render(row));
    if (method === "DELETE") {
      const t = now();
      db.query("update items set deleted_at = ?, updated_at = ? where id = ?").run(t, t, id);
      return json(200, render(get(id)!));
    }
    if (method === "PUT" || method === "PATCH") {
      if (!body) return json(400, { error: { code: "invalid", message: "body must be a JSON object" } });
      const next = method === "PUT" ? clean(body) : clean({ ...JSON.parse(row.body), ...body });
      db.query("update items set body = ?, updated_at = ? where id = ?").run(JSON.stringify(next), now(), id);
      return json(200, render(get(id)!));
    }
    return json(405, { error: { code: "method", message: method } });
  }

  const server = Bun.serve({
    port: options.port ?? 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      stats.requests++;
      if (req.headers.get("authorization") !== `Bearer ${key}`) return Response.json({ error: { code: "unauthorized", message: "bad key" } }, { status: 401 });
      const url = new URL(req.url);
      const read = await readObjectBody(req);
      if ("refused" in read) return read.refused;
      const body = read.body;
      const idemKey = options.idempotency && req.method !== "GET" ? req.headers.get("idempotency-key") : null;
      let out: { status: number; body: string };
      if (idemKey) {
        // Answer and key stored in the write's own transaction: a replay returns the same item.
        out = db.transaction(() => {
          const seen = db.query<{ status: number; body: string }, [string]>("select status, body from idem where key = ?").get(idemKey);
          if (seen) {
            stats.replays++;
            return seen;
          }
          const r = handle(req.method, url, body);
          db.query("insert into idem (key, status, body) values (?, ?, ?)").run(idemKey, r.status, r.body);
          return r;
        }).immediate();
      } else out = db.transaction(() => handle(req.method, url, body)).immediate();
      return new Response(out.body, { status: out.status, headers: { "content-type": "application/json" } });
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    key,
    stats,
    rows: () =>
      db.query<Row, []>("select * from items order by id").all().map((r) => ({ id: r.id, body: JSON.parse(r.body), updated_at: r.updated_at, deleted_at: r.deleted_at })),
    async stop() {
      server.stop(true);
      db.close();
    },
  };
}
