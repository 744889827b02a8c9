import { describeValue, isStowageError } from "../../errors.ts";
import { checkRest, formatCheckTable } from "../../sync/rest/check.ts";
import { UsageError, expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson } from "../output.ts";
import { loadRestConfig } from "../rest-config.ts";

const USAGE = "rest check [FILE] [--collection NAME]";

const rest: Command = {
  usage: USAGE,
  summary: "prove a REST API mapping against the live API before data depends on it",
  help: [
    "check: a dry run of the config FILE (default --rest / STOWAGE_REST) against the live API.",
    "It creates one probe item, reads it back alone and through the feed, updates it, deletes it,",
    "resolves every JSON Pointer of the mapping on real answers, and prints what works and, for",
    "what does not, the config key to fix. The probe item is deleted at the end. Exit 0 when",
    "every check passed, 1 when one failed, 2 for a malformed config, 5 when the API is unreachable.",
    "",
    "  stowage rest check docs/examples/rest/envelope.json --key …",
  ].join("\n"),
  flags: [{ name: "collection", type: "string", value: "NAME", help: "the collection whose resource to probe (default: the first)" }],
  async run(ctx, args) {
    const [sub, file] = expectPositionals(args, 1, 2, USAGE);
    if (sub !== "check") throw new UsageError(`unknown rest subcommand ${describeValue(sub)}: ${USAGE}`);
    const path = file ?? ctx.global.rest;
    if (!path) throw new UsageError(`rest check needs the config file: ${USAGE}`);
    const config = await loadRestConfig(ctx, path);
    let report;
    try {
      report = await checkRest(config, { apiKey: ctx.global.key ?? null, collection: args.flags.collection as string | undefined });
    } catch (e) {
      if (isStowageError(e, "transport")) {
        ctx.io.err(`stowage rest check: the API is unreachable: ${(e as Error).message}\n`);
        return EXIT.unreachable;
      }
      throw e;
    }
    if (ctx.global.json) printJson(ctx, report);
    else ctx.io.out(formatCheckTable(report));
    return report.ok ? EXIT.ok : EXIT.failure;
  },
};
export default rest;
