import type { AddressInfo } from "node:net";
import type { Server } from "node:http";

/** A web-standard handler: the server core is one of these. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A running listener, the same shape on every runtime. */
export interface RuntimeListener {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** `http://host:port`, ready for clients. */
  readonly url: string;
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
      // Keep the real global Request/Response: the core and its tests use them directly.
      { fetch: (request) => fetch(request), port: options.port, hostname: options.hostname, overrideGlobalObjects: false },
      () => resolve(s as Server),
    );
    s.once("error", reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${urlHost(options.hostname)}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}

/** Wraps an IPv6 literal in brackets for use in a URL. */
export function urlHost(hostname: string): string {
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}
