/**
 * Stowage's sync server mounted under /sync in a Node `http` server, through
 * @hono/node-server's getRequestListener (IncomingMessage/ServerResponse ⇄ Request/Response).
 * Express mounts the same listener: `app.use((req, res, next) => req.url.startsWith("/sync/")
 * ? stowage(req, res) : next())` (not `app.use("/sync", …)`, which would strip the prefix).
 *
 * Run: `node docs/examples/node-http.ts` (Node ≥ 22.18 strips the types). Environment:
 * STOWAGE_SERVER_DB (SQLite file, default server.db), PORT (default 3000). Prints
 * `{"url":"http://127.0.0.1:PORT"}` once listening. In your project import from
 * "stowage/server" and "stowage/node-sqlite"; test/server/embed-mount.test.ts runs this file.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener } from "@hono/node-server";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import { createServerHandler, openServerStore } from "../../src/server/index.ts";

const store = await openServerStore({ adapter: createNodeSqliteAdapter({ path: process.env.STOWAGE_SERVER_DB ?? "server.db" }) });
const stowage = getRequestListener(createServerHandler({ store, basePath: "/sync" }), { overrideGlobalObjects: false });

const server = createServer((req, res) => {
  if (req.url?.startsWith("/sync/")) return void stowage(req, res);
  // The application's own routes.
  res.setHeader("content-type", "application/json");
  if (req.url === "/" || req.url === "/api/hello") return void res.end(JSON.stringify(req.url === "/" ? { app: "my backend", sync: "/sync" } : { hello: "world" }));
  res.statusCode = 404;
  res.end(JSON.stringify({ error: { code: "not_found", message: "no such route" } }));
});
server.listen(Number(process.env.PORT ?? 3000), "127.0.0.1", () => {
  console.log(JSON.stringify({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }));
});
const stop = () => server.close(() => void store.close().then(() => process.exit(0)));
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
