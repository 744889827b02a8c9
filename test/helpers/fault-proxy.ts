import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface FaultProxy {
  /** The proxy's base URL; point clients here instead of at the server. */
  url: string;
  /** Share of responses lost after the server answered (0–1); the server has committed them. */
  dropRate: number;
  /** Milliseconds to hold each request before forwarding it. */
  delayMs: number;
  /** When true, connections are cut before anything reaches the server (a dead network). */
  refuse: boolean;
  /** Counters: forwarded requests, responses dropped after the server answered, refusals. */
  stats: { forwarded: number; dropped: number; refused: number };
  stop(): Promise<void>;
}

/**
 * An HTTP proxy on 127.0.0.1:0 in front of a real server. A dropped response was forwarded,
 * answered and committed by the server; then the client's socket is destroyed before a byte
 * of the answer is written: the "lost answer" that makes naive clients duplicate writes.
 * `random` makes the drop pattern reproducible.
 */
export async function startFaultProxy(target: string, options: { dropRate?: number; random?: () => number } = {}): Promise<FaultProxy> {
  const random = options.random ?? Math.random;
  const server = createServer(async (req, res) => {
    try {
      if (proxy.delayMs > 0) await new Promise((r) => setTimeout(r, proxy.delayMs));
      if (proxy.refuse) {
        proxy.stats.refused++;
        req.socket.destroy();
        return;
      }
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length") headers[k] = v;
      const upstream = await fetch(target + (req.url ?? "/"), { method: req.method, headers, body: body as BodyInit | undefined });
      const bytes = Buffer.from(await upstream.arrayBuffer()); // answered: the server's work is committed
      proxy.stats.forwarded++;
      if (random() < proxy.dropRate) {
        proxy.stats.dropped++;
        req.socket.destroy();
        return;
      }
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding" && k !== "connection") out[k] = v;
      });
      out["content-length"] = String(bytes.length);
      res.writeHead(upstream.status, out);
      res.end(bytes);
    } catch {
      req.socket.destroy(); // the server itself is unreachable: so is the proxy's answer
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy: FaultProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    dropRate: options.dropRate ?? 0,
    delayMs: 0,
    refuse: false,
    stats: { forwarded: 0, dropped: 0, refused: 0 },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
