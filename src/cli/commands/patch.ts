import type { JsonObject } from "../../json.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { readJsonArg, withDocs } from "../local.ts";
import { printJson } from "../output.ts";

const USAGE = "patch <collection> <id> <json | @file.json | ->";

const patch: Command = {
  usage: USAGE,
  summary: "merge fields into a document (JSON Merge Patch: null removes a field)",
  help: [
    "Concurrent patches to different fields both survive sync.",
    "",
    "  stowage patch todos t1 '{\"done\":true}'",
    "  stowage patch todos t1 '{\"note\":null}'     # removes note",
  ].join("\n"),
  async run(ctx, args) {
    const [collection, id, arg] = expectPositionals(args, 3, 3, USAGE);
    const value = await readJsonArg(ctx, arg, `patch for ${collection}/${id}`);
    const doc = await withDocs(ctx, (c) => c(collection).patch(id, value as JsonObject), { push: true });
    if (ctx.global.json) printJson(ctx, doc);
    else ctx.io.out(`${JSON.stringify(doc, null, 2)}\n`);
    return EXIT.ok;
  },
};
export default patch;
