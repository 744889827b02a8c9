/** What the console is given (index.ts serves it, api.ts answers its calls). */
import type { ChangeFeed } from "../events/feed.ts";
import type { ServerHooks } from "../ops/hooks.ts";
import type { Metrics } from "../ops/metrics.ts";
import type { ServerStore } from "../store.ts";

export interface ConsoleOptions {
  store: ServerStore;
  /** The admin key (≥ 16 characters); the only credential the console accepts. */
  adminKey: string;
  /** The server's change feed: console edits publish to it and the live page subscribes. */
  feed?: ChangeFeed;
  /** The metrics registry the charts sample. */
  metrics?: Metrics;
  limits?: { maxValueChars?: number; maxValueDepth?: number };
  /** The server's clock in ms (the time a console edit is written with); default Date.now. */
  now?: () => number;
  /** The server's observers: console edits are counted like `/v1/docs` writes (hooks.wrote). */
  hooks?: ServerHooks;
  onError?: (e: unknown) => void;
}
