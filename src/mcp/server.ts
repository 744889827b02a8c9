import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { McpBackend } from "./backend.ts";
import { registerResources } from "./resources.ts";
import { registerSubscriptionTools } from "./subscription-tools.ts";
import { DEFAULT_COLLECTION, registerTools, type ToolOptions } from "./tools.ts";

export interface McpServerOptions extends ToolOptions {
  /** Reported to clients in `initialize`. */
  version: string;
}

const INSTRUCTIONS =
  `Stowage is a local-first document store: writes land on this machine at once and sync to a server in the background, ` +
  `so store and recall keep working when the server is down. Use "store" to remember something (content, title, tags), ` +
  `"recall" to find it again by words, "get"/"list" to read, "update" and "delete" to change. ` +
  `The default collection is "${DEFAULT_COLLECTION}". "sync_status" tells whether everything has reached the server.`;

/** The Stowage MCP server on `backend`; connect it to a transport (see LineTransport). */
export function createMcpServer(backend: McpBackend, options: McpServerOptions): McpServer {
  const server = new McpServer({ name: "stowage", version: options.version }, { instructions: INSTRUCTIONS });
  registerTools(server, backend, options);
  registerSubscriptionTools(server, backend);
  registerResources(server, backend);
  return server;
}
