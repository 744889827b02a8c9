/**
 * The HTTP listener: serves a web-standard handler on the current runtime. Runtime glue
 * lives here and nowhere else in src/.
 */
import { runtimeName } from "./runtime.ts";
import { serveDeno } from "./serve-deno.ts";
import { serveNode } from "./serve-node.ts";

export interface ServeOptions {
  /**
   * The handler to serve. When it carries `close()` (createServerHandler's does), stop() calls
   * it first, so open event streams end cleanly before the listener goes; requests for which
   * `isStream(req)` is true stay open as long as they like (no idle timeout).
   */
  fetch: ((req: Request) => Promise<Response>) & { close?: () => Promise<void>; isStream?: (req: Request) => boolean };
  /** Port to listen on; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  hostname?: string;
  /** Bun only: close connections idle this many seconds (default Bun's 10); streams are exempt. */
  idleTimeoutSeconds?: number;
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
  const runtime = runtimeName();
  if (runtime !== "bun") {
    // Node (through @hono/node-server) and Deno (Deno.serve): see serve-node.ts, serve-deno.ts.
    const fetch = async (req: Request) => {
      try {
        return await options.fetch(req);
      } catch {
        return internalError();
      }
    };
    const listen = runtime === "deno" ? serveDeno : serveNode;
    const listener = await listen(fetch, { port: options.port ?? 0, hostname });
    return {
      url: baseUrl(hostname, listener.port),
      port: listener.port,
      stop: async () => {
        await endStreams(options.fetch);
        await listener.close();
      },
    };
  }
  const bun = (globalThis as { Bun?: typeof Bun }).Bun!;
  const isStream = options.fetch.isStream;
  const server = bun.serve({
    port: options.port ?? 0,
    hostname,
    // The handler enforces its own (smaller) limit while reading; this only caps Bun's buffer.
    maxRequestBodySize: 64 * 1024 * 1024,
    ...(options.idleTimeoutSeconds === undefined ? {} : { idleTimeout: options.idleTimeoutSeconds }),
    fetch: (req, srv) => {
      // Bun closes a connection idle for 10 s, shorter than the 15 s heartbeat of an event stream.
      if (isStream?.(req)) srv.timeout(req, 0);
      return options.fetch(req);
    },
    error: internalError,
  });
  const port = server.port ?? 0;
  return {
    url: baseUrl(hostname, port),
    port,
    stop: async () => {
      await endStreams(options.fetch);
      // Graceful first: running requests finish and idle keep-alive connections close cleanly
      // (a FIN, which a pooling client notices, not a reset under its next request). What is
      // still running after STOP_GRACE_MS was given its drain time already and is cut off.
      const graceful = server.stop(false);
      const cut = await Promise.race([graceful.then(() => false), sleep(STOP_GRACE_MS).then(() => true)]);
      if (cut) await server.stop(true);
    },
  };
}

/** How long stop() waits for running requests before closing their connections. */
const STOP_GRACE_MS = 1_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Ends the handler's open streams and lets their last bytes reach the socket before it closes. */
async function endStreams(handler: ServeOptions["fetch"]): Promise<void> {
  if (!handler.close) return;
  await handler.close();
  await new Promise((resolve) => setTimeout(resolve, 20));
}

function internalError(): Response {
  return new Response('{"error":{"code":"internal","message":"the server failed to handle the request"}}', { status: 500, headers: { "content-type": "application/json" } });
}

/** The URL clients use: a wildcard bind is reached on loopback, IPv6 literals in brackets. */
function baseUrl(hostname: string, port: number): string {
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  return `http://${host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host}:${port}`;
}
