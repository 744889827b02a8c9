import { StowageError } from "../../errors.ts";
import type { JsonValue } from "../../json.ts";
import type { FetchFn } from "../v1/http.ts";
import type { ResolvedRestConfig } from "./config.ts";
import { resolvePointer } from "./pointer.ts";

/** One answered request: status and parsed JSON body (null when empty or 404). */
export interface RestAnswer {
  status: number;
  body: unknown;
}

/**
 * HTTP to a REST API Stowage does not own. Same failure split as the protocol v1 client:
 * no answer, 5xx, 408 and 429 are `transport` (retry later); other 4xx are `rejected`
 * (do not resend as is). 404 is returned to the caller when it asks for it.
 */
export class RestClient {
  readonly config: ResolvedRestConfig;
  readonly #fetch: FetchFn;

  constructor(config: ResolvedRestConfig, fetch?: FetchFn) {
    this.config = config;
    this.#fetch = fetch ?? ((input, init) => globalThis.fetch(input, init));
  }

  async request(method: string, path: string, options: { body?: JsonValue; idempotencyKey?: string; allow404?: boolean } = {}): Promise<RestAnswer> {
    const c = this.config;
    const headers: Record<string, string> = {};
    if (c.apiKey) headers[c.authHeader] = c.authFormat.replace("{key}", c.apiKey);
    if (options.body !== undefined) headers["content-type"] = "application/json";
    if (options.idempotencyKey && c.idempotencyKeys) headers["idempotency-key"] = options.idempotencyKey;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), c.timeoutMs);
    // A next-page link may be absolute.
    const url = /^https?:\/\//.test(path) ? path : c.baseUrl + path;
    const where = `${method} ${url.split("?")[0]}`;
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(url, {
        method,
        headers,
        body: options.body === undefined ? undefined : JSON.stringify(options.body),
        signal: controller.signal,
      });
      text = await res.text();
    } catch (e) {
      throw new StowageError("transport", `${where} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
    if (res.status === 404 && options.allow404) return { status: 404, body: null };
    if (!res.ok) {
      const what = `${where} answered ${res.status}: ${apiWords(text)}`;
      if (res.status >= 500 || res.status === 429 || res.status === 408) {
        const err = new StowageError("transport", what, { status: res.status });
        const retry = Number(res.headers.get("retry-after"));
        if (Number.isFinite(retry) && retry > 0) (err as StowageError & { retryAfterS?: number }).retryAfterS = retry;
        throw err;
      }
      throw new StowageError(res.status === 409 ? "conflict" : "rejected", what, { status: res.status });
    }
    if (text.trim() === "") return { status: res.status, body: null };
    try {
      return { status: res.status, body: JSON.parse(text) };
    } catch {
      // An HTML login page, a proxy's error page: nothing to read; the op stays queued.
      const type = res.headers.get("content-type") ?? "no content-type";
      throw new StowageError("protocol", `${where} answered ${res.status} with ${type} that is not JSON (is baseUrl the API, not a web page?): ${text.slice(0, 120)}`);
    }
  }
}

/** The server id at `pointer` (default item.id) as a string key (integer ids become their decimal text). */
export function serverIdOf(config: ResolvedRestConfig, item: unknown, pointer = config.item.id): string | null {
  const v = resolvePointer(item, pointer);
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "string" && v !== "") return v;
  return null;
}

/** Orders server ids: numerically when both are integers, else as text. */
export function compareServerIds(a: string, b: string): number {
  if (/^\d+$/.test(a) && /^\d+$/.test(b)) return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The API's own words from an error answer (`{ error: { message } }`, `{ message }`, `{ error }`), else the raw text. */
function apiWords(text: string): string {
  try {
    const b = JSON.parse(text) as Record<string, unknown>;
    const e = b?.error as Record<string, unknown> | string | undefined;
    const m = (typeof e === "object" && e ? e.message : undefined) ?? b?.message ?? (typeof e === "string" ? e : undefined);
    if (typeof m === "string" && m) return m;
  } catch {
    // not JSON: the text itself
  }
  return text.slice(0, 200);
}
