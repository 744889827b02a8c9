/**
 * The naive seed pattern, as a baseline for `bun run bench table`: a tiny REST server over
 * bun:sqlite with server-assigned ids and a `since=` timestamp feed. Run as its own process:
 * `bun bench/naive/server.ts <dbPath>` prints `{"url"}` when ready. Deliberately naive: one
 * POST per write, `updated_at > since` with millisecond timestamps (so changes committed in
 * the millisecond a reader already read are missed, which the bench counts).
 */
import { Database } from "bun:sqlite";

const [path] = process.argv.slice(2);
const db = new Database(path, { create: true });
db.exec("pragma journal_mode = wal; pragma synchronous = normal;");
db.exec("create table if not exists docs (seq integer primary key autoincrement, key text unique not null, body text not null, updated_at integer not null)");
const upsert = db.prepare("insert into docs (key, body, updated_at) values (?, ?, ?) on conflict (key) do update set body = excluded.body, updated_at = excluded.updated_at returning seq");
const since = db.prepare("select key, body, updated_at from docs where updated_at > ? order by updated_at");

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const url = new URL(req.url);
    if (req.method === "POST" && url.pathname === "/docs") {
      const { key, body } = (await req.json()) as { key: string; body: unknown };
      const row = upsert.get(key, JSON.stringify(body), Date.now()) as { seq: number };
      return Response.json({ id: row.seq });
    }
    if (req.method === "GET" && url.pathname === "/changes") {
      return Response.json(since.all(Number(url.searchParams.get("since") ?? 0)));
    }
    return new Response("not found", { status: 404 });
  },
});
process.stdout.write(`${JSON.stringify({ url: `http://127.0.0.1:${server.port}` })}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  db.close();
  process.exit(0);
});
