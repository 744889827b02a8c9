/** What a browser client may send and read, in the preflight answer. */
export const CORS_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
export const CORS_HEADERS = "authorization, content-type, if-match, last-event-id, x-request-id";
const EXPOSED = "x-request-id, retry-after";

/**
 * Cross-origin access for browser clients, off unless origins are listed. `*` allows any origin
 * (keys travel in the Authorization header, not cookies, so no credentials mode is involved).
 */
export class Cors {
  readonly #any: boolean;
  readonly #origins: Set<string>;

  constructor(origins: readonly string[]) {
    this.#any = origins.includes("*");
    // Origins compare as browsers send them: scheme://host[:port], no trailing slash.
    this.#origins = new Set(origins.map((o) => o.trim().replace(/\/+$/, "").toLowerCase()));
  }

  allows(origin: string | null): origin is string {
    return origin !== null && (this.#any || this.#origins.has(origin.toLowerCase()));
  }

  /** The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`). */
  preflight(req: Request): Response {
    const origin = req.headers.get("origin");
    if (!this.allows(origin)) {
      return new Response(JSON.stringify({ error: { code: "forbidden", message: "this origin is not allowed (serve --cors-origin)" } }), {
        status: 403,
        headers: { "content-type": "application/json; charset=utf-8", vary: "Origin" },
      });
    }
    return new Response(null, {
      status: 204,
      headers: {
        "access-control-allow-origin": this.#any ? "*" : origin,
        "access-control-allow-methods": CORS_METHODS,
        "access-control-allow-headers": CORS_HEADERS,
        "access-control-max-age": "600",
        vary: "Origin",
      },
    });
  }

  /** Headers for an actual request from an allowed origin (none otherwise). */
  headers(req: Request): Record<string, string> {
    const origin = req.headers.get("origin");
    if (!this.allows(origin)) return {};
    return { "access-control-allow-origin": this.#any ? "*" : origin, "access-control-expose-headers": EXPOSED, vary: "Origin" };
  }
}

export function isPreflight(req: Request): boolean {
  return req.method === "OPTIONS" && req.headers.has("access-control-request-method");
}
