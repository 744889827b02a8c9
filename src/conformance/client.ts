/**
 * The conformance kit's HTTP client: plain fetch, nothing from the library's sync engine, so a
 * check tests the server, not Stowage's own client. Failures carry what was sent and received.
 */

export interface Reply {
  status: number;
  /** Parsed JSON body, or undefined when the body is not JSON. */
  json: any;
  text: string;
  contentType: string | null;
}

/** A failed expectation; its message is the table's detail column. */
export class CheckFailure extends Error {}

export function expectThat(ok: boolean, message: string): asserts ok {
  if (!ok) throw new CheckFailure(message);
}

export class KitClient {
  readonly url: string;
  readonly key: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;

  constructor(url: string, key: string, options: { fetch?: typeof fetch; timeoutMs?: number } = {}) {
    this.url = url.replace(/\/+$/, "");
    this.key = key;
    this.#fetch = options.fetch ?? fetch;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** One request; `body` is JSON-encoded unless it is already a string. `auth: null` sends no key. */
  async call(method: string, path: string, opts: { body?: unknown; auth?: string | null; headers?: Record<string, string> } = {}): Promise<Reply> {
    const headers: Record<string, string> = { ...opts.headers };
    const auth = opts.auth === undefined ? `Bearer ${this.key}` : opts.auth;
    if (auth !== null) headers.authorization = auth;
    if (opts.body !== undefined && !("content-type" in headers)) headers["content-type"] = "application/json";
    const res = await this.#fetch(`${this.url}${path}`, {
      method,
      headers,
      body: opts.body === undefined ? undefined : typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text, contentType: res.headers.get("content-type") };
  }

  /** A call that must answer 200 with a JSON body. */
  async ok(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.call(method, path, { body });
    expectThat(r.status === 200 && r.json !== undefined, `${method} ${path} answered ${r.status}: ${r.text.slice(0, 200)}`);
    return r.json;
  }

  push(clientId: string, ops: unknown[]): Promise<{ results: { opId: number; status: string; version?: number }[]; lastOpId: number }> {
    return this.ok("POST", "/v1/push", { clientId, ops });
  }

  pull(cursor: string | undefined, limit: number): Promise<any> {
    const q = new URLSearchParams();
    if (cursor !== undefined) q.set("cursor", cursor);
    q.set("limit", String(limit));
    return this.ok("GET", `/v1/pull?${q}`);
  }

  /** Pulls to the head of the tenant's feed and answers its cursor (the whole feed is read once). */
  async head(): Promise<string | undefined> {
    let cursor: string | undefined;
    for (let pages = 0; pages < 100_000; pages++) {
      const page = await this.pull(cursor, 1000);
      expectThat(!page.reset, "pull from the start answered reset (the start is never reset)");
      expectThat(typeof page.cursor === "string", `pull page without a cursor: ${JSON.stringify(page).slice(0, 200)}`);
      cursor = page.cursor;
      if (!page.more) return cursor;
    }
    throw new CheckFailure("pull never reached more: false");
  }
}

/** `{ error: { code, message, issues? } }` with string code and message, or a description of what is wrong. */
export function errorBodyProblem(r: Reply): string | undefined {
  const e = r.json?.error;
  if (!r.contentType?.startsWith("application/json")) return `content-type ${r.contentType} is not application/json`;
  if (!e || typeof e !== "object") return `body has no error object: ${r.text.slice(0, 200)}`;
  if (typeof e.code !== "string" || typeof e.message !== "string") return `error needs string code and message: ${r.text.slice(0, 200)}`;
  if (e.issues !== undefined && !Array.isArray(e.issues)) return `error.issues must be an array: ${r.text.slice(0, 200)}`;
  return undefined;
}

/** Expects `status` and an error body, with `code` when given. */
export function expectError(r: Reply, status: number, what: string, code?: string): void {
  expectThat(r.status === status, `${what}: expected ${status}, got ${r.status}: ${r.text.slice(0, 200)}`);
  const problem = errorBodyProblem(r);
  expectThat(problem === undefined, `${what}: ${problem}`);
  if (code) expectThat(r.json.error.code === code, `${what}: expected error code ${code}, got ${r.json.error.code}`);
}
