import { createServer, connect, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface BlackholeProxy {
  /** The proxy's base URL; point clients here instead of at the server. */
  url: string;
  /**
   * When true, event-stream connections (`GET /v1/events`) go dark: open ones stop receiving
   * bytes, new ones are accepted and never answered. Other requests keep flowing, so the
   * client's interval pulls still work: the failure a buffering middlebox produces.
   */
  hold: boolean;
  /** Event-stream connections accepted so far, and how many of them went dark. */
  stats: { streams: number; held: number };
  stop(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1:0 in front of `target` (an http://host:port URL). */
export async function startBlackholeProxy(target: string): Promise<BlackholeProxy> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    sockets.add(client);
    const upstream = connect(Number(port), hostname);
    sockets.add(upstream);
    let stream = false;
    let dark = false;
    const goDark = () => {
      if (!dark) proxy.stats.held++;
      dark = true;
    };
    client.on("data", (chunk: Buffer) => {
      if (!stream && chunk.toString("latin1").includes("GET /v1/events")) {
        stream = true;
        proxy.stats.streams++;
        if (proxy.hold) goDark();
      }
      if (!dark) upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      if (stream && proxy.hold) goDark(); // once dark, a stream stays dark: its bytes are gone
      if (!dark) client.write(chunk);
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("close", close);
    upstream.on("close", () => (dark ? undefined : close())); // a held stream stays open even if the server gives up
    client.on("error", close);
    upstream.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy: BlackholeProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hold: false,
    stats: { streams: 0, held: 0 },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
