import { StowageError } from "../../errors.ts";
import { createServerHandler } from "../../server/handler.ts";
import { listKeys } from "../../server/keys.ts";
import { openServerStore } from "../../server/store.ts";
import { serve } from "../../runtime/serve.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson } from "../output.ts";
import { DATA_FLAG, PG_FEED_FLAGS, serverAdapter } from "../server-store.ts";
import { readServeConfig } from "../serve-config.ts";
import { SERVE_OPS_FLAGS, startServeOps } from "../serve-ops.ts";
import { openServerFeed } from "../server-feed.ts";
import { EMBED_FLAGS } from "../serve-embed.ts";
import { CONSOLE_FLAGS, consoleIsStream, withConsole } from "../serve-console.ts";

const USAGE = "serve [--port N] [--host ADDR] [--data PATH|postgres://…] [operating flags] [--jwt-secret S] [--jwt-jwks FILE|URL] [--schema FILE] [--rules FILE] [--console]";

const serveCommand: Command = {
  usage: USAGE,
  summary: "run the sync server (embedded SQLite by default, or PostgreSQL)",
  help: [
    "Serves protocol v1 (docs/PROTOCOL.md) until Ctrl-C. Data lives in --data: a SQLite file",
    "(default: server.db in the user data directory) or a postgres:// URL for several server",
    "processes sharing one database. Clients need a key: stowage keys create --tenant NAME.",
    "Prints the URL on stdout (with --json: {\"url\",\"port\",\"data\"}), then logs to stderr.",
    "Connected clients get live pokes (GET /v1/events) for writes through any serve process on",
    "the same SQLite file or PostgreSQL database.",
    "SIGTERM or Ctrl-C drains running requests (--shutdown-timeout), ends event streams, then",
    "closes the store.",
    "",
    "  stowage serve --port 8787",
    "  stowage serve --host 0.0.0.0 --data postgres://user:pw@db/stowage",
    "  STOWAGE_JWT_SECRET=… stowage serve --jwt-audience my-app --schema schemas.json",
  ].join("\n"),
  flags: [
    DATA_FLAG,
    { name: "port", type: "number", short: "p", env: "STOWAGE_PORT", value: "N", help: "port to listen on (default 8787; 0 picks a free one)" },
    { name: "host", type: "string", env: "STOWAGE_HOST", value: "ADDR", help: "interface to bind (default 127.0.0.1)" },
    ...SERVE_OPS_FLAGS,
    ...EMBED_FLAGS,
    ...CONSOLE_FLAGS,
    ...PG_FEED_FLAGS,
  ],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    // Every flag first (serve-config.ts): a refused configuration leaves no file, port or GC run behind.
    const config = await readServeConfig(ctx, args);
    const { port, hostname, shown, embed, ops: opsConfig } = config;
    const consoleOn = config.console;
    const store = await openServerStore({ adapter: await serverAdapter(ctx, config.data), readers: config.readers });
    let server;
    const ops = startServeOps(ctx, opsConfig, store);
    let polling = 0;
    const changes = await openServerFeed(store, config.data, {
      ...config.feed,
      onChoice: (c) => {
        polling = c.kind === "poll" ? 1 : 0;
        ctx.io.err(`stowage serve: ${c.text}\n`);
      },
    });
    ops.metrics.registry.gauge("stowage_change_feed_polling", "1 when other instances' commits are polled (no LISTEN), 0 when heard by LISTEN or a file watcher.", () => polling);
    const replicaReads = store.replicaReads;
    if (replicaReads) {
      ops.metrics.registry.gauge("stowage_replica_reads", "Pulls and document reads served by a --read-url standby since start.", () => replicaReads.served);
      ops.metrics.registry.gauge("stowage_replica_fallbacks", "Pulls and document reads the primary served because the standby lagged or failed.", () => replicaReads.primary);
    }
    ops.beforeClose.push(() => changes.close());
    try {
      const handler = createServerHandler({ ...embed, store, changes, limits: opsConfig.limits, hooks: ops.ops.hooks, onError: ops.ops.onError });
      ops.metrics.registry.gauge("stowage_live_streams", "Open GET /v1/events streams.", () => handler.openStreams());
      ops.metrics.registry.gauge("stowage_live_stream_wakes", "Event stream wakes since start: one per stream per commit that touched its view.", () => handler.streamWakes());
      // Sync rules' indexes exist before the first request (built once; a restart finds them).
      await handler.ready();
      // Streams end after running requests drained, before the listener stops (ops.shutdown).
      ops.beforeClose.unshift(() => handler.close());
      // The wrapper keeps `isStream` so the listener exempts event streams from idle timeouts.
      const fetch = Object.assign(ops.ops.wrap(withConsole(handler, consoleOn, opsConfig, store, changes, ops)), { isStream: consoleIsStream(handler.isStream, consoleOn) });
      server = await serve({ fetch, port, hostname }).catch((e: unknown) => {
        const msg = String((e as Error)?.message ?? e);
        if (/EADDRINUSE|in use/i.test(msg)) throw new StowageError("config", `port ${port} on ${hostname} is already in use; pick another with --port`, { cause: e });
        throw e;
      });
    } catch (e) {
      await ops.shutdown({ stop: async () => {} }, store);
      throw e;
    }
    if (ctx.global.json) printJson(ctx, { url: server.url, port: server.port, data: shown });
    else ctx.io.out(`stowage serve: listening on ${server.url} (data: ${shown})\n`);
    if (consoleOn && !ctx.global.json) ctx.io.err(`console: ${new URL("/console", server.url)} (log in with the admin key)\n`);
    const keys = await listKeys(store).catch(() => []);
    if (!ctx.global.json && !embed.jwt && keys.filter((k) => k.revokedAt === null).length === 0) {
      ctx.io.err(`no API keys yet: ${ctx.io.self} keys create --tenant NAME --data ${shown}\n`);
    }
    await new Promise<void>((resolve) => ctx.io.onInterrupt(resolve));
    ctx.io.err("stowage serve: stopping\n");
    await ops.shutdown(server, store);
    ctx.io.err("stowage serve: stopped\n");
    return EXIT.ok;
  },
};
export default serveCommand;
