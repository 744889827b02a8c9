/** The sync server's library API: the handler, the store, tenants and keys, gc. */
export { createServerHandler, DEFAULT_LIMITS, type ServerHandler, type ServerHandlerOptions, type ServerLimits } from "./handler.ts";
export { ChangeFeed, listenerSource, type ChangeFeedOptions, type ChangeSource, type PokeListener } from "./events/feed.ts";
export { sqliteChangeSource, type SqliteSourceOptions } from "./events/sqlite-source.ts";
export { DEFAULT_EVENT_OPTIONS, type EventStreamOptions } from "./events/sse.ts";
export { openServerStore, type OpenServerStoreOptions, type ServerStore } from "./store.ts";
export { createKey, createTenant, findTenant, listKeys, listTenants, revokeKey, authenticate, type KeyInfo, type Principal, type Tenant } from "./keys.ts";
export { gc, startGc, type GcOptions, type GcReport } from "./gc.ts";
export type { RateLimit } from "./rate-limit.ts";
export { sha256Hex, constantTimeEqual } from "./keys.ts";
