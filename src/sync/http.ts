import { StowageError } from "../errors.ts";
import type { JsonObject } from "../json.ts";
import type { DocListResponse, DocResponse, PushResponse } from "../protocol/wire.ts";

/** The `fetch` the client calls; injected in tests, globalThis.fetch otherwise. */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** API key sent as a bearer token. */
  apiKey: string;
  /** Defaults to globalThis.fetch. */
  fetch?: FetchFn;
  /** Abort a request after this many ms (default 10,000: well inside the sync lease). */
  timeoutMs?: number;
}

/** A failed exchange: `transport` (retry later) or `rejected` (the server refused; do not resend as is). */
export interface HttpFailure {
  /** HTTP status, absent when no answer arrived. */
  status?: number;
  /** Seconds the server asked us to wait (429 Retry-After). */
  retryAfterS?: number;
}

/**
 * Protocol v1 over HTTP. Refusals (4xx) become StowageError("rejected") carrying the status and
 * the server's code; no answer, 5xx and 429 become StowageError("transport"): the caller retries.
 */
export class HttpClient {
  readonly url: string;
  readonly #apiKey: string;
  readonly #fetch: FetchFn;
  readonly #timeoutMs: number;

  constructor(options: HttpClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Sends a push body already serialized (the outbox holds JSON text; re-parsing it would waste
   * time). With `pull`, the answer also carries the pull page after that cursor (`pull`).
   */
  async push(body: string, pull?: { cursor: string; limit: number }): Promise<PushResponse> {
    const path = pull ? `/v1/push?pull=${encodeURIComponent(pull.cursor)}&limit=${pull.limit}` : "/v1/push";
    const res = await this.#request("POST", path, body);
    const parsed = json(res.text, "push") as PushResponse;
    if (!parsed || !Array.isArray(parsed.results)) throw protocolError("push", parsed);
    return parsed;
  }

  /** One pull page as raw JSON text; the store applies it with SQLite's JSON functions. */
  async pull(cursor: string | null, limit: number, clientId?: string): Promise<string> {
    const qs = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}${clientId ? `&clientId=${encodeURIComponent(clientId)}` : ""}`;
    return (await this.#request("GET", `/v1/pull?${qs}`)).text;
  }

  /** GET one document; undefined when absent. */
  async getDoc(collection: string, id: string): Promise<DocResponse | undefined> {
    const res = await this.#request("GET", docPath(collection, id), undefined, [404]);
    if (res.status === 404) return undefined;
    return json(res.text, "get") as DocResponse;
  }

  /**
   * A document's server state for the sync engine: its value and version, or null and the
   * version since which it is absent (a 404's `Stowage-Absent-Since` header: the tombstone's
   * sequence, or the purge horizon; null from a server that does not send it).
   */
  async getDocState(collection: string, id: string): Promise<{ value: JsonObject | null; version: number | null }> {
    const res = await this.#request("GET", docPath(collection, id), undefined, [404]);
    if (res.status === 404) {
      const since = res.headers.get("stowage-absent-since");
      return { value: null, version: since !== null && /^[0-9]{1,16}$/.test(since) ? Number(since) : null };
    }
    const doc = json(res.text, "get") as DocResponse;
    if (!doc || typeof doc.version !== "number" || doc.value === null || typeof doc.value !== "object") throw protocolError("get", doc);
    return { value: doc.value, version: doc.version };
  }

  async listDocs(collection: string, query: Record<string, string>): Promise<DocListResponse> {
    const qs = new URLSearchParams(query).toString();
    const res = await this.#request("GET", `/v1/docs/${collection}${qs ? `?${qs}` : ""}`);
    return json(res.text, "list") as DocListResponse;
  }

  /** PUT or PATCH a document; undefined when PATCH found no document. */
  async writeDoc(method: "PUT" | "PATCH", collection: string, id: string, value: JsonObject): Promise<DocResponse | undefined> {
    const res = await this.#request(method, docPath(collection, id), JSON.stringify(value), [404]);
    if (res.status === 404) return undefined;
    return json(res.text, method.toLowerCase()) as DocResponse;
  }

  /** DELETE a document; false when it did not exist. */
  async deleteDoc(collection: string, id: string): Promise<boolean> {
    const res = await this.#request("DELETE", docPath(collection, id), undefined, [404]);
    if (res.status === 404) return false;
    json(res.text, "delete");
    return true;
  }

  /**
   * Opens the live event stream (`GET /v1/events`). No request timeout: the stream stays open;
   * the caller's heartbeat watchdog aborts it through `signal`. Non-2xx answers throw like
   * any other request (429 too_many_streams is a transport error: retry later).
   */
  async events(lastEventId: string | null, signal: AbortSignal): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.#apiKey}`, accept: "text/event-stream" };
    if (lastEventId) headers["last-event-id"] = lastEventId;
    let res: Response;
    try {
      // `changes=1`: small commits arrive with their changes (live/apply.ts); older servers ignore it.
      res = await this.#fetch(`${this.url}/v1/events?changes=1`, { method: "GET", headers, signal });
    } catch (e) {
      throw new StowageError("transport", `GET ${this.url}/v1/events failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    if (res.ok) return res;
    const text = await res.text().catch(() => "");
    const what = `GET /v1/events answered ${res.status}: ${text.slice(0, 200)}`;
    throw new StowageError(res.status >= 500 || res.status === 429 || res.status === 408 ? "transport" : "rejected", what, { status: res.status });
  }

  /**
   * One exchange, its answer's body read in full: the timeout covers the body too, so an
   * answer that sends its headers and then stalls (a half-dead proxy) fails as a transport
   * error instead of holding the sync, and its lease, forever.
   */
  async #request(method: string, path: string, body?: string, allowed: number[] = []): Promise<Answer> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    const where = `${method} ${this.url}${path.split("?")[0]}`;
    let res: Response;
    let text: string;
    try {
      try {
        res = await this.#fetch(this.url + path, {
          method,
          body,
          signal: controller.signal,
          headers: body === undefined
            ? { authorization: `Bearer ${this.#apiKey}` }
            : { authorization: `Bearer ${this.#apiKey}`, "content-type": "application/json" },
        });
      } catch (e) {
        throw new StowageError("transport", `${where} failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
      }
      try {
        text = await res.text();
      } catch (e) {
        const why = controller.signal.aborted ? `no complete answer within ${this.#timeoutMs} ms` : (e as Error)?.message ?? String(e);
        throw new StowageError("transport", `${where}: connection broke while reading the answer: ${why}`, { cause: e });
      }
    } finally {
      clearTimeout(timer);
    }
    if (res.ok || allowed.includes(res.status)) return { status: res.status, headers: res.headers, text };
    let code = "";
    let message = text.slice(0, 200);
    try {
      const err = JSON.parse(text)?.error;
      if (err && typeof err.code === "string") {
        code = err.code;
        message = String(err.message ?? "");
      }
    } catch {
      // not a protocol error body; keep the raw text
    }
    const what = `${method} ${path.split("?")[0]} answered ${res.status}${code ? ` ${code}` : ""}: ${message}`;
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      const retry = Number(res.headers.get("retry-after"));
      const err = new StowageError("transport", what, { status: res.status });
      if (Number.isFinite(retry) && retry > 0) (err as StowageError & HttpFailure).retryAfterS = retry;
      throw err;
    }
    throw new StowageError(res.status === 409 ? "conflict" : "rejected", what, { status: res.status });
  }
}

/** An answer read in full. */
interface Answer {
  status: number;
  headers: Headers;
  text: string;
}

function json(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw protocolError(what, text);
  }
}

function docPath(collection: string, id: string): string {
  return `/v1/docs/${collection}/${encodeURIComponent(id)}`;
}

function protocolError(what: string, body: unknown): StowageError {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  return new StowageError("protocol", `${what}: the server's answer is not protocol v1: ${String(text).slice(0, 120)}`);
}
