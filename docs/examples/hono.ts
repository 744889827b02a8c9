/**
 * Stowage's sync server mounted under /sync in a Hono app, beside the app's own routes.
 * In your project import from "stowage/server"; this file imports the sources so the test
 * suite (test/server/embed-mount.test.ts) runs it as is.
 *
 *   const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: "server.db" }) });
 *   export default createApp(createServerHandler({ store, basePath: "/sync", jwt: { secret: process.env.JWT_SECRET! } }));
 */
import { Hono } from "hono";

/** `stowage` is `createServerHandler({ store, basePath: "/sync", … })`. */
export function createApp(stowage: (request: Request) => Promise<Response>): Hono {
  const app = new Hono();
  // The application's own routes.
  app.get("/", (c) => c.json({ app: "my backend", sync: "/sync" }));
  app.get("/api/hello", (c) => c.json({ hello: "world" }));
  // Everything under /sync goes to Stowage untouched: the handler sees the full path and
  // strips its basePath itself, so /sync/v1/push, /sync/v1/pull, /sync/v1/docs/… all work.
  app.all("/sync/*", (c) => stowage(c.req.raw));
  return app;
}
