import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Rng } from "./prng.ts";
import { forwardStream, type ProxiedStream } from "./proxy-stream.ts";

/** The faults one proxy applies now; the runner changes them as the schedule says. */
export interface ProxyFaults {
  /** Share of answers lost after the server answered (so after it committed). */
  dropRate: number;
  /** Extra latency per request, drawn in [min, max] ms. */
  delayMs: [number, number];
  /** A partition: `refuse` cuts connections at once, `blackhole` holds them then cuts them. */
  partition: "refuse" | "blackhole" | null;
  /** Share of requests forwarded twice (the network duplicated them). */
  dupRate: number;
}

export const HEALTHY: ProxyFaults = { dropRate: 0, delayMs: [0, 0], partition: null, dupRate: 0 };

export interface ChaosProxy {
  url: string;
  faults: ProxyFaults;
  /** Where requests go; one is picked per request (two server instances share the load). */
  targets: string[];
  stats: { forwarded: number; dropped: number; refused: number; held: number; duplicated: number; streams: number; cuts: number };
  /** Cuts every open live stream (the client must reconnect and miss nothing). */
  cutStreams(): void;
  /** Sets the faults; a partition also cuts (refuse) or stalls (blackhole) the open streams. */
  setFaults(faults: ProxyFaults): void;
  stop(): Promise<void>;
}

/** How long a blackholed request hangs before its connection is cut. */
const HOLD_MS = 400;

/**
 * A fault-injecting HTTP proxy between one client and the servers. Randomness comes from the
 * run's seeded generator, so the sequence of decisions replays (their interleaving with real
 * time does not, which is why the checker, not the schedule, decides pass or fail).
 */
export async function startChaosProxy(targets: string[], rng: Rng): Promise<ChaosProxy> {
  const pending = new Set<ServerResponse>();
  const streams = new Set<ProxiedStream>();
  const server = createServer(async (req, res) => {
    pending.add(res);
    res.on("close", () => pending.delete(res));
    try {
      const f = proxy.faults;
      const delay = f.delayMs[0] + Math.floor(rng.next() * (f.delayMs[1] - f.delayMs[0] + 1));
      if (delay > 0) await sleep(delay);
      if (proxy.faults.partition === "refuse") {
        proxy.stats.refused++;
        return void req.socket.destroy();
      }
      if (proxy.faults.partition === "blackhole") {
        proxy.stats.held++;
        await sleep(HOLD_MS);
        return void req.socket.destroy();
      }
      const body = req.method === "GET" || req.method === "HEAD" ? undefined : await readBody(req);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && k !== "host" && k !== "content-length" && k !== "connection") headers[k] = v;
      const live = proxy.targets;
      if (live.length === 0) return void req.socket.destroy();
      if (req.url?.startsWith("/v1/events")) {
        proxy.stats.streams++;
        return void (await forwardStream(req, res, live[Math.floor(rng.next() * live.length)], headers, streams));
      }
      const forward = async () => {
        const target = live[Math.floor(rng.next() * live.length)];
        const upstream = await fetch(target + (req.url ?? "/"), { method: req.method, headers, body: body as BodyInit | undefined });
        return { status: upstream.status, headers: upstream.headers, bytes: Buffer.from(await upstream.arrayBuffer()) };
      };
      let answer = await forward();
      proxy.stats.forwarded++;
      if (rng.next() < f.dupRate) {
        // The network delivered the request twice; the client sees one of the two answers.
        proxy.stats.duplicated++;
        const second = await forward().catch(() => null);
        if (second && rng.next() < 0.5) answer = second;
      }
      if (rng.next() < proxy.faults.dropRate) {
        proxy.stats.dropped++;
        return void req.socket.destroy();
      }
      const out: Record<string, string> = {};
      answer.headers.forEach((v, k) => {
        if (k !== "content-length" && k !== "content-encoding" && k !== "transfer-encoding" && k !== "connection") out[k] = v;
      });
      out["content-length"] = String(answer.bytes.length);
      res.writeHead(answer.status, out);
      res.end(answer.bytes);
    } catch (e) {
      if (process.env.CHAOS_DEBUG) console.error("chaos proxy:", req.method, req.url, (e as Error)?.message);
      req.socket.destroy(); // the server is down: so is the answer
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxy: ChaosProxy = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    faults: { ...HEALTHY },
    targets,
    stats: { forwarded: 0, dropped: 0, refused: 0, held: 0, duplicated: 0, streams: 0, cuts: 0 },
    cutStreams() {
      for (const s of [...streams]) s.cut();
      proxy.stats.cuts++;
    },
    setFaults(faults) {
      proxy.faults = faults;
      if (faults.partition === "refuse") proxy.cutStreams();
      for (const s of streams) s.stall(faults.partition === "blackhole");
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of [...streams]) s.cut();
        for (const r of pending) r.socket?.destroy();
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
