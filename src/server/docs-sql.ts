import type { Kysely, Transaction } from "kysely";
import type { ServerTables } from "./tables.ts";

/**
 * The document rows of a push as both dialects read and write them (the statements are in
 * sql/sqlite-docs.ts and sql/postgres-docs.ts).
 *
 * The two statements of every push, in raw SQL: the query builder spent more time building
 * and compiling a 500-row upsert (4,000 frozen value nodes) than the database spent running
 * it. On PostgreSQL each is ONE statement with JSON array parameters, so any
 * number of documents costs one round trip and the statement text never changes (the server
 * parses and plans the same text); SQLite gets multi-row statements its driver caches.
 */

/** A document row as the push path reads it. */
export interface DocStateRow {
  id: string;
  seq: number | string;
  deleted: number;
  writer: string | null;
  body: string | null;
}

/** A document row to write. */
export interface DocWriteRow {
  collection: string;
  id: string;
  seq: number;
  deleted: 0 | 1;
  writer: string | null;
  body: string | null;
  /**
   * The row was in the table when the transaction read the documents (a tombstone counts).
   * Every writer of a tenant's documents holds the tenant's counter lock (lockTenant), so a
   * row that read absent is still absent: PostgreSQL inserts it plainly, skipping the
   * speculative insertion of `on conflict` (about a third of an upsert's cost per row).
   * SQLite always upserts and does not read it (apply.ts skips reading plain puts' rows there).
   */
  stored: boolean;
}

export type Db = Transaction<ServerTables> | Kysely<ServerTables>;

/** An upsert's update of every column (both dialects). */
export const SET_ALL = "seq = excluded.seq, deleted = excluded.deleted, writer = excluded.writer, body = excluded.body, updated_at = excluded.updated_at";

