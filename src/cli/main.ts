import { applyEnv, parseArgs, parseDuration, UsageError, type FlagSpec } from "./args.ts";
import { COMMANDS } from "./commands/index.ts";
import { EXIT, GLOBAL_FLAGS, type CliContext, type CliIo, type Command, type GlobalOptions } from "./context.ts";
import { parseOnly } from "./only.ts";
import { reportError } from "./output.ts";

/** Runs one CLI invocation and answers the exit code; never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const ctx: CliContext = { io, global: { db: "", syncDisable: false, json: false, color: false } };
  // Colour for tables on a terminal stdout; errors check stderr themselves (output.ts).
  ctx.global.color = io.stdoutTTY && io.env.NO_COLOR === undefined && io.env.TERM !== "dumb";
  // Known before parsing, so even a usage error comes out as JSON for a script.
  ctx.global.json = argv.includes("--json");
  try {
    const first = commandIndex(argv);
    const name = first < 0 ? undefined : argv[first];
    if (argv[0] === "--version" || argv[0] === "-v") {
      io.out(`stowage ${io.version}\n`);
      return EXIT.ok;
    }
    if (name === undefined || name === "help") {
      const topic = name === "help" ? argv[first + 1] : undefined;
      if (topic && COMMANDS[topic]) return await commandHelp(ctx, topic, (await COMMANDS[topic].load()).default);
      if (name === undefined && !argv.some((a) => a === "--help" || a === "-h")) {
        if (argv.length > 0) parseArgs(argv, GLOBAL_FLAGS); // names an unknown flag
        io.err(usage());
        return EXIT.usage;
      }
      io.out(usage());
      return EXIT.ok;
    }
    const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!entry) throw new UsageError(`unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(", ")}`);
    const command = (await entry.load()).default;
    const rest = [...argv.slice(0, first), ...argv.slice(first + 1)];
    const specs: FlagSpec[] = [...GLOBAL_FLAGS, ...(command.flags ?? [])];
    const args = parseArgs(rest, specs);
    if (args.flags.help) return await commandHelp(ctx, name, command);
    applyEnv(args, specs, io.env);
    ctx.global = globalOptions(ctx, args.flags, args.fromEnv);
    return await command.run(ctx, args);
  } catch (e) {
    return reportError(ctx, e);
  }
}

/**
 * Where the command name is: the first argument that names a command (so `--data x keys`
 * works although `--data` belongs to the command), else the first that is no global flag
 * or its value (so an unknown command is reported by its name).
 */
function commandIndex(argv: readonly string[]): number {
  const named = argv.findIndex((a) => Object.hasOwn(COMMANDS, a));
  if (named >= 0) return named;
  const takesValue = new Set(GLOBAL_FLAGS.filter((s) => s.type !== "boolean").map((s) => `--${s.name}`));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("-")) return i;
    if (takesValue.has(a)) i++;
  }
  return -1;
}

function globalOptions(ctx: CliContext, flags: Record<string, unknown>, fromEnv?: Record<string, string>): GlobalOptions {
  const g: GlobalOptions = {
    db: (flags.db as string | undefined) ?? ctx.io.defaultDbPath(),
    syncDisable: flags["sync-disable"] === true,
    json: flags.json === true,
    color: ctx.global.color,
  };
  if (flags.url !== undefined) g.url = flags.url as string;
  if (flags.key !== undefined) g.key = flags.key as string;
  if (flags["token-command"] !== undefined) g.tokenCommand = flags["token-command"] as string;
  if (flags.rest !== undefined) g.rest = flags.rest as string;
  if (flags.only !== undefined) g.only = parseOnly(flags.only as string[], fromEnv?.only ?? "--only");
  if (flags["sync-interval"] !== undefined) g.syncIntervalMs = parseDuration("--sync-interval", flags["sync-interval"] as string);
  return g;
}

function usage(): string {
  const names = Object.keys(COMMANDS);
  const width = Math.max(...names.map((n) => n.length));
  return [
    "stowage — a local-first SQLite store with background sync",
    "",
    "usage: stowage <command> [arguments] [flags]      stowage <command> --help",
    "",
    "commands:",
    ...names.map((n) => `  ${n.padEnd(width)}  ${COMMANDS[n].summary}`),
    "",
    "global flags (each mirrors an environment variable):",
    ...flagLines([...GLOBAL_FLAGS, { name: "version", type: "boolean", help: "print the version" }]),
    "",
    EXIT_HELP,
    "",
  ].join("\n");
}

const EXIT_HELP = [
  "exit codes: 0 ok · 1 failure (storage, protocol) · 2 usage (unknown command or flag)",
  "  3 bad input (invalid JSON, name or id, missing file) · 4 not found · 5 server unreachable",
  "  6 server refused (bad key, rejected, conflict) or the token command failed · 7 not available in this build",
].join("\n");

function flagLines(specs: readonly FlagSpec[]): string[] {
  const label = (s: FlagSpec) => `${s.short ? `-${s.short}, ` : ""}--${s.name}${s.type === "boolean" ? "" : ` ${s.value ?? "VALUE"}`}`;
  const width = Math.max(18, ...specs.map((s) => label(s).length));
  return specs.map((s) => `  ${label(s).padEnd(width)} ${s.help}${s.env ? ` [${s.env}]` : ""}`);
}

async function commandHelp(ctx: CliContext, name: string, command: Command): Promise<number> {
  const lines = [`usage: stowage ${command.usage}`, "", command.summary];
  if (command.help) lines.push("", command.help);
  if (command.flags?.length) lines.push("", "flags:", ...flagLines(command.flags));
  lines.push("", "global flags:", ...flagLines(GLOBAL_FLAGS), "", EXIT_HELP, "");
  ctx.io.out(lines.join("\n"));
  void name;
  return EXIT.ok;
}
