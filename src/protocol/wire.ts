import { z } from "zod";
import { isPlainObject, type JsonObject } from "../json.ts";
import { isCollectionName, isDocId } from "../names.ts";

/**
 * Wire protocol v1 (docs/PROTOCOL.md): zod schemas for every body that crosses HTTP, and the
 * TypeScript types derived from them. The server validates requests with these; clients may
 * validate responses with them. Objects are `.strict()`: unknown fields are refused.
 */

export const PROTOCOL_VERSION = 1;

/** Defaults from the protocol's limits table; a server may be configured otherwise. */
export const WIRE_LIMITS = {
  /** Largest request body, in bytes. */
  maxBodyBytes: 4 * 1024 * 1024,
  /** Most ops in one push. */
  maxOpsPerPush: 1000,
  /** Largest JSON of one document value, in UTF-16 code units of its serialization. */
  maxValueChars: 1024 * 1024,
  /** Deepest nesting of a document value. */
  maxValueDepth: 64,
  /** Largest pull `limit`. */
  maxPullLimit: 1000,
  /** Pull `limit` when absent. */
  defaultPullLimit: 500,
  /** Largest `limit` on GET /v1/docs/:collection. */
  maxListLimit: 1000,
  /** `limit` on GET /v1/docs/:collection when absent. */
  defaultListLimit: 100,
} as const;

const CLIENT_ID = /^[A-Za-z0-9_-]{8,64}$/;

export const collectionName = z.string().refine(isCollectionName, {
  message: "invalid collection name: use [a-z][a-z0-9_]{0,62}",
});
export const docId = z.string().refine(isDocId, {
  message: "invalid document id: use 1-200 characters from A-Z a-z 0-9 . _ ~ : @ + = - (not . or ..)",
});
export const clientId = z.string().regex(CLIENT_ID, "invalid clientId: use 8-64 characters from A-Z a-z 0-9 _ -");
const opId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const version = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** A JSON object (document value or merge patch); size and depth are checked by the server. */
export const jsonObject = z.custom<JsonObject>((v) => isPlainObject(v), { message: "must be a JSON object" });

const opBase = {
  opId,
  tx: opId.optional(),
  collection: collectionName,
  id: docId,
  baseVersion: version.nullable().optional(),
};

export const pushOpSchema = z.discriminatedUnion("op", [
  z.object({ ...opBase, op: z.literal("put"), value: jsonObject }).strict(),
  z.object({ ...opBase, op: z.literal("patch"), value: jsonObject }).strict(),
  z.object({ ...opBase, op: z.literal("delete") }).strict(),
]);
export type PushOp = z.infer<typeof pushOpSchema>;

export const pushRequestSchema = z
  .object({
    clientId,
    /**
     * Optional: every op id at or below this is settled on the client (its answer recorded
     * locally), so it is never resent and the server may forget its recorded refusal.
     */
    settled: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
    ops: z.array(pushOpSchema).min(1).max(WIRE_LIMITS.maxOpsPerPush),
  })
  .strict();
export type PushRequest = z.infer<typeof pushRequestSchema>;

export const errorInfoSchema = z
  .object({
    code: z.string(),
    message: z.string(),
    issues: z.array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() })).optional(),
  })
  .strict();
/** The `error` member of a refusal body, and of a conflict/rejected op result. */
export type ErrorInfo = z.infer<typeof errorInfoSchema>;

export const errorBodySchema = z.object({ error: errorInfoSchema }).strict();
/** Every 4xx/5xx body: `{ error: { code, message, issues? } }`. */
export type ErrorBody = z.infer<typeof errorBodySchema>;

export const opStatusSchema = z.enum(["applied", "duplicate", "conflict", "rejected"]);
export type OpStatus = z.infer<typeof opStatusSchema>;

export const opResultSchema = z
  .object({
    opId,
    status: opStatusSchema,
    version: version.optional(),
    value: jsonObject.nullable().optional(),
    error: errorInfoSchema.optional(),
  })
  .strict();
/** One op's outcome; `value` and `version` are the server state on `conflict`. */
export type OpResult = z.infer<typeof opResultSchema>;

/** A pull page's size in a query string: 1 to maxPullLimit. */
const pullLimit = z
  .string()
  .regex(/^[0-9]{1,4}$/, "limit must be an integer")
  .transform(Number)
  .pipe(z.number().int().min(1).max(WIRE_LIMITS.maxPullLimit))
  .optional();

/** `subs` / `have`: URL-encoded JSON `[{"collection":"todos","where":{"owner":"ann"}}]` (checked by the server, sync-rules/view.ts). */
const subscriptionsParam = z.string().max(20_000);

export const pullQuerySchema = z
  .object({
    cursor: z.string().max(200).optional(),
    /** The pulling client's clientId (optional): lets the server show how far behind it is. */
    clientId: clientId.optional(),
    limit: pullLimit,
    /** Subscriptions (issue 34): a JSON array of 1-64 `{collection, where?}`; absent: the whole tenant within the rules. */
    subs: subscriptionsParam.optional(),
    /** A backfill's held subscriptions: documents matching any of them now are left out. */
    have: subscriptionsParam.optional(),
  })
  .strict();
export type PullQuery = z.infer<typeof pullQuerySchema>;

export const changeSchema = z
  .object({
    collection: z.string(),
    id: z.string(),
    version,
    value: jsonObject.nullable(),
    deleted: z.boolean(),
    /** The document left the reader's view (a field change, or the rules): remove the local copy; it is not a delete on the server. */
    left: z.literal(true).optional(),
  })
  .strict();
/** One document's latest state in a pull page; a tombstone has `deleted: true, value: null`; a leave also `left: true`. */
export type Change = z.infer<typeof changeSchema>;

export const pullPageSchema = z.object({ changes: z.array(changeSchema), cursor: z.string(), more: z.boolean() }).strict();
export type PullPage = z.infer<typeof pullPageSchema>;
export const pullResetSchema = z.object({ reset: z.literal(true) }).strict();
export type PullReset = z.infer<typeof pullResetSchema>;
export const pullResponseSchema = z.union([pullPageSchema, pullResetSchema]);
/** A page of changes, or `{ reset: true }` when the cursor is behind the purge horizon or ahead of the server. */
export type PullResponse = z.infer<typeof pullResponseSchema>;

export const pushResponseSchema = z
  .object({
    results: z.array(opResultSchema),
    lastOpId: z.number().int().nonnegative(),
    /**
     * Every op this request applied left its document exactly as a pull would bring it back
     * to the client that sent it: puts stored as JSON.stringify of the sent value (which held
     * the document's id), deletes; no patch. Absent when not known to hold (docs/PROTOCOL.md).
     */
    asSent: z.literal(true).optional(),
    /** With `?pull=<cursor>`: the pull answer after that cursor, read after the push committed. */
    pull: pullResponseSchema.optional(),
  })
  .strict();
export type PushResponse = z.infer<typeof pushResponseSchema>;

/** `POST /v1/push` query: `pull` asks for the pull page after that cursor in the same answer, `limit` its size. */
export const pushQuerySchema = z
  .object({
    pull: z.string().max(200).optional(),
    limit: pullLimit,
    /** The pull's subscriptions, as on GET /v1/pull. */
    subs: subscriptionsParam.optional(),
  })
  .strict();
export type PushQuery = z.infer<typeof pushQuerySchema>;

export const docListQuerySchema = z
  .object({
    limit: z
      .string()
      .regex(/^[0-9]{1,4}$/, "limit must be an integer")
      .transform(Number)
      .pipe(z.number().int().min(1).max(WIRE_LIMITS.maxListLimit))
      .optional(),
    cursor: z.string().max(2000).optional(),
    where: z.string().max(20_000).optional(),
    orderBy: z.string().max(600).optional(),
  })
  .strict();
export type DocListQuery = z.infer<typeof docListQuerySchema>;

export const docResponseSchema = z.object({ value: jsonObject, version }).strict();
/** GET/PUT/PATCH /v1/docs/:collection/:id. */
export type DocResponse = z.infer<typeof docResponseSchema>;
export const docWriteResponseSchema = z.object({ value: jsonObject.optional(), version }).strict();
/** PUT/PATCH /v1/docs/:collection/:id: the stored document; without `value` when sync rules let the writer write it but not read it. */
export type DocWriteResponse = z.infer<typeof docWriteResponseSchema>;
export const docListResponseSchema = z.object({ items: z.array(jsonObject), versions: z.array(version), next: z.string().optional() }).strict();
/** GET /v1/docs/:collection; `versions[i]` is the version of `items[i]`. */
export type DocListResponse = z.infer<typeof docListResponseSchema>;
export const docDeleteResponseSchema = z.object({ deleted: z.literal(true), version }).strict();
/** DELETE /v1/docs/:collection/:id. */
export type DocDeleteResponse = z.infer<typeof docDeleteResponseSchema>;

export const healthResponseSchema = z
  .object({ ok: z.literal(true), protocol: z.literal(PROTOCOL_VERSION), store: z.enum(["sqlite", "postgres"]) })
  .strict();
export type HealthResponse = z.infer<typeof healthResponseSchema>;
