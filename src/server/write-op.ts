/**
 * One write as apply.ts applies it and rules.ts judges it: the types both files share, here so
 * that neither imports the other.
 */
import type { ErrorInfo } from "../protocol/wire.ts";
import type { Kysely } from "kysely";
import type { JsonObject } from "../json.ts";
import type { ServerTables } from "./tables.ts";

/** One write to apply: a pushed op, or a direct PUT/PATCH/DELETE. */
export interface WriteOp {
  /** The pushed op's id, for messages (absent for direct writes). */
  opId?: number;
  /** Ops sharing a defined `tx` and adjacent in the list are applied all-or-nothing. */
  tx?: number;
  /** A valid collection name. */
  collection: string;
  /** A valid document id. */
  id: string;
  /** Create or replace, merge patch, or delete. */
  op: "put" | "patch" | "delete";
  /** The document (put) or merge patch (patch). */
  value?: JsonObject;
  /** Strict check: the version the writer last saw; null means "no live document". */
  baseVersion?: number | null;
  /** This op's writer when it differs from `ApplyContext.writer` (group commit applies several clients' pushes in one call). */
  writer?: string | null;
  /** This op's rules when they differ from `ApplyContext.rules` (each push of a group has its own principal). */
  rules?: RuleRunner;
}

/** What happened to one WriteOp. */
export interface WriteOutcome {
  /** Applied, refused for a stale base version, or refused for good. */
  status: "applied" | "conflict" | "rejected";
  /** The change's sequence number (applied), or the current version (conflict). */
  version?: number;
  /** The current value on conflict (null when absent or deleted); the new value when applied. */
  value?: JsonObject | null;
  /** Why a conflict or rejection happened. */
  error?: ErrorInfo;
}

export interface DocState {
  /** Version: the sequence number of the latest change. */
  seq: number;
  /** A tombstone. */
  deleted: boolean;
  /** clientId of the latest change, null for direct writes. */
  writer: string | null;
  /** JSON text of the value, null for a tombstone. */
  body: string | null;
  /** Parsed `body`, filled on first need. */
  value?: JsonObject;
}

/** Base evaluation of one op, as apply.ts computes it without rules. */
export type Evaluated = { outcome: WriteOutcome; next?: DocState };

/** The rules bound to one request's principal; apply.ts calls it for every fresh op. */
export interface RuleRunner {
  evaluate(op: WriteOp, current: () => JsonObject | null, base: () => Evaluated): Promise<Evaluated>;
}

/** Sync rules' record of moves (sync-rules/moves.ts): called inside the write transaction with the documents it wrote and their states before. */
export interface MoveTracker {
  record(trx: Kysely<ServerTables>, tenantId: string, now: number, written: readonly { collection: string; id: string; state: DocState; before?: DocState }[]): Promise<void>;
}
