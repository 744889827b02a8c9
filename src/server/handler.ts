import type { z } from "zod";
import { docListQuerySchema, pullQuerySchema, pushQuerySchema, pushRequestSchema, WIRE_LIMITS } from "../protocol/wire.ts";
import { isPlainObject, type JsonObject } from "../json.ts";
import { isStowageError, type StowageErrorIssue } from "../errors.ts";
import { isCollectionName, isDocId } from "../names.ts";
import { openApiText } from "../protocol/openapi.ts";
import { absentSince, getDoc, listDocs } from "./docs.ts";
import { errorResponse, HttpError, json, jsonText, readJson } from "./http.ts";
import { readFromReplica } from "./replica.ts";
import { requestAuthenticator, requireScope, scopeRefusal, type AuthOptions } from "./auth/authenticate.ts";
import { allows } from "./auth/principal.ts";
import { readOnlyRules, repeatsAnsweredOps } from "./auth/read-only.ts";
import { revokedKeys, type Principal } from "./keys.ts";
import { normalizeBasePath, stripBasePath } from "./mount.ts";
import { parsePullCursor, pullPage, type PullPosition } from "./pull.ts";
import { checkPush, pushWithSeq } from "./push.ts";
import { ChangeFeed } from "./events/feed.ts";
import { commitPage } from "./events/changes.ts";
import { EventStreams, type EventStreamOptions } from "./events/sse.ts";
import { checkLastEventId, EVENTS_PATH, readTenantSeq, wantsChanges } from "./events/endpoint.ts";
import { DEFAULT_RATE, RateLimiter, type RateLimit } from "./rate-limit.ts";
import { callHook, type ServerHooks } from "./ops/hooks.ts";
import { bindRules, type RulesOptions } from "./rules.ts";
import type { ServerStore } from "./store.ts";
import { writeDoc, type DocWriter } from "./write.ts";
import { rulesOption, type SyncRules } from "./sync-rules/index.ts";
import { indexesReady, registerRules } from "./sync-rules/moves.ts";
import { parseSubscriptions, viewOf, type View } from "./sync-rules/view.ts";
import { pullViewPage } from "./sync-rules/pull-view.ts";
import { writeRulesRunner } from "./sync-rules/enforce.ts";
import { bindPrincipal } from "./sync-rules/match.ts";
import { streamFilter } from "./sync-rules/fanout.ts";
import { viewFeed } from "./sync-rules/view-feed.ts";
import type { RuleRunner } from "./write-op.ts";

/** What the server refuses past; every member has the protocol's default. */
export interface ServerLimits {
  /** Largest request body in bytes (413 past it). Default 4 MiB. */
  maxBodyBytes: number;
  /** Largest JSON of one document, in characters. Default 1 MiB. */
  maxValueChars: number;
  /** Deepest nesting of a document. Default 64. */
  maxValueDepth: number;
  /** Per-key token bucket, or false for none. Default 10,000/s, burst 20,000 (see rate-limit.ts). */
  rate: RateLimit | false;
}

export interface ServerHandlerOptions extends AuthOptions, RulesOptions {
  /** The store to serve. */
  store: ServerStore;
  /** Where the routes live when mounted inside an application, e.g. `/sync` (then `/sync/v1/push`…). Default: the root. */
  basePath?: string;
  /** Overrides of the default limits. */
  limits?: Partial<ServerLimits>;
  /** The clock in ms (rate limiting, tombstone ages); tests inject one. */
  now?: () => number;
  /** Called with unexpected failures (answered 500); defaults to console.error. */
  onError?: (error: unknown) => void;
  /** Observers for logs, metrics and client activity (src/server/ops). */
  hooks?: ServerHooks;
  /** The feed `GET /v1/events` streams from and writes publish to; default: a feed of this process's writes only. */
  changes?: ChangeFeed;
  /** `GET /v1/events` settings (heartbeatMs, retryMs, maxStreamsPerKey). */
  events?: Partial<EventStreamOptions>;
  /**
   * Sync rules (docs/PROTOCOL.md "Sync rules"): the rules file's text or rules loaded with
   * `loadRules`. Per collection, which documents a principal may read and write; enforced on
   * every path a document leaves the server by. Absent: every principal reads and writes its
   * whole tenant. A text that does not check throws a `config` StowageError naming the line.
   */
  rules?: string | SyncRules;
}

/** The handler, plus what owning its event streams takes. */
export type ServerHandler = ((req: Request) => Promise<Response>) & {
  /** Ends every open event stream cleanly and refuses new ones; call before stopping the listener. */
  close(): Promise<void>;
  /** Event streams open right now. */
  openStreams(): number;
  /** Stream wakes since start: one per stream per commit it was told of (a view's stream sleeps through the others). */
  streamWakes(): number;
  /** Resolves once the sync rules' indexes exist (at once without rules); views are served before, only slower. */
  ready(): Promise<void>;
  /** True for requests whose response stays open (the listener exempts them from idle timeouts). */
  isStream(req: Request): boolean;
};

export const DEFAULT_LIMITS: ServerLimits = {
  maxBodyBytes: WIRE_LIMITS.maxBodyBytes,
  maxValueChars: WIRE_LIMITS.maxValueChars,
  maxValueDepth: WIRE_LIMITS.maxValueDepth,
  rate: DEFAULT_RATE,
};

type Route = { kind: "health" } | { kind: "openapi" } | { kind: "events" } | { kind: "push" } | { kind: "pull" } | { kind: "list"; collection: string } | { kind: "doc"; collection: string; id: string };

const METHODS: Record<Route["kind"], string[]> = {
  health: ["GET"],
  openapi: ["GET"],
  events: ["GET"],
  push: ["POST"],
  pull: ["GET"],
  list: ["GET"],
  doc: ["GET", "PUT", "PATCH", "DELETE"],
};

/** The server as a web-standard handler: `(Request) => Promise<Response>`, never rejecting. */
export function createServerHandler(options: ServerHandlerOptions): ServerHandler {
  const { store } = options;
  const limits: ServerLimits = { ...DEFAULT_LIMITS, ...options.limits };
  const now = options.now ?? Date.now;
  const onError = options.onError ?? ((e: unknown) => console.error("stowage server: internal error:", e));
  const limiter = limits.rate ? new RateLimiter(limits.rate) : undefined;
  const feed = options.changes ?? new ChangeFeed({ readSeq: (t) => readTenantSeq(store, t) });
  const syncRules = rulesOption(options.rules);
  // Under rules every stream has a view: it listens to the commits with their rows, other processes' too (sync-rules/view-feed.ts).
  const streamFeed = syncRules ? viewFeed(store, feed, (t) => readTenantSeq(store, t)) : feed;
  const streams = new EventStreams(streamFeed, options.events, { revoked: (ids) => revokedKeys(store, ids) }); // token expiry by the real clock, as jose checks it
  const authenticate = requestAuthenticator(store, options);
  const basePath = normalizeBasePath(options.basePath);
  if (syncRules) registerRules(store, syncRules, onError);
  /** A request's view: its subscriptions within its rules (undefined: the whole tenant, as without either). */
  const viewFor = (p: Principal, subs?: string | null, have?: string | null): View | undefined =>
    viewOf(syncRules, p, parseSubscriptions("subs", subs ?? null, syncRules), parseSubscriptions("have", have ?? null, syncRules));
  /** The write rules of a principal: the sync rules in front of the application's hooks. */
  const writeRules = (p: Principal): RuleRunner | undefined => {
    const inner = bindRules(options, p, limits.maxValueChars);
    return syncRules ? writeRulesRunner(bindPrincipal(syncRules, p), inner) : inner;
  };

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const path = stripBasePath(basePath, url.pathname);
    if (path === undefined) throw notFoundRoute(url.pathname);
    const route = matchRoute(path);
    if (!METHODS[route.kind].includes(req.method)) {
      throw new HttpError(405, "method_not_allowed", `${req.method} is not allowed on ${url.pathname.slice(0, 100)}`, {
        headers: { allow: METHODS[route.kind].join(", ") },
      });
    }
    if (route.kind === "health") return json({ ok: true, protocol: 1, store: store.dialect.name });
    if (route.kind === "openapi") return jsonText(openApiText(basePath)); // public, like health; `servers` names the base path
    if (route.kind === "events") {
      // A stream is one long request: it spends no rate token (a reconnecting client still must authenticate).
      const p = await authorize(req, false);
      checkLastEventId(req.headers.get("last-event-id"));
      const changes = wantsChanges(url.searchParams.get("changes"));
      const view = viewFor(p, url.searchParams.get("subs"));
      return streams.open({ tenantId: p.tenantId, keyId: p.keyId, changes, expiresAt: p.expiresAt, view: view && streamFilter(view) }, async () => (await readTenantSeq(store, p.tenantId)) ?? 0);
    }
    // A push checks the scope itself: a read-only push may still need its repeated ops answered (auth/read-only.ts).
    const principal = await authorize(req, true, route.kind !== "push");
    if (route.kind === "push") {
      const writer = allows(principal.scopes, "write");
      // Checked before anything is applied: a bad pull request refuses the push untouched.
      // Without it, anything wrong with the request is the scope's 403, as before this path existed.
      const refusal = () => scopeRefusal(principal, req.method, url.pathname);
      let alsoPull: ReturnType<typeof pullWithPush>;
      let body: z.infer<typeof pushRequestSchema>;
      try {
        alsoPull = pullWithPush(url);
        body = parse(pushRequestSchema, await readJson(req, limits.maxBodyBytes));
      } catch (e) {
        throw writer ? e : refusal();
      }
      const issues = checkPush(body, limits, store.dialect);
      if (issues.length) throw writer ? validation(issues) : refusal();
      if (!writer && !(await repeatsAnsweredOps(store, principal, body))) throw refusal();
      const rules = writer ? writeRules(principal) : readOnlyRules(principal);
      const { response, seq, changes } = await pushWithSeq(store, principal.tenantId, body, limits, now(), rules);
      if (seq !== undefined) feed.publish(principal.tenantId, seq, changes);
      callHook(options.hooks?.pushed, req, principal.tenantId, body.clientId, response.results);
      if (!alsoPull) return json(response);
      const page = { changes: 0, cursor: alsoPull.after.seq, reset: false };
      const view = viewFor(principal, alsoPull.subs);
      // A client that was caught up gets the commit's own rows (events/changes.ts commitPage).
      const text = view
        ? await pullViewPage(store, principal.tenantId, alsoPull.after, alsoPull.limit, view, page)
        : staleCursor(alsoPull.after, page) ??
          (changes && commitPage(changes, alsoPull.after, alsoPull.limit, page)) ??
          (await pullPage(store, principal.tenantId, alsoPull.after, alsoPull.limit, page));
      callHook(options.hooks?.pulled, req, principal.tenantId, body.clientId, page);
      // The page is JSON text already (pull.ts): spliced in, not parsed and re-serialized.
      return jsonText(`${JSON.stringify(response).slice(0, -1)},"pull":${text}}`);
    }
    if (route.kind === "pull") {
      const q = parse(pullQuerySchema, query(url));
      let after: PullPosition;
      try {
        after = parsePullCursor(q.cursor);
      } catch (e) {
        if (isStowageError(e)) throw new HttpError(400, "invalid_cursor", e.message);
        throw e;
      }
      const page = { changes: 0, cursor: after.seq, reset: false };
      const view = viewFor(principal, q.subs, q.have);
      const limit = q.limit ?? WIRE_LIMITS.defaultPullLimit;
      const text =
        (view ? undefined : staleCursor(after, page)) ??
        (await readFromReplica(store, principal.tenantId, (s) => (view ? pullViewPage(s, principal.tenantId, after, limit, view, page) : pullPage(s, principal.tenantId, after, limit, page))));
      callHook(options.hooks?.pulled, req, principal.tenantId, q.clientId, page);
      return jsonText(text);
    }
    if (route.kind === "list") {
      const listQuery = parse(docListQuerySchema, query(url));
      const readable = syncRules ? bindPrincipal(syncRules, principal).read(route.collection) : undefined;
      return json(await readFromReplica(store, principal.tenantId, (s) => listDocs(s, principal.tenantId, route.collection, listQuery, readable)));
    }
    return doc(req, url, principal, route.collection, route.id);
  }

  async function doc(req: Request, url: URL, principal: Principal, collection: string, id: string): Promise<Response> {
    if (url.search !== "") throw new HttpError(400, "bad_request", "this endpoint takes no query parameters");
    if (req.method === "GET") {
      const found = await readFromReplica(store, principal.tenantId, (s) => getDoc(s, principal.tenantId, collection, id));
      // A document the rules keep from this principal is absent to it, since its current version.
      if (found && syncRules && !bindPrincipal(syncRules, principal).read(collection)(found.value)) {
        throw new HttpError(404, "not_found", `no document ${collection}/${id}`, { headers: { "stowage-absent-since": String(found.version) } });
      }
      if (!found) {
        // Which state "absent" belongs to, for the sync client (docs/PROTOCOL.md).
        const since = await absentSince(store, principal.tenantId, collection, id);
        throw new HttpError(404, "not_found", `no document ${collection}/${id}`, { headers: { "stowage-absent-since": String(since) } });
      }
      // The version is the entity tag: a client holding it is answered 304 without the body.
      const etag = `"${found.version}"`;
      if (etagMatches(req.headers.get("if-none-match"), etag)) return new Response(null, { status: 304, headers: { etag, "cache-control": "no-cache" } });
      return json(found, 200, { etag, "cache-control": "no-cache" });
    }
    const baseVersion = ifMatch(req.headers.get("if-match"));
    let value: JsonObject | undefined;
    if (req.method !== "DELETE") {
      const body = await readJson(req, limits.maxBodyBytes);
      if (!isPlainObject(body)) throw new HttpError(400, "bad_request", "the body must be a JSON object");
      value = body as JsonObject;
    }
    const op = req.method === "PUT" ? "put" : req.method === "PATCH" ? "patch" : "delete";
    const written = await writeDoc(writer(req), { tenantId: principal.tenantId, collection, id, op, value, baseVersion, rules: writeRules(principal), source: "api" });
    if (op === "delete") return json({ deleted: true, version: written.version });
    // The stored value goes back only to a writer that may read it.
    if (syncRules && written.value && !bindPrincipal(syncRules, principal).read(collection)(written.value)) return json({ version: written.version });
    return json({ value: written.value, version: written.version });
  }

  /** The single-document write path (write.ts), reporting to this request's hooks. */
  function writer(req: Request): DocWriter {
    return { store, feed, now, limits, onWrite: (source, tenantId, result) => callHook(options.hooks?.wrote, req, tenantId, source, result) };
  }

  async function authorize(req: Request, spend = true, scope = true): Promise<Principal> {
    const principal = await authenticate(req);
    callHook(options.hooks?.authenticated, req, principal);
    if (scope) requireScope(principal, req.method, new URL(req.url).pathname);
    const wait = spend ? (limiter?.take(principal.keyId, now()) ?? 0) : 0;
    if (wait > 0) {
      throw new HttpError(429, "rate_limited", `too many requests for key ${principal.keyId}; retry in ${wait} s`, { headers: { "retry-after": String(wait) } });
    }
    return principal;
  }

  const handler = async (req: Request) => {
    try {
      return await handle(req);
    } catch (e) {
      if (e instanceof HttpError) return errorResponse(e);
      // The database is restarting or out of reach (adapters classify it): clients retry a 503.
      if (isStowageError(e, "storage") && e.status === 503) return errorResponse(new HttpError(503, "unavailable", "the database is unavailable; retry", { headers: { "retry-after": "1" } }));
      onError(e);
      return errorResponse(new HttpError(500, "internal", "the server failed to handle the request"));
    }
  };
  return Object.assign(handler, {
    close: async () => {
      streams.close();
      if (streamFeed !== feed) await streamFeed.close();
    },
    openStreams: () => streams.size,
    streamWakes: () => streams.wakes,
    ready: () => indexesReady(store),
    // The substring test keeps the URL parse off every other request's path.
    isStream: (req: Request) => req.method === "GET" && req.url.includes(EVENTS_PATH) && stripBasePath(basePath, new URL(req.url).pathname) === EVENTS_PATH,
  });
}

/** A cursor made under sync rules this server no longer has: the reader's copy was cut by them, so it starts again. */
function staleCursor(after: PullPosition, page: { reset: boolean }): string | undefined {
  if (after.fingerprint === undefined || after.seq === 0) return undefined;
  page.reset = true;
  return '{"reset":true}';
}

function matchRoute(pathname: string): Route {
  const raw = pathname.split("/");
  if (raw[0] !== "" || raw[1] !== "v1") throw notFoundRoute(pathname);
  let parts: string[];
  try {
    parts = raw.slice(2).map((p) => decodeURIComponent(p));
  } catch {
    throw new HttpError(400, "bad_request", `the path ${JSON.stringify(pathname.slice(0, 100))} is not valid percent-encoding`);
  }
  if (parts.length === 1 && parts[0] === "health") return { kind: "health" };
  if (parts.length === 1 && parts[0] === "events") return { kind: "events" };
  if (parts.length === 1 && parts[0] === "openapi.json") return { kind: "openapi" };
  if (parts.length === 1 && parts[0] === "push") return { kind: "push" };
  if (parts.length === 1 && parts[0] === "pull") return { kind: "pull" };
  if (parts[0] === "docs" && (parts.length === 2 || parts.length === 3)) {
    const collection = parts[1];
    if (!isCollectionName(collection)) {
      throw new HttpError(400, "bad_request", `invalid collection name ${JSON.stringify(String(collection).slice(0, 80))}: use [a-z][a-z0-9_]{0,62}`);
    }
    if (parts.length === 2) return { kind: "list", collection };
    const id = parts[2];
    if (!isDocId(id)) {
      throw new HttpError(400, "bad_request", `invalid document id ${JSON.stringify(String(id).slice(0, 80))}: use 1-200 characters from A-Z a-z 0-9 . _ ~ : @ + = - (not . or ..)`);
    }
    return { kind: "doc", collection, id };
  }
  throw notFoundRoute(pathname);
}

function notFoundRoute(pathname: string): HttpError {
  return new HttpError(404, "not_found", `no route ${JSON.stringify(pathname.slice(0, 100))}`);
}

/** `If-None-Match`: `*` or a list of entity tags, compared weakly (RFC 9110 §13.1.2). */
function etagMatches(header: string | null, etag: string): boolean {
  if (header === null) return false;
  return header.split(",").some((t) => {
    const tag = t.trim();
    return tag === "*" || tag.replace(/^W\//, "") === etag;
  });
}

/** `If-Match: <version>` (quotes allowed); `0` means "must not exist". */
function ifMatch(header: string | null): number | null | undefined {
  if (header === null) return undefined;
  const m = /^"?(0|[1-9][0-9]{0,15})"?$/.exec(header.trim());
  if (!m || !Number.isSafeInteger(Number(m[1]))) throw new HttpError(400, "bad_request", `If-Match must be a version number, got ${JSON.stringify(header.slice(0, 40))}`);
  const n = Number(m[1]);
  return n === 0 ? null : n;
}

/**
 * `POST /v1/push?pull=<cursor>[&limit=<n>]`: after the push commits, the same request answers
 * the pull page after `cursor` too (docs/PROTOCOL.md, "Pull with the push"), saving a small
 * sync its second round trip. Absent `pull`: a plain push. Anything else in the query is
 * refused, like a malformed cursor or limit, before the push is applied.
 */
function pullWithPush(url: URL): { after: PullPosition; limit: number; subs?: string } | undefined {
  if (url.search === "") return undefined;
  const q = parse(pushQuerySchema, query(url));
  if (q.pull === undefined) {
    if (q.limit !== undefined || q.subs !== undefined) throw new HttpError(400, "bad_request", `${q.limit !== undefined ? "limit" : "subs"} is only allowed with pull`);
    return undefined;
  }
  try {
    return { after: parsePullCursor(q.pull), limit: q.limit ?? WIRE_LIMITS.defaultPullLimit, subs: q.subs };
  } catch (e) {
    if (isStowageError(e)) throw new HttpError(400, "invalid_cursor", e.message);
    throw e;
  }
}

/** Query parameters as a record; a repeated parameter is refused rather than guessed at. */
function query(url: URL): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (Object.hasOwn(out, k)) throw new HttpError(400, "bad_request", `query parameter ${JSON.stringify(k.slice(0, 40))} is repeated`);
    out[k] = v;
  }
  return out;
}

function parse<T extends z.ZodType>(schema: T, input: unknown): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues: StowageErrorIssue[] = result.error.issues.slice(0, 20).map((i) => ({
    path: i.path.map((p) => (typeof p === "number" ? p : String(p))),
    message: i.message,
  }));
  throw validation(issues);
}

function validation(issues: StowageErrorIssue[]): HttpError {
  const first = issues[0];
  const where = first.path.length ? `${first.path.join(".")}: ` : "";
  return new HttpError(400, "bad_request", `${where}${first.message}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ""}`, { issues });
}
