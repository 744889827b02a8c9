/**
 * The server's table types and the counter reader: the lowest server module, imported by
 * schema.ts (migrations), the dialects and the SQL helpers without importing each other.
 */


/** Server tables, as Kysely sees them. Counters are `bigint` (PostgreSQL may hand them back as strings). */
export interface ServerTables {
  stowage_tenants: {
    id: string;
    name: string;
    /** Last change sequence number allocated for this tenant. */
    seq: number | string | bigint;
    /** Highest sequence number whose tombstone was purged (the purge horizon). */
    purged_seq: number | string | bigint;
    created_at: number | string | bigint;
  };
  stowage_keys: {
    id: string;
    tenant_id: string;
    /** SHA-256 hex of the whole key; the key itself is never stored. */
    hash: string;
    label: string | null;
    created_at: number | string | bigint;
    revoked_at: number | string | bigint | null;
    /** `write` (push, writes and reads) or `read` (pull, events, GET only); migration 0002. */
    scope: string;
  };
  stowage_docs: {
    tenant_id: string;
    collection: string;
    id: string;
    /** The change sequence number of the document's latest change (its version). */
    seq: number | string | bigint;
    deleted: number;
    /** clientId of the last change, or null for direct (HTTP) writes. */
    writer: string | null;
    /** JSON text of the value; null for a tombstone. */
    body: string | null;
    updated_at: number | string | bigint;
  };
  stowage_clients: {
    tenant_id: string;
    client_id: string;
    last_op_id: number | string | bigint;
    /** Last push / pull seen from the client, ms since the epoch (0003_clients; written in batches). */
    last_push_at?: number | string | bigint | null;
    last_pull_at?: number | string | bigint | null;
    /** Sequence number of the client's last pulled cursor (0003_clients). */
    pulled_seq?: number | string | bigint | null;
    /** Highest op id the client reported settled (0004_settled_marks): its refusals may go. */
    settled_op_id?: number | string | bigint | null;
  };
  stowage_doc_moves: {
    tenant_id: string;
    /** The seq of the change that moved the document. */
    seq: number | string | bigint;
    collection: string;
    id: string;
    /** JSON text of the document's value before that change. */
    body: string;
    created_at: number | string | bigint;
  };
  stowage_op_results: {
    tenant_id: string;
    client_id: string;
    op_id: number | string | bigint;
    /** JSON of the conflict/rejected result, replayed when the op is resent. */
    result: string;
    created_at: number | string | bigint;
  };
}

/** Counters come back as numbers (SQLite) or strings (PostgreSQL bigint); sequence numbers stay below 2^53. */
export function num(value: number | string | bigint | null | undefined): number {
  return value == null ? 0 : Number(value);
}
