import type { StowageAdapter } from "../adapter.ts";
import type { Subscription } from "../store/subscriptions.ts";
import type { FlagSpec, ParsedArgs } from "./args.ts";

/** A sink that respects back-pressure, so a million-line export stays in bounded memory. */
export interface Writer {
  /** Writes text; resolves once the sink can take more. */
  write(text: string): Promise<void>;
  /** Flushes and closes (a no-op for stdout). */
  close(): Promise<void>;
}

/** Everything a command may touch outside the core; `bin.ts` supplies it from the runtime. */
export interface CliIo {
  /** Writes to standard output (no newline added). */
  out(text: string): void;
  /** Writes to standard error (no newline added). */
  err(text: string): void;
  /** Whether stdout is a terminal (tables and colour) or a pipe (plain). */
  stdoutTTY: boolean;
  /** Whether stderr is a terminal (progress bars only then). */
  stderrTTY: boolean;
  /** The process environment. */
  env: Record<string, string | undefined>;
  /** Whole text of a file, or of stdin for `-`. Missing files throw StowageError("input"). */
  readText(path: string): Promise<string>;
  /** Lines of a file, or of stdin for `-`, read in chunks. */
  readLines(path: string): AsyncIterable<string>;
  /** A writer to a file, or to stdout for `-`. */
  openWriter(path: string): Promise<Writer>;
  /** Size in bytes of a file, or undefined for stdin or a missing file (progress bars). */
  fileSize(path: string): number | undefined;
  /** The SQLite adapter for a local database file; creates the parent directory. */
  sqliteAdapter(path: string): Promise<StowageAdapter>;
  /** Where the database lives when neither `--db` nor STOWAGE_DB says. */
  defaultDbPath(): string;
  /** Where `serve`, `keys` and `gc` keep the server's data when `--data` does not say. */
  defaultServerDbPath(): string;
  /** A fresh temporary directory (demo). */
  tempDir(prefix: string): { path: string; cleanup(): void };
  /** Calls `fn` on SIGINT/SIGTERM (long-running commands stop cleanly). */
  onInterrupt(fn: () => void): void;
  /** This package's version. */
  version: string;
  /** How to invoke this CLI again, for messages such as the demo's "try next" list. */
  self: string;
}

/** Settings every command sees: global flags merged with the environment. */
export interface GlobalOptions {
  /** Local database path. */
  db: string;
  /** Sync server URL, when configured. */
  url?: string;
  /** API key for the server. */
  key?: string;
  /** A shell command printing a bearer token (instead of key). */
  tokenCommand?: string;
  /** http-only mode: every read and write goes straight to the server. */
  syncDisable: boolean;
  /** Periodic sync interval in ms. */
  syncIntervalMs?: number;
  /** JSON config file of a REST API to sync with instead of a Stowage server. */
  rest?: string;
  /** Partial sync: the subscriptions `--only` (STOWAGE_ONLY) gives; absent keeps the stored ones. */
  only?: Subscription[];
  /** Machine-readable output: JSON, NDJSON for lists. */
  json: boolean;
  /** ANSI colours on stdout/stderr. */
  color: boolean;
}

export interface CliContext {
  io: CliIo;
  global: GlobalOptions;
}

/** One `stowage <name>` command. */
export interface Command {
  /** Usage line after `stowage`, e.g. `get <collection> <id>`. */
  usage: string;
  /** One line for the command list. */
  summary: string;
  /** Longer help: examples and what the output is. */
  help?: string;
  /** Flags besides the global ones. */
  flags?: FlagSpec[];
  /** Runs the command; answers the exit code. */
  run(ctx: CliContext, args: ParsedArgs): Promise<number>;
}

/** Registry entry: the command module loads only when it runs, so start-up stays small. */
export interface CommandEntry {
  /** One line for `stowage --help`. */
  summary: string;
  /** Loads the module whose default export is the Command. */
  load: () => Promise<{ default: Command }>;
}

/** Exit codes, documented in `stowage --help` and the README. */
export const EXIT = {
  ok: 0,
  /** Something failed that is not the caller's input: storage, protocol, a bug. */
  failure: 1,
  /** Wrong usage: unknown command or flag, missing argument, bad flag value. */
  usage: 2,
  /** Bad input: invalid JSON, invalid collection name or id, missing file. */
  input: 3,
  /** The document or key asked for does not exist. */
  notFound: 4,
  /** The server could not be reached. */
  unreachable: 5,
  /** The server refused (bad key, rejected op, conflict), or no credentials could be had (a failing token command). */
  refused: 6,
  /** This build or runtime lacks what the command needs (e.g. the libsql native addon). */
  unavailable: 7,
} as const;

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: "db", type: "string", env: "STOWAGE_DB", value: "PATH", help: "local database file (default: the user data directory)" },
  { name: "url", type: "string", env: "STOWAGE_URL", value: "URL", help: "sync server URL" },
  { name: "key", type: "string", env: "STOWAGE_API_KEY", value: "KEY", help: "API key for the sync server" },
  { name: "token-command", type: "string", env: "STOWAGE_TOKEN_COMMAND", value: "CMD", help: "instead of --key: run CMD for a bearer token (its stdout; reused until a JWT's exp, rerun after a 401)" },
  { name: "sync-disable", type: "boolean", env: "STOWAGE_SYNC_DISABLE", help: "http-only: read and write on the server directly" },
  { name: "sync-interval", type: "string", env: "STOWAGE_SYNC_INTERVAL", value: "DURATION", help: "periodic sync interval, e.g. 30s (default 60s)" },
  { name: "rest", type: "string", env: "STOWAGE_REST", value: "FILE", help: "sync with a REST API Stowage does not own: its JSON config file (README)" },
  {
    name: "only",
    type: "list",
    env: "STOWAGE_ONLY",
    value: "SUB",
    help: "partial sync: hold only these documents, kept for later runs (repeatable; env: comma-separated): COLLECTION, COLLECTION:FIELD=VALUE[&FIELD=VALUE] or COLLECTION:where=JSON",
  },
  { name: "json", type: "boolean", help: "machine-readable output (NDJSON for lists)" },
  { name: "help", type: "boolean", short: "h", help: "show help" },
];
