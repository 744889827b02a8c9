import { StowageError } from "../../errors.ts";
import { HttpError } from "../http.ts";
import { authenticate as authenticateKey, type Principal } from "../keys.ts";
import type { ServerStore } from "../store.ts";
import { bearerToken, jwtAuthenticator, looksLikeJwt, type JwtOptions } from "./jwt.ts";
import { allows, scopesOf, TenantResolver, type AuthenticateHook, type Identity, type Scope } from "./principal.ts";

/** How the server learns who is calling: its own API keys, JWTs, an application's hook. */
export interface AuthOptions {
  /**
   * Accept the server's own API keys (`stw_…`). Default: true, unless `authenticate` is given
   * (an application hook replaces keys; set true to keep both).
   */
  apiKeys?: boolean;
  /** Verify JWT bearer tokens (see JwtOptions); API keys keep working beside them by default. */
  jwt?: JwtOptions;
  /** The application's own authentication (sessions, cookies, tokens). */
  authenticate?: AuthenticateHook;
}

const KEY_PREFIX = "stw_";

/**
 * The request-to-principal step of the handler. Order: an `stw_…` bearer token is an API key
 * (when keys are on; a bad one is a 401, nothing else is tried); a JWT-shaped bearer token is
 * verified when `jwt` is configured; otherwise the `authenticate` hook decides. Throws a 401
 * HttpError when nobody vouches for the request; a hook that throws is a server failure.
 */
export function requestAuthenticator(store: ServerStore, options: AuthOptions): (req: Request) => Promise<Principal> {
  const keys = options.apiKeys ?? options.authenticate === undefined;
  const jwt = options.jwt ? jwtAuthenticator(options.jwt) : undefined;
  const hook = options.authenticate;
  if (!keys && !jwt && !hook) throw new StowageError("config", "apiKeys: false leaves no way to authenticate; give authenticate or jwt");
  const tenants = new TenantResolver(store);

  return async (req) => {
    const token = bearerToken(req);
    if (token !== undefined && keys && token.startsWith(KEY_PREFIX)) {
      const principal = await authenticateKey(store, token);
      if (!principal) throw unauthorized("the API key is malformed, unknown or revoked");
      return principal;
    }
    let identity: Identity | null | undefined;
    if (jwt && token !== undefined && looksLikeJwt(token)) identity = await jwt(req);
    else if (hook) identity = await hook(req);
    if (identity === null || identity === undefined) {
      if (req.headers.get("authorization") === null) throw unauthorized(keys && !jwt && !hook ? "missing Authorization: Bearer <key>" : "missing credentials (Authorization: Bearer …)");
      throw unauthorized(keys && !jwt && !hook ? "the API key is malformed, unknown or revoked" : "the credentials are malformed, unknown, expired or revoked");
    }
    if (typeof identity !== "object" || typeof identity.tenant !== "string") {
      throw new Error(`the authenticate hook answered ${JSON.stringify(identity)?.slice(0, 100)}: want { tenant, subject?, scopes? } or null`);
    }
    const tenantId = await tenants.idOf(identity.tenant);
    const principal: Principal = {
      keyId: `id:${tenantId}:${identity.subject ?? ""}`,
      tenantId,
      tenant: identity.tenant,
      scopes: scopesOf(identity.scopes),
    };
    if (identity.subject !== undefined) principal.subject = String(identity.subject);
    if (identity.claims !== undefined) principal.claims = identity.claims;
    if (typeof identity.expiresAt === "number" && Number.isFinite(identity.expiresAt)) principal.expiresAt = identity.expiresAt;
    return principal;
  };
}

/**
 * The scope a request needs, by method: GET and HEAD read (pull, events, documents, listings),
 * every other method writes. Generic on purpose, so routes added later fall under it.
 */
export function scopeFor(method: string): Scope {
  return method === "GET" || method === "HEAD" ? "read" : "write";
}

/** Throws 403 `forbidden` when the principal's scopes do not cover the request. */
export function requireScope(principal: Principal, method: string, pathname: string): void {
  if (!allows(principal.scopes, scopeFor(method))) throw scopeRefusal(principal, method, pathname);
}

/** The 403 `forbidden` a request beyond the principal's scopes gets. */
export function scopeRefusal(principal: Principal, method: string, pathname: string): HttpError {
  const has = principal.scopes.length ? principal.scopes.join(" ") : "none";
  return new HttpError(403, "forbidden", `${method} ${pathname.slice(0, 100)} needs the ${scopeFor(method)} scope; these credentials have: ${has}`);
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message, { headers: { "www-authenticate": 'Bearer realm="stowage"' } });
}
