/**
 * The bare copy's server (bench/bare/copy.ts), a process of its own as Stowage's server is:
 * `bun bench/bare/server.ts sqlite <file>` or `… postgres <url> <schema>`. One route,
 * `GET /page?after=<seq>&limit=<n>`: the next rows of `stowage_docs` in seq order as
 * `{"rows":[[collection,id,body],…],"last":<seq>}`, each body as a JSON string holding its text
 * (the client stores text: a string is parsed faster than an object, and is not written again).
 * Nothing else: no key, no cursor format, no tombstones; the one tenant (`test`) is read once.
 */
import { Database } from "bun:sqlite";

const [kind, where, schema] = process.argv.slice(2);
type Row = { collection: string; id: string; seq: number | string; body: string };
let read: (after: number, limit: number) => Promise<Row[]>;
if (kind === "sqlite") {
  const db = new Database(where, { readonly: true });
  const { id: tenant } = db.query("select id from stowage_tenants where name = 'test'").get() as { id: string };
  // Through the (tenant_id, seq) index, as the server's pull reads.
  const page = db.prepare("select collection, id, seq, body from stowage_docs where tenant_id = ? and seq > ? order by seq limit ?");
  read = async (after, limit) => page.all(tenant, after, limit) as Row[];
} else if (kind === "postgres") {
  const pg = (await import("pg")).default;
  const client = new pg.Client({ connectionString: where, options: `-c search_path=${schema}` });
  await client.connect();
  const tenant = (await client.query("select id from stowage_tenants where name = 'test'")).rows[0].id as string;
  // body::text: the JSON text as stored, not parsed into objects and written again.
  read = async (after, limit) => (await client.query({ name: "page", text: "select collection, id, seq, body::text as body from stowage_docs where tenant_id = $1 and seq > $2 order by seq limit $3", values: [tenant, after, limit] })).rows as Row[];
} else {
  console.error("usage: bench/bare/server.ts sqlite <file> | postgres <url> <schema>");
  process.exit(2);
}

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    const url = new URL(req.url);
    const rows = await read(Number(url.searchParams.get("after") ?? 0), Number(url.searchParams.get("limit") ?? 1000));
    const parts = rows.map((r) => `[${JSON.stringify(r.collection)},${JSON.stringify(r.id)},${JSON.stringify(r.body)}]`);
    const last = rows.length ? Number(rows[rows.length - 1].seq) : -1;
    return new Response(`{"rows":[${parts.join(",")}],"last":${last}}`, { headers: { "content-type": "application/json" } });
  },
});
process.stdout.write(`${JSON.stringify({ url: server.url.href.replace(/\/$/, "") })}\n`);
process.on("SIGTERM", () => {
  server.stop(true);
  process.exit(0);
});
