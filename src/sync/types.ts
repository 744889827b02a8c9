import type { StowageError } from "../errors.ts";
import type { AuthStatus } from "./credentials.ts";
import type { JsonObject } from "../json.ts";
import type { Subscription } from "../store/subscriptions.ts";

/** What the engine is doing right now. */
export type SyncState = "stopped" | "idle" | "pushing" | "pulling" | "backoff";

/** How a handle reaches its data. */
export type StowageMode = "local" | "hybrid" | "http-only";

/** What one `sync()` cycle did. */
export interface SyncResult {
  /** Ops the server acknowledged (applied or already applied). */
  pushed: number;
  /** Changes applied from pull pages. */
  pulled: number;
  /** Conflicts and rejections recorded during this cycle. */
  issues: SyncIssue[];
  /** True when the server asked for a full resync. */
  reset: boolean;
  /** False when another process holds the sync lease (this one only writes locally). */
  leased: boolean;
  /**
   * Documents whose server value this cycle could not fetch after a refusal (or a lost
   * answer): they may still show a refused value until a later cycle resolves them. Absent
   * when there are none: after such a sync no refused value is visible (guarantee 12).
   */
  unresolved?: { collection: string; id: string }[];
}

export interface SyncStatus {
  /** local, hybrid or http-only. */
  mode: StowageMode;
  /** What the engine is doing now. */
  state: SyncState;
  /** Whether the last exchange with the server got an answer; null before the first one. */
  online: boolean | null;
  /** This database's client id (null in http-only mode). */
  clientId: string | null;
  /** Pending ops: how many, and when the oldest was written. */
  outbox: { size: number; oldestAt: number | null; oldestAgeMs: number | null };
  /** Wall-clock time of the last complete successful cycle. */
  lastSyncAt: number | null;
  /** The last failure, kept after recovery so it can be inspected. */
  lastError: { code: string; message: string; at: number } | null;
  /** The opaque pull cursor stored locally. */
  cursor: string | null;
  /** Recorded conflicts (strict writes refused as stale). */
  conflicts: number;
  /** Recorded rejections (ops that can never apply). */
  rejections: number;
  /** Documents waiting for their server value (see SyncResult.unresolved). */
  unresolved: number;
  /** The live event stream (README "Live"). */
  live: LiveStatus;
  /** Partial sync: the subscriptions this store holds (with their ids); null: the whole tenant. */
  subscriptions?: (Subscription & { id: string })[] | null;
  /** The credentials: `ok`, `refreshing`, or `failed` with the reason (a provider error, a 401). */
  auth: AuthStatus;
}

/** The live event stream's state, in `status().live`. */
export interface LiveStatus {
  /** Whether this handle keeps the stream open: hybrid mode, background sync started, `live` not false, STOWAGE_LIVE not 0. */
  enabled: boolean;
  /** Whether the stream is open now; while it is not, the interval timer carries sync. */
  connected: boolean;
  /** When `connected` last changed (or the stream started); null when disabled. */
  since: number | null;
  /** When the last `change` event arrived. */
  lastEventAt: number | null;
  /** The id of the last event (sent back as Last-Event-ID on reconnect). */
  lastEventId: string | null;
}

export interface SyncEvents extends Record<string, unknown> {
  /** A cycle finished successfully. */
  sync: SyncResult;
  /** A strict write met a newer server version; the server value is now local. */
  conflict: SyncIssue;
  /** The server refused an op for good; it left the outbox and is recorded. */
  rejected: SyncIssue;
  /** A cycle failed; the engine backs off and retries. */
  error: StowageError;
  /** The engine changed state. */
  state: SyncState;
  /** Reachability changed. */
  online: boolean;
  /** The live event stream went up (true) or down (false). */
  live: boolean;
}

/** A conflict or rejection, as the store records it (store/conflicts.ts) and emitted to the application. */
export interface SyncIssue {
  /** `conflict` (stale strict write; the server value was kept) or `rejected` (can never apply). */
  kind: "conflict" | "rejected";
  /** The refused op's id in the outbox. */
  opId: number;
  /** Collection of the document. */
  collection: string;
  /** Document id. */
  id: string;
  /** `put`, `patch` or `delete`. */
  op: string;
  /** The local value or patch that was refused (null for delete). */
  value: JsonObject | null;
  /** Server state on conflict (null when deleted or absent, or unknown for a rejection). */
  serverValue: JsonObject | null;
  /** Server version on conflict. */
  serverVersion: number | null;
  /** The server's reason, e.g. `not_found: document todos/x does not exist`. */
  message: string;
}
