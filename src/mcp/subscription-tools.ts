import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";
import type { McpBackend } from "./backend.ts";
import { ok, toolError } from "./format.ts";

const scalar = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const filter = z.union([
  scalar,
  z.strictObject({ eq: scalar, ne: scalar, gt: scalar, gte: scalar, lt: scalar, lte: scalar, in: z.array(scalar).min(1).max(1000) }).partial(),
]);
const collection = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, "a collection name is 1-63 characters: a-z first, then a-z, 0-9 or _");

/**
 * Partial sync tools (issue 34), when the backend has a local store synced with a Stowage
 * server: `subscriptions` lists what this database holds, `subscribe` adds a collection (or
 * part of one), `unsubscribe` drops one. `stowage mcp --only …` sets them at start.
 */
export function registerSubscriptionTools(server: McpServer, backend: McpBackend): void {
  const subs = backend.subscriptions;
  if (!subs) return;
  const listed = async () => {
    const list = await subs.list();
    const text = list === null ? "This database holds the whole tenant (no subscriptions)." : list.length === 0 ? "No subscriptions: this database holds only its own pending writes." : list.map((s) => `- ${s.collection}${s.where ? ` where ${JSON.stringify(s.where)}` : ""} (id ${s.id})`).join("\n");
    return { list, text };
  };
  server.registerTool(
    "subscriptions",
    {
      title: "List subscriptions",
      description: "What this database holds (partial sync): its subscriptions, each a collection and an optional filter; none means the whole tenant.",
      inputSchema: {},
      annotations: { readOnlyHint: true },
    },
    async () => {
      try {
        const { list, text } = await listed();
        return ok(text, { subscriptions: list });
      } catch (e) {
        return toolError(e);
      }
    },
  );
  server.registerTool(
    "subscribe",
    {
      title: "Subscribe",
      description:
        "Holds (and keeps syncing) the documents of a collection that a filter matches, besides those already held; without a filter, the whole collection. " +
        'Filters are as in list: {"owner": "ann", "n": {"gte": 2}}. From the whole tenant, the database then holds just this subscription.',
      inputSchema: { collection, where: z.record(z.string(), filter).optional().describe("Field filters, all of which must hold") },
      annotations: { destructiveHint: false, idempotentHint: true },
    },
    async (a) => {
      try {
        const id = await subs.subscribe(a.collection, a.where as Record<string, never> | undefined);
        return ok(`Subscribed (id ${id}); documents arrive with the next sync.`, { id });
      } catch (e) {
        return toolError(e);
      }
    },
  );
  server.registerTool(
    "unsubscribe",
    {
      title: "Unsubscribe",
      description: "Drops a subscription (by its id from subscriptions) or every subscription on a collection (by its name). Documents no remaining subscription matches are removed from this database, never from the server.",
      inputSchema: { which: z.string().min(1).max(10_000).describe("A subscription id, or a collection name") },
      annotations: { destructiveHint: true, idempotentHint: true },
    },
    async (a) => {
      try {
        const n = await subs.unsubscribe(a.which);
        return ok(n === 0 ? `No subscription matched ${a.which}.` : `Dropped ${n} subscription${n === 1 ? "" : "s"}.`, { removed: n });
      } catch (e) {
        return toolError(e);
      }
    },
  );
}
