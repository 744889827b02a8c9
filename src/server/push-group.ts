import type { PushRequest, PushResponse } from "../protocol/wire.ts";
import type { CommitChanges } from "./events/changes.ts";
import type { PushLimits } from "./push-limits.ts";
import type { RuleRunner } from "./rules.ts";
import type { ServerStore } from "./store.ts";

/** One push waiting for its tenant's turn. */
export interface QueuedPush {
  req: PushRequest;
  limits: PushLimits;
  now: number;
  /** The pushing principal's rules (each push of a group may come from another principal). */
  rules?: RuleRunner;
  resolve: (res: PushAnswer) => void;
  reject: (e: unknown) => void;
}

/** A push's response, and the tenant's seq after the commit when its group moved it (for live pokes). */
export interface PushAnswer {
  response: PushResponse;
  seq?: number;
  /** The commit's changes, when small enough for a live event (events/changes.ts). */
  changes?: CommitChanges;
}

/** Applies a group of pushes of one tenant in ONE transaction; one answer per push, in order. */
export type GroupRunner = (pushes: QueuedPush[]) => Promise<PushAnswer[]>;

/** A group stops growing past this many ops (a push alone always goes, whatever its size). */
const GROUP_MAX_OPS = 8_000;
/** … or this many pushes. */
const GROUP_MAX_PUSHES = 64;

/** The next turn of the event loop, after pending I/O (Bun, Node and Deno have setImmediate; elsewhere a zero timeout). */
const nextTurn: (fn: () => void) => void = typeof setImmediate === "function" ? (fn) => void setImmediate(fn) : (fn) => void setTimeout(fn, 0);

interface TenantQueue {
  waiting: QueuedPush[];
  running: boolean;
}

const queues = new WeakMap<ServerStore, Map<string, TenantQueue>>();

/**
 * Group commit, in-process. A tenant's write transactions run one at a time anyway (they all
 * take the tenant's counter row first, see lockTenant), so pushes of one tenant that arrive
 * while its transaction runs wait here, in memory, instead of each holding a pool connection
 * blocked on the row lock; when the transaction ends, everything that queued meanwhile is
 * applied in the next ONE transaction: one lock, one commit (one WAL flush) for the group.
 * Each push still gets its own results and op mark, applied in arrival order exactly as if
 * the pushes had committed one after another, and the counter still follows commit order.
 *
 * If a group's transaction fails, its pushes are retried one per transaction, so one bad
 * push fails alone and never takes the others of its group down with it.
 */
export function enqueuePush(store: ServerStore, tenantId: string, push: Omit<QueuedPush, "resolve" | "reject">, runGroup: GroupRunner): Promise<PushAnswer> {
  let byTenant = queues.get(store);
  if (!byTenant) queues.set(store, (byTenant = new Map()));
  let queue = byTenant.get(tenantId);
  if (!queue) byTenant.set(tenantId, (queue = { waiting: [], running: false }));
  const q = queue;
  const answer = new Promise<PushAnswer>((resolve, reject) => q.waiting.push({ ...push, resolve, reject }));
  if (!q.running) {
    // The first group starts on the next turn of the event loop, not now: requests that have
    // already arrived are read first and join it. With a synchronous SQLite driver nothing
    // else runs during a transaction, so starting at once made every push its own transaction
    // and commit: 32 clients of single-op pushes ran at 3,300-4,200 pushes/s with the server's
    // core full, and at 6,700-7,900 this way (bench postgres, sqlite rows; alternating runs).
    // A lone push waits one turn, a few microseconds (live and small-sync rows unchanged).
    q.running = true;
    nextTurn(() => void drain(byTenant, tenantId, q, runGroup));
  }
  return answer;
}

async function drain(byTenant: Map<string, TenantQueue>, tenantId: string, q: TenantQueue, runGroup: GroupRunner): Promise<void> {
  q.running = true;
  try {
    while (q.waiting.length > 0) {
      const group = takeGroup(q.waiting);
      let responses: PushAnswer[] | undefined;
      try {
        responses = await runGroup(group);
      } catch (e) {
        if (group.length === 1) group[0].reject(e);
      }
      if (responses) {
        for (let i = 0; i < group.length; i++) group[i].resolve(responses[i]);
      } else if (group.length > 1) {
        for (const p of group) {
          try {
            p.resolve((await runGroup([p]))[0]);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
  } finally {
    q.running = false;
    if (q.waiting.length === 0) byTenant.delete(tenantId);
  }
}

/**
 * The next group: pushes in arrival order, each from a different client (a client's second
 * push, e.g. a resend, must see the first one's mark and recorded results, so it starts the
 * next group), within the size caps.
 */
function takeGroup(waiting: QueuedPush[]): QueuedPush[] {
  const clients = new Set([waiting[0].req.clientId]);
  let ops = waiting[0].req.ops.length;
  let n = 1;
  while (n < waiting.length && n < GROUP_MAX_PUSHES) {
    const next = waiting[n].req;
    if (clients.has(next.clientId) || ops + next.ops.length > GROUP_MAX_OPS) break;
    clients.add(next.clientId);
    ops += next.ops.length;
    n++;
  }
  return waiting.splice(0, n);
}
