import type { IncomingMessage, ServerResponse } from "node:http";

/** An open live stream through a chaos proxy, which the runner can cut or stall. */
export interface ProxiedStream {
  /** Cut the connection now (a proxy restart, a NAT timeout). */
  cut(): void;
  /** Stop (true) or resume (false) forwarding while the connection stays open (a blackhole). */
  stall(on: boolean): void;
}

/**
 * Forwards a `GET /v1/events` Server-Sent Events stream chunk by chunk (the request/answer
 * faults of proxy.ts buffer whole answers, which a stream never finishes). A stalled stream
 * holds its bytes back until resumed, so the client sees silence, not a close: only its
 * heartbeat timeout or the runner's cut ends it. An upstream failure (server killed) cuts it.
 */
export async function forwardStream(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  headers: Record<string, string>,
  streams: Set<ProxiedStream>,
): Promise<void> {
  const abort = new AbortController();
  const held: Uint8Array[] = [];
  let stalled = false;
  let closed = false;
  const stream: ProxiedStream = {
    cut() {
      if (closed) return;
      closed = true;
      abort.abort();
      req.socket.destroy();
    },
    stall(on) {
      stalled = on;
      if (!on) for (const chunk of held.splice(0)) res.write(chunk);
    },
  };
  streams.add(stream);
  res.on("close", () => {
    closed = true;
    streams.delete(stream);
    abort.abort();
  });
  try {
    const upstream = await fetch(target + (req.url ?? "/"), { headers, signal: abort.signal });
    const out: Record<string, string> = {};
    upstream.headers.forEach((v, k) => {
      if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding" && k !== "connection") out[k] = v;
    });
    res.writeHead(upstream.status, out);
    res.flushHeaders();
    if (!upstream.body) return void res.end();
    const reader = upstream.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done || closed) break;
      if (stalled) held.push(value);
      else res.write(value);
    }
  } catch {
    // the server went away, or the runner cut the stream
  }
  stream.cut();
}
