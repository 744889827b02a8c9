import type { CommandEntry } from "../context.ts";

/**
 * Every `stowage <name>` command. One line each; the module loads only when its command runs,
 * so `stowage --version` and `stowage get` start without loading the server or the engine.
 * A module's default export is a `Command` (src/cli/context.ts).
 */
export const COMMANDS: Record<string, CommandEntry> = {
  put: { summary: "create or replace a document", load: () => import("./put.ts") },
  patch: { summary: "merge fields into a document", load: () => import("./patch.ts") },
  get: { summary: "print one document", load: () => import("./get.ts") },
  list: { summary: "list documents (filters, order, limit) or collections", load: () => import("./list.ts") },
  rm: { summary: "delete documents", load: () => import("./rm.ts") },
  sync: { summary: "push local writes and pull others', once or --watch", load: () => import("./sync.ts") },
  watch: { summary: "print each change to a collection as it happens (tail -f for data)", load: () => import("./watch.ts") },
  status: { summary: "mode, queued writes, server reachability", load: () => import("./status.ts") },
  serve: { summary: "run the sync server", load: () => import("./serve.ts") },
  keys: { summary: "create, list and revoke the server's API keys", load: () => import("./keys.ts") },
  gc: { summary: "purge old tombstones from the server's database", load: () => import("./gc.ts") },
  clients: { summary: "list the server's clients and how far behind each is", load: () => import("./clients.ts") },
  backup: { summary: "copy the SQLite server database consistently while serve runs", load: () => import("./backup.ts") },
  demo: { summary: "a server and two clients converging, in a few seconds (npm start)", load: () => import("./demo.ts") },
  export: { summary: "write every document as NDJSON", load: () => import("./export.ts") },
  import: { summary: "read NDJSON documents into the database", load: () => import("./import.ts") },
  search: { summary: "full-text search a collection (ranked, with snippets)", load: () => import("./search.ts") },
  conformance: { summary: "run the protocol conformance suite against any sync server", load: () => import("./conformance.ts") },
  version: { summary: "version, commit, build target, protocol and schema versions (--json)", load: () => import("./version.ts") },
  rest: { summary: "check a REST API mapping against the live API (rest check FILE)", load: () => import("./rest.ts") },
  mcp: { summary: "Model Context Protocol server over stdio (store, recall, …)", load: () => import("./mcp.ts") },
};
