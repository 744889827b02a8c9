import type { JsonObject } from "../json.ts";
import { StowageError, describeValue, isStowageError } from "../errors.ts";
import { Store } from "../store/store.ts";
import type { Doc, ListOptions, ListPage } from "../store/types.ts";
import type { Stowage } from "../stowage.ts";
import type { SyncResult } from "../sync/types.ts";
import { UsageError } from "./args.ts";
import { failOnPushIssues } from "./push-issues.ts";
import { loadRestConfig } from "./rest-config.ts";
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
 * Document commands read and write the local database; in http-only mode they go straight to
 * the server instead. With `push` (the write commands) and a server configured, the write is
 * pushed right after its local commit, as the library does: an unreachable server only leaves
 * it queued (a notice, exit 0), since the write itself is safe on disk.
 */
export async function withDocs<R>(
  ctx: CliContext,
  fn: (collection: (name: string) => Docs) => Promise<R>,
  options: { push?: boolean } = {},
): Promise<R> {
  if (!httpOnly(ctx) && options.push && hasRemote(ctx)) {
    return pushAfter(ctx, (handle) => fn((name) => handle.collection(name) as unknown as Docs));
  }
  if (!httpOnly(ctx)) return withStore(ctx, (store) => fn((name) => store.collection(name) as unknown as Docs));
  const handle = await openSynced(ctx, { autoSync: false });
  try {
    return await fn((name) => handle.collection(name) as unknown as Docs);
  } finally {
    await handle.close();
  }
}

/** Like `withStore` for write commands: with a server configured, pushes after the commit. */
export async function withWriteStore<R>(ctx: CliContext, fn: (store: Store) => Promise<R>): Promise<R> {
  if (httpOnly(ctx) || !hasRemote(ctx)) return withStore(ctx, fn);
  return pushAfter(ctx, (handle) => fn(handle.store!));
}

async function pushAfter<R>(ctx: CliContext, run: (handle: Stowage) => Promise<R>): Promise<R> {
  const handle = await openSynced(ctx, { autoSync: false });
  try {
    const result = await run(handle);
    let pushed: SyncResult | undefined;
    try {
      pushed = await handle.push();
    } catch (e) {
      if (!isStowageError(e, "transport")) {
        const why = isStowageError(e, "auth") ? "no credentials for the push" : isStowageError(e, "protocol") ? "the push failed" : "the server refused the push";
        throw new StowageError(isStowageError(e) ? e.code : "storage", `saved locally and queued, but ${why}: ${(e as Error).message}`, {
          cause: e,
          status: (e as StowageError).status,
        });
      }
      const queued = (await handle.status()).outbox.size;
      ctx.io.err(`stowage: server unreachable (${(e as Error).message}); saved locally, ${queued} write${queued === 1 ? "" : "s"} queued for \`stowage sync\`\n`);
    }
    if (pushed) await refusedAfterPush(ctx, handle, pushed);
    return result;
  } finally {
    await handle.close();
  }
}

/**
 * Throws (exit 6) when the server refused some of the pushed writes. First a sync, so the
 * refused documents return to the server's state before the command exits (guarantee 12).
 */
async function refusedAfterPush(ctx: CliContext, handle: Stowage, result: SyncResult): Promise<void> {
  if (result.issues.length === 0) return;
  await handle.sync().catch(() => {}); // best effort: the next `stowage sync` does it otherwise
  failOnPushIssues(ctx, result.issues);
}

export function httpOnly(ctx: CliContext): boolean {
  return ctx.global.syncDisable && (ctx.global.url !== undefined || ctx.global.rest !== undefined);
}

/** A server to push to: a Stowage server with a key, or a REST API config (its key may be inside). */
function hasRemote(ctx: CliContext): boolean {
  return (ctx.global.url !== undefined && (ctx.global.key !== undefined || ctx.global.tokenCommand !== undefined)) || ctx.global.rest !== undefined;
}

/** Opens Stowage with the global settings (never the environment a second time). */
export async function openSynced(ctx: CliContext, options: { autoSync: boolean; onTrace?: (line: string) => void }): Promise<Stowage> {
  const { openStowage } = await import("../stowage.ts");
  const g = ctx.global;
  const rest = g.rest === undefined ? undefined : await loadRestConfig(ctx, g.rest);
  if (g.tokenCommand !== undefined && g.key !== undefined) throw new UsageError("give --key (STOWAGE_API_KEY) or --token-command (STOWAGE_TOKEN_COMMAND), not both");
  if (g.tokenCommand !== undefined && rest) throw new UsageError("--token-command (STOWAGE_TOKEN_COMMAND) is for a Stowage server; a REST config carries its own apiKey");
  if (g.tokenCommand !== undefined && g.tokenCommand.trim() === "") throw new UsageError("--token-command (STOWAGE_TOKEN_COMMAND) is empty");
  if (g.only !== undefined && g.url === undefined) throw new UsageError(`--only (STOWAGE_ONLY) needs a Stowage server: pass --url and --key${g.rest !== undefined ? " (a REST API sync holds the resources its config names)" : ""}`);
  const getToken = g.tokenCommand === undefined ? undefined : (await import("./token-command.ts")).tokenCommand(g.tokenCommand, { env: ctx.io.env });
  return openStowage({
    getToken,
    rest,
    adapter: httpOnly(ctx) ? undefined : await ctx.io.sqliteAdapter(g.db),
    url: g.url,
    apiKey: g.key,
    syncDisabled: g.syncDisable,
    syncIntervalMs: g.syncIntervalMs,
    // `--only`: set the stored subscriptions; without it the stored ones stay (stowage.ts).
    subscriptions: httpOnly(ctx) ? undefined : g.only,
    env: {},
    autoSync: options.autoSync,
    onTrace: options.onTrace,
    // The environment was read once into the global options; STOWAGE_LIVE is read here.
    live: !/^(0|false|no|off)$/i.test(ctx.io.env.STOWAGE_LIVE?.trim() ?? ""),
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
