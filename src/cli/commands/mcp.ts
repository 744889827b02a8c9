import { StowageError, describeValue } from "../../errors.ts";
import { stowageBackend } from "../../mcp/backend.ts";
import { LineTransport } from "../../mcp/line-transport.ts";
import { createMcpServer } from "../../mcp/server.ts";
import { DEFAULT_COLLECTION, DEFAULT_SEARCH_FIELDS } from "../../mcp/tools.ts";
import { assertCollectionName, assertFieldPath } from "../../names.ts";
import { expectPositionals } from "../args.ts";
import { EXIT, type Command } from "../context.ts";
import { openSynced } from "../local.ts";

const USAGE = "mcp [--search COLLECTION=FIELD,FIELD]...";

const mcp: Command = {
  usage: USAGE,
  summary: "Model Context Protocol server over stdio: store, recall (full-text), get, list, update, delete, sync status",
  help: [
    "Speaks MCP (JSON-RPC, one message per line) on stdin/stdout until stdin closes; logs go to stderr.",
    `Documents go to the "${DEFAULT_COLLECTION}" collection unless a tool names another; recall searches`,
    `the fields --search gives for the collection, else those of its existing index (an application`,
    `declared them), else ${DEFAULT_SEARCH_FIELDS.join(", ")}.`,
    "With a server, --only (STOWAGE_ONLY) makes the database hold just those documents (partial",
    "sync; see the global flag), and the tools subscriptions, subscribe and unsubscribe change them.",
    "",
    "Client configuration (Claude Desktop, Cursor, …):",
    '  { "mcpServers": { "stowage": { "command": "stowage", "args": ["mcp"],',
    '      "env": { "STOWAGE_URL": "https://…", "STOWAGE_API_KEY": "…" } } } }',
  ].join("\n"),
  flags: [{ name: "search", type: "list", value: "COLLECTION=FIELDS", help: "full-text fields of a collection, e.g. notes=title,body (repeatable)" }],
  async run(ctx, args) {
    expectPositionals(args, 0, 0, USAGE);
    const search = parseSearchFlags((args.flags.search as string[] | undefined) ?? []);
    // Local, hybrid (background sync; works offline) or http-only, as flags and environment say.
    const stowage = await openSynced(ctx, { autoSync: true });
    try {
      const server = createMcpServer(stowageBackend(stowage), { version: ctx.io.version, search });
      const stdout = await ctx.io.openWriter("-");
      const transport = new LineTransport({ lines: ctx.io.readLines("-"), write: (text) => stdout.write(text) });
      transport.onerror = (e) => ctx.io.err(`stowage mcp: ${e.message}\n`);
      ctx.io.onInterrupt(() => void transport.close());
      await server.connect(transport);
      await transport.finished;
      await server.close().catch(() => {});
    } finally {
      await stowage.close();
    }
    return EXIT.ok;
  },
};
export default mcp;

/** `notes=title,body` → { notes: ["title", "body"] }. */
export function parseSearchFlags(values: string[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw new StowageError("input", `--search expects COLLECTION=FIELD,FIELD, got ${describeValue(v)}`);
    const name = assertCollectionName(v.slice(0, eq));
    const fields = v.slice(eq + 1).split(",").map((f) => f.trim()).filter(Boolean);
    if (fields.length === 0) throw new StowageError("input", `--search ${describeValue(v)} names no fields`);
    out[name] = fields.map((f) => assertFieldPath(f));
  }
  return out;
}
