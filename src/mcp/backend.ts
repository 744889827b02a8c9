import type { JsonObject } from "../json.ts";
import { indexedFields } from "../search/fts-index.ts";
import { scanSearch } from "../search/scan.ts";
import type { Stowage } from "../stowage.ts";
import { all } from "../store/sql.ts";
import type { SearchOptions, SearchResult } from "../search/types.ts";
import type { Doc, FieldFilter, ListOptions, ListPage } from "../store/types.ts";
import type { Subscription } from "../store/subscriptions.ts";

/** The collection operations the MCP tools use, whatever the mode behind them. */
export interface McpCollection {
  /** Creates or replaces a document. */
  put(value: JsonObject): Promise<Doc<JsonObject>>;
  /** Reads one document. */
  get(id: string): Promise<Doc<JsonObject> | undefined>;
  /** Lists with filters and pagination. */
  list(options: ListOptions): Promise<ListPage<JsonObject>>;
  /** Merges a JSON Merge Patch. */
  patch(id: string, patch: JsonObject): Promise<Doc<JsonObject>>;
  /** Deletes; answers whether the document existed. */
  delete(id: string): Promise<boolean>;
  /** Full-text search over the collection's search fields. */
  search(query: string, options: SearchOptions): Promise<SearchResult<JsonObject>>;
}

/** What the MCP server runs on: the local store, or a Stowage handle in any mode. */
export interface McpBackend {
  /** `local`, `hybrid` or `http-only`. */
  readonly mode: string;
  /** A collection handle whose full-text search covers `search`. */
  collection(name: string, search: string[]): McpCollection;
  /** The fields a collection's existing search index covers (declared by an app), if any. */
  indexedFields?(name: string): Promise<string[] | undefined>;
  /** Mode, outbox, last sync and errors, as plain JSON. */
  status(): Promise<Record<string, unknown>>;
  /** Runs one sync cycle now and answers what it did; absent when there is no server. */
  sync?(): Promise<Record<string, unknown>>;
  /** Collections holding documents (resources/list); absent in http-only mode. */
  collections?(): Promise<string[]>;
  /** Partial sync (issue 34): absent without a local store synced with a Stowage server. */
  subscriptions?: {
    list(): Promise<(Subscription & { id: string })[] | null>;
    subscribe(collection: string, where?: Record<string, FieldFilter>): Promise<string>;
    unsubscribe(which: string): Promise<number>;
  };
  /** Calls `fn` after each committed change to a collection (resource subscriptions); answers the unsubscribe. */
  onChange?(fn: (collection: string) => void): () => void;
}

/**
 * Any mode through an open Stowage handle. Local and hybrid collections search the local
 * FTS index (pending writes included), or a LIKE scan when the adapter declares no FTS5;
 * http-only collections scan the server's documents.
 */
export function stowageBackend(stowage: Stowage): McpBackend {
  const store = stowage.store;
  const backend: McpBackend = {
    mode: stowage.mode,
    collection(name, search) {
      const c = stowage.collection(name, { search }) as unknown as McpCollection;
      // No local store (http-only): scan the server. An adapter without FTS5: LIKE scan locally.
      const local = store ? c.search : undefined;
      if (local && store?.adapter.capabilities.fts5 !== false) return c;
      return {
        put: (value) => c.put(value),
        get: (id) => c.get(id),
        list: (options) => c.list(options),
        patch: (id, patch) => c.patch(id, patch),
        delete: (id) => c.delete(id),
        search: local
          ? (query, options) => local.call(c, query, { ...options, engine: "like" })
          : (query, options) => scanSearch<JsonObject>((o) => c.list(o), name, search, query, options),
      };
    },
    async status() {
      return { ...(await stowage.status()) } as unknown as Record<string, unknown>;
    },
  };
  if (store) {
    backend.indexedFields = (name) => indexedFields((fn) => fn(store.db), name);
    backend.collections = async () =>
      (await all<{ collection: string }>(store.db, "select distinct collection from _stowage_docs order by collection")).map((r) => r.collection);
    backend.onChange = (fn) => stowage.on("change", (e) => fn(e.collection));
  }
  if (stowage.mode === "hybrid" && stowage.engine?.partialSupported) {
    backend.subscriptions = {
      list: () => stowage.subscriptions(),
      subscribe: (collection, where) => stowage.subscribe(collection, where === undefined ? {} : { where }),
      unsubscribe: (which) => stowage.unsubscribe(which),
    };
  }
  if (stowage.mode === "hybrid") backend.sync = async () => ({ ...(await stowage.sync()) }) as unknown as Record<string, unknown>;
  return backend;
}
