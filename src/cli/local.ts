import { StowageError, describeValue } from "../errors.ts";
import { Store } from "../store/store.ts";
import type { CliContext } from "./context.ts";

/** Opens the local store at `--db`, runs `fn`, always closes it. */
export async function withStore<R>(ctx: CliContext, fn: (store: Store) => Promise<R>): Promise<R> {
  const store = await Store.open({ adapter: await ctx.io.sqliteAdapter(ctx.global.db) });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
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
