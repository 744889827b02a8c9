import { HttpError } from "./http.ts";
import type { ServerStore } from "./store.ts";

/**
 * A read replica is behind what the request already knows (a pull cursor past the replica's
 * last sequence number): the read goes to the primary instead.
 */
export class ReplicaBehind extends Error {
  constructor() {
    super("the read replica is behind the request's cursor");
  }
}

/**
 * Runs a read (a pull, a document read) on one of the store's read replicas when it has any,
 * else on the store. A streaming standby replays the primary's commits in commit order, and
 * a tenant's sequence numbers are allocated in commit order (under the tenant's lock), so a
 * standby always holds a prefix of every tenant's changes: a lagging one only delays what a
 * pull returns, and the cursor rule still holds. A replica that fails (unreachable, a query
 * cancelled by replay) or is behind the request's cursor (ReplicaBehind) leaves the read to
 * the primary; an answer for the client (HttpError) stands.
 */
export async function readFromReplica<T>(store: ServerStore, read: (s: ServerStore) => Promise<T>): Promise<T> {
  const replica = store.readReplica?.();
  if (!replica) return read(store);
  try {
    return await read(replica);
  } catch (e) {
    if (e instanceof HttpError) throw e;
    return read(store);
  }
}
