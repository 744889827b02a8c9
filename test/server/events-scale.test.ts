import { afterAll, beforeAll, describe, expect, test, setDefaultTimeout } from "bun:test";
import { readFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createKey, openServerStore } from "../../src/server/index.ts";
import { spawnServer, type SpawnedServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { api, puts } from "./client.ts";

// Spawned servers and processes are slow on a loaded 2-core machine (bunfig's timeout is not applied by this Bun).
setDefaultTimeout(30_000);

/**
 * 1,000 open event streams on one real server process, on default options (so 4 keys of one
 * tenant, 250 streams each, under the 256-per-key cap): one write reaches every stream, and the
 * server's resident memory per open stream is printed. The clients are raw sockets (fetch in
 * Bun queues requests past 256 at a time, and a socket costs the test process little).
 */
const STREAMS = 1000;
const KEYS = 4;

/** A minimal SSE client on a raw socket: sends the request, remembers the highest seq seen. */
interface RawStream {
  socket: Socket;
  seq: number;
  status?: number;
  ended: boolean;
}

function openRaw(url: string, key: string): Promise<RawStream> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s: RawStream = { socket: connect(Number(port), hostname), seq: -1, ended: false };
    let tail = "";
    s.socket.setEncoding("utf8");
    s.socket.on("connect", () => s.socket.write(`GET /v1/events HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAuthorization: Bearer ${key}\r\nAccept: text/event-stream\r\n\r\n`));
    s.socket.on("data", (chunk: string) => {
      tail = (tail + chunk).slice(-4096);
      s.status ??= Number(/^HTTP\/1\.1 (\d{3})/.exec(tail)?.[1]);
      for (const m of tail.matchAll(/data: \{"seq":(\d+)\}/g)) s.seq = Math.max(s.seq, Number(m[1]));
      if (s.seq >= 0 || (s.status && s.status !== 200)) resolve(s);
    });
    s.socket.on("error", reject);
    s.socket.on("close", () => {
      s.ended = true;
      resolve(s);
    });
  });
}

/** Resident memory of a process, in bytes (Linux /proc). */
function rss(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

describe("1,000 open event streams on one server process", () => {
  const tmp = tempDir("stowage-events-scale-");
  let server: SpawnedServer;
  const keys: string[] = [];
  const streams: RawStream[] = [];

  beforeAll(async () => {
    const dbPath = tmp.file("server.db");
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: dbPath }) });
    for (let i = 0; i < KEYS; i++) keys.push((await createKey(store, "test", { createIfMissing: true, label: `scale-${i}` })).key);
    await store.close();
    server = await spawnServer({ dbPath });
  });
  afterAll(async () => {
    for (const s of streams) s.socket.destroy();
    await server.kill();
    tmp.cleanup();
  });

  test("all receive one write; memory per open stream is reported", async () => {
    // Warm up (first requests load code paths), then measure from a settled baseline.
    const warm = await Promise.all(Array.from({ length: 8 }, (_, i) => openRaw(server.url, keys[i % KEYS])));
    for (const w of warm) w.socket.destroy();
    await Bun.sleep(100);
    const before = rss(server.proc.pid);

    for (let batch = 0; batch < STREAMS; batch += 100) {
      const opened = await Promise.all(Array.from({ length: 100 }, (_, i) => openRaw(server.url, keys[(batch + i) % KEYS])));
      streams.push(...opened);
    }
    expect(streams.filter((s) => s.status === 200 && s.seq === 0).length).toBe(STREAMS);
    await Bun.sleep(100);
    const after = rss(server.proc.pid);

    const res = await api(server.url, keys[0]).push({ clientId: "scale-writer", ops: puts(1) });
    expect(res.results[0].status).toBe("applied");
    const deadline = Date.now() + 5000;
    while (streams.some((s) => s.seq < 1) && Date.now() < deadline) await Bun.sleep(10);
    expect(streams.filter((s) => s.seq === 1).length).toBe(STREAMS);
    expect(streams.filter((s) => s.ended).length).toBe(0);

    if (before !== undefined && after !== undefined) {
      console.log(`memory per open stream: ${((after - before) / STREAMS / 1024).toFixed(1)} KiB (server RSS ${(before / 2 ** 20).toFixed(1)} → ${(after / 2 ** 20).toFixed(1)} MiB for ${STREAMS} streams)`);
    }
  });
});
