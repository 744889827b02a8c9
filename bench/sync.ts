import { createBunSqliteAdapter } from "../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage, type StowageOptions } from "../src/stowage.ts";
import { PUSH_BATCH_OPS } from "../src/sync/v1/push.ts";
import { spawnServer, type SpawnedServer } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { makeDocs } from "./local.ts";
import { percentile, type Reporter } from "./report.ts";

const PUSH_N = 10_000;
const PULL_N = 50_000;
const ROUND_TRIPS = 400;
const SECTION = "sync (client ⇄ server child process, loopback HTTP)";

/**
 * The client sync engine against a real server in its own process (as in production: the
 * client's event loop is not shared with the server's). Figures: bulk push of offline-queued
 * documents, initial pull into an empty client with its peak memory, and the incremental
 * round trip A writes → A syncs → B syncs.
 */
export default async function syncBench(r: Reporter): Promise<void> {
  const dir = tempDir("stowage-bench-sync-");
  let server: SpawnedServer | undefined;
  const open: Stowage[] = [];
  const client = async (name: string, extra: Partial<StowageOptions> = {}) => {
    const c = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`${name}.db`) }), url: server!.url, apiKey: server!.key, env: {}, autoSync: false, ...extra });
    open.push(c);
    return c;
  };
  try {
    server = await spawnServer({ dbPath: dir.file("server.db") });

    // 1. Bulk push: 10,000 documents written while offline, then one sync. The server is
    // first filled with the other 40,000 (untimed), which also warms its JIT as in production.
    let pushEnd = 0;
    const pusher = await client("pusher", { onTrace: (l) => (l.startsWith("push:") ? (pushEnd = performance.now()) : 0) });
    const docs = pusher.collection("docs");
    const data = makeDocs(PULL_N);
    for (let i = PUSH_N; i < PULL_N; i += 1000) await docs.putMany(data.slice(i, i + 1000));
    await pusher.sync();
    for (let i = 0; i < PUSH_N; i += 1000) await docs.putMany(data.slice(i, i + 1000));
    Bun.gc(true);
    const t0 = performance.now();
    await pusher.sync();
    const pushMs = pushEnd - t0;

    // 2. Initial pull of 50,000 into an empty client, page by page.
    // Pages are counted by the engine's trace: a multi-page pull is staged and `pulled` fires
    // once, after the whole pull is applied (guarantee 9).
    const rss: number[] = [];
    let pages = 0;
    const puller = await client("puller", {
      onTrace: (l) => {
        if (!l.startsWith("pull:")) return;
        pages++;
        if (pages % 5 === 0) rss.push(process.memoryUsage().rss);
      },
    });
    Bun.gc(true);
    const rssBefore = process.memoryUsage().rss;
    const t1 = performance.now();
    const pulled = await puller.sync();
    const pullMs = performance.now() - t1;
    if (pulled.pulled !== PULL_N) throw new Error(`bench: pulled ${pulled.pulled}, expected ${PULL_N}`);
    const peak = Math.max(...rss);
    r.figure(SECTION, `initial pull of ${PULL_N.toLocaleString("en-US")} docs into an empty client`, (PULL_N / pullMs) * 1000, "docs/s", { note: `${pullMs.toFixed(0)} ms, ${pages} pages of 1,000` });
    r.figure(SECTION, "initial pull: peak RSS growth over the start", (peak - rssBefore) / 2 ** 20, "MiB", { note: `at 10k docs: ${((rss[1] - rssBefore) / 2 ** 20).toFixed(1)} MiB; at 50k: ${((rss[rss.length - 1] - rssBefore) / 2 ** 20).toFixed(1)} MiB` });

    // Memory again, untimed: a full GC at every 5th page shows what a pull retains. Flat from
    // 10k to 50k means each page is applied and dropped, never accumulated.
    const retained: number[] = [];
    let meterPages = 0;
    const meter = await client("meter", {
      onTrace: (l) => {
        if (l.startsWith("pull:") && ++meterPages % 5 === 0) {
          Bun.gc(true);
          retained.push(process.memoryUsage().rss);
        }
      },
    });
    Bun.gc(true);
    const base = process.memoryUsage().rss;
    await meter.sync();
    const mib = (x: number) => ((x - base) / 2 ** 20).toFixed(1);
    r.figure(SECTION, "initial pull: RSS growth after GC at 50k docs", (retained[retained.length - 1] - base) / 2 ** 20, "MiB", { note: `at 10k: ${mib(retained[1])}, 25k: ${mib(retained[4])}, 50k: ${mib(retained[9])} MiB` });

    // 3. Incremental round trip with 50,000 stored: A writes one doc, A syncs, B syncs.
    const a = pusher;
    const b = puller;
    const times: number[] = [];
    for (let i = 0; i < ROUND_TRIPS + 20; i++) {
      const start = performance.now();
      await a.collection("docs").put({ id: `rt-${i}`, n: i });
      await a.sync();
      await b.sync();
      const ms = performance.now() - start;
      if (i >= 20) times.push(ms); // the first rounds warm the JIT and statement caches
    }
    if (!(await b.collection("docs").get(`rt-${ROUND_TRIPS + 19}`))) throw new Error("bench: B did not receive A's write");
    times.sort((x, y) => x - y);
    r.figure(SECTION, `round trip A put → A sync → B sync (p50, ${PULL_N.toLocaleString("en-US")} stored)`, percentile(times, 50), "ms");
    r.figure(SECTION, "round trip A put → A sync → B sync (p95)", percentile(times, 95), "ms");

    // Baseline in the same run, after the pull figures (it adds documents): the same
    // PUSH_BATCH_OPS-op requests from plain fetch with no client work at all, i.e. what server and loopback allow.
    const rawMs = await rawPush(server, data.slice(0, PUSH_N).map((d) => ({ ...d, id: `raw-${d.id}` })));
    r.figure(SECTION, `bulk push of ${PUSH_N.toLocaleString("en-US")} offline-queued docs`, (PUSH_N / pushMs) * 1000, "docs/s", {
      ratio: rawMs / pushMs,
      note: `${pushMs.toFixed(0)} ms, ${PUSH_BATCH_OPS} ops/request; bare fetch of the same requests: ${((PUSH_N / rawMs) * 1000).toFixed(0)} docs/s`,
    });
  } finally {
    for (const c of open) await c.close().catch(() => {});
    await server?.kill("SIGTERM").catch(() => {});
    dir.cleanup();
  }
}

/** Pushes `docs` as PUSH_BATCH_OPS-op requests (the client's) with bare fetch, one after another; answers the elapsed ms. */
async function rawPush(server: SpawnedServer, docs: Record<string, unknown>[]): Promise<number> {
  let opId = 0;
  const start = performance.now();
  for (let i = 0; i < docs.length; i += PUSH_BATCH_OPS) {
    const ops = docs.slice(i, i + PUSH_BATCH_OPS).map((value) => ({ opId: ++opId, collection: "raw", id: value.id, op: "put", value }));
    const res = await fetch(`${server.url}/v1/push`, {
      method: "POST",
      body: JSON.stringify({ clientId: "bench-raw-client", ops }),
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
    });
    if (!res.ok) throw new Error(`bench: raw push answered ${res.status}`);
    await res.text();
  }
  return performance.now() - start;
}
