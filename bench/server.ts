import { spawnServer } from "../test/helpers/server.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { batch, post } from "./push-load.ts";
import type { Reporter } from "./report.ts";

/**
 * Sync server throughput over real HTTP: the server is a child process on a SQLite file
 * (test/fixtures/server-process.ts, rate limit off), clients are fetch calls in this process.
 */
export default async function serverBench(r: Reporter): Promise<void> {
  const tmp = tempDir("stowage-bench-server-");
  try {
    r.figure("server", "push, 1 client, batches of 500", await pushRun(tmp.file("push1.db"), 1, 80), "ops/s");
    r.figure("server", "push, 32 concurrent clients, batches of 500", await pushRun(tmp.file("push32.db"), 32, 5), "ops/s");
    r.figure("server", "pull from the start over 50,000 docs, limit 1000", await pullRun(tmp.file("pull.db"), 50_000), "changes/s");
  } finally {
    tmp.cleanup();
  }
}


/** `clients` concurrent pushers each send `batches` batches of 500 new documents. */
async function pushRun(dbPath: string, clients: number, batches: number): Promise<number> {
  const server = await spawnServer({ dbPath });
  try {
    // Bodies are built before the clock starts, so the figure is the server's, not JSON.stringify's.
    const bodies = Array.from({ length: clients }, (_, c) => Array.from({ length: batches }, (_, b) => batch(c, b, 500)));
    await post(server.url, server.key, batch(999, 0, 500)); // warm-up
    const start = performance.now();
    await Promise.all(bodies.map(async (mine) => {
      for (const body of mine) await post(server.url, server.key, body);
    }));
    return (clients * batches * 500) / ((performance.now() - start) / 1000);
  } finally {
    await server.kill("SIGTERM");
  }
}

async function pullRun(dbPath: string, docs: number): Promise<number> {
  const server = await spawnServer({ dbPath });
  try {
    for (let b = 0; b < docs / 500; b++) await post(server.url, server.key, batch(0, b, 500));
    const start = performance.now();
    let cursor = "";
    let total = 0;
    for (;;) {
      const res = await fetch(`${server.url}/v1/pull?limit=1000&cursor=${encodeURIComponent(cursor)}`, { headers: { authorization: `Bearer ${server.key}` } });
      const page = (await res.json()) as { changes: unknown[]; cursor: string; more: boolean };
      total += page.changes.length;
      cursor = page.cursor;
      if (!page.more) break;
    }
    const seconds = (performance.now() - start) / 1000;
    if (total !== docs) throw new Error(`pulled ${total} changes, expected ${docs}`);
    return total / seconds;
  } finally {
    await server.kill("SIGTERM");
  }
}
