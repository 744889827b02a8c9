import { expectPositionals, UsageError } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson } from "../output.ts";
import { CHECKS } from "../../conformance/checks.ts";
import { KIT_RULES, PARTIAL_CHECKS } from "../../conformance/partial-checks.ts";
import { formatKitTable, runConformanceKit } from "../../conformance/run.ts";

const USAGE = "conformance <url> --key KEY [--key-b KEY2] [--rules-key KEY --rules-key-other KEY] [--json] | conformance --print-rules";

const conformance: Command = {
  usage: USAGE,
  summary: "run the protocol conformance suite against any sync server",
  help: [
    "Checks that a server speaks protocol v1 (docs/PROTOCOL.md, docs/openapi.json), using only HTTP:",
    ...[...CHECKS, ...PARTIAL_CHECKS].map((c) => `  ${c.name.padEnd(26)} ${c.what}`),
    "",
    "It writes a few documents to fresh collections named conformance_<random>, so it can run",
    "against a live server; use a key of a test tenant (it reads that tenant's change feed once).",
    "--key-b (env STOWAGE_API_KEY_B) is a key of ANOTHER tenant; without it isolation is skipped.",
    "--rules-key and --rules-key-other (env STOWAGE_RULES_KEY, STOWAGE_RULES_KEY_OTHER) are two",
    "principals of ONE tenant (API keys or JWTs) on a server running the kit's rules",
    "(--print-rules prints them); without them the rules checks are skipped.",
    "The reset check needs the reference cursor format v1.<seq>; other servers skip it.",
    "Prints a pass/fail table (--json: the report). Exit 0 when nothing failed (skips allowed),",
    "1 when a check failed, 5 when the server is unreachable, 2 for wrong usage.",
  ].join("\n"),
  flags: [
    { name: "key-b", type: "string", env: "STOWAGE_API_KEY_B", value: "KEY", help: "a key of another tenant (tenant isolation check)" },
    { name: "rules-key", type: "string", env: "STOWAGE_RULES_KEY", value: "KEY", help: "a principal under the kit's rules (partial-sync rules checks)" },
    { name: "rules-key-other", type: "string", env: "STOWAGE_RULES_KEY_OTHER", value: "KEY", help: "another principal of the same tenant" },
    { name: "print-rules", type: "boolean", help: "print the rules file the rules checks expect, and exit" },
    { name: "only", type: "list", value: "CHECK", help: "run only this check (repeatable)" },
  ],
  async run(ctx, args) {
    if (args.flags["print-rules"] === true) {
      ctx.io.out(KIT_RULES);
      return EXIT.ok;
    }
    const [positional] = expectPositionals(args, 0, 1, USAGE);
    const url = positional ?? ctx.global.url;
    if (!url) throw new UsageError(`conformance needs the server URL: ${USAGE}`);
    if (!/^https?:\/\/[^/]/.test(url)) throw new UsageError(`the server URL must start with http:// or https://, got ${JSON.stringify(url)}`);
    const key = ctx.global.key;
    if (!key) throw new UsageError(`conformance needs --key (or STOWAGE_API_KEY): a key of a test tenant on ${url}`);
    const only = args.flags.only as string[] | undefined;
    for (const name of only ?? []) {
      if (![...CHECKS, ...PARTIAL_CHECKS].some((c) => c.name === name)) throw new UsageError(`unknown check ${JSON.stringify(name)}; checks: ${[...CHECKS, ...PARTIAL_CHECKS].map((c) => c.name).join(", ")}`);
    }
    const report = await runConformanceKit({ url, key, keyB: (args.flags["key-b"] as string | undefined) || undefined, rulesKey: (args.flags["rules-key"] as string | undefined) || undefined, rulesKeyOther: (args.flags["rules-key-other"] as string | undefined) || undefined, only });
    if (ctx.global.json) printJson(ctx, report);
    else if (report.unreachable) ctx.io.err(`stowage conformance: ${report.unreachable}\n`);
    else ctx.io.out(formatKitTable(report, ctx.global.color && ctx.io.stdoutTTY));
    if (report.unreachable) return EXIT.unreachable;
    return report.failed > 0 ? EXIT.failure : EXIT.ok;
  },
};
export default conformance;
