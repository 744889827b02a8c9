/**
 * The bearer token a client sends (guarantee 13: credentials are renewable). Either a static
 * API key, or a provider the client calls:
 *
 *   - at start (`reason: "start"`), on the first request;
 *   - shortly before the cached token expires, when it is a JWT with `exp` (`"expiring"`):
 *     at three quarters of its lifetime (`exp - iat`), or min(30 s, a quarter of what is
 *     left) before `exp` by the local clock, whichever comes first (renewTime);
 *   - after a 401 answered to the token it returned (`"unauthorized"`): once per 401; the
 *     request is retried once with the new token, and a second 401 fails it (the engine backs
 *     off and the next cycle tries again).
 *
 * Concurrent callers share one provider call. A provider that throws, returns nothing usable
 * or does not answer within GET_TOKEN_TIMEOUT_MS fails the request with code `auth`; nothing
 * queued is touched. `status()` is the `auth` part of the sync status.
 */
import { StowageError } from "../errors.ts";

/** Why the provider is called. */
export type TokenReason = "start" | "expiring" | "unauthorized";

/** The application's token provider: `openStowage({ url, getToken })`. */
export type GetToken = (request: { reason: TokenReason }) => string | Promise<string>;

/** The auth state in `status().auth`. */
export interface AuthStatus {
  /** `ok`: the last token worked (or none was refused yet); `refreshing`: the provider is being asked; `failed`: see reason. */
  state: "ok" | "refreshing" | "failed";
  /** Why it failed (the provider's error, or the server's 401), else null. */
  reason: string | null;
  /** `exp` of the current token when it is a JWT, in ms; null otherwise. */
  expiresAt: number | null;
  /** Whether tokens come from a provider (getToken, --token-command) rather than a static key. */
  renewable: boolean;
}

/** A provider call that takes longer than this fails (a hung provider must not hold the sync lease forever). */
export const GET_TOKEN_TIMEOUT_MS = 30_000;

/** Bearer tokens are one header value: visible ASCII, no spaces. */
const TOKEN_SHAPE = /^[\x21-\x7e]{1,16384}$/;

export class Credentials {
  readonly #static: string | null;
  readonly #getToken: GetToken | null;
  readonly #now: () => number;
  #token: string | null = null;
  #expiresAt: number | null = null;
  /** Local time at which the cached token is renewed before use; null: never (no exp). */
  #renewAt: number | null = null;
  #inflight: Promise<string> | null = null;
  #state: AuthStatus["state"] = "ok";
  #reason: string | null = null;

  private constructor(token: string | null, getToken: GetToken | null, now: () => number) {
    this.#static = token;
    this.#getToken = getToken;
    this.#now = now;
  }

  /** A static API key. */
  static fixed(key: string): Credentials {
    return new Credentials(key, null, Date.now);
  }

  /** Tokens from `getToken`; `now` is the local clock (tests inject one). */
  static provider(getToken: GetToken, now: () => number = Date.now): Credentials {
    return new Credentials(null, getToken, now);
  }

  /** Whether a 401 can be answered with a new token. */
  get renewable(): boolean {
    return this.#getToken !== null;
  }

  /** The token to send now: the cached one, or a new one at start and near its expiry. */
  async token(): Promise<string> {
    if (this.#static !== null) return this.#static;
    if (this.#token !== null && (this.#renewAt === null || this.#now() < this.#renewAt)) return this.#token;
    return this.#renew(this.#token === null ? "start" : "expiring");
  }

  /**
   * The server answered 401 to `used`: a new token to retry with, or null when there is none
   * (a static key). A token renewed meanwhile by another request is returned as is.
   */
  async renewAfter401(used: string, message: string): Promise<string | null> {
    if (this.#getToken === null) {
      this.refused(message);
      return null;
    }
    if (this.#inflight) return this.#inflight;
    if (this.#token !== null && this.#token !== used) return this.#token;
    return this.#renew("unauthorized");
  }

  /** The server refused the token it was sent (a 401 that a renewal did not cure). */
  refused(message: string): void {
    this.#state = "failed";
    this.#reason = message;
  }

  /** The server accepted a request: whatever failed before is over. */
  accepted(): void {
    if (this.#state === "failed") {
      this.#state = "ok";
      this.#reason = null;
    }
  }

  status(): AuthStatus {
    return { state: this.#state, reason: this.#reason, expiresAt: this.#static !== null ? null : this.#expiresAt, renewable: this.renewable };
  }

  #renew(reason: TokenReason): Promise<string> {
    this.#inflight ??= this.#call(reason).finally(() => (this.#inflight = null));
    return this.#inflight;
  }

  async #call(reason: TokenReason): Promise<string> {
    this.#state = "refreshing";
    let timer: ReturnType<typeof setTimeout> | undefined;
    let value: unknown;
    try {
      value = await Promise.race([
        Promise.resolve().then(() => this.#getToken!({ reason })),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no token within ${GET_TOKEN_TIMEOUT_MS / 1000} s`)), GET_TOKEN_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      throw this.#fail(e instanceof StowageError ? e.message : `getToken failed: ${(e as Error)?.message ?? String(e)}`, e);
    } finally {
      clearTimeout(timer);
    }
    const token = typeof value === "string" ? value.trim() : "";
    if (token === "") throw this.#fail(`getToken returned ${typeof value === "string" ? "an empty token" : `no string (${typeof value})`}`);
    if (!TOKEN_SHAPE.test(token)) throw this.#fail("getToken returned a token with spaces or control characters (it must be one bearer token)");
    const obtainedAt = this.#now();
    const claims = jwtTimes(token);
    this.#token = token;
    this.#expiresAt = claims.exp === null ? null : claims.exp * 1000;
    this.#renewAt = renewTime(claims, obtainedAt);
    this.#state = "ok";
    this.#reason = null;
    return token;
  }

  #fail(reason: string, cause?: unknown): StowageError {
    this.#state = "failed";
    this.#reason = reason;
    return new StowageError("auth", reason, { cause });
  }
}

/**
 * When to renew a token obtained at `obtainedAt` (local ms); null: it does not expire. Two
 * estimates, the earlier wins: three quarters of its lifetime (`exp - iat`, the issuer's clock,
 * immune to local skew, but `iat` may be older than the moment we got the token), and
 * min(30 s, a quarter of what is left) before `exp` by the local clock (right unless the local
 * clock is off). A token already expired by the local clock (skew) is used until a 401 renews
 * it, rather than asking the provider in a loop.
 */
function renewTime(claims: { exp: number | null; iat: number | null }, obtainedAt: number): number | null {
  if (claims.exp === null) return null;
  const left = claims.exp * 1000 - obtainedAt;
  const byClock = left > 0 ? claims.exp * 1000 - Math.min(30_000, left / 4) : null;
  const byLifetime = claims.iat !== null && claims.exp > claims.iat ? obtainedAt + (claims.exp - claims.iat) * 750 : null;
  if (byClock === null) return byLifetime ?? obtainedAt + 1000;
  return byLifetime === null ? byClock : Math.min(byClock, byLifetime);
}

/** `exp` and `iat` (seconds) of a JWT, read without verifying (the server verifies); nulls otherwise. */
export function jwtTimes(token: string): { exp: number | null; iat: number | null } {
  const parts = token.split(".");
  if (parts.length !== 3) return { exp: null, iat: null };
  try {
    const json = atob(parts[1].replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(parts[1].length / 4) * 4, "="));
    const payload = JSON.parse(json) as { exp?: unknown; iat?: unknown };
    const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);
    return { exp: num(payload?.exp), iat: num(payload?.iat) };
  } catch {
    return { exp: null, iat: null };
  }
}
