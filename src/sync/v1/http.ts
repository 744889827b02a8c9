import { StowageError } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { Credentials } from "../credentials.ts";
import type { DocListResponse, DocResponse, PushResponse } from "../../protocol/wire.ts";

/** The `fetch` the client calls; injected in tests, globalThis.fetch otherwise. */
export type FetchFn = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  /** Server base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** API key sent as a bearer token (or give `credentials`). */
  apiKey?: string;
  /** Where bearer tokens come from (a static key or a provider, credentials.ts); wins over apiKey. */
  credentials?: Credentials;
  /** Defaults to globalThis.fetch. */
  fetch?: FetchFn;
  /** Abort a request after this many ms (default 10,000: well inside the sync lease). */
  timeoutMs?: number;
}

/** Partial sync on a pull (issue 34): `subs` and `have` as JSON arrays of subscriptions. */
export interface PullView {
  /** The subscriptions whose view the page holds; absent = the whole tenant. */
  subs?: string;
  /** A backfill: leave out documents these subscriptions match (the client holds them). */
  have?: string;
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
  /** The bearer tokens sent (status() shows their state). */
  readonly credentials: Credentials;
  readonly #fetch: FetchFn;
  readonly #timeoutMs: number;

  constructor(options: HttpClientOptions) {
    this.url = options.url.replace(/\/+$/, "");
    this.credentials = options.credentials ?? Credentials.fixed(options.apiKey ?? "");
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * Sends a push body already serialized (the outbox holds JSON text; re-parsing it would waste
   * time). With `pull`, the answer also carries the pull page after that cursor (`pull`).
   */
  async push(body: string, pull?: { cursor: string; limit: number; subs?: string }): Promise<PushResponse> {
    const path = pull ? `/v1/push?pull=${encodeURIComponent(pull.cursor)}&limit=${pull.limit}${pull.subs ? `&subs=${encodeURIComponent(pull.subs)}` : ""}` : "/v1/push";
    const res = await this.#request("POST", path, body);
    const parsed = json(res.text, "push") as PushResponse;
    if (!parsed || !Array.isArray(parsed.results)) throw protocolError("push", parsed);
    return parsed;
  }

  /** One pull page as raw JSON text; the store applies it with SQLite's JSON functions. */
  async pull(cursor: string | null, limit: number, clientId?: string, view?: PullView): Promise<string> {
    let qs = `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}${clientId ? `&clientId=${encodeURIComponent(clientId)}` : ""}`;
    if (view?.subs) qs += `&subs=${encodeURIComponent(view.subs)}`;
    if (view?.have) qs += `&have=${encodeURIComponent(view.have)}`;
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
  async events(lastEventId: string | null, signal: AbortSignal, subs?: string | null): Promise<Response> {
    let token = await this.credentials.token();
    let res = await this.#openEvents(token, lastEventId, signal, subs);
    if (res.status === 401) {
      // Once per 401: a new token, one more try (credentials.ts).
      const text = await res.text().catch(() => "");
      const renewed = await this.credentials.renewAfter401(token, `GET /v1/events answered 401: ${text.slice(0, 200)}`);
      if (renewed !== null) res = await this.#openEvents((token = renewed), lastEventId, signal, subs);
      else res = new Response(text, { status: 401 });
    }
    if (res.ok) {
      this.credentials.accepted();
      return res;
    }
    const text = await res.text().catch(() => "");
    const what = `GET /v1/events answered ${res.status}: ${text.slice(0, 200)}`;
    if (res.status === 401) this.credentials.refused(what);
    throw new StowageError(res.status >= 500 || res.status === 429 || res.status === 408 ? "transport" : "rejected", what, { status: res.status });
  }

  async #openEvents(token: string, lastEventId: string | null, signal: AbortSignal, subs?: string | null): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
    if (lastEventId) headers["last-event-id"] = lastEventId;
    try {
      // `changes=1`: small commits arrive with their changes (live/apply.ts); older servers ignore it.
      // `subs`: the stream carries, and is woken by, only the subscriptions' view (issue 34).
      return await this.#fetch(`${this.url}/v1/events?changes=1${subs ? `&subs=${encodeURIComponent(subs)}` : ""}`, { method: "GET", headers, signal });
    } catch (e) {
      throw new StowageError("transport", `GET ${this.url}/v1/events failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  }

  /**
   * One exchange with a token; after a 401, one more with a renewed token (credentials.ts).
   */
  async #request(method: string, path: string, body?: string, allowed: number[] = []): Promise<Answer> {
    const token = await this.credentials.token();
    const first = await this.#exchange(method, path, token, body, allowed);
    if (!("unauthorized" in first)) return first;
    const renewed = await this.credentials.renewAfter401(token, first.unauthorized.message);
    if (renewed === null) throw first.unauthorized;
    const second = await this.#exchange(method, path, renewed, body, allowed);
    if (!("unauthorized" in second)) return second;
    this.credentials.refused(second.unauthorized.message);
    throw second.unauthorized;
  }

  /**
   * One exchange, its answer's body read in full: the timeout covers the body too, so an
   * answer that sends its headers and then stalls (a half-dead proxy) fails as a transport
   * error instead of holding the sync, and its lease, forever.
   */
  async #exchange(method: string, path: string, token: string, body: string | undefined, allowed: number[]): Promise<Answer | { unauthorized: StowageError }> {
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
            ? { authorization: `Bearer ${token}` }
            : { authorization: `Bearer ${token}`, "content-type": "application/json" },
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
    if (res.ok || allowed.includes(res.status)) {
      this.credentials.accepted();
      return { status: res.status, headers: res.headers, text };
    }
    let code = "";
    let message = text.slice(0, 200);
    let unknownField = false;
    try {
      const err = JSON.parse(text)?.error;
      if (err && typeof err.code === "string") {
        code = err.code;
        message = String(err.message ?? "");
        unknownField = res.status === 400 && Array.isArray(err.issues) && err.issues.some((i: { message?: unknown }) => String(i?.message).startsWith("Unrecognized key"));
      }
    } catch {
      // not a protocol error body; keep the raw text
    }
    const what = `${method} ${path.split("?")[0]} answered ${res.status}${code ? ` ${code}` : ""}: ${message}`;
    if (unknownField) {
      // Every server release refuses fields it does not know (strict schemas), and this client
      // sends only fields some release added: the server is older than the client. Not a
      // refusal of the writes, so they stay queued (never recorded as rejected) until it is upgraded.
      throw new StowageError("protocol", `${what} — the server is older than this client and does not know a field it sends; upgrade the server (README, "Versions and upgrades"); writes stay queued`, { status: res.status });
    }
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      const retry = Number(res.headers.get("retry-after"));
      const err = new StowageError("transport", what, { status: res.status });
      if (Number.isFinite(retry) && retry > 0) (err as StowageError & HttpFailure).retryAfterS = retry;
      throw err;
    }
    const error = new StowageError(res.status === 409 ? "conflict" : "rejected", what, { status: res.status });
    if (res.status === 401) return { unauthorized: error };
    throw error;
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
