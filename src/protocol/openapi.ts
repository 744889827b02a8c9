import { z } from "zod";
import { COLLECTION, DOC_ID } from "../names.ts";
import {
  collectionName,
  docDeleteResponseSchema,
  docId,
  docListQuerySchema,
  docListResponseSchema,
  docResponseSchema,
  docWriteResponseSchema,
  errorBodySchema,
  healthResponseSchema,
  jsonObject,
  PROTOCOL_VERSION,
  pullPageSchema,
  pullQuerySchema,
  pullResetSchema,
  pushRequestSchema,
  pushResponseSchema,
  pushQuerySchema,
  WIRE_LIMITS,
} from "./wire.ts";

/**
 * The OpenAPI 3.1 document of protocol v1. Every schema in it is generated from the zod schemas
 * in wire.ts, the ones the server validates with (zod 4's `z.toJSONSchema`, draft 2020-12, the
 * dialect OpenAPI 3.1 uses); only the paths and operations skeleton is written here.
 * `bun run openapi` writes it to docs/openapi.json; a test fails when the two drift.
 */

type Json = Record<string, unknown>;

/** zod → JSON Schema; the refinements zod cannot express become the name rules' patterns. */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  const out = z.toJSONSchema(schema, {
    target: "draft-2020-12",
    io,
    reused: "inline",
    unrepresentable: "any",
    override(ctx) {
      const s = ctx.zodSchema as unknown;
      if (s === jsonObject) Object.assign(ctx.jsonSchema, { type: "object", description: "a JSON object" });
      if (s === collectionName) Object.assign(ctx.jsonSchema, { pattern: COLLECTION.source });
      if (s === docId) Object.assign(ctx.jsonSchema, { pattern: DOC_ID.source, not: { enum: [".", ".."] } });
    },
  }) as Json;
  delete out.$schema; // the document's jsonSchemaDialect says it once
  return out;
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (name: string) => ({ "application/json": { schema: ref(name) } });

/** The components every operation refers to, by name. */
function components(): Json {
  return {
    PushRequest: jsonSchema(pushRequestSchema, "input"),
    PushResponse: jsonSchema(pushResponseSchema, "output"),
    PullPage: jsonSchema(pullPageSchema, "output"),
    PullReset: jsonSchema(pullResetSchema, "output"),
    PullResponse: { anyOf: [ref("PullPage"), ref("PullReset")] },
    Document: jsonSchema(jsonObject, "input"),
    DocResponse: jsonSchema(docResponseSchema, "output"),
    DocWriteResponse: jsonSchema(docWriteResponseSchema, "output"),
    DocListResponse: jsonSchema(docListResponseSchema, "output"),
    DocDeleteResponse: jsonSchema(docDeleteResponseSchema, "output"),
    HealthResponse: jsonSchema(healthResponseSchema, "output"),
    ErrorBody: jsonSchema(errorBodySchema, "output"),
  };
}

/** Query parameters from a strict zod object of strings (the pull and list queries). */
function queryParameters(schema: z.ZodObject, descriptions: Record<string, string>): Json[] {
  const js = jsonSchema(schema, "input") as { properties: Record<string, Json>; required?: string[] };
  return Object.entries(js.properties).map(([name, s]) => ({
    name,
    in: "query",
    required: js.required?.includes(name) ?? false,
    description: descriptions[name],
    schema: s,
  }));
}

const ERRORS: Record<string, string> = {
  "400": "bad_request (bad JSON, wrong types, unknown fields, bad query), invalid_cursor, or unindexed_filter (a subscription filters on a field the server's sync rules do not index); validation failures carry `issues`",
  "401": "unauthorized: missing, malformed, unknown, expired or revoked credentials (with WWW-Authenticate: Bearer)",
  "403": "forbidden: the credentials lack the scope this method needs (a read-only key on a write; a token without the read scope), or the server's rules refuse the write",
  "404": "not_found: a document that does not exist (or that the server's sync rules keep from this principal)",
  "409": "conflict: If-Match named a stale version",
  "413": "payload_too_large: the body is over the server's limit (default 4 MiB)",
  "415": "unsupported_media_type: a Content-Type other than application/json",
  "429": "rate_limited: too many requests for this key, or too_many_streams (events); Retry-After says when to retry",
  "503": "shutting_down: the server is draining before it stops; retry after Retry-After seconds (on another instance or after the restart)",
};

/** Headers an answer carries, declared once (components.headers) and referred to by name. */
const HEADERS: Json = {
  "X-Request-Id": {
    description: "The request's id in the server's log: the request's own X-Request-Id when it is 1-128 characters of A-Z a-z 0-9 . _ : @ / + = -, else a new UUID. Sent by `stowage serve` on every answer (an embedding application decides for itself).",
    schema: { type: "string", pattern: "^[A-Za-z0-9._:@/+=-]{1,128}$" },
  },
  "Retry-After": { description: "Seconds to wait before retrying.", required: true, schema: { type: "string", pattern: "^[0-9]+$" } },
  "WWW-Authenticate": { description: "The scheme to authenticate with: Bearer.", required: true, schema: { type: "string", pattern: "^Bearer( |$)" } },
  ETag: { description: "The document's version as a strong entity tag, e.g. \"17\"; send it back in If-None-Match.", required: true, schema: { type: "string", pattern: '^"[0-9]+"$' } },
  "Stowage-Absent-Since": {
    description: "The sequence number since which the document is absent (its tombstone's version, or the purge horizon); docs/PROTOCOL.md, Absent since.",
    required: true,
    schema: { type: "string", pattern: "^[0-9]+$" },
  },
};
const header = (name: string) => ({ $ref: `#/components/headers/${name}` });

/** Headers every answer may carry, plus those `status` always does. */
function headersFor(status: string, extra: string[] = []): Json {
  const names = ["X-Request-Id", ...(status === "401" ? ["WWW-Authenticate"] : []), ...(status === "429" || status === "503" ? ["Retry-After"] : []), ...extra];
  return Object.fromEntries(names.map((n) => [n, header(n)]));
}

/**
 * The error answers of an operation. Every operation can answer 503 while the server drains,
 * and every authenticated one 401, 403 and 429; `statuses` adds the rest. `extra` adds
 * headers to one status (404's Stowage-Absent-Since).
 */
function errors(auth: boolean, statuses: string[] = [], extra: Record<string, string[]> = {}): Json {
  const all = new Set([...statuses, ...(auth ? ["401", "403", "429"] : []), "503"]);
  const out: Json = {};
  for (const s of [...all].sort()) out[s] = { description: ERRORS[s], headers: headersFor(s, extra[s]), content: jsonContent("ErrorBody") };
  // Any other status (405 on a known path, 500) answers the same error body.
  out.default = { description: "any other refusal or failure (405 method_not_allowed, 500 internal)", headers: headersFor("default"), content: jsonContent("ErrorBody") };
  return out;
}

const ok = (description: string, schema: string, extraHeaders: string[] = []) => ({ "200": { description, headers: headersFor("200", extraHeaders), content: jsonContent(schema) } });
const secured = [{ bearer: [] }];
const pathParams: Json[] = [
  { name: "collection", in: "path", required: true, schema: jsonSchema(collectionName, "input") },
];
const docParams: Json[] = [...pathParams, { name: "id", in: "path", required: true, schema: jsonSchema(docId, "input") }];
const ifMatch: Json = {
  name: "If-Match",
  in: "header",
  required: false,
  description: "Strict write: the version last seen (quotes allowed); 0 means the document must not exist. 409 when stale.",
  schema: { type: "string", pattern: '^"?(0|[1-9][0-9]{0,15})"?$' },
};
const ifNoneMatch: Json = {
  name: "If-None-Match",
  in: "header",
  required: false,
  description: "ETags (or *) already held: when the document's current ETag is among them the answer is 304 without a body.",
  schema: { type: "string" },
};

/**
 * The whole document, as served at GET /v1/openapi.json and checked in as docs/openapi.json
 * (served at the root). `basePath` is where the routes are mounted (serve --base-path, the
 * embedding's basePath): the paths stay `/v1/…` and `servers` says where they live, so a
 * generated client calls `/sync/v1/health`.
 */
export function openApiDocument(basePath = ""): Json {
  const paths: Json = {
    "/v1/health": {
      get: {
        operationId: "health",
        summary: "Liveness and protocol version (no authentication, not rate limited)",
        security: [],
        responses: { ...ok("the server answers", "HealthResponse"), ...errors(false) },
      },
    },
    "/v1/openapi.json": {
      get: {
        operationId: "openapi",
        summary: "This document (no authentication)",
        security: [],
        responses: { "200": { description: "the OpenAPI 3.1 document", headers: headersFor("200"), content: { "application/json": { schema: { type: "object" } } } }, ...errors(false) },
      },
    },
    "/v1/push": {
      post: {
        operationId: "push",
        summary: "Apply a client's ops; a resent op id answers `duplicate` and is applied once",
        parameters: queryParameters(pushQuerySchema, {
          pull: "also answer the pull page after this cursor (read after the push commits) as `pull`: a sync with changes in one round trip",
          limit: `changes in that page, 1-${WIRE_LIMITS.maxPullLimit} (default ${WIRE_LIMITS.defaultPullLimit}); only with pull`,
          subs: "that page's subscriptions, as on GET /v1/pull; only with pull",
        }),
        requestBody: { required: true, content: jsonContent("PushRequest") },
        responses: { ...ok("one result per op, in order (and the pull page when asked)", "PushResponse"), ...errors(true, ["400", "413", "415"]) },
      },
    },
    "/v1/pull": {
      get: {
        operationId: "pull",
        summary: "Changes after a cursor, in commit order, one page at a time",
        parameters: queryParameters(pullQuerySchema, {
          cursor: "the previous page's cursor; absent or empty for the beginning",
          limit: `changes per page, 1-${WIRE_LIMITS.maxPullLimit} (default ${WIRE_LIMITS.defaultPullLimit})`,
          subs:
            'subscriptions: URL-encoded JSON array of 1-64 {"collection","where"?} (where as in list: ops eq ne gt gte lt lte in); the page holds only their documents within the sync rules, ' +
            "and a document that left them after the cursor comes as {value: null, deleted: true, left: true}. Every where field must be indexed by the rules (else 400 unindexed_filter). Absent: the whole tenant within the rules",
          have: "a backfill (with an empty cursor): subscriptions the client holds already; documents matching any of them now are left out",
        }),
        responses: {
          ...ok("a page of changes, or { reset: true } when the cursor is behind the purge horizon, ahead of the server, or made under other sync rules or claims", "PullResponse"),
          ...errors(true, ["400"]),
        },
      },
    },
    "/v1/docs/{collection}": {
      parameters: pathParams,
      get: {
        operationId: "listDocs",
        summary: "List a collection's live documents",
        parameters: queryParameters(docListQuerySchema, {
          limit: `page size, 1-${WIRE_LIMITS.maxListLimit} (default ${WIRE_LIMITS.defaultListLimit})`,
          cursor: "the previous page's `next`",
          where: "URL-encoded JSON filter in the library's syntax, e.g. {\"done\":false,\"n\":{\"gte\":2}}",
          orderBy: "a field; prefix - for descending",
        }),
        responses: { ...ok("a page of documents and their versions", "DocListResponse"), ...errors(true, ["400"]) },
      },
    },
    "/v1/docs/{collection}/{id}": {
      parameters: docParams,
      get: {
        operationId: "getDoc",
        summary: "One document and its version (ETag; If-None-Match answers 304 when unchanged)",
        parameters: [ifNoneMatch],
        responses: {
          ...ok("the document", "DocResponse", ["ETag"]),
          "304": { description: "not modified: the ETag named in If-None-Match is current; no body", headers: headersFor("304", ["ETag"]) },
          ...errors(true, ["400", "404"], { "404": ["Stowage-Absent-Since"] }),
        },
      },
      put: {
        operationId: "putDoc",
        summary: "Create or replace a document",
        parameters: [ifMatch],
        requestBody: { required: true, content: jsonContent("Document") },
        responses: { ...ok("the stored document (without `value` when the sync rules let the writer write but not read it)", "DocWriteResponse"), ...errors(true, ["400", "409", "413", "415"]) },
      },
      patch: {
        operationId: "patchDoc",
        summary: "Merge a JSON Merge Patch into a document",
        parameters: [ifMatch],
        requestBody: { required: true, content: jsonContent("Document") },
        responses: { ...ok("the merged document (without `value` when the sync rules let the writer write but not read it)", "DocWriteResponse"), ...errors(true, ["400", "404", "409", "413", "415"]) },
      },
      delete: {
        operationId: "deleteDoc",
        summary: "Delete a document (a tombstone clients pull)",
        parameters: [ifMatch],
        responses: { ...ok("deleted", "DocDeleteResponse"), ...errors(true, ["400", "404", "409"]) },
      },
    },
    // Live sync (the wire contract of /v1/events): pokes carrying the tenant's sequence number.
    "/v1/events": {
      get: {
        operationId: "events",
        summary: "Server-sent change pokes: `event: change` with data {\"seq\": n} after each commit, `: ping` heartbeats",
        description:
          "Starts with `retry:` and one `change` event carrying the tenant's current seq, then one per commit (coalesced). " +
          "A poke only tells the client to pull; the pull cursor decides what is applied. Honours Last-Event-ID. " +
          "With `changes=1`, the event for a small commit made through this instance also carries `prev` (the seq before it) and the " +
          "commit's changes as a one-page pull answer for cursor `v1.<prev>` (`changes`, `cursor`, `more`); apply it only when the " +
          "stored cursor is exactly `v1.<prev>`, otherwise pull.",
        parameters: [
          { name: "Last-Event-ID", in: "header", required: false, schema: { type: "string" } },
          { name: "changes", in: "query", required: false, schema: { type: "string", enum: ["0", "1"] } },
          {
            name: "subs",
            in: "query",
            required: false,
            description: "subscriptions as on GET /v1/pull: the stream is woken only by commits touching its view (before or after), and a changes event carries only the view's part (leaves included)",
            schema: { type: "string" },
          },
        ],
        responses: {
          "200": { description: "an event stream that stays open; on shutdown its last event is `reconnect`", headers: headersFor("200"), content: { "text/event-stream": { schema: { type: "string" } } } },
          ...errors(true, ["400"]),
        },
      },
    },
  };
  return {
    openapi: "3.1.0",
    jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
    info: {
      title: "Stowage sync protocol",
      version: `${PROTOCOL_VERSION}.0.0`,
      description: `Wire protocol v${PROTOCOL_VERSION} of Stowage (docs/PROTOCOL.md), generated from the zod schemas the server validates with.`,
      license: { name: "MIT", identifier: "MIT" },
    },
    servers: [{ url: basePath || "/", description: basePath ? `the routes are mounted under ${basePath}` : "the routes are served at the root" }],
    security: secured,
    paths,
    components: {
      schemas: components(),
      headers: HEADERS,
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "an API key: Authorization: Bearer <key>" } },
    },
  };
}

const cached = new Map<string, string>();

/** The document as the text docs/openapi.json holds (2-space JSON, final newline); built once per base path. */
export function openApiText(basePath = ""): string {
  let text = cached.get(basePath);
  if (text === undefined) cached.set(basePath, (text = `${JSON.stringify(openApiDocument(basePath), null, 2)}\n`));
  return text;
}
