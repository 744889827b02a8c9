/**
 * Everything `serve` is told, checked before anything happens: a refused configuration
 * creates no file, binds no port and runs no GC. A refusal is a usage error (exit 2) naming
 * the flag, or the environment variable the value came from, and the form it accepts.
 *
 * A new flag needs nothing here: its module reads it (readServeOps, embedOptions, …) and
 * throws a StowageError("input" | "config") for a bad value; readServeConfig runs every reader
 * first and turns those into usage errors. Checks that only the server core knows how to make
 * (the JWT options) are made here by building the checker without serving anything.
 */
import { describeValue, isStowageError } from "../errors.ts";
import { tokenVerifier } from "../server/auth/jwt.ts";
import type { ServerHandlerOptions } from "../server/handler.ts";
import { normalizeBasePath } from "../server/mount.ts";
import { UsageError, type ParsedArgs } from "./args.ts";
import type { CliContext } from "./context.ts";
import { checkConsole } from "./serve-console.ts";
import { embedOptions } from "./serve-embed.ts";
import { readServeOps, type ServeOpsConfig } from "./serve-ops.ts";
import { pgFeedOptions, readerAdapters, serverDataLocation } from "./server-store.ts";
import type { StowageAdapter } from "../adapter.ts";

export interface ServeConfig {
  port: number;
  hostname: string;
  /** `--data`: a SQLite path or a postgres:// URL. */
  data: string;
  /** `data` with any password in a URL hidden, for logs. */
  shown: string;
  ops: ServeOpsConfig;
  embed: Partial<ServerHandlerOptions>;
  console: boolean;
  /** PostgreSQL change feed: `--listen-url`, `--poll-ms`. */
  feed: { listenUrl?: string; pollMs?: number };
  /** `--read-url` standbys (not connected yet). */
  readers: StowageAdapter[];
}

/** Reads and checks every serve flag; throws UsageError before any side effect. */
export async function readServeConfig(ctx: CliContext, args: ParsedArgs): Promise<ServeConfig> {
  const label = (name: string) => flagLabel(args, name);
  try {
    const port = (args.flags.port as number | undefined) ?? 8787;
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`${label("port")} must be a whole number 0-65535, got ${describeValue(port)}`);
    const hostname = (args.flags.host as string | undefined) ?? "127.0.0.1";
    if (!/^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9.-]{1,253})$/.test(hostname)) {
      throw new UsageError(`${label("host")} must be a host name or an IPv4/IPv6 address such as 127.0.0.1, 0.0.0.0 or ::, got ${describeValue(hostname)}`);
    }
    const ops = readServeOps(ctx, args.flags, label);
    const consoleOn = checkConsole(args.flags, ops);
    const embed = await embedOptions(ctx, args.flags);
    checkEmbed(embed, label);
    const data = serverDataLocation(ctx, args.flags);
    if (data.trim() === "") throw new UsageError(`${label("data")} must be a SQLite file path or a postgres:// URL, got ""`);
    const feed = pgFeedOptions(args.flags);
    const readers = await readerAdapters(data, args.flags);
    return { port, hostname, data, shown: data.replace(/:\/\/[^@/]*@/, "://…@"), ops, embed, console: consoleOn, feed, readers };
  } catch (e) {
    throw asUsageError(e, args);
  }
}

/** How the user gave `name`: `--name`, or the environment variable it came from. */
export function flagLabel(args: ParsedArgs, name: string): string {
  return args.fromEnv?.[name] ?? `--${name}`;
}

/** What only the server core checks, checked now: the JWT options and the base path. */
function checkEmbed(embed: Partial<ServerHandlerOptions>, label: (name: string) => string): void {
  const jwt = embed.jwt;
  if (jwt) {
    if (typeof jwt.secret === "string") {
      const bytes = new TextEncoder().encode(jwt.secret).byteLength;
      // RFC 7518 §3.2: an HMAC key shorter than the hash output is guessable offline.
      if (bytes < 32) throw new UsageError(`${label("jwt-secret")} must be at least 32 bytes (a random string, e.g. openssl rand -base64 48), got ${bytes}`);
    }
    try {
      tokenVerifier(jwt);
    } catch (e) {
      throw new UsageError(`${label(jwt.secret !== undefined ? "jwt-secret" : "jwt-jwks")}: ${(e as Error).message}`);
    }
  }
  if (embed.basePath !== undefined) {
    try {
      normalizeBasePath(embed.basePath);
    } catch {
      throw new UsageError(`${label("base-path")} must be a path such as /sync (letters, digits and - . _ ~ in each segment), got ${describeValue(embed.basePath)}`);
    }
  }
}

/**
 * A refused configuration is a usage error whatever module refused it. A message that names
 * no flag (a file that cannot be read) gets the flag whose value it names in front.
 */
function asUsageError(e: unknown, args: ParsedArgs): unknown {
  if (e instanceof UsageError) return e;
  if (!isStowageError(e) || (e.code !== "input" && e.code !== "config")) return e;
  let message = e.message;
  if (!/(^|\s)--[a-z]|STOWAGE_[A-Z_]+/.test(message)) {
    const named = Object.entries(args.flags).find(([, v]) => typeof v === "string" && v !== "" && message.includes(JSON.stringify(v)));
    if (named) message = `${flagLabel(args, named[0])}: ${message}`;
  }
  const usage = new UsageError(message);
  (usage as { cause?: unknown }).cause = e;
  if (e.issues) (usage as { issues?: unknown }).issues = e.issues;
  return usage;
}
