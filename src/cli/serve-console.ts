/**
 * `serve --console`: the browser console (src/server/console) at /console, behind the admin
 * key. Kept out of serve.ts, which only spreads CONSOLE_FLAGS and calls these two functions.
 */
import { StowageError } from "../errors.ts";
import type { ChangeFeed } from "../server/events/feed.ts";
import { createConsoleHandler, type ConsoleHandler } from "../server/console/index.ts";
import type { ServerStore } from "../server/store.ts";
import type { FlagSpec, FlagValue } from "./args.ts";
import type { RunningOps, ServeOpsConfig } from "./serve-ops.ts";

export const CONSOLE_FLAGS: FlagSpec[] = [
  { name: "console", type: "boolean", env: "STOWAGE_CONSOLE", help: "serve the browser console at /console (needs --admin-key; off by default)" },
];

/**
 * Checked before anything opens: a console without an admin key would be open to anyone who
 * reaches the port, and a generated key printed to a log is a secret in a log; so refuse.
 */
export function checkConsole(flags: Record<string, FlagValue>, config: ServeOpsConfig): boolean {
  if (flags.console !== true) return false;
  if (!config.adminKey) throw new StowageError("config", "--console needs an admin key: set STOWAGE_ADMIN_KEY (or --admin-key KEY, 16+ characters); the console logs in with it");
  return true;
}

/** Routes /console/… to the console and everything else to `handler`. */
export function withConsole(
  handler: (req: Request) => Promise<Response>,
  on: boolean,
  config: ServeOpsConfig,
  store: ServerStore,
  feed: ChangeFeed,
  ops: RunningOps,
): (req: Request) => Promise<Response> {
  if (!on) return handler;
  const console: ConsoleHandler = createConsoleHandler({
    store,
    adminKey: config.adminKey!,
    feed,
    metrics: ops.metrics.registry,
    limits: config.limits,
    // Console edits are counted in /metrics like /v1/docs writes (stowage_doc_writes_total).
    hooks: ops.ops.hooks,
    onError: ops.ops.onError,
  });
  ops.beforeClose.unshift(() => console.close());
  return (req) => {
    const at = req.url.indexOf("/console");
    return at >= 0 && console.owns(new URL(req.url).pathname) ? console(req) : handler(req);
  };
}

/** The listener's stream test, widened to the console's change stream (also long-lived). */
export function consoleIsStream(isStream: (req: Request) => boolean, on: boolean): (req: Request) => boolean {
  if (!on) return isStream;
  return (req) => isStream(req) || (req.method === "GET" && req.url.includes("/console/api/tenants/") && /^\/console\/api\/tenants\/[^/]+\/changes$/.test(new URL(req.url).pathname));
}
