import { StowageError, describeValue } from "../../errors.ts";
import type { Doc, FieldFilter, ListOptions } from "../../store/types.ts";
import { UsageError, expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { httpOnly, openSynced } from "../local.ts";
import { paint, printJson } from "../output.ts";
import { addFilter } from "./list.ts";

const USAGE = "watch <collection> [--where FIELD<op>VALUE]... [--initial] [--limit N]";

/** The live query holds the whole matching set to diff it; this bounds its memory. */
const MAX_WATCHED = 10_000;

const watch: Command = {
  usage: USAGE,
  summary: "print each change to a collection as it happens, until Ctrl-C (tail -f for data)",
  help: [
    "Keeps the local database in sync with the server over its live event stream (the interval",
    "timer takes over while the stream is down) and prints one line per changed document: a",
    "write made here, by another process on this database, or by another client. --json prints",
    'NDJSON: {"collection","id","op":"put"|"delete","doc"}. "delete" means the document was',
    "deleted or no longer matches --where. --initial prints the current matching documents first",
    `(as "put"). Watches at most --limit documents (default and most ${MAX_WATCHED.toLocaleString("en-US")}, in id order).`,
    "Needs a server (--url/STOWAGE_URL, --key/STOWAGE_API_KEY). Ctrl-C ends it with exit 0.",
    "",
    "  stowage watch todos --json",
    "  stowage watch todos --where done=false",
  ].join("\n"),
  flags: [
    { name: "where", type: "list", short: "w", value: "FIELD<op>VALUE", help: "only documents matching, repeatable; ops = != > >= < <=" },
    { name: "initial", type: "boolean", help: "print the current matching documents first" },
    { name: "limit", type: "number", short: "n", value: "N", help: `watch at most N documents (default ${MAX_WATCHED})` },
  ],
  async run(ctx, args) {
    const [collection] = expectPositionals(args, 1, 1, USAGE);
    if (!ctx.global.url) throw new UsageError("watch needs a server: pass --url URL (or set STOWAGE_URL) and --key KEY");
    if (httpOnly(ctx)) throw new UsageError("watch follows the local copy; http-only mode (--sync-disable) has none");
    const where: Record<string, FieldFilter> = {};
    for (const w of (args.flags.where as string[] | undefined) ?? []) addFilter(where, w);
    const limit = (args.flags.limit as number | undefined) ?? MAX_WATCHED;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_WATCHED) {
      throw new StowageError("input", `--limit must be an integer from 1 to ${MAX_WATCHED}, got ${describeValue(limit)}`);
    }
    const query: ListOptions = { where, limit };
    const handle = await openSynced(ctx, { autoSync: true });
    const print = (id: string, op: "put" | "delete", doc: Doc | null) => {
      if (ctx.global.json) printJson(ctx, { collection, id, op, doc });
      else ctx.io.out(`${paint(ctx, "dim", new Date().toISOString())} ${paint(ctx, op === "put" ? "green" : "red", op)} ${collection}/${id}${doc ? ` ${JSON.stringify(doc)}` : ""}\n`);
    };
    let previous: Map<string, string> | null = null;
    const stop = handle.collection(collection).watch(query, (items) => {
      const current = new Map(items.map((d) => [d.id, JSON.stringify(d)]));
      if (previous === null && args.flags.initial !== true) {
        previous = current;
        return;
      }
      const before = previous ?? new Map<string, string>();
      const ids = new Set([...before.keys(), ...current.keys()]);
      for (const id of [...ids].sort()) {
        const now = current.get(id);
        if (now === undefined) print(id, "delete", null);
        else if (now !== before.get(id)) print(id, "put", JSON.parse(now) as Doc);
      }
      previous = current;
    });
    handle.on("live", (up) => {
      if (!ctx.global.json) ctx.io.err(up ? "live: connected\n" : "live: stream down; syncing on the interval until it is back\n");
    });
    if (!ctx.global.json) ctx.io.err(`watching ${collection} in ${ctx.global.db} (synced with ${ctx.global.url}); Ctrl-C to stop\n`);
    await new Promise<void>((resolve) => ctx.io.onInterrupt(resolve));
    stop();
    await handle.close();
    return EXIT.ok;
  },
};
export default watch;
