/**
 * The HTTP listener: serves a web-standard handler on the current runtime. Runtime glue
 * lives here and nowhere else in src/.
 */
export interface ServeOptions {
  /** The handler to serve. */
  fetch: (req: Request) => Promise<Response>;
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  hostname?: string;
}

export interface RunningServer {
  /** Base URL, e.g. `http://127.0.0.1:43117`. */
  url: string;
  /** The bound port. */
  port: number;
  /** Stops listening and closes open connections. */
  stop(): Promise<void>;
}

export async function serve(options: ServeOptions): Promise<RunningServer> {
  const hostname = options.hostname ?? "127.0.0.1";
  const bun = (globalThis as { Bun?: typeof Bun }).Bun;
  if (!bun) throw new Error("serve() currently needs Bun; Node and Deno listeners are not written yet");
  const server = bun.serve({
    port: options.port ?? 0,
    hostname,
    // The handler enforces its own (smaller) limit while reading; this only caps Bun's buffer.
    maxRequestBodySize: 64 * 1024 * 1024,
    fetch: options.fetch,
    error: () => new Response('{"error":{"code":"internal","message":"the server failed to handle the request"}}', { status: 500, headers: { "content-type": "application/json" } }),
  });
  const port = server.port ?? 0;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`,
    port,
    stop: async () => {
      await server.stop(true);
    },
  };
}
