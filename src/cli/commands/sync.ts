import { UsageError, expectPositionals } from "../args.ts";
import { EXIT, type CliContext, type Command } from "../context.ts";
import { httpOnly, openSynced } from "../local.ts";
import { paint, printJson } from "../output.ts";
import { progress } from "../progress.ts";

const USAGE = "sync [--watch]";

const sync: Command = {
  usage: USAGE,
  summary: "push local writes and pull everyone else's, once or continuously",
  help: [
    "Needs a server: --url/STOWAGE_URL and --key/STOWAGE_API_KEY, or a REST API's --rest FILE.",
    "Refusals (rejected, conflict, gone) are printed, one line each, and exit 6. Once: one full cycle (push",
    "everything queued, pull every change), then exit; exit 5 when the server is unreachable (the",
    "writes stay queued). --watch: keep syncing until Ctrl-C, printing one line per cycle that",
    "moved data: pulls as soon as the server's live event stream pokes (README \"Live\"), pushes",
    "after local writes, a full cycle every --sync-interval (default 60s; it carries sync alone",
    "while the stream is down, or with STOWAGE_LIVE=0), and retries with backoff after failures.",
    "",
    "  stowage sync --url http://127.0.0.1:8787 --key stw_…",
    "  STOWAGE_SYNC_INTERVAL=5s stowage sync --watch",
  ].join("\n"),
  flags: [{ name: "watch", type: "boolean", short: "w", help: "keep syncing until interrupted" }],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    if (!ctx.global.url && !ctx.global.rest) throw new UsageError("sync needs a server: pass --url URL (or set STOWAGE_URL) and --key KEY, or --rest FILE for a REST API");
    if (httpOnly(ctx)) throw new UsageError("nothing to sync in http-only mode (--sync-disable): every write already went to the server");
    return args.flags.watch ? watch(ctx) : once(ctx);
  },
};
export default sync;

async function once(ctx: CliContext): Promise<number> {
  const bar = progress(ctx, "sync", "changes");
  let moved = 0;
  const handle = await openSynced(ctx, {
    autoSync: false,
    onTrace: (line) => {
      const m = /^(push|pull):(\d+)/.exec(line);
      if (m) bar.update((moved += Number(m[2])));
    },
  });
  try {
    const result = await handle.sync();
    bar.finish();
    const status = await handle.status();
    if (ctx.global.json) printJson(ctx, { ...result, outbox: status.outbox.size, cursor: status.cursor });
    else {
      ctx.io.out(`pushed ${result.pushed}, pulled ${result.pulled}${result.reset ? " (full resync)" : ""}; ${status.outbox.size} still queued\n`);
      if (!result.leased) ctx.io.err("another process holds the sync lease for this database; it syncs instead\n");
      for (const issue of result.issues) ctx.io.err(`${issue.kind}: ${issue.collection}/${issue.id}: ${issue.message}\n`);
      const waiting = result.unresolved ?? [];
      if (waiting.length) ctx.io.err(`unresolved: ${waiting.length} document${waiting.length === 1 ? "" : "s"} still wait for the server's value (a refused write may still show; sync again): ${waiting.slice(0, 5).map((d) => `${d.collection}/${d.id}`).join(", ")}\n`);
    }
    return result.issues.length ? EXIT.refused : EXIT.ok;
  } finally {
    bar.finish();
    await handle.close();
  }
}

async function watch(ctx: CliContext): Promise<number> {
  const handle = await openSynced(ctx, { autoSync: true });
  const line = (text: string) => ctx.io.err(`${paint(ctx, "dim", new Date().toISOString())} ${text}\n`);
  handle.on("sync", (r) => {
    if (ctx.global.json) printJson(ctx, { event: "sync", pushed: r.pushed, pulled: r.pulled, reset: r.reset });
    else if (r.pushed || r.pulled || r.reset) line(`pushed ${r.pushed}, pulled ${r.pulled}${r.reset ? " (full resync)" : ""}`);
  });
  handle.on("online", (online) => {
    if (ctx.global.json) printJson(ctx, { event: "online", online });
    else line(online ? paint(ctx, "green", "server reachable") : paint(ctx, "yellow", "server unreachable; writes stay queued"));
  });
  handle.on("live", (up) => {
    if (ctx.global.json) printJson(ctx, { event: "live", connected: up });
    else line(up ? "live stream connected" : paint(ctx, "yellow", "live stream down; syncing on the interval until it is back"));
  });
  handle.on("error", (e) => {
    if (ctx.global.json) printJson(ctx, { event: "error", code: e.code, message: e.message });
    else line(`${paint(ctx, "red", "error")} ${e.message} (retrying)`);
  });
  if (!ctx.global.json) line(`syncing ${ctx.global.db} with ${ctx.global.url ?? `the REST API in ${ctx.global.rest}`}; Ctrl-C to stop`);
  await new Promise<void>((resolve) => ctx.io.onInterrupt(resolve));
  await handle.close();
  return EXIT.ok;
}
