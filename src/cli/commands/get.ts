import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { withDocs } from "../local.ts";
import { CliFailure, printJson } from "../output.ts";

const USAGE = "get <collection> <id>";

const get: Command = {
  usage: USAGE,
  summary: "print one document",
  help: "Prints the document as indented JSON (with --json: one line). Exit 4 when it does not exist.",
  async run(ctx, args) {
    const [collection, id] = expectPositionals(args, 2, 2, USAGE);
    const doc = await withDocs(ctx, (c) => c(collection).get(id));
    if (!doc) throw new CliFailure(EXIT.notFound, `document ${collection}/${id} not found in ${ctx.global.syncDisable && ctx.global.url ? ctx.global.url : ctx.global.db}`);
    if (ctx.global.json) printJson(ctx, doc);
    else ctx.io.out(`${JSON.stringify(doc, null, 2)}\n`);
    return EXIT.ok;
  },
};
export default get;
