import { Database } from "bun:sqlite";
import { readObjectBody } from "../request-body.ts";

/**
 * What the four reference API shapes share: one SQLite table of items (a user document as
 * JSON, server times in ms, a soft-delete time), Idempotency-Key replay when switched on, and
 * an HTTP listener that a test can stop and start again on the same port over the same file
 * (the seed's "kill the API" step). Each shape (seed.ts, envelope.ts, crud.ts, pocketbase.ts)
 * is a small router over this: its own routes, ids, item rendering and auth.
 */
export interface Row {
  id: number;
  uid: string;
  body: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
}

export interface Answer {
  status: number;
  body?: unknown;
}

export interface ShapeRouter {
  /** The shape's name (docs/examples/rest/<name>.json is its config file). */
  name: string;
  /** Whether the request's credentials are good (null key: the API has no auth). */
  authorized(req: Request, key: string | null): boolean;
  route(db: ShapeDb, method: string, url: URL, body: Record<string, unknown> | null): Answer;
}

/** Item storage for a router: every write in the request's own transaction. */
export class ShapeDb {
  readonly db: Database;
  #last = 0;
  constructor(path: string) {
    this.db = new Database(path);
    this.db.exec("pragma journal_mode = wal; pragma busy_timeout = 5000");
    this.db.exec(`create table if not exists items (id integer primary key autoincrement, uid text not null unique, body text not null,
      created_at integer not null, updated_at integer not null, deleted_at integer)`);
    this.db.exec("create table if not exists idem (key text primary key, status integer not null, body text)");
  }
  /** Server time in ms, strictly increasing (so "updated after" never ties within one instance). */
  now(): number {
    this.#last = Math.max(Date.now(), this.#last + 1);
    return this.#last;
  }
  insert(body: Record<string, unknown>, uid?: string): Row {
    const t = this.now();
    const u = uid ?? Math.random().toString(36).slice(2, 10) + Math.random().toString(36).slice(2, 9);
    return this.db.query<Row, [string, string, number, number]>("insert into items (uid, body, created_at, updated_at) values (?, ?, ?, ?) returning *").get(u, JSON.stringify(body), t, t)!;
  }
  byId(id: number): Row | null {
    return this.db.query<Row, [number]>("select * from items where id = ?").get(id);
  }
  byUid(uid: string): Row | null {
    return this.db.query<Row, [string]>("select * from items where uid = ?").get(uid);
  }
  update(id: number, body: Record<string, unknown>): Row {
    this.db.query("update items set body = ?, updated_at = ? where id = ?").run(JSON.stringify(body), this.now(), id);
    return this.byId(id)!;
  }
  softDelete(id: number): Row {
    const t = this.now();
    this.db.query("update items set deleted_at = ?, updated_at = ? where id = ?").run(t, t, id);
    return this.byId(id)!;
  }
  hardDelete(id: number): void {
    this.db.query("delete from items where id = ?").run(id);
  }
  /** Rows changed after `since` ms (tombstones included), or every live row; by updated_at then id. */
  changed(since: number | null): Row[] {
    return since === null
      ? this.db.query<Row, []>("select * from items where deleted_at is null order by updated_at, id").all()
      : this.db.query<Row, [number]>("select * from items where updated_at > ? order by updated_at, id").all(since);
  }
  all(): Row[] {
    return this.db.query<Row, []>("select * from items order by id").all();
  }
}

export interface ShapeServer {
  url: string;
  /** The key to send; null when the API has no auth. */
  key: string | null;
  shape: string;
  stats: { requests: number; creates: number; replays: number };
  /** Live items as the API holds them: server id (as the API spells it) and the user's document. */
  live(): { serverId: string; doc: Record<string, unknown> }[];
  /** Every row, deleted ones included (a hard delete leaves none). */
  rows(): Row[];
  /** A write straight on the API (as another program would), bypassing HTTP. */
  direct: {
    /** `uid`: the text id to give it (text-id shapes), for tests that need an order of ids. */
    create(doc: Record<string, unknown>, uid?: string): string;
    update(serverId: string, doc: Record<string, unknown>): void;
    remove(serverId: string): void;
  };
  /** Stops listening (the file stays); `start()` listens again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface ShapeOptions {
  path?: string;
  key?: string | null;
  /** Replay stored answers for a repeated Idempotency-Key (default false: the API ignores it). */
  idempotency?: boolean;
}

/** Ids as the shape spells them: integer ids, or PocketBase's 15-character text ids. */
export interface IdStyle {
  serverId(row: Row): string;
  find(db: ShapeDb, serverId: string): Row | null;
  hardDeletes: boolean;
}

export function startShape(router: ShapeRouter, ids: IdStyle, options: ShapeOptions = {}): ShapeServer {
  const sdb = new ShapeDb(options.path ?? ":memory:");
  const key = options.key === undefined ? "shape-key" : options.key;
  const stats = { requests: 0, creates: 0, replays: 0 };
  let port = 0;
  let server: ReturnType<typeof Bun.serve> | null = null;
  const listen = () => {
    server = Bun.serve({
      port,
      hostname: "127.0.0.1",
      async fetch(req) {
        stats.requests++;
        if (!router.authorized(req, key)) return Response.json({ error: { code: "unauthorized", message: "bad or missing credentials" } }, { status: 401 });
        const url = new URL(req.url);
        const read = await readObjectBody(req);
        if ("refused" in read) return read.refused;
        const body = read.body;
        const idemKey = options.idempotency && req.method !== "GET" ? req.headers.get("idempotency-key") : null;
        const out = sdb.db.transaction((): Answer => {
          if (idemKey) {
            const seen = sdb.db.query<{ status: number; body: string | null }, [string]>("select status, body from idem where key = ?").get(idemKey);
            if (seen) {
              stats.replays++;
              return { status: seen.status, body: seen.body === null ? undefined : JSON.parse(seen.body) };
            }
          }
          const count = () => sdb.db.query<{ n: number }, []>("select count(*) as n from items").get()!.n;
          const before = count();
          const a = router.route(sdb, req.method, url, body);
          if (count() > before) stats.creates++;
          if (idemKey) sdb.db.query("insert into idem (key, status, body) values (?, ?, ?)").run(idemKey, a.status, a.body === undefined ? null : JSON.stringify(a.body));
          return a;
        }).immediate();
        return out.body === undefined ? new Response(null, { status: out.status }) : Response.json(out.body, { status: out.status });
      },
    });
    port = server.port!;
  };
  listen();
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    key,
    shape: router.name,
    stats,
    live: () => sdb.all().filter((r) => r.deleted_at === null).map((r) => ({ serverId: ids.serverId(r), doc: JSON.parse(r.body) })),
    rows: () => sdb.all(),
    direct: {
      create: (doc, uid) => ids.serverId(sdb.insert(doc, uid)),
      update: (serverId, doc) => void sdb.update(ids.find(sdb, serverId)!.id, doc),
      remove: (serverId) => (ids.hardDeletes ? sdb.hardDelete(ids.find(sdb, serverId)!.id) : void sdb.softDelete(ids.find(sdb, serverId)!.id)),
    },
    async stop() {
      server?.stop(true);
      server = null;
    },
    async start() {
      if (!server) listen();
    },
    async close() {
      server?.stop(true);
      sdb.db.close();
    },
  };
}

export const json = (status: number, body: unknown): Answer => ({ status, body });
export const notFound = (what: string): Answer => json(404, { error: { code: "not_found", message: `${what} not found` } });
export const invalid = (message: string): Answer => json(400, { error: { code: "invalid", message } });

/** The user's fields of a request body (server-managed names dropped). */
export function userFields(body: Record<string, unknown>, reserved: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(body).filter(([k]) => !reserved.includes(k)));
}

export const intIds: IdStyle = {
  serverId: (r) => String(r.id),
  find: (db, s) => (/^\d+$/.test(s) ? db.byId(Number(s)) : null),
  hardDeletes: false,
};
