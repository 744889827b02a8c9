import type { StowageAdapter } from "../adapter.ts";
import { openServerStore, type ServerStore } from "../server/store.ts";
import type { FlagSpec } from "./args.ts";
import type { CliContext } from "./context.ts";

/** The flag `serve`, `keys` and `gc` share: where the server's data lives. */
export const DATA_FLAG: FlagSpec = {
  name: "data",
  type: "string",
  env: "STOWAGE_SERVER_DB",
  value: "PATH|URL",
  help: "server database: a SQLite file (default: server.db in the user data directory) or postgres://…",
};

/** The server database location from `--data`, STOWAGE_SERVER_DB or the default. */
export function serverDataLocation(ctx: CliContext, flags: Record<string, unknown>): string {
  return (flags.data as string | undefined) ?? ctx.io.defaultServerDbPath();
}

/** The adapter for the server's database: a SQLite file, or PostgreSQL for a URL. */
export async function serverAdapter(ctx: CliContext, location: string): Promise<StowageAdapter> {
  if (/^postgres(ql)?:\/\//i.test(location)) {
    const { createPostgresAdapter } = await import("../../adapters/postgres/index.ts");
    return createPostgresAdapter({ url: location });
  }
  return ctx.io.sqliteAdapter(location);
}

/** Opens the server store at `--data`, runs `fn`, always closes it. */
export async function withServerStore<R>(ctx: CliContext, flags: Record<string, unknown>, fn: (store: ServerStore) => Promise<R>): Promise<R> {
  const store = await openServerStore({ adapter: await serverAdapter(ctx, serverDataLocation(ctx, flags)) });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}
