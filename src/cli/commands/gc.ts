import { gc } from "../../server/gc.ts";
import { expectPositionals, parseDuration } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { printJson } from "../output.ts";
import { DATA_FLAG, withServerStore } from "../server-store.ts";

const USAGE = "gc [--older-than DURATION]";

const gcCommand: Command = {
  usage: USAGE,
  summary: "purge old tombstones from the server's database",
  help: [
    "Deletes on the server are kept as tombstones so every client hears of them. Tombstones older",
    "than --older-than (default 30d) are purged; a client that has not synced since gets a full",
    "resync (it keeps its pending writes).",
    "",
    "  stowage gc --older-than 7d",
  ].join("\n"),
  flags: [DATA_FLAG, { name: "older-than", type: "string", value: "DURATION", help: "age of tombstones to purge (default 30d)" }],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const olderThanMs = parseDuration("--older-than", (args.flags["older-than"] as string | undefined) ?? "30d");
    const report = await withServerStore(ctx, args.flags, (store) => gc(store, { olderThanMs }));
    if (ctx.global.json) printJson(ctx, report);
    else ctx.io.out(`purged ${report.tombstones} tombstones and ${report.opResults} settled op refusals over ${report.tenants} tenants\n`);
    return EXIT.ok;
  },
};
export default gcCommand;
