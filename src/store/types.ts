import type { z } from "zod";
import type { JsonObject } from "../json.ts";

/** A stored document: the application's fields plus its string id. */
export type Doc<T = JsonObject> = T & { id: string };

/** What an op does to one document, on the wire and in the outbox. */
export type OpKind = "put" | "patch" | "delete";

/** A filter on one field: a value means equality; an object gives ranges or sets. */
export type FieldFilter =
  | string
  | number
  | boolean
  | null
  | { eq?: Scalar; ne?: Scalar; gt?: Scalar; gte?: Scalar; lt?: Scalar; lte?: Scalar; in?: Scalar[] };
export type Scalar = string | number | boolean | null;

export interface ListOptions {
  /** Field filters, all of which must hold; dotted paths reach into nested objects. */
  where?: Record<string, FieldFilter>;
  /** Field to order by (ties broken by id); prefix with `-` for descending. Default: id. */
  orderBy?: string;
  /** Page size, 1–10,000 (default 100). */
  limit?: number;
  /** The `next` cursor of the previous page. */
  cursor?: string;
}

export interface ListPage<T> {
  items: Doc<T>[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  next?: string;
}

export interface CollectionOptions<S extends z.ZodType | undefined = undefined> {
  /** Validates every write; its output is what is stored. */
  schema?: S;
  /** Fields (or field lists) to index for `list` filters and ordering. */
  indexes?: (string | string[])[];
  /** Optimistic concurrency: the server refuses a write based on a stale version. */
  strict?: boolean;
  /** Read from the server first (sensitive data), falling back to local when offline. */
  remoteFirst?: boolean;
  /** Fields that full-text search covers. */
  search?: string[];
}

/** Outbox entry as stored locally and pushed. */
export interface OutboxEntry {
  opId: number;
  tx: number | null;
  collection: string;
  id: string;
  op: OpKind;
  /** JSON text of the value (put) or merge patch (patch); null for delete. */
  body: string | null;
  baseVersion: number | null;
  createdAt: number;
}

export interface StoreStatus {
  clientId: string;
  outbox: { size: number; oldestAt: number | null; oldestAgeMs: number | null };
  conflicts: number;
}

export interface StoreEvents extends Record<string, unknown> {
  /** Local writes committed (the sync engine pushes on this). */
  write: { collections: string[]; ops: number };
  /** Documents changed by a pull. */
  pulled: { collections: string[]; changes: number };
  /** One per collection per committed transaction (local write or pull page): which ids changed. */
  change: { collection: string; ids: string[] };
}
