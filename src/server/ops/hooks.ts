import type { OpResult } from "../../protocol/wire.ts";
import type { Principal } from "../keys.ts";
import type { DocWriteResult, DocWriteSource } from "../write.ts";

/** What a pull page held, for metrics and the client activity table. */
export interface PullInfo {
  /** Changes sent. */
  changes: number;
  /** The sequence number the returned cursor stands for (the client's position after it). */
  cursor: number;
  /** The page was `{ "reset": true }`. */
  reset: boolean;
}

/**
 * Observers the handler calls as it answers (logs, metrics, client activity). They receive the
 * request object the handler was called with, so a wrapper can key per-request state on it.
 * They must not throw; the handler guards each call anyway.
 */
export interface ServerHooks {
  /** The request's key was accepted: `principal.tenantId` is the tenant it works on. */
  authenticated?(req: Request, principal: Principal): void;
  /** A push was answered with these results. */
  pushed?(req: Request, tenantId: string, clientId: string, results: readonly OpResult[]): void;
  /** A pull page was answered; `clientId` is the optional query parameter. */
  pulled?(req: Request, tenantId: string, clientId: string | undefined, page: PullInfo): void;
  /** A single-document write (`/v1/docs` PUT/PATCH/DELETE, or a console edit) was decided (write.ts). */
  wrote?(req: Request, tenantId: string, source: DocWriteSource, result: DocWriteResult): void;
}

/** Calls a hook, swallowing its failure: observing must never break answering. */
export function callHook<A extends unknown[]>(fn: ((...args: A) => void) | undefined, ...args: A): void {
  if (!fn) return;
  try {
    fn(...args);
  } catch {
    // An observer's bug is not the client's problem.
  }
}
