/** The sync server's library API: the handler, the store, tenants and keys, gc. */
export { createServerHandler, DEFAULT_LIMITS, type ServerHandlerOptions, type ServerLimits } from "./handler.ts";
export { openServerStore, type OpenServerStoreOptions, type ServerStore } from "./store.ts";
export { createKey, createTenant, findTenant, listKeys, listTenants, revokeKey, authenticate, type KeyInfo, type Principal, type Tenant } from "./keys.ts";
export { gc, startGc, type GcOptions, type GcReport } from "./gc.ts";
export type { RateLimit } from "./rate-limit.ts";
export { sha256Hex, constantTimeEqual } from "./keys.ts";
export { jwtAuthenticator, type JwtOptions } from "./auth/jwt.ts";
export type { AuthOptions } from "./auth/authenticate.ts";
export type { AuthenticateHook, Identity, Scope } from "./auth/principal.ts";
export type { AuthorizeHook, DocSchema, ResolveHook, ResolveInput, RuleOp, RulesOptions } from "./rules.ts";
export { jsonSchemaValidators } from "./json-schema.ts";
