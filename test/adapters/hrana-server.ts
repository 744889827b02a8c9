import { Database } from "bun:sqlite";

/**
 * A small Hrana-over-HTTP v2 server (the protocol sqld and Turso speak to `http://` and
 * `libsql://` clients), backed by bun:sqlite. It lets the libsql adapter's remote path —
 * streams, batons, the client's conditional BEGIN batches, stored SQL — run the conformance
 * suite here, where no sqld binary exists. It is a test double for a third-party server,
 * not for any part of Stowage; it implements only the requests @libsql/client 0.18 sends.
 */
export interface HranaServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Pipeline requests answered so far. */
  readonly requests: number;
  /** Streams currently open (a leaked transaction shows up here). */
  readonly openStreams: number;
  stop(): Promise<void>;
}

type Value = { type: "null" } | { type: "integer"; value: string } | { type: "float"; value: number } | { type: "text"; value: string } | { type: "blob"; base64: string };
type Stmt = { sql?: string; sql_id?: number; args?: Value[]; named_args?: { name: string; value: Value }[]; want_rows?: boolean };
type Cond = { type: "ok" | "error"; step: number } | { type: "not"; cond: Cond } | { type: "and" | "or"; conds: Cond[] } | { type: "is_autocommit" };
type Request =
  | { type: "execute"; stmt: Stmt }
  | { type: "batch"; batch: { steps: { condition?: Cond; stmt: Stmt }[] } }
  | { type: "sequence"; sql?: string; sql_id?: number }
  | { type: "store_sql"; sql_id: number; sql: string }
  | { type: "close_sql"; sql_id: number }
  | { type: "get_autocommit" }
  | { type: "close" };

interface Stream {
  db: Database;
  sqls: Map<number, string>;
}

export function startHranaServer(options: { path: string; authToken?: string }): HranaServer {
  const idle: Database[] = [];
  const all: Database[] = [];
  const streams = new Map<string, Stream>();
  let requests = 0;
  let nextBaton = 1;

  const connect = (): Database => {
    const pooled = idle.pop();
    if (pooled) return pooled;
    const db = new Database(options.path, { create: true, safeIntegers: true });
    // No busy wait: the double shares a thread with its client, so waiting would deadlock.
    db.exec("pragma journal_mode = wal; pragma synchronous = normal; pragma busy_timeout = 0; pragma foreign_keys = on;");
    all.push(db);
    return db;
  };
  const release = (stream: Stream) => {
    if (stream.db.inTransaction) stream.db.exec("rollback");
    idle.push(stream.db);
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (options.authToken !== undefined && req.headers.get("authorization") !== `Bearer ${options.authToken}`) {
        return new Response("Unauthorized", { status: 401 });
      }
      if (req.method !== "POST" || url.pathname !== "/v2/pipeline") return new Response("Not found", { status: 404 });
      requests++;
      const body = (await req.json()) as { baton?: string | null; requests: Request[] };
      let stream: Stream | undefined;
      if (body.baton) {
        stream = streams.get(body.baton);
        streams.delete(body.baton);
        if (!stream) return Response.json({ message: "invalid baton", code: "STREAM_EXPIRED" }, { status: 400 });
      } else {
        stream = { db: connect(), sqls: new Map() };
      }
      const results = [];
      let open = true;
      for (const r of body.requests) {
        if (!open) {
          results.push({ type: "error", error: { message: "stream is closed", code: "STREAM_CLOSED" } });
          continue;
        }
        if (r.type === "close") {
          release(stream);
          open = false;
          results.push({ type: "ok", response: { type: "close" } });
          continue;
        }
        try {
          results.push({ type: "ok", response: handle(stream, r) });
        } catch (e) {
          results.push({ type: "error", error: errorOf(e) });
        }
      }
      let baton: string | null = null;
      if (open) {
        baton = `b${nextBaton++}`;
        streams.set(baton, stream);
      }
      return Response.json({ baton, base_url: null, results });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}`,
    get requests() {
      return requests;
    },
    get openStreams() {
      return streams.size;
    },
    async stop() {
      await server.stop(true);
      for (const db of all) db.close(false);
    },
  };
}

function handle(stream: Stream, r: Request): unknown {
  switch (r.type) {
    case "execute":
      return { type: "execute", result: execute(stream, r.stmt) };
    case "batch": {
      const ok: (boolean | undefined)[] = [];
      const stepResults: unknown[] = [];
      const stepErrors: unknown[] = [];
      const holds = (c: Cond): boolean => {
        switch (c.type) {
          case "ok":
            return ok[c.step] === true;
          case "error":
            return ok[c.step] === false;
          case "not":
            return !holds(c.cond);
          case "and":
            return c.conds.every(holds);
          case "or":
            return c.conds.some(holds);
          case "is_autocommit":
            return !stream.db.inTransaction;
        }
      };
      for (const step of r.batch.steps) {
        if (step.condition && !holds(step.condition)) {
          ok.push(undefined);
          stepResults.push(null);
          stepErrors.push(null);
          continue;
        }
        try {
          stepResults.push(execute(stream, step.stmt));
          stepErrors.push(null);
          ok.push(true);
        } catch (e) {
          stepResults.push(null);
          stepErrors.push(errorOf(e));
          ok.push(false);
        }
      }
      return { type: "batch", result: { step_results: stepResults, step_errors: stepErrors } };
    }
    case "sequence":
      stream.db.exec(sqlOf(stream, r));
      return { type: "sequence" };
    case "store_sql":
      stream.sqls.set(r.sql_id, r.sql);
      return { type: "store_sql" };
    case "close_sql":
      stream.sqls.delete(r.sql_id);
      return { type: "close_sql" };
    case "get_autocommit":
      return { type: "get_autocommit", is_autocommit: !stream.db.inTransaction };
    default:
      throw new Error(`unsupported request ${JSON.stringify((r as { type: string }).type)}`);
  }
}

function sqlOf(stream: Stream, s: { sql?: string; sql_id?: number }): string {
  const sql = s.sql ?? (s.sql_id === undefined ? undefined : stream.sqls.get(s.sql_id));
  if (sql === undefined) throw new Error(`unknown sql_id ${s.sql_id}`);
  return sql;
}

function execute(stream: Stream, s: Stmt) {
  const stmt = stream.db.prepare(sqlOf(stream, s));
  const args: Record<string, unknown> | unknown[] = s.named_args?.length
    ? Object.fromEntries(s.named_args.map((a) => [a.name, fromValue(a.value)]))
    : (s.args ?? []).map(fromValue);
  const params = (Array.isArray(args) ? args : [args]) as any[];
  const cols = stmt.columnNames.map((name) => ({ name }));
  if (cols.length === 0) {
    const info = stmt.run(...params);
    return { cols, rows: [], affected_row_count: Number(info.changes), last_insert_rowid: String(info.lastInsertRowid) };
  }
  const rows = (stmt.values(...params) as unknown[][]).map((row) => row.map(toValue));
  const writes = /\breturning\b/i.test(stmt.toString());
  const changes = writes ? Number((stream.db.prepare("select changes() as n").get() as { n: bigint }).n) : 0;
  return { cols, rows: s.want_rows === false ? [] : rows, affected_row_count: changes, last_insert_rowid: null };
}

function fromValue(v: Value): unknown {
  switch (v.type) {
    case "null":
      return null;
    case "integer":
      return BigInt(v.value);
    case "float":
      return v.value;
    case "text":
      return v.value;
    case "blob":
      return Buffer.from(v.base64, "base64");
  }
}

function toValue(v: unknown): Value {
  if (v === null || v === undefined) return { type: "null" };
  if (typeof v === "bigint") return { type: "integer", value: String(v) };
  if (typeof v === "number") return { type: "float", value: v };
  if (typeof v === "string") return { type: "text", value: v };
  return { type: "blob", base64: Buffer.from(v as Uint8Array).toString("base64") };
}

function errorOf(e: unknown): { message: string; code: string } {
  const err = e as { message?: string; code?: string };
  return { message: err.message ?? String(e), code: err.code ?? "SQLITE_ERROR" };
}
