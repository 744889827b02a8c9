import { isStowageError } from "../errors.ts";
import { UsageError } from "./args.ts";
import { EXIT, type CliContext } from "./context.ts";

/** A failure that carries its own exit code (not found, not available in this build). */
export class CliFailure extends Error {
  readonly exitCode: number;
  constructor(exitCode: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CliFailure";
    this.exitCode = exitCode;
  }
}

/** The command needs something this build or runtime lacks. */
export function unavailable(what: string): CliFailure {
  return new CliFailure(EXIT.unavailable, `${what} is not available in this build`);
}

/** Maps any thrown value to an exit code; unknown errors are failures, never "ok". */
export function exitCodeFor(e: unknown): number {
  if (e instanceof CliFailure) return e.exitCode;
  if (e instanceof UsageError) return EXIT.usage;
  if (isStowageError(e)) {
    switch (e.code) {
      case "input":
        return EXIT.input;
      case "config":
        return EXIT.usage;
      case "transport":
        return EXIT.unreachable;
      case "rejected":
      case "conflict":
      case "auth":
        return EXIT.refused;
      default:
        return EXIT.failure;
    }
  }
  return EXIT.failure;
}

/** The one line a person reads on stderr: `stowage: <message>`. */
export function reportError(ctx: CliContext, e: unknown): number {
  const code = exitCodeFor(e);
  const message = e instanceof Error ? e.message : String(e);
  if (ctx.global.json) {
    const kind = e instanceof UsageError ? "usage" : isStowageError(e) ? e.code : code === EXIT.notFound ? "not_found" : code === EXIT.unavailable ? "unavailable" : "failure";
    ctx.io.err(`${JSON.stringify({ error: { code: kind, exit: code, message, ...(isStowageError(e) && e.issues ? { issues: e.issues } : {}) } })}\n`);
    return code;
  }
  const red = ctx.io.stderrTTY && ctx.io.env.NO_COLOR === undefined && ctx.io.env.TERM !== "dumb";
  ctx.io.err(`${red ? "\x1b[31mstowage:\x1b[0m" : "stowage:"} ${message}\n`);
  if (isStowageError(e) && e.issues?.length) {
    for (const issue of e.issues.slice(0, 10)) ctx.io.err(`  ${issue.path.join(".") || "(value)"}: ${issue.message}\n`);
  }
  if (code === EXIT.failure && !(e instanceof CliFailure) && !isStowageError(e) && ctx.io.env.STOWAGE_DEBUG && e instanceof Error) {
    ctx.io.err(`${e.stack}\n`);
  }
  return code;
}

const STYLES = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1, cyan: 36 } as const;

/** ANSI colour only on a terminal and without NO_COLOR (https://no-color.org). */
export function paint(ctx: CliContext, style: keyof typeof STYLES, text: string): string {
  return ctx.global.color ? `\x1b[${STYLES[style]}m${text}\x1b[0m` : text;
}

/** Prints one JSON value on one line (the `--json` form). */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.io.out(`${JSON.stringify(value)}\n`);
}

/** Renders rows as an aligned text table; long cells are cut so a row fits on a line. */
export function renderTable(ctx: CliContext, columns: string[], rows: string[][], maxCell = 40): string {
  const cut = (s: string) => (s.length > maxCell ? `${s.slice(0, maxCell - 1)}…` : s);
  const cells = rows.map((r) => r.map((c) => cut(c.replace(/\s+/g, " "))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd();
  const head = paint(ctx, "bold", line(columns));
  return [head, ...cells.map(line)].join("\n") + "\n";
}

/** A short display form of a JSON value for a table cell. */
export function cell(value: unknown): string {
  if (value === undefined) return "";
  if (typeof value === "string") return value;
  return JSON.stringify(value);
}
