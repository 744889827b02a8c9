import type { FetchHandler, RuntimeListener } from "./serve-node.ts";

/** The slice of Deno's API the listener uses (the project is type-checked without Deno's lib). */
interface DenoServe {
  /** Starts listening; `addr.port` is the bound port, `shutdown()` stops and drains. */
  serve(
    options: { port: number; hostname: string; onListen?: (addr: { port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { addr: { port: number }; shutdown(): Promise<void> };
}

/** Serves `fetch` with `Deno.serve`, which speaks Request/Response natively. */
export async function serveDeno(fetch: FetchHandler, options: { port: number; hostname: string }): Promise<RuntimeListener> {
  const deno = (globalThis as unknown as { Deno: DenoServe }).Deno;
  // onListen replaces Deno's default "Listening on …" line, which would pollute CLI output.
  const server = deno.serve({ port: options.port, hostname: options.hostname, onListen: () => {} }, (request) => fetch(request));
  return { port: server.addr.port, close: () => server.shutdown() };
}
