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
    "deleted or no longer matches --where. Without --initial only changes made after it started",
    "are printed: it first catches up with the server (one sync), and what that brings in is the",
    "starting point, not news; stderr says \"watching …\" from then on. --initial prints the",
    "current matching documents first",
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
    const interrupted = new Promise<void>((resolve) => ctx.io.onInterrupt(resolve));
    const print = (id: string, op: "put" | "delete", doc: Doc | null) => {
      if (ctx.global.json) printJson(ctx, { collection, id, op, doc });
      else ctx.io.out(`${paint(ctx, "dim", new Date().toISOString())} ${paint(ctx, op === "put" ? "green" : "red", op)} ${collection}/${id}${doc ? ` ${JSON.stringify(doc)}` : ""}\n`);
    };
    // The local copy may be far behind the server (a new file holds nothing): one sync first,
    // so the backlog is the starting point rather than a burst of "changes" made long ago.
    const caughtUp = await Promise.race([interrupted.then(() => false), handle.sync()]).then(
      (r) => r !== false,
      (e: unknown) => {
        ctx.io.err(`watch: could not catch up with ${ctx.global.url} (${(e as Error)?.message ?? e}); changes are relative to the local copy\n`);
        return false;
      },
    );
    let previous: Map<string, string> | null = null;
    let started: () => void = () => {};
    const baseline = new Promise<void>((resolve) => (started = resolve));
    const stop = handle.collection(collection).watch(query, (items) => {
      const current = new Map(items.map((d) => [d.id, JSON.stringify(d)]));
      if (previous === null && args.flags.initial !== true) {
        previous = current;
        started();
        return;
      }
      started();
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
    await Promise.race([baseline, interrupted]);
    // On stderr in --json mode too: scripts wait for it before making the changes they expect to see.
    ctx.io.err(`watching ${collection} in ${ctx.global.db} (${caughtUp ? "caught up with" : "syncing with"} ${ctx.global.url}); Ctrl-C to stop\n`);
    await interrupted;
    stop();
    await handle.close();
    return EXIT.ok;
  },
};
export default watch;
