import type { z } from "zod";
import { docListQuerySchema, pullQuerySchema, pushQuerySchema, pushRequestSchema, WIRE_LIMITS, type PushOp } from "../protocol/wire.ts";
import { isPlainObject, type JsonObject } from "../json.ts";
import { isStowageError, type StowageErrorIssue } from "../errors.ts";
import { isCollectionName, isDocId } from "../names.ts";
import { openApiText } from "../protocol/openapi.ts";
import { applyOps } from "./apply.ts";
import { lockTenant } from "./dialect-sql.ts";
import { absentSince, getDoc, listDocs } from "./docs.ts";
import { errorResponse, HttpError, json, jsonText, readJson } from "./http.ts";
import { readFromReplica } from "./replica.ts";
import { requestAuthenticator, requireScope, type AuthOptions } from "./auth/authenticate.ts";
import type { Principal } from "./keys.ts";
import { normalizeBasePath, stripBasePath } from "./mount.ts";
import { parsePullCursor, pullPage, type PullPosition } from "./pull.ts";
import { checkPush, pushWithSeq } from "./push.ts";
import { ChangeFeed } from "./events/feed.ts";
import { commitChanges, commitPage } from "./events/changes.ts";
import { EventStreams, type EventStreamOptions } from "./events/sse.ts";
import { checkLastEventId, EVENTS_PATH, readTenantSeq, wantsChanges } from "./events/endpoint.ts";
import { DEFAULT_RATE, RateLimiter, type RateLimit } from "./rate-limit.ts";
import { callHook, type ServerHooks } from "./ops/hooks.ts";
import { bindRules, type RulesOptions } from "./rules.ts";
import type { ServerStore } from "./store.ts";

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
}

/** The handler, plus what owning its event streams takes. */
export type ServerHandler = ((req: Request) => Promise<Response>) & {
  /** Ends every open event stream cleanly and refuses new ones; call before stopping the listener. */
  close(): Promise<void>;
  /** Event streams open right now. */
  openStreams(): number;
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
  const streams = new EventStreams(feed, options.events);
  const authenticate = requestAuthenticator(store, options);
  const basePath = normalizeBasePath(options.basePath);

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
    if (route.kind === "health") return json({ ok: true, protocol: 1, store: store.family });
    if (route.kind === "openapi") return jsonText(openApiText()); // public, like health
    if (route.kind === "events") {
      // A stream is one long request: it spends no rate token (a reconnecting client still must authenticate).
      const p = await authorize(req, false);
      checkLastEventId(req.headers.get("last-event-id"));
      const changes = wantsChanges(url.searchParams.get("changes"));
      return streams.open({ tenantId: p.tenantId, keyId: p.keyId, changes }, async () => (await readTenantSeq(store, p.tenantId)) ?? 0);
    }
    const principal = await authorize(req);
    if (route.kind === "push") {
      // Checked before anything is applied: a bad pull request refuses the push untouched.
      const alsoPull = pullWithPush(url);
      const body = parse(pushRequestSchema, await readJson(req, limits.maxBodyBytes));
      const issues = checkPush(body, limits, store.family);
      if (issues.length) throw validation(issues);
      const { response, seq, changes } = await pushWithSeq(store, principal.tenantId, body, limits, now(), bindRules(options, principal, limits.maxValueChars));
      if (seq !== undefined) feed.publish(principal.tenantId, seq, changes);
      callHook(options.hooks?.pushed, req, principal.tenantId, body.clientId, response.results);
      if (!alsoPull) return json(response);
      const page = { changes: 0, cursor: alsoPull.after.seq, reset: false };
      // A client that was caught up gets the commit's own rows (events/changes.ts commitPage).
      const text = (changes && commitPage(changes, alsoPull.after, alsoPull.limit, page)) ?? (await pullPage(store, principal.tenantId, alsoPull.after, alsoPull.limit, page));
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
      const text = await readFromReplica(store, principal.tenantId, (s) => pullPage(s, principal.tenantId, after, q.limit ?? WIRE_LIMITS.defaultPullLimit, page));
      callHook(options.hooks?.pulled, req, principal.tenantId, q.clientId, page);
      return jsonText(text);
    }
    if (route.kind === "list") {
      const listQuery = parse(docListQuerySchema, query(url));
      return json(await readFromReplica(store, principal.tenantId, (s) => listDocs(s, principal.tenantId, route.collection, listQuery)));
    }
    return doc(req, url, principal, route.collection, route.id);
  }

  async function doc(req: Request, url: URL, principal: Principal, collection: string, id: string): Promise<Response> {
    if (url.search !== "") throw new HttpError(400, "bad_request", "this endpoint takes no query parameters");
    if (req.method === "GET") {
      const found = await readFromReplica(store, principal.tenantId, (s) => getDoc(s, principal.tenantId, collection, id));
      if (!found) {
        // Which state "absent" belongs to, for the sync client (docs/PROTOCOL.md).
        const since = await absentSince(store, principal.tenantId, collection, id);
        throw new HttpError(404, "not_found", `no document ${collection}/${id}`, { headers: { "stowage-absent-since": String(since) } });
      }
      return json(found);
    }
    const baseVersion = ifMatch(req.headers.get("if-match"));
    let value: JsonObject | undefined;
    if (req.method !== "DELETE") {
      const body = await readJson(req, limits.maxBodyBytes);
      if (!isPlainObject(body)) throw new HttpError(400, "bad_request", "the body must be a JSON object");
      const problem = checkValueSafe(body as JsonObject, id);
      if (problem) throw validation([{ path: [], message: problem }]);
      value = body as JsonObject;
    }
    const op = req.method === "PUT" ? "put" : req.method === "PATCH" ? "patch" : "delete";
    const t = now();
    const outcome = await store.db.transaction().execute(async (trx) => {
      const tenant = await lockTenant(trx, store.family, principal.tenantId);
      if (!tenant) throw new Error(`tenant ${principal.tenantId} vanished`);
      const { outcomes, seq, written } = await applyOps(trx, { tenantId: principal.tenantId, seq: tenant.seq, writer: null, now: t, maxValueChars: limits.maxValueChars, rules: bindRules(options, principal, limits.maxValueChars) }, [
        { collection, id, op, value, baseVersion },
      ]);
      if (seq !== tenant.seq) await trx.updateTable("stowage_tenants").set({ seq }).where("id", "=", principal.tenantId).execute();
      return { ...outcomes[0], seq: seq !== tenant.seq ? seq : undefined, changes: commitChanges(tenant.seq, seq, written, store.family) };
    });
    if (outcome.seq !== undefined) feed.publish(principal.tenantId, outcome.seq, outcome.changes);
    if (outcome.status === "conflict") throw new HttpError(409, "conflict", outcome.error?.message ?? "version mismatch");
    if (outcome.status === "rejected") {
      if (outcome.error?.code === "not_found") throw notFound(collection, id);
      if (outcome.error?.code === "forbidden") throw new HttpError(403, "forbidden", outcome.error.message);
      if (outcome.error?.code === "invalid") throw new HttpError(400, "invalid", outcome.error.message, outcome.error.issues ? { issues: outcome.error.issues } : {});
      throw new HttpError(400, "bad_request", outcome.error?.message ?? "the document was refused");
    }
    if (outcome.version === undefined) throw notFound(collection, id); // DELETE of an absent document
    return op === "delete" ? json({ deleted: true, version: outcome.version }) : json({ value: outcome.value, version: outcome.version });
  }

  function checkValueSafe(value: JsonObject, id: string): string | undefined {
    return checkPush({ clientId: "directaccess", ops: [{ opId: 1, collection: "x", id, op: "put", value } as PushOp] }, limits, store.family)[0]?.message;
  }

  async function authorize(req: Request, spend = true): Promise<Principal> {
    const principal = await authenticate(req);
    callHook(options.hooks?.authenticated, req, principal);
    requireScope(principal, req.method, new URL(req.url).pathname);
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
    close: async () => streams.close(),
    openStreams: () => streams.size,
    // The substring test keeps the URL parse off every other request's path.
    isStream: (req: Request) => req.method === "GET" && req.url.includes(EVENTS_PATH) && stripBasePath(basePath, new URL(req.url).pathname) === EVENTS_PATH,
  });
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

function notFound(collection: string, id: string): HttpError {
  return new HttpError(404, "not_found", `no document ${collection}/${id}`);
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
function pullWithPush(url: URL): { after: PullPosition; limit: number } | undefined {
  if (url.search === "") return undefined;
  const q = parse(pushQuerySchema, query(url));
  if (q.pull === undefined) {
    if (q.limit !== undefined) throw new HttpError(400, "bad_request", "limit is only allowed with pull");
    return undefined;
  }
  try {
    return { after: parsePullCursor(q.pull), limit: q.limit ?? WIRE_LIMITS.defaultPullLimit };
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
