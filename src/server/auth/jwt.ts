import type { JSONWebKeySet, JWTPayload, JWTVerifyGetKey } from "jose";
import { StowageError } from "../../errors.ts";
import { HttpError } from "../http.ts";
import type { AuthenticateHook, Identity } from "./principal.ts";

/**
 * Built-in JWT verification: a shared `secret` (HS256 unless `algorithms` says otherwise), a
 * `jwks` (each key's own `alg`), or both (either verifies: the path for rotating from a
 * shared secret to asymmetric keys). `exp` is required unless `allowNoExp`.
 */
export interface JwtOptions {
  /** Shared HMAC secret, at least 32 bytes. */
  secret?: string | Uint8Array;
  /** A JWK Set (object), or the http(s) URL serving one (fetched and cached by jose). */
  jwks?: JSONWebKeySet | string | URL;
  /** The algorithms the secret verifies (default `["HS256"]`; HS256, HS384, HS512 allowed). */
  algorithms?: string[];
  /** Accept tokens without `exp` (they never expire). Default false: such a token is a 401. */
  allowNoExp?: boolean;
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
  if (options.secret === undefined && options.jwks === undefined) {
    throw new StowageError("config", "JWT verification needs a secret (HS256), a jwks (RS256/ES256 and kin), or both");
  }
  // Options are checked now (a bad configuration fails at start); jose builds the keys on first use.
  const bySecret = options.secret === undefined ? undefined : secretKey(options.secret, options.algorithms);
  const byJwks = options.jwks === undefined ? undefined : jwksKey(options.jwks);
  if (options.algorithms !== undefined && bySecret === undefined) throw new StowageError("config", "JWT algorithms apply to a secret; a JWKS pins each key's own alg");
  let keys: { secret?: Uint8Array; jwks?: JWTVerifyGetKey } | undefined;
  const claim = options.tenantClaim ?? "sub";
  const common = {
    audience: options.audience,
    issuer: options.issuer,
    clockTolerance: options.clockToleranceSec ?? 30,
    requiredClaims: options.allowNoExp ? [] : ["exp"],
  };
  return async (token) => {
    const j = await loadJose();
    keys ??= { secret: bySecret?.key, jwks: byJwks?.(j) };
    let payload: JWTPayload;
    try {
      // The header's alg picks the key kind: an HMAC alg only ever meets the secret, anything
      // else only the JWKS (a public key must never be used as an HMAC secret).
      const alg = headerAlg(token);
      if (alg !== undefined && HMAC_ALGS.includes(alg) ? keys.secret === undefined : keys.jwks === undefined) {
        throw unauthorized(`the bearer token was refused: its alg ${JSON.stringify(alg ?? null)} is not accepted by this server`);
      }
      if (alg !== undefined && HMAC_ALGS.includes(alg)) ({ payload } = await j.jwtVerify(token, keys.secret!, { ...common, algorithms: bySecret!.algorithms }));
      else ({ payload } = await j.jwtVerify(token, keys.jwks!, { ...common, algorithms: KEY_ALGS }));
    } catch (e) {
      if (e instanceof HttpError) throw e;
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
    if (typeof payload.exp === "number") identity.expiresAt = payload.exp * 1000;
    identity.claims = payload;
    return identity;
  };
}

/** The HMAC key and the algorithms it verifies (HS256 unless told). */
function secretKey(secret: string | Uint8Array, algorithms: string[] | undefined): { key: Uint8Array; algorithms: string[] } {
  const key = typeof secret === "string" ? new TextEncoder().encode(secret) : secret;
  const algs = algorithms ?? ["HS256"];
  if (algs.length === 0) throw new StowageError("config", "JWT algorithms must name at least one of HS256, HS384, HS512");
  for (const alg of algs) if (!HMAC_ALGS.includes(alg)) throw new StowageError("config", `JWT algorithm ${JSON.stringify(alg)} cannot be used with a secret: use HS256, HS384 or HS512`);
  // RFC 7518 §3.2: an HMAC key shorter than the hash output is guessable offline.
  const need = Math.max(...algs.map((a) => Number(a.slice(2)) / 8));
  if (key.byteLength < need) throw new StowageError("config", `the JWT secret is ${key.byteLength} bytes; ${algs.join(", ")} need${algs.length === 1 ? "s" : ""} at least ${need}`);
  return { key, algorithms: algs };
}

/**
 * The JWKS key lookup. A local set pins every key to its own `alg` (or, without one, the
 * one its type implies: RSA → RS256, EC → its curve's ES alg, OKP → EdDSA); a token whose
 * header names another alg finds no key. A remote set is jose's: keys with an `alg` match only it.
 */
function jwksKey(jwks: JSONWebKeySet | string | URL): (j: typeof import("jose")) => JWTVerifyGetKey {
  if (typeof jwks === "string" || jwks instanceof URL) {
    const url = new URL(String(jwks));
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new StowageError("config", `the JWKS URL must be http(s), got ${url.protocol}`);
    return (j) => j.createRemoteJWKSet(url);
  }
  if (!jwks || !Array.isArray(jwks.keys)) throw new StowageError("config", "the JWKS must be an object with a keys array");
  const pinned = jwks.keys.map((k, i) => {
    const alg = typeof k.alg === "string" ? k.alg : impliedAlg(k);
    if (!alg || !KEY_ALGS.includes(alg)) throw new StowageError("config", `JWKS key ${i}${k.kid ? ` (kid ${JSON.stringify(k.kid)})` : ""} has no usable alg (${JSON.stringify(k.alg ?? k.kty ?? null)}): give each key an alg`);
    return { ...k, alg };
  });
  return (j) => j.createLocalJWKSet({ keys: pinned });
}

function impliedAlg(k: { kty?: string; crv?: string }): string | undefined {
  if (k.kty === "RSA") return "RS256";
  if (k.kty === "EC") return ({ "P-256": "ES256", "P-384": "ES384", "P-521": "ES512" } as Record<string, string>)[k.crv ?? ""];
  if (k.kty === "OKP") return "EdDSA";
  return undefined;
}

/** The `alg` of a compact JWS header, undefined when unreadable (jose then refuses the token). */
function headerAlg(token: string): string | undefined {
  try {
    const part = token.slice(0, token.indexOf("."));
    const header = JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="))) as { alg?: unknown };
    return typeof header?.alg === "string" ? header.alg : undefined;
  } catch {
    return undefined;
  }
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
