import type { JsonObject } from "../json.ts";
import { StowageError, describeValue } from "../errors.ts";
import { Store } from "../store/store.ts";
import type { Doc, ListOptions, ListPage } from "../store/types.ts";
import type { Stowage } from "../stowage.ts";
import { UsageError } from "./args.ts";
import type { CliContext } from "./context.ts";

/** Opens the local store at `--db`, runs `fn`, always closes it. */
export async function withStore<R>(ctx: CliContext, fn: (store: Store) => Promise<R>): Promise<R> {
  if (httpOnly(ctx)) {
    throw new UsageError("this command works on the local database; it has none in http-only mode (--sync-disable / STOWAGE_SYNC_DISABLE)");
  }
  const store = await Store.open({ adapter: await ctx.io.sqliteAdapter(ctx.global.db) });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** What the document commands need from a collection, local or on the server. */
export interface Docs {
  put(value: JsonObject): Promise<Doc>;
  putMany(values: JsonObject[], options?: { atomic?: boolean }): Promise<Doc[]>;
  patch(id: string, patch: JsonObject): Promise<Doc>;
  delete(id: string): Promise<boolean>;
  get(id: string): Promise<Doc | undefined>;
  list(options?: ListOptions): Promise<ListPage<JsonObject>>;
}

/**
 * Document commands read and write the local database (sync pushes the writes later); in
 * http-only mode they go straight to the server instead.
 */
export async function withDocs<R>(ctx: CliContext, fn: (collection: (name: string) => Docs) => Promise<R>): Promise<R> {
  if (!httpOnly(ctx)) return withStore(ctx, (store) => fn((name) => store.collection(name) as unknown as Docs));
  const handle = await openSynced(ctx, { autoSync: false });
  try {
    return await fn((name) => handle.collection(name) as unknown as Docs);
  } finally {
    await handle.close();
  }
}

export function httpOnly(ctx: CliContext): boolean {
  return ctx.global.syncDisable && ctx.global.url !== undefined;
}

/** Opens Stowage with the global settings (never the environment a second time). */
export async function openSynced(ctx: CliContext, options: { autoSync: boolean; onTrace?: (line: string) => void }): Promise<Stowage> {
  const { openStowage } = await import("../stowage.ts");
  const g = ctx.global;
  return openStowage({
    adapter: httpOnly(ctx) ? undefined : await ctx.io.sqliteAdapter(g.db),
    url: g.url,
    apiKey: g.key,
    syncDisabled: g.syncDisable,
    syncIntervalMs: g.syncIntervalMs,
    env: {},
    autoSync: options.autoSync,
    onTrace: options.onTrace,
  });
}

/**
 * A JSON value from the command line: literal JSON, `@file.json`, or `-` for stdin.
 * Errors name where the text came from, so `@todo.json` is not confused with the literal.
 */
export async function readJsonArg(ctx: CliContext, arg: string, what: string): Promise<unknown> {
  let text: string;
  let source: string;
  if (arg === "-") {
    text = await ctx.io.readText("-");
    source = "stdin";
  } else if (arg.startsWith("@")) {
    text = await ctx.io.readText(arg.slice(1));
    source = `file ${describeValue(arg.slice(1))}`;
  } else {
    text = arg;
    source = `argument ${describeValue(arg)}`;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new StowageError("input", `invalid JSON for ${what} in ${source}: ${(e as Error).message}`);
  }
}
