import { StowageError } from "../../errors.ts";
import { createServerHandler } from "../../server/handler.ts";
import { listKeys } from "../../server/keys.ts";
import { openServerStore } from "../../server/store.ts";
import { serve } from "../../runtime/serve.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { paint, printJson } from "../output.ts";
import { DATA_FLAG, serverAdapter, serverDataLocation } from "../server-store.ts";
import { openServerFeed } from "../server-feed.ts";

const USAGE = "serve [--port N] [--host ADDR] [--data PATH|postgres://…]";

const serveCommand: Command = {
  usage: USAGE,
  summary: "run the sync server (embedded SQLite by default, or PostgreSQL)",
  help: [
    "Serves protocol v1 (docs/PROTOCOL.md) until Ctrl-C. Data lives in --data: a SQLite file",
    "(default: server.db in the user data directory) or a postgres:// URL for several server",
    "processes sharing one database. Clients need a key: stowage keys create --tenant NAME.",
    "Prints the URL on stdout (with --json: {\"url\",\"port\",\"data\"}), then logs to stderr.",
    "Connected clients get live pokes (GET /v1/events) for writes through any serve process on",
    "the same SQLite file or PostgreSQL database; Ctrl-C ends those streams cleanly.",
    "",
    "  stowage serve --port 8787",
    "  stowage serve --host 0.0.0.0 --data postgres://user:pw@db/stowage",
  ].join("\n"),
  flags: [
    DATA_FLAG,
    { name: "port", type: "number", short: "p", env: "STOWAGE_PORT", value: "N", help: "port to listen on (default 8787; 0 picks a free one)" },
    { name: "host", type: "string", env: "STOWAGE_HOST", value: "ADDR", help: "interface to bind (default 127.0.0.1)" },
  ],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const port = (args.flags.port as number | undefined) ?? 8787;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new StowageError("input", `--port must be 0-65535, got ${port}`);
    const hostname = (args.flags.host as string | undefined) ?? "127.0.0.1";
    const data = serverDataLocation(ctx, args.flags);
    const shown = data.replace(/:\/\/[^@/]*@/, "://…@");
    const store = await openServerStore({ adapter: await serverAdapter(ctx, data) });
    let server;
    const changes = await openServerFeed(store, data);
    try {
      const handler = createServerHandler({
        store,
        changes,
        onError: (e) => ctx.io.err(`${paint(ctx, "red", "server error")} ${(e as Error)?.stack ?? String(e)}\n`),
      });
      server = await serve({ fetch: handler, port, hostname }).catch((e: unknown) => {
        const msg = String((e as Error)?.message ?? e);
        if (/EADDRINUSE|in use/i.test(msg)) throw new StowageError("config", `port ${port} on ${hostname} is already in use; pick another with --port`, { cause: e });
        throw e;
      });
    } catch (e) {
      await changes.close();
      await store.close();
      throw e;
    }
    if (ctx.global.json) printJson(ctx, { url: server.url, port: server.port, data: shown });
    else ctx.io.out(`stowage serve: listening on ${server.url} (data: ${shown})\n`);
    const keys = await listKeys(store).catch(() => []);
    if (!ctx.global.json && keys.filter((k) => k.revokedAt === null).length === 0) {
      ctx.io.err(`no API keys yet: ${ctx.io.self} keys create --tenant NAME --data ${shown}\n`);
    }
    await new Promise<void>((resolve) => ctx.io.onInterrupt(resolve));
    ctx.io.err("stowage serve: stopping\n");
    await server.stop(); // ends open event streams first (handler.close())
    await changes.close();
    await store.close();
    return EXIT.ok;
  },
};
export default serveCommand;
