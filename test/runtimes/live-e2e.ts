/**
 * Live sync end to end on whatever runtime runs this file: `node test/runtimes/live-e2e.ts`,
 * `deno run -A test/runtimes/live-e2e.ts` (or `bun`). A server on node:sqlite through this
 * runtime's listener; two clients on DEFAULT options (live stream on, 60 s interval, no
 * sync() call): B's live query gets A's write through this runtime's streaming fetch; close()
 * leaves nothing running, so the process ends by itself. Prints `ok`/`FAIL` lines, exits 1 on failure.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import { runtimeName } from "../../src/runtime/runtime.ts";
import { serve } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, openServerStore } from "../../src/server/index.ts";
import { openStowage } from "../../src/stowage.ts";

const dir = mkdtempSync(join(tmpdir(), "stowage-live-e2e-"));
let failed = false;
const guard = setTimeout(() => {
  console.log(`FAIL live sync on ${runtimeName()}: no callback within 20 s`);
  process.exit(1);
}, 20_000);
try {
  const store = await openServerStore({ adapter: createNodeSqliteAdapter({ path: join(dir, "server.db") }) });
  const { key } = await createKey(store, "live", { createIfMissing: true });
  const handler = createServerHandler({ store, limits: { rate: false } });
  const server = await serve({ fetch: handler, port: 0 });
  const open = (name: string) => openStowage({ adapter: createNodeSqliteAdapter({ path: join(dir, `${name}.db`) }), url: server.url, apiKey: key, env: {} });
  const a = await open("a");
  const b = await open("b");
  const got = new Promise<string>((resolve) => {
    b.collection("todos").watch({}, (items) => {
      const t = items.find((d) => d.id === "t1");
      if (t) resolve(String(t.title));
    });
  });
  while (handler.openStreams() < 2) await new Promise((r) => setTimeout(r, 10));
  await a.collection("todos").put({ id: "t1", title: `from ${runtimeName()}` });
  const title = await got;
  if (title !== `from ${runtimeName()}`) throw new Error(`B got ${JSON.stringify(title)}`);
  const live = (await b.status()).live;
  if (!live.connected || live.lastEventId === null) throw new Error(`status().live: ${JSON.stringify(live)}`);
  await a.close();
  await b.close();
  while (handler.openStreams() > 0) await new Promise((r) => setTimeout(r, 10));
  await server.stop();
  await store.close();
  console.log(`ok   live sync on ${runtimeName()}: B's watch got A's write over the event stream; close() ended both streams`);
} catch (e) {
  failed = true;
  console.log(`FAIL live sync on ${runtimeName()}: ${(e as Error)?.stack ?? String(e)}`);
} finally {
  clearTimeout(guard);
  rmSync(dir, { recursive: true, force: true });
}
// No process.exit on success: the process must end by itself (no timer or fetch left open).
if (failed) process.exit(1);
