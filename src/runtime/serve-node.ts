import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/** A web-standard handler: the server core is one of these. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A running listener, the same shape on every runtime (serve.ts builds the URL). */
export interface RuntimeListener {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops accepting, drops idle keep-alive sockets, and resolves once closed. */
  close(): Promise<void>;
}

/**
 * Serves `fetch` on Node through @hono/node-server, a small, well-kept bridge from
 * IncomingMessage/ServerResponse to Request/Response (streaming bodies, aborts, backpressure)
 * that we would rather not hand-write. Imported lazily so Bun and Deno never load it.
 */
export async function serveNode(fetch: FetchHandler, options: { port: number; hostname: string }): Promise<RuntimeListener> {
  const { serve } = await import("@hono/node-server");
  const server = await new Promise<Server>((resolve, reject) => {
    const s = serve(
      // Keep the real global Request/Response: the core and its callers use them directly.
      { fetch: (request) => fetch(request), port: options.port, hostname: options.hostname, overrideGlobalObjects: false },
      () => resolve(s as Server),
    );
    s.once("error", reject);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // close() waits for keep-alive sockets to time out; idle ones can go now.
        server.closeIdleConnections();
        // Requests still running had their drain time (serve-ops.ts) already: cut them after a grace.
        setTimeout(() => server.closeAllConnections(), 1_000).unref();
      }),
  };
}
