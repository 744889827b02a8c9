import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { StowageError } from "../errors.ts";
import type { JsonObject } from "../json.ts";
import type { ListOptions } from "../store/types.ts";
import type { McpBackend } from "./backend.ts";
import { json, ok, preview, toolError } from "./format.ts";

/** The collection tools use when none is named: schemaless, searchable with no setup. */
export const DEFAULT_COLLECTION = "memories";
/** Fields full-text search covers in collections the server was not told about. */
export const DEFAULT_SEARCH_FIELDS = ["title", "content", "tags"];

export interface ToolOptions {
  /** Search fields per collection; others use DEFAULT_SEARCH_FIELDS. */
  search?: Record<string, string[]>;
}

const collection = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,62}$/, "a collection name is 1-63 characters: a-z first, then a-z, 0-9 or _")
  .optional()
  .describe(`Collection name (default "${DEFAULT_COLLECTION}")`);
const id = z.string().min(1).max(200).describe("Document id");
const doc = z.record(z.string(), z.unknown());
const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const filter = z.union([
  scalar,
  z.strictObject({ eq: scalar, ne: scalar, gt: scalar, gte: scalar, lt: scalar, lte: scalar, in: z.array(scalar).min(1).max(1000) }).partial(),
]);

/** Registers store, get, list, recall, update, delete and sync_status on `server`. */
export function registerTools(server: McpServer, backend: McpBackend, options: ToolOptions = {}): void {
  // Configured fields win; else those of an index an application already declared; else defaults.
  const fieldsOf = async (name: string) =>
    options.search?.[name] ?? (await backend.indexedFields?.(name).catch(() => undefined)) ?? DEFAULT_SEARCH_FIELDS;
  const open = async (name: string | undefined) => {
    const n = name ?? DEFAULT_COLLECTION;
    return { name: n, c: backend.collection(n, await fieldsOf(n)) };
  };
  // Every handler's failure becomes a tool error naming the problem; nothing reaches the transport.
  const guard = <A>(fn: (args: A) => Promise<CallToolResult>) => async (args: A): Promise<CallToolResult> => {
    try {
      return await fn(args);
    } catch (e) {
      return toolError(e);
    }
  };

  server.registerTool(
    "store",
    {
      title: "Store a document",
      description:
        `Saves a document (a memory, a note, a fact) locally at once; it syncs in the background when a server is configured. ` +
        `Give content and optionally title and tags, and/or any other fields. With the id of an existing document it replaces that document whole (use update to change some fields).`,
      inputSchema: {
        collection,
        id: id.optional().describe("Document id (generated when absent)"),
        content: z.string().max(1_000_000).optional().describe("The text to remember"),
        title: z.string().max(10_000).optional().describe("A short title"),
        tags: z.array(z.string().max(200)).max(100).optional().describe("Tags"),
        fields: doc.optional().describe("Any other fields, as a JSON object"),
      },
      outputSchema: { collection: z.string(), id: z.string(), document: doc },
      annotations: { destructiveHint: false, idempotentHint: false },
    },
    guard(async (a) => {
      const value: JsonObject = { ...((a.fields ?? {}) as JsonObject) };
      if (a.title !== undefined) value.title = a.title;
      if (a.content !== undefined) value.content = a.content;
      if (a.tags !== undefined) value.tags = a.tags;
      if (a.id !== undefined) value.id = a.id;
      if (Object.keys(value).every((k) => k === "id")) {
        throw new StowageError("input", "store needs something to store: content, title, tags or fields");
      }
      const { name, c } = await open(a.collection);
      const saved = await c.put(value);
      return ok(`Stored ${name}/${saved.id}`, { collection: name, id: saved.id, document: saved });
    }),
  );

  server.registerTool(
    "get",
    {
      title: "Get a document",
      description: "Reads one document by id.",
      inputSchema: { collection, id },
      outputSchema: { collection: z.string(), id: z.string(), document: doc },
      annotations: { readOnlyHint: true },
    },
    guard(async (a) => {
      const { name, c } = await open(a.collection);
      const found = await c.get(a.id);
      if (!found) throw new StowageError("input", `document ${name}/${a.id} not found`);
      return ok(json(found), { collection: name, id: a.id, document: found });
    }),
  );

  server.registerTool(
    "list",
    {
      title: "List documents",
      description:
        `Lists documents, newest id first by default. Filter with where: {"field": value} for equality, or {"field": {"gte": 3, "lt": 9}}, {"field": {"in": [..]}}; dotted paths reach nested fields. ` +
        `Pass next as cursor for the following page.`,
      inputSchema: {
        collection,
        where: z.record(z.string(), filter).optional().describe("Field filters, all of which must hold"),
        orderBy: z.string().max(200).optional().describe('Field to order by; prefix "-" for descending (default "-id": newest first)'),
        limit: z.number().int().min(1).max(100).optional().describe("Page size, 1-100 (default 20)"),
        cursor: z.string().max(10_000).optional().describe("The next value of the previous page"),
      },
      outputSchema: { collection: z.string(), items: z.array(doc), next: z.string().optional() },
      annotations: { readOnlyHint: true },
    },
    guard(async (a) => {
      const { name, c } = await open(a.collection);
      const opts: ListOptions = { orderBy: a.orderBy ?? "-id", limit: a.limit ?? 20 };
      if (a.where) opts.where = a.where as ListOptions["where"];
      if (a.cursor) opts.cursor = a.cursor;
      const page = await c.list(opts);
      const lines = page.items.map((d) => `- ${d.id}: ${preview(d)}`);
      const head = page.items.length ? `${page.items.length} document(s) in ${name}:` : `No documents in ${name} match.`;
      const tail = page.next ? `\nMore: pass cursor "${page.next}".` : "";
      const structured: Record<string, unknown> = { collection: name, items: page.items };
      if (page.next) structured.next = page.next;
      return ok([head, ...lines].join("\n") + tail, structured);
    }),
  );

  server.registerTool(
    "recall",
    {
      title: "Recall (full-text search)",
      description:
        `Finds documents by words, best matches first, with snippets. Plain words; "quoted phrase"; word* for a prefix. ` +
        `Searches ${DEFAULT_SEARCH_FIELDS.join(", ")} unless the collection is configured otherwise. Includes writes not yet synced.`,
      inputSchema: {
        query: z.string().min(1).max(1000).describe("Words to look for"),
        collection,
        limit: z.number().int().min(1).max(50).optional().describe("Most results, 1-50 (default 10)"),
        match: z.enum(["all", "any", "auto"]).optional().describe('"all" words, "any" word, or "auto" (default): all, then any if nothing matches all'),
      },
      outputSchema: {
        collection: z.string(),
        query: z.string(),
        engine: z.string(),
        match: z.string(),
        note: z.string().optional(),
        hits: z.array(z.object({ id: z.string(), score: z.number(), snippet: z.string(), document: doc })),
      },
      annotations: { readOnlyHint: true },
    },
    guard(async (a) => {
      const { name, c } = await open(a.collection);
      const r = await c.search(a.query, { limit: a.limit ?? 10, match: a.match ?? "auto" });
      const head = r.hits.length
        ? `${r.hits.length} match(es) in ${name} for ${JSON.stringify(a.query)}${r.match === "any" ? " (any word)" : ""}:`
        : `Nothing in ${name} matches ${JSON.stringify(a.query)}.`;
      const lines = r.hits.map((h, i) => `${i + 1}. ${h.id}: ${(h.snippet || preview(h.doc)).replace(/\s+/g, " ")}`);
      if (r.note) lines.push(`(${r.note})`);
      const structured: Record<string, unknown> = {
        collection: name,
        query: a.query,
        engine: r.engine,
        match: r.match,
        hits: r.hits.map((h) => ({ id: h.id, score: h.score, snippet: h.snippet, document: h.doc })),
      };
      if (r.note) structured.note = r.note;
      return ok([head, ...lines].join("\n"), structured);
    }),
  );

  server.registerTool(
    "update",
    {
      title: "Update a document",
      description: 'Changes some fields of a document (JSON Merge Patch: given fields replace, null removes a field, nested objects merge). Example patch: {"title": "new", "draft": null}.',
      inputSchema: { collection, id, patch: doc.describe("Fields to change; null removes a field") },
      outputSchema: { collection: z.string(), id: z.string(), document: doc },
      annotations: { destructiveHint: false, idempotentHint: true },
    },
    guard(async (a) => {
      const { name, c } = await open(a.collection);
      const updated = await c.patch(a.id, a.patch as JsonObject);
      return ok(`Updated ${name}/${a.id}`, { collection: name, id: a.id, document: updated });
    }),
  );

  server.registerTool(
    "delete",
    {
      title: "Delete a document",
      description: "Deletes a document by id; the delete syncs like any write.",
      inputSchema: { collection, id },
      outputSchema: { collection: z.string(), id: z.string(), existed: z.boolean() },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    guard(async (a) => {
      const { name, c } = await open(a.collection);
      const existed = await c.delete(a.id);
      const text = existed ? `Deleted ${name}/${a.id}` : `${name}/${a.id} was not stored here; the delete is queued in case the server has it`;
      return ok(text, { collection: name, id: a.id, existed });
    }),
  );

  server.registerTool(
    "sync_status",
    {
      title: "Sync status",
      description: "Mode (local, hybrid, http-only), whether the server answers, queued writes, last sync and last error. With sync: true, runs a sync cycle first.",
      inputSchema: { sync: z.boolean().optional().describe("Run a sync cycle now (push queued writes, pull changes) before reporting") },
      outputSchema: { mode: z.string(), status: z.record(z.string(), z.unknown()), sync: z.record(z.string(), z.unknown()).optional() },
      annotations: { readOnlyHint: false },
    },
    guard(async (a) => {
      let ran: Record<string, unknown> | undefined;
      let syncError: string | undefined;
      if (a.sync) {
        if (!backend.sync) throw new StowageError("config", `no sync server is configured (mode ${backend.mode}): set STOWAGE_URL and STOWAGE_API_KEY`);
        try {
          ran = await backend.sync();
        } catch (e) {
          syncError = e instanceof Error ? e.message : String(e);
        }
      }
      const status = await backend.status();
      const lines = [`mode: ${backend.mode}`, ...Object.entries(status).filter(([k]) => k !== "mode").map(([k, v]) => `${k}: ${typeof v === "object" && v !== null ? JSON.stringify(v) : String(v)}`)];
      if (ran) lines.unshift(`sync: ${JSON.stringify(ran)}`);
      if (syncError) lines.unshift(`sync failed: ${syncError}`);
      const structured: Record<string, unknown> = { mode: backend.mode, status };
      if (ran) structured.sync = ran;
      return ok(lines.join("\n"), structured);
    }),
  );
}
