import { hostname } from "node:os";
import { randomToken } from "../ids.ts";

/** The process holding a lease, as this runtime glue describes it for src/sync/lease.ts. */
export interface ProcessIdentity {
  /** Operating-system process id. */
  pid: number;
  /** Host name: a pid means nothing on another machine (a database file on a shared volume). */
  host: string;
  /** Random per process: tells this process from an earlier one that had the same pid. */
  incarnation: string;
  /** Whether a process with this pid exists on this host (`kill(pid, 0)`: ESRCH means no). */
  isAlive(pid: number): boolean;
}

/** Distinguishes this process from an earlier one that had the same pid (pids are reused). */
const INCARNATION = randomToken(8);

/**
 * This process, as the sync lease records its holder: a lease held by a process that no
 * longer exists on this machine can be taken over at once instead of waiting out its TTL.
 * Works on Bun, Node and Deno (all three provide `process.pid` and `process.kill`).
 */
export function thisProcess(): ProcessIdentity | undefined {
  const proc = (globalThis as { process?: { pid?: number; kill?: (pid: number, signal: number) => void } }).process;
  if (typeof proc?.pid !== "number" || typeof proc.kill !== "function") return undefined;
  let host: string;
  try {
    host = hostname();
  } catch {
    return undefined; // Deno without --allow-sys: fall back to waiting out the TTL
  }
  return {
    pid: proc.pid,
    host,
    incarnation: INCARNATION,
    isAlive: (pid) => {
      try {
        proc.kill!(pid, 0); // signal 0: only asks whether the process exists
        return true;
      } catch (e) {
        // ESRCH: no such process. EPERM: it exists (another user's). Anything else: assume alive.
        return (e as { code?: string })?.code !== "ESRCH";
      }
    },
  };
}
