/** The sync server's library API: the handler, the store, tenants and keys, gc. */
export { createServerHandler, DEFAULT_LIMITS, type ServerHandler, type ServerHandlerOptions, type ServerLimits } from "./handler.ts";
export { ChangeFeed, listenerSource, type ChangeFeedOptions, type ChangeSource, type PokeListener } from "./events/feed.ts";
export { sqliteChangeSource, type SqliteSourceOptions } from "./events/sqlite-source.ts";
export { DEFAULT_EVENT_OPTIONS, type EventStreamOptions } from "./events/sse.ts";
export { openServerStore, type OpenServerStoreOptions, type ServerStore } from "./store.ts";
export { cacheKeyRows, ROW_TTL_MS, type KeyInvalidations } from "./auth/key-cache.ts";
export { createKey, createTenant, findTenant, listKeys, listTenants, revokeKey, authenticate, type KeyInfo, type Principal, type Tenant } from "./keys.ts";
export { gc, startGc, type GcOptions, type GcReport } from "./gc.ts";
export type { RateLimit } from "./rate-limit.ts";
export { sha256Hex, constantTimeEqual } from "./keys.ts";
// Operating the server: logs, metrics, CORS, draining and client activity around the handler.
export { createServerOps, type OpsOptions, type ServerOps } from "./ops/wrap.ts";
export { Metrics, serverMetrics, type ServerMetrics } from "./ops/metrics.ts";
export { createLogger, type Logger, type LogFormat, type LogLevel } from "./ops/log.ts";
export { ClientActivity, listClients, type ClientInfo } from "./ops/clients.ts";
export type { ServerHooks, PullInfo } from "./ops/hooks.ts";
export { DEFAULT_RATE } from "./rate-limit.ts";
// Embedding: authentication (hook, JWT), per-op rules, JSON Schema validation.
export { jwtAuthenticator, type JwtOptions } from "./auth/jwt.ts";
export type { AuthOptions } from "./auth/authenticate.ts";
export type { AuthenticateHook, Identity, Scope } from "./auth/principal.ts";
export type { AuthorizeHook, DocSchema, ResolveHook, ResolveInput, RuleOp, RulesOptions } from "./rules.ts";
export { jsonSchemaValidators } from "./json-schema.ts";
