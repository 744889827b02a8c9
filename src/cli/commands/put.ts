import { StowageError } from "../../errors.ts";
import { isPlainObject } from "../../json.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { readJsonArg, withDocs } from "../local.ts";
import { printJson } from "../output.ts";

const USAGE = "put <collection> <json | @file.json | -> [--id ID]";

const put: Command = {
  usage: USAGE,
  summary: "create or replace a document (an array puts many in one transaction)",
  help: [
    "The value is a JSON object: literal, @file.json, or - for stdin. An array of objects is",
    "written in one transaction. An id is generated (UUIDv7) unless the value or --id has one.",
    "Prints the id (with --json: the stored document, one line each). With a server configured",
    "(--url/--key), the write is pushed right after its local commit; when the server is",
    "unreachable it stays queued for `stowage sync` and the command still succeeds.",
    "",
    "  stowage put todos '{\"title\":\"buy milk\",\"done\":false}'",
    "  stowage put todos @todo.json --id t1",
    "  cat todos.json | stowage put todos -",
  ].join("\n"),
  flags: [{ name: "id", type: "string", value: "ID", help: "document id (overrides the value's id)" }],
  async run(ctx, args) {
    const [collection, arg] = expectPositionals(args, 2, 2, USAGE);
    const value = await readJsonArg(ctx, arg, `${collection} document`);
    const many = Array.isArray(value);
    const values = many ? value : [value];
    if (many && values.length === 0) throw new StowageError("input", `the array for ${collection} is empty`);
    const id = args.flags.id as string | undefined;
    if (id !== undefined) {
      if (many) throw new StowageError("input", `--id cannot be used with an array of documents`);
      if (isPlainObject(value)) values[0] = { ...value, id };
    }
    const docs = await withDocs(ctx, (c) => c(collection).putMany(values, { atomic: true }), { push: true });
    for (const doc of docs) {
      if (ctx.global.json) printJson(ctx, doc);
      else ctx.io.out(`${doc.id}\n`);
    }
    return EXIT.ok;
  },
};
export default put;
