/**
 * Stowage's sync server mounted under /sync in a Deno.serve app.
 *
 * Run: `deno run -A docs/examples/deno-serve.ts`. Environment: STOWAGE_SERVER_DB (SQLite file,
 * default server.db), PORT (default 3000). Prints `{"url":"http://127.0.0.1:PORT"}` once
 * listening. In your project import from "npm:stowage/server" and "npm:stowage/node-sqlite";
 * test/server/embed-mount.test.ts runs this file.
 */
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import { createServerHandler, openServerStore } from "../../src/server/index.ts";

const store = await openServerStore({ adapter: createNodeSqliteAdapter({ path: Deno.env.get("STOWAGE_SERVER_DB") ?? "server.db" }) });
const stowage = createServerHandler({ store, basePath: "/sync" });

Deno.serve(
  { port: Number(Deno.env.get("PORT") ?? 3000), hostname: "127.0.0.1", onListen: ({ port }) => console.log(JSON.stringify({ url: `http://127.0.0.1:${port}` })) },
  (request) => {
    const { pathname } = new URL(request.url);
    if (pathname.startsWith("/sync/")) return stowage(request);
    // The application's own routes.
    if (pathname === "/") return Response.json({ app: "my backend", sync: "/sync" });
    if (pathname === "/api/hello") return Response.json({ hello: "world" });
    return Response.json({ error: { code: "not_found", message: "no such route" } }, { status: 404 });
  },
);
