import type { Kysely, RawBuilder, SelectQueryBuilder, Transaction } from "kysely";
import type { Migration } from "kysely/migration";
import type { PipelineStatement } from "../../adapter.ts";
import type { DocStateRow, DocWriteRow } from "../docs-sql.ts";
import type { PlannerStats } from "../planner-stats.ts";
import type { ServerTables } from "../tables.ts";
import type { DocState } from "../write-op.ts";

/**
 * A write transaction whose first and last statements may share their round trips with BEGIN
 * and COMMIT (tx.ts runs it; defined here because a dialect's push works in one).
 */
export interface WriteTx {
  /** Runs statements inside the transaction. */
  readonly db: Kysely<ServerTables>;
  /** The transaction's first statements, before any other: answers each one's rows. */
  open(statements: PipelineStatement[]): Promise<unknown[][]>;
  /** The transaction's last statement, committed with it: nothing may follow. */
  close(statement: PipelineStatement): Promise<void>;
}

/** What a push group's lock-and-read needs of each push: its client and the documents its ops name. */
export interface PushGroupOps {
  req: { clientId: string; ops: readonly { collection: string; id: string }[] };
}

/**
 * The tenant's counters, read under its lock (undefined: the tenant is gone), and where the
 * dialect reads them in the same round trip, the group's client marks and the stored rows of
 * every document its ops name (push.ts reads what is missing itself).
 */
export interface PushRead {
  tenant: { seq: number; purged_seq: number } | undefined;
  read?: { marks: Map<string, number>; states: Map<string, DocState> };
}

/** A client's marks as a push group moves them. */
export interface ClientMark {
  tenant_id: string;
  client_id: string;
  last_op_id: number;
  settled_op_id: number | null;
}

/** What a push group writes last: its document rows, the clients' marks and the tenant's counter. */
export interface PushCommit {
  tenantId: string;
  now: number;
  /** The counter as locked, and as the group leaves it. */
  tenantSeq: number;
  seq: number;
  moved: ClientMark[];
  rows: DocWriteRow[];
}

/**
 * Everything the server's SQL does differently on one database, as one object (after Kysely's
 * DialectAdapter): the rest of src/server/ calls these members and never asks which database
 * it is on. A new server store is adapters/<x>/ + one implementation here (sqlite.ts,
 * postgres.ts) + its entry in index.ts.
 */
export interface ServerDialect {
  /** The store's name as the server reports it (health check, console session); never branched on. */
  readonly name: string;
  /** Migrations this store needs beyond the shared ones (schema.ts); each runs right after the shared one of its number. */
  readonly migrations: Record<string, Migration>;
  /** The schema the migrator keeps its bookkeeping tables in, or undefined for the connection's default. */
  migrationTableSchema(db: Kysely<any>): Promise<string | undefined>;
  /** Whether a failed migration may simply be run again (a concurrent change elsewhere in the database, not a fault of ours). */
  transientMigrationError(error: unknown): boolean;
  /** The tenant-counter read made a lock held until commit where the database needs one (dialect-sql.ts, lockTenant, says why). */
  lockRow<DB, TB extends keyof DB, O>(query: SelectQueryBuilder<DB, TB, O>): SelectQueryBuilder<DB, TB, O>;
  /** A bound value as the planner should see it (SQLite: cast, so the statement is not prepared again; src/store/sql.ts TEXT_PARAM). */
  opaqueParam<T extends string | number>(value: T, type: "text" | "integer"): T | RawBuilder<T>;
  /** Why this store cannot keep a value's JSON text, or undefined when it can (checked before the transaction: 400, not 500). */
  unstorableJson(json: string): string | undefined;
  /** A stored body's JSON text as a pull of the same row reads it (live events, events/changes.ts). */
  eventJson(body: string): string;
  /** The current rows of `ids` in one collection. */
  selectDocStates(db: Kysely<ServerTables>, tenantId: string, collection: string, ids: string[]): Promise<DocStateRow[]>;
  /** Inserts or replaces document rows (the caller holds the tenant's counter lock). */
  upsertDocRows(db: Kysely<ServerTables>, tenantId: string, now: number, rows: DocWriteRow[]): Promise<void>;
  /** Whether every written document is read first; false lets a plain put skip its read (SQLite's upsert needs none). */
  readonly readsEveryWrite: boolean;
  /** A push group's first step: the tenant's lock (and what the dialect reads with it, PushRead). */
  lockAndRead(tx: WriteTx, tenantId: string, group: readonly PushGroupOps[]): Promise<PushRead>;
  /** A push group's last step, in its transaction: the documents, the clients' marks and the counter (when it moved). */
  commitPush(tx: WriteTx, commit: PushCommit): Promise<void>;
  /** Whether a put's stored text is JSON.stringify of the value sent (docs/PROTOCOL.md "asSent"; jsonb orders keys its own way). */
  readonly keepsJsonText: boolean;
  /** Takes gc's lock on a tenant for this transaction; false when another instance holds it (gc then skips the tenant). */
  gcTryLock(trx: Transaction<ServerTables>, tenantId: string): Promise<boolean>;
  /** Connection settings the server's store wants beyond the adapter's own, run once on open (errors ignored: a remote database may refuse them). */
  tune(db: Kysely<ServerTables>): Promise<void>;
  /** Planner statistics kept current as documents are added, where the database needs that (planner-stats.ts). */
  plannerStats(db: Kysely<ServerTables>): PlannerStats | undefined;
  /**
   * Sync rules' indexed fields (sync-rules/anchors.ts): the SQL expression of a document field
   * (`path` is checked: dot-separated identifiers), written the same way in the expression
   * index and in the query so the planner matches them.
   */
  fieldSql(path: string): string;
  /** `create index` as a running server makes one on a table in use: PostgreSQL builds it without blocking writers. */
  readonly createIndexLive: string;
  /** A literal to compare `fieldSql` with by `=`; may match more than `==` does (the caller filters exactly). */
  fieldParam(value: string | number | boolean): RawBuilder<unknown>;
}
