import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import type { McpBackend } from "./backend.ts";

const PREFIX = "stowage://collection/";
/** Documents a resource read returns; an agent wanting more uses the list tool's pages. */
const READ_LIMIT = 1000;

/**
 * Collections as MCP resources (`stowage://collection/NAME`: the documents as JSON), with
 * subscriptions: after a committed local write or a pulled page touching a subscribed
 * collection the client gets `notifications/resources/updated` and re-reads. Only backends
 * with a local store can announce changes (http-only mode lists and reads, but never notifies).
 */
export function registerResources(server: McpServer, backend: McpBackend): void {
  const subscribed = new Set<string>();
  server.registerResource(
    "collection",
    new ResourceTemplate(`${PREFIX}{name}`, {
      list: async () => ({
        resources: ((await backend.collections?.()) ?? []).map((name) => ({ uri: PREFIX + name, name, mimeType: "application/json" })),
      }),
    }),
    { title: "A collection's documents", description: `The documents of a collection as a JSON array (first ${READ_LIMIT}, in id order)`, mimeType: "application/json" },
    async (uri, vars) => {
      const name = String(vars.name);
      const page = await backend.collection(name, []).list({ limit: READ_LIMIT });
      return { contents: [{ uri: uri.href, mimeType: "application/json", text: JSON.stringify(page.items) }] };
    },
  );
  if (!backend.onChange) return;
  server.server.registerCapabilities({ resources: { subscribe: true, listChanged: true } });
  server.server.setRequestHandler(SubscribeRequestSchema, async (req) => {
    subscribed.add(req.params.uri);
    return {};
  });
  server.server.setRequestHandler(UnsubscribeRequestSchema, async (req) => {
    subscribed.delete(req.params.uri);
    return {};
  });
  backend.onChange((collection) => {
    const uri = PREFIX + collection;
    // A closed transport only means nobody is listening any more.
    if (subscribed.has(uri)) server.server.sendResourceUpdated({ uri }).catch(() => {});
  });
}
