/**
 * Stowage's sync server mounted under /sync in a plain Bun.serve app. In your project import
 * from "stowage/server"; test/server/embed-mount.test.ts runs this file as is.
 *
 *   const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: "server.db" }) });
 *   serveApp(createServerHandler({ store, basePath: "/sync" }), 3000);
 */
export function serveApp(stowage: (request: Request) => Promise<Response>, port = 0): ReturnType<typeof Bun.serve> {
  return Bun.serve({
    port,
    hostname: "127.0.0.1",
    routes: {
      // The application's own routes.
      "/": () => Response.json({ app: "my backend", sync: "/sync" }),
      "/api/hello": () => Response.json({ hello: "world" }),
      // Stowage answers everything under /sync (it strips the basePath itself).
      "/sync/*": (request) => stowage(request),
    },
    fetch: () => Response.json({ error: { code: "not_found", message: "no such route" } }, { status: 404 }),
  });
}
