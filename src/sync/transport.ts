/**
 * The engine's transport seam: what a transport's push and pull steps get from the engine
 * (CycleContext) and what the engine calls (SyncTransport). Protocol v1 is v1/cycle.ts's
 * protocolV1(http); a REST API Stowage does not own is rest/transport.ts.
 */
import type { Store } from "../store/store.ts";
import type { SyncIssue, SyncResult, SyncState } from "./types.ts";

/** The steps of one sync cycle (engine.ts schedules them); what they need from the engine. */
export interface CycleContext {
  /** The local store. */
  store: Store;
  /** Largest pull page, in changes. */
  pullLimit: number;
  /** Step trace for tests (`push:500`, `pull:0`, `reset`). */
  trace: (line: string) => void;
  /** Reports the engine state (pushing, pulling). */
  setState: (state: SyncState) => void;
  /** Records reachability after an exchange (null error: it answered). */
  markOnline: (error: unknown) => void;
  /** Renews the sync lease before each request; throws when another process took it. */
  renewLease: () => Promise<void>;
  /** Emits a conflict or rejection to the application. */
  emitIssue: (issue: SyncIssue) => void;
  /** A full cycle: a push that empties the outbox asks for the pull page in the same request. */
  pullWithPush?: boolean;
  /** Set by pushAll when that page was applied: the cycle's pull has nothing left to fetch. */
  pulledWithPush?: boolean;
}

/** The push and pull steps of a cycle; the engine only decides when they run. */
export interface SyncTransport {
  /** Drains the outbox; throws on failure (the engine backs off). */
  push(ctx: CycleContext, result: SyncResult): Promise<void>;
  /** Applies the server's changes; throws on failure. */
  pull(ctx: CycleContext, result: SyncResult): Promise<void>;
}
