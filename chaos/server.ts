/**
 * A chaos server process: `bun chaos/server.ts sqlite <dbPath>` or
 * `bun chaos/server.ts postgres <url> <schema> [<read replica url>]`. Serves 127.0.0.1 on a free port with rate
 * limiting off and prints `{"url"}` when ready. The runner SIGKILLs and restarts it.
 */
import { openServerFeed } from "../src/cli/server-feed.ts";
import { serve } from "../src/runtime/serve.ts";
import { createServerHandler, openServerStore } from "../src/server/index.ts";
import { CHAOS_STORES, isStore } from "./stores.ts";
import { exitWhenRunnerGone } from "./orphan.ts";

const [kind, ...args] = process.argv.slice(2);
if (!kind || !isStore(kind)) throw new Error(`chaos server: unknown store ${JSON.stringify(kind)}`);
const { adapter, readers, location } = await CHAOS_STORES[kind].serve(args);
const store = await openServerStore({ adapter, readers });
// The change feed as `stowage serve` opens it: other instances' commits reach this one's
// streams (LISTEN/NOTIFY, or a watcher on the SQLite file), and on PostgreSQL the key cache.
const changes = await openServerFeed(store, location);
const server = await serve({
  // Auth faults with JWTs (schedule.ts): HS256 with no leeway, so a token is refused the moment it expires.
  fetch: createServerHandler({ store, changes, limits: { rate: false }, onError: (e) => console.error("chaos server:", e), ...(process.env.STOWAGE_CHAOS_JWT_SECRET ? { jwt: { secret: process.env.STOWAGE_CHAOS_JWT_SECRET, clockToleranceSec: 0 } } : {}) }),
  port: 0,
});
process.stdout.write(`${JSON.stringify({ url: server.url })}\n`);
exitWhenRunnerGone();
process.on("SIGTERM", async () => {
  await server.stop();
  await changes.close();
  await store.close();
  process.exit(0);
});
