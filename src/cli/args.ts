import { StowageError, describeValue } from "../errors.ts";

/** One flag a command (or the CLI as a whole) accepts. */
export interface FlagSpec {
  /** Long name without dashes, e.g. `sync-interval`. */
  name: string;
  /** `boolean` takes no value; `list` may repeat; `number` must parse as a finite number. */
  type: "boolean" | "string" | "number" | "list";
  /** One-letter alias, e.g. `n` for `-n`. */
  short?: string;
  /** Environment variable the flag mirrors (the flag wins when both are set). */
  env?: string;
  /** Placeholder shown in help, e.g. `PATH`. */
  value?: string;
  /** One line for `--help`. */
  help: string;
}

export type FlagValue = string | number | boolean | string[] | undefined;

export interface ParsedArgs {
  /** Flag values by long name; list flags are arrays; unset flags are absent. */
  flags: Record<string, FlagValue>;
  /** Arguments that are not flags, in order (`-` stays a positional: it means stdin). */
  positionals: string[];
  /** Flags whose value came from the environment, by long name → the variable (for messages). */
  fromEnv?: Record<string, string>;
}

/** A usage mistake: unknown flag, missing value, wrong argument count. Exit code 2. */
export class UsageError extends StowageError {
  constructor(message: string) {
    super("config", message);
    this.name = "UsageError";
  }
}

/**
 * Parses `argv` against `specs`. Flags may come anywhere; `--` ends flags.
 * Forms: `--name value`, `--name=value`, `-n value`, `--flag`, `--no-flag` (booleans).
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[]): ParsedArgs {
  const byName = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: Record<string, FlagValue> = {};
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-") || /^-\d/.test(arg)) {
      positionals.push(arg);
      continue;
    }
    const long = arg.startsWith("--");
    const eq = arg.indexOf("=");
    const key = long ? arg.slice(2, eq > 0 ? eq : undefined) : arg.slice(1, 2);
    let inline: string | undefined = long ? (eq > 0 ? arg.slice(eq + 1) : undefined) : arg.length > 2 ? arg.slice(2) : undefined;
    let spec = long ? byName.get(key) : byShort.get(key);
    let negated = false;
    if (!spec && long && key.startsWith("no-") && byName.get(key.slice(3))?.type === "boolean") {
      spec = byName.get(key.slice(3));
      negated = true;
    }
    if (!spec) throw new UsageError(`unknown flag ${describeValue(long ? `--${key}` : `-${key}`)}; see --help`);
    if (spec.type === "boolean") {
      if (inline !== undefined) flags[spec.name] = parseBool(spec.name, inline);
      else flags[spec.name] = !negated;
      continue;
    }
    if (inline === undefined) {
      // `--limit --db x` is a forgotten value, not the value "--db" (`--order -p` stays fine).
      if (i + 1 >= argv.length || argv[i + 1].startsWith("--")) throw new UsageError(`flag --${spec.name} needs a value${spec.value ? ` (${spec.value})` : ""}`);
      inline = argv[++i];
    }
    if (spec.type === "number") flags[spec.name] = parseNumber(`--${spec.name}`, inline);
    else if (spec.type === "list") flags[spec.name] = [...((flags[spec.name] as string[] | undefined) ?? []), inline];
    else flags[spec.name] = inline;
  }
  return { flags, positionals };
}

/** Fills flags that were not given from the environment variables they mirror. */
export function applyEnv(parsed: ParsedArgs, specs: readonly FlagSpec[], env: Record<string, string | undefined>): void {
  for (const spec of specs) {
    if (!spec.env || parsed.flags[spec.name] !== undefined) continue;
    const raw = env[spec.env];
    if (raw === undefined || raw === "") continue;
    (parsed.fromEnv ??= {})[spec.name] = spec.env;
    if (spec.type === "boolean") parsed.flags[spec.name] = parseBool(spec.env, raw);
    else if (spec.type === "number") parsed.flags[spec.name] = parseNumber(spec.env, raw);
    else if (spec.type === "list") parsed.flags[spec.name] = [raw];
    else parsed.flags[spec.name] = raw;
  }
}

function parseBool(name: string, raw: string): boolean {
  const v = raw.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new UsageError(`${name} must be true or false (1/0), got ${describeValue(raw)}`);
}

function parseNumber(name: string, raw: string): number {
  const n = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`${name} must be a number, got ${describeValue(raw)}`);
  return n;
}

/** Checks the positional count; `names` are for the message, e.g. `["collection", "id"]`. */
export function expectPositionals(parsed: ParsedArgs, min: number, max: number, usage: string): string[] {
  const p = parsed.positionals;
  if (p.length < min) throw new UsageError(`missing argument: usage: ${usage}`);
  if (p.length > max) throw new UsageError(`unexpected argument ${describeValue(p[max])}: usage: ${usage}`);
  return p;
}

/** Parses a duration like `500ms`, `30s`, `5m`, `2h`, `30d`, or plain milliseconds. */
export function parseDuration(name: string, raw: string | number): number {
  if (typeof raw === "number") return raw;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`${name} must be a duration like 500ms, 30s, 5m, 2h or 30d, got ${describeValue(raw)}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? "ms") as "ms"];
  return Number(m[1]) * unit;
}
