import { StowageError, describeValue } from "../errors.ts";
import type { ServerLimits } from "../server/handler.ts";
import { startGc } from "../server/gc.ts";
import { ClientActivity } from "../server/ops/clients.ts";
import { parseRateLimit, parseSize } from "../server/ops/config.ts";
import { createLogger, errorFields, LOG_LEVELS, type Logger, type LogFormat, type LogLevel } from "../server/ops/log.ts";
import { serverMetrics, type ServerMetrics } from "../server/ops/metrics.ts";
import { createServerOps, type ServerOps } from "../server/ops/wrap.ts";
import type { ServerStore } from "../server/store.ts";
import { parseDuration, type FlagSpec } from "./args.ts";
import type { CliContext } from "./context.ts";

/** The operating flags of `stowage serve` (README "Operating the server" lists them all). */
export const SERVE_OPS_FLAGS: FlagSpec[] = [
  { name: "rate-limit", type: "string", env: "STOWAGE_RATE_LIMIT", value: "RATE[,BURST]|off", help: "requests/s per key and burst (default 10000,20000)" },
  { name: "max-body", type: "string", env: "STOWAGE_MAX_BODY", value: "SIZE", help: "largest request body, e.g. 4MiB (default 4MiB)" },
  { name: "max-doc", type: "string", env: "STOWAGE_MAX_DOC", value: "SIZE", help: "largest document JSON, e.g. 1MiB (default 1MiB)" },
  { name: "metrics", type: "boolean", env: "STOWAGE_METRICS", help: "serve GET /metrics to anyone (else only with --admin-key)" },
  { name: "admin-key", type: "string", env: "STOWAGE_ADMIN_KEY", value: "KEY", help: "bearer key for GET /metrics (prefer the env var)" },
  { name: "log-format", type: "string", env: "STOWAGE_LOG_FORMAT", value: "json|pretty", help: "request log format (default pretty on a terminal, else json)" },
  { name: "log-level", type: "string", env: "STOWAGE_LOG_LEVEL", value: "LEVEL", help: "debug, info (default), warn, error or off" },
  { name: "tombstone-retention", type: "string", env: "STOWAGE_TOMBSTONE_RETENTION", value: "DURATION|off", help: "purge tombstones older than this (default 30d)" },
  { name: "gc-interval", type: "string", env: "STOWAGE_GC_INTERVAL", value: "DURATION", help: "time between scheduled GC runs (default 1h; also at start)" },
  { name: "cors-origin", type: "list", env: "STOWAGE_CORS_ORIGIN", value: "ORIGIN", help: "allow browser calls from ORIGIN (repeatable, or * ; env comma-separated)" },
  { name: "shutdown-timeout", type: "string", env: "STOWAGE_SHUTDOWN_TIMEOUT", value: "DURATION", help: "how long running requests may finish on SIGTERM (default 10s)" },
];

/** The operating settings, validated before anything is opened. */
export interface ServeOpsConfig {
  limits: Partial<ServerLimits>;
  logFormat: LogFormat;
  logLevel: LogLevel;
  metricsOpen: boolean;
  adminKey?: string;
  retentionMs: number | false;
  gcEveryMs: number;
  corsOrigins: string[];
  shutdownMs: number;
}

/**
 * Reads the operating flags; a bad value throws naming `label(flag)` (the flag, or the
 * environment variable it came from) and the accepted form. Opens nothing.
 */
export function readServeOps(ctx: CliContext, flags: Record<string, unknown>, label: (name: string) => string = (n) => `--${n}`): ServeOpsConfig {
  const str = (name: string) => flags[name] as string | undefined;
  const limits: Partial<ServerLimits> = {};
  if (str("rate-limit") !== undefined) limits.rate = parseRateLimit(label("rate-limit"), str("rate-limit")!);
  if (str("max-body") !== undefined) limits.maxBodyBytes = parseSize(label("max-body"), str("max-body")!);
  if (str("max-doc") !== undefined) limits.maxValueChars = parseSize(label("max-doc"), str("max-doc")!);
  const logFormat = (str("log-format") ?? (ctx.io.stderrTTY ? "pretty" : "json")) as LogFormat;
  if (logFormat !== "json" && logFormat !== "pretty") throw new StowageError("input", `${label("log-format")} must be json or pretty, got ${describeValue(logFormat)}`);
  const logLevel = (str("log-level") ?? "info") as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new StowageError("input", `${label("log-level")} must be one of ${LOG_LEVELS.join(", ")}, got ${describeValue(logLevel)}`);
  const adminKey = str("admin-key");
  if (adminKey !== undefined && !/^\S{16,500}$/.test(adminKey)) {
    // The value is a secret: its length is named, never the value.
    throw new StowageError("input", `${label("admin-key")} must be 16-500 characters without spaces, got ${adminKey.length} character(s)${/\s/.test(adminKey) ? " with spaces" : ""}`);
  }
  const retention = str("tombstone-retention") ?? "30d";
  const retentionMs = retention.trim().toLowerCase() === "off" ? false : parseDuration(label("tombstone-retention"), retention);
  const gcEveryMs = parseDuration(label("gc-interval"), str("gc-interval") ?? "1h");
  if (gcEveryMs < 1000) throw new StowageError("input", `${label("gc-interval")} must be at least 1s, got ${describeValue(str("gc-interval"))}`);
  const corsOrigins = ((flags["cors-origin"] as string[] | undefined) ?? []).flatMap((o) => o.split(",")).map((o) => o.trim()).filter(Boolean);
  for (const o of corsOrigins) {
    if (o !== "*" && !/^https?:\/\/[^/\s]+\/?$/i.test(o)) throw new StowageError("input", `${label("cors-origin")} must be * or scheme://host[:port], got ${describeValue(o)}`);
  }
  const shutdownMs = parseDuration(label("shutdown-timeout"), str("shutdown-timeout") ?? "10s");
  return { limits, logFormat, logLevel, metricsOpen: flags.metrics === true, adminKey, retentionMs, gcEveryMs, corsOrigins, shutdownMs };
}

/** What `serve` runs beside the handler; `shutdown` undoes it in order. */
export interface RunningOps {
  ops: ServerOps;
  logger: Logger;
  metrics: ServerMetrics;
  /**
   * Called during shutdown after running requests drained and before the listener and store
   * close: the place to end open streams (GET /v1/events) so their bodies close cleanly.
   */
  beforeClose: (() => void | Promise<void>)[];
  /** Drains (bounded), runs beforeClose, stops the listener, GC and activity, closes the store. */
  shutdown(server: { stop(): Promise<void> }, store: ServerStore): Promise<void>;
}

export function startServeOps(ctx: CliContext, config: ServeOpsConfig, store: ServerStore): RunningOps {
  const logger = createLogger({ format: config.logFormat, level: config.logLevel, write: (line) => ctx.io.err(line) });
  const metrics = serverMetrics();
  const activity = new ClientActivity(store, { onError: (e) => logger.warn("client activity not recorded", errorFields(e)) }).start();
  const ops = createServerOps({
    logger,
    metrics,
    metricsAccess: { open: config.metricsOpen, adminKey: config.adminKey },
    corsOrigins: config.corsOrigins,
    activity,
  });
  const gcLoop =
    config.retentionMs === false
      ? undefined
      : startGc(store, {
          olderThanMs: config.retentionMs,
          everyMs: config.gcEveryMs,
          onRun: (r) => {
            metrics.gcRuns.inc({ result: "ok" });
            metrics.gcTombstones.inc({}, r.tombstones);
            logger.info("gc", { tombstones: r.tombstones, opResults: r.opResults, tenants: r.tenants, skipped: r.skipped });
          },
          onError: (e) => {
            metrics.gcRuns.inc({ result: "error" });
            logger.error("gc failed", errorFields(e));
          },
        });
  const beforeClose: RunningOps["beforeClose"] = [];
  return {
    ops,
    logger,
    metrics,
    beforeClose,
    async shutdown(server, store) {
      logger.info("shutdown: draining", { requests: ops.inFlight, timeoutMs: config.shutdownMs });
      const left = await ops.drain(config.shutdownMs);
      if (left > 0) logger.warn("shutdown: requests still running after the timeout are cut off", { requests: left });
      logger.info("shutdown: drained", { refused: ops.refused });
      for (const fn of beforeClose) await Promise.resolve().then(fn).catch((e) => logger.warn("shutdown hook failed", errorFields(e)));
      await server.stop();
      await gcLoop?.stop();
      await activity.stop();
      await store.close();
    },
  };
}
