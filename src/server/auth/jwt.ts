import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from "jose";
import { StowageError } from "../../errors.ts";
import { HttpError } from "../http.ts";
import type { AuthenticateHook, Identity } from "./principal.ts";

/** Built-in JWT verification: one of `secret` (HS256) or `jwks` (RS256, ES256 and kin). */
export interface JwtOptions {
  /** Shared HMAC secret (HS256/384/512), at least 32 bytes. */
  secret?: string | Uint8Array;
  /** A JWK Set (object), or the http(s) URL serving one (fetched and cached by jose). */
  jwks?: JSONWebKeySet | string | URL;
  /** Required `aud` (any of them), when given. */
  audience?: string | string[];
  /** Required `iss` (any of them), when given. */
  issuer?: string | string[];
  /** The claim naming the tenant. Default `sub`: one tenant per user. */
  tenantClaim?: string;
  /** Leeway for `exp`/`nbf`, in seconds. Default 30. */
  clockToleranceSec?: number;
}

const HMAC_ALGS = ["HS256", "HS384", "HS512"];
const KEY_ALGS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
/** Failures that are the token's fault (401); anything else (a JWKS URL down) is the server's. */
const REFUSALS = new Set([
  "ERR_JOSE_ALG_NOT_ALLOWED",
  "ERR_JOSE_NOT_SUPPORTED",
  "ERR_JWS_INVALID",
  "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  "ERR_JWT_CLAIM_VALIDATION_FAILED",
  "ERR_JWT_EXPIRED",
  "ERR_JWT_INVALID",
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
  "ERR_JWK_INVALID",
]);
// jose loads on the first token, so a server without JWTs (and every CLI start) never pays for it.
let jose: Promise<typeof import("jose")> | undefined;
const loadJose = () => (jose ??= import("jose"));

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Whether a bearer token looks like a compact JWS (three base64url parts). */
export function looksLikeJwt(token: string): boolean {
  return token.length <= 16_384 && JWT_SHAPE.test(token);
}

/**
 * An authenticate hook verifying `Authorization: Bearer <JWT>` with jose. It answers null when
 * there is no bearer token or it is not JWT-shaped (so other schemes can be tried) and throws a
 * 401 naming the reason when a JWT fails verification (expired, bad signature, wrong audience,
 * `alg: none`, no tenant claim). The tenant is the `tenantClaim` value; scopes come from `scope`
 * (space-separated), `scopes` or `scp` (arrays or strings); absent means read and write.
 */
export function jwtAuthenticator(options: JwtOptions): AuthenticateHook {
  const verify = tokenVerifier(options);
  return async (request) => {
    const token = bearerToken(request);
    if (token === undefined || !looksLikeJwt(token)) return null;
    return verify(token);
  };
}

/** The verifying half of jwtAuthenticator: a JWT string to an Identity, or a thrown 401. */
export function tokenVerifier(options: JwtOptions): (token: string) => Promise<Identity> {
  if ((options.secret === undefined) === (options.jwks === undefined)) {
    throw new StowageError("config", "JWT verification needs exactly one of secret (HS256) or jwks (RS256/ES256)");
  }
  // Options are checked now (a bad configuration fails at start); jose builds the key on first use.
  let makeKey: (j: typeof import("jose")) => Uint8Array | JWTVerifyGetKey;
  let algorithms: string[];
  if (options.secret !== undefined) {
    const secret = typeof options.secret === "string" ? new TextEncoder().encode(options.secret) : options.secret;
    // RFC 7518 §3.2: an HMAC key shorter than the hash output is guessable offline.
    if (secret.byteLength < 32) throw new StowageError("config", `the JWT secret is ${secret.byteLength} bytes; HS256 needs at least 32`);
    makeKey = () => secret;
    algorithms = HMAC_ALGS;
  } else {
    const jwks = options.jwks!;
    if (typeof jwks === "string" || jwks instanceof URL) {
      const url = new URL(String(jwks));
      if (url.protocol !== "https:" && url.protocol !== "http:") throw new StowageError("config", `the JWKS URL must be http(s), got ${url.protocol}`);
      makeKey = (j) => j.createRemoteJWKSet(url);
    } else {
      if (!jwks || !Array.isArray(jwks.keys)) throw new StowageError("config", "the JWKS must be an object with a keys array");
      makeKey = (j) => j.createLocalJWKSet(jwks);
    }
    algorithms = KEY_ALGS;
  }
  let key: Uint8Array | JWTVerifyGetKey | undefined;
  const claim = options.tenantClaim ?? "sub";
  const verifyOptions = {
    algorithms,
    audience: options.audience,
    issuer: options.issuer,
    clockTolerance: options.clockToleranceSec ?? 30,
  };
  return async (token) => {
    const j = await loadJose();
    key ??= makeKey(j);
    let payload: JWTPayload;
    try {
      // Two calls because jwtVerify's overloads take a key or a key-set function, not their union.
      ({ payload } = typeof key === "function" ? await j.jwtVerify(token, key, verifyOptions) : await j.jwtVerify(token, key, verifyOptions));
    } catch (e) {
      if (e instanceof j.errors.JOSEError && REFUSALS.has(e.code)) throw unauthorized(`the bearer token was refused: ${e.message}`);
      throw e;
    }
    const tenant = payload[claim];
    if (typeof tenant !== "string" && typeof tenant !== "number") throw unauthorized(`the bearer token has no ${JSON.stringify(claim)} claim naming the tenant`);
    const name = String(tenant);
    if (!/^[\x21-\x7e]{1,200}$/.test(name)) throw unauthorized(`the token's ${JSON.stringify(claim)} claim is not 1-200 printable ASCII characters`);
    const identity: Identity = { tenant: name };
    if (typeof payload.sub === "string") identity.subject = payload.sub;
    const scopes = scopeClaim(payload);
    if (scopes) identity.scopes = scopes;
    return identity;
  };
}

function scopeClaim(payload: JWTPayload): string[] | undefined {
  for (const name of ["scope", "scopes", "scp"]) {
    const v = payload[name];
    if (typeof v === "string") return v.split(/\s+/).filter(Boolean);
    if (Array.isArray(v)) return v.filter((s): s is string => typeof s === "string");
  }
  return undefined;
}

/** The token of `Authorization: Bearer <token>`, or undefined. */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  const match = header === null ? null : /^Bearer +(\S{1,16384})$/i.exec(header.trim());
  return match ? match[1] : undefined;
}

function unauthorized(message: string): HttpError {
  return new HttpError(401, "unauthorized", message, { headers: { "www-authenticate": 'Bearer realm="stowage", error="invalid_token"' } });
}
