import { assertDocId } from "../../names.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { httpOnly, withDocs, withWriteStore } from "../local.ts";
import { printJson } from "../output.ts";

const USAGE = "rm <collection> <id>...";

const rm: Command = {
  usage: USAGE,
  summary: "delete documents",
  help: [
    "Deletes every id given, in one transaction; the deletes sync like any write.",
    "Prints the ids that existed locally (with --json: {id, existed} per line).",
  ].join("\n"),
  async run(ctx, args) {
    const [collection, ...ids] = expectPositionals(args, 2, Infinity, USAGE);
    for (const id of ids) assertDocId(id); // refuse the whole command before deleting anything
    const existed = httpOnly(ctx)
      ? await withDocs(ctx, async (c) => {
          const out: boolean[] = [];
          for (const id of ids) out.push(await c(collection).delete(id));
          return out;
        })
      : await withWriteStore(ctx, (store) =>
          store.transaction(async (tx) => {
            const c = tx.collection(collection);
            const out: boolean[] = [];
            for (const id of ids) out.push(await c.delete(id));
            return out;
          }),
        );
    ids.forEach((id, i) => {
      if (ctx.global.json) printJson(ctx, { id, existed: existed[i] });
      else ctx.io.out(existed[i] ? `${id}\n` : `${id} (not here locally; the delete still syncs)\n`);
    });
    return EXIT.ok;
  },
};
export default rm;
