/** Levels in increasing severity; `off` silences everything. */
export const LOG_LEVELS = ["debug", "info", "warn", "error", "off"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export type LogFormat = "json" | "pretty";

export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** A structured logger: one line per call, written whole (no interleaving of half lines). */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Whether a level would be written (skip building expensive fields when not). */
  enabled(level: Exclude<LogLevel, "off">): boolean;
}

export interface LoggerOptions {
  /** `json`: one JSON object per line (for collectors); `pretty`: aligned text for a terminal. */
  format: LogFormat;
  /** The lowest level written. Default `info`. */
  level?: LogLevel;
  /** Where lines go (the CLI passes stderr). */
  write: (line: string) => void;
  /** Wall clock in ms (tests inject one). */
  now?: () => number;
}

export function createLogger(options: LoggerOptions): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? "info");
  const now = options.now ?? Date.now;
  const enabled = (level: Exclude<LogLevel, "off">) => LOG_LEVELS.indexOf(level) >= min && min < LOG_LEVELS.length - 1;
  const emit = (level: Exclude<LogLevel, "off">) => (msg: string, fields: LogFields = {}) => {
    if (!enabled(level)) return;
    const time = new Date(now()).toISOString();
    if (options.format === "json") {
      const record: Record<string, unknown> = { time, level, msg };
      for (const [k, v] of Object.entries(fields)) if (v !== undefined) record[k] = v;
      options.write(`${JSON.stringify(record)}\n`);
      return;
    }
    let line = `${time} ${level.toUpperCase().padEnd(5)} ${msg}`;
    let stack = "";
    for (const [k, v] of Object.entries(fields)) {
      if (v === undefined) continue;
      if (k === "stack") stack = `\n${String(v)}`;
      else line += ` ${k}=${typeof v === "string" && /[\s"=]/.test(v) ? JSON.stringify(v) : String(v)}`;
    }
    options.write(`${line}${stack}\n`);
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error"), enabled };
}

/** A logger that writes nothing. */
export const silentLogger: Logger = createLogger({ format: "json", level: "off", write: () => {} });

/** Error fields for a log line: the stack lives here and never in a response. */
export function errorFields(e: unknown): LogFields {
  if (e instanceof Error) return { error: e.message, stack: e.stack };
  return { error: String(e) };
}
