import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { httpOnly, openSynced } from "../local.ts";
import { printJson } from "../output.ts";
import { loadRestConfig } from "../rest-config.ts";
import { resolveRestConfig } from "../../sync/rest/config.ts";

const USAGE = "status";

const status: Command = {
  usage: USAGE,
  summary: "mode, database, queued writes, server reachability",
  help: [
    "Shows the mode (local, hybrid, http-only), where the data lives, how many writes wait in the",
    "outbox and how old the oldest is, recorded conflicts, the pull cursor, and whether the server",
    "answers GET /v1/health now (exit 0 either way: an offline server is a state, not an error).",
    "With --rest FILE: the REST API's base URL, its resources and the mode, and whether it answers.",
    "`holds`: the subscriptions (partial sync, --only) the database keeps, or the whole tenant;",
    "--json lists them as `subscriptions` (null: the whole tenant).",
  ].join("\n"),
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const handle = await openSynced(ctx, { autoSync: false });
    let s;
    try {
      s = await handle.status();
    } finally {
      await handle.close();
    }
    const server = ctx.global.url ? await health(ctx.global.url) : null;
    const api = ctx.global.rest === undefined ? null : await restApi(ctx, ctx.global.rest);
    const report = {
      ...s,
      db: httpOnly(ctx) ? null : ctx.global.db,
      url: ctx.global.url ?? null,
      server,
      ...(api ? { rest: api } : {}),
    };
    if (ctx.global.json) {
      printJson(ctx, report);
      return EXIT.ok;
    }
    const age = (ms: number | null) => (ms === null ? "" : ` (oldest ${formatAge(ms)} old)`);
    const rows: [string, string][] = [
      ["mode", s.mode],
      ["database", report.db ?? "(none: http-only)"],
      ["client", s.clientId ?? ""],
      ["outbox", `${s.outbox.size} queued${age(s.outbox.oldestAgeMs)}`],
      ["conflicts", `${s.conflicts} conflicts, ${s.rejections} rejections${s.unresolved ? `, ${s.unresolved} documents waiting for their server value` : ""}`],
    ];
    if (api) {
      const reach = await health(api.baseUrl, "");
      const seen = reach.ok || reach.error?.startsWith("HTTP") ? `reachable (${reach.ms} ms)` : `unreachable: ${reach.error}`;
      rows.push(["server", `REST API ${api.baseUrl} (${api.resources.join(", ")}; config ${api.config}), ${s.mode} mode — ${seen}`]);
    } else if (ctx.global.url) {
      const a = s.auth;
      const how = ctx.global.tokenCommand !== undefined ? "token command" : "API key";
      rows.push(["auth", `${how}: ${a.state}${a.reason ? `: ${a.reason}` : ""}${a.expiresAt ? ` (token expires ${new Date(a.expiresAt).toISOString()})` : ""}`]);
      rows.push(["server", `${ctx.global.url} — ${server!.ok ? `reachable (${server!.ms} ms)` : `unreachable: ${server!.error}`}`]);
      rows.push(["cursor", s.cursor ?? "(never pulled)"]);
      rows.push(["holds", s.subscriptions ? (s.subscriptions.length ? s.subscriptions.map(formatSubscription).join("  ") : "nothing (no subscriptions)") : "the whole tenant"]);
    } else rows.push(["server", "none (local mode): set --url/STOWAGE_URL and --key/STOWAGE_API_KEY to sync"]);
    for (const [k, v] of rows) ctx.io.out(`${k.padEnd(10)} ${v}\n`);
    return EXIT.ok;
  },
};
export default status;

/** GET `path` on the server (any HTTP answer from a REST API's base URL means it is there). */
async function health(url: string, path = "/v1/health"): Promise<{ ok: boolean; ms: number; error?: string }> {
  const start = Date.now();
  try {
    const res = await fetch(path ? new URL(path, url) : url, { signal: AbortSignal.timeout(3000) });
    await res.body?.cancel();
    return res.ok ? { ok: true, ms: Date.now() - start } : { ok: false, ms: Date.now() - start, error: `HTTP ${res.status}` };
  } catch (e) {
    return { ok: false, ms: Date.now() - start, error: (e as Error).message };
  }
}

/** `todos`, `notes:where={"owner":"ann"}`: the form `--only` takes back. */
function formatSubscription(s: { collection: string; where?: unknown }): string {
  return s.where === undefined ? s.collection : `${s.collection}:where=${JSON.stringify(s.where)}`;
}

function formatAge(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)} min`;
  return `${Math.round(ms / 3_600_000)} h`;
}

/** The REST API a `--rest FILE` names, for the status line. */
async function restApi(ctx: Parameters<Command["run"]>[0], path: string): Promise<{ config: string; baseUrl: string; resources: string[] }> {
  const c = resolveRestConfig(await loadRestConfig(ctx, path), ctx.global.key ?? null);
  return { config: path, baseUrl: c.baseUrl, resources: Object.entries(c.resources).map(([name, r]) => `${name} → ${r}`) };
}
