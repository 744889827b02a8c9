import { HttpError } from "./http.ts";
import { num } from "./tables.ts";
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

/** How many reads replicas served, and how many went to the primary instead (behind, or failing). */
export interface ReplicaReads {
  served: number;
  primary: number;
}

/**
 * Runs a tenant's read (a pull, a document read) on one of the store's read replicas when it
 * has any, else on the store. The replica serves it only once it has replayed every commit of
 * the tenant that the primary holds now: its tenant counter is read first and must have
 * reached the primary's, so the read sees at least what the primary would have shown when the
 * request came in. Without that, a client that pushed and then pulled from a lagging standby
 * got its document back at an older version, going backwards (the chaos tester's
 * read-your-writes check, seed 23 with --pg-read-url). A streaming standby replays commits in
 * commit order, and sequence numbers are allocated in commit order, so a standby that
 * reached the counter holds every change up to it. A replica that fails (unreachable, a
 * query cancelled by replay), lags, or is behind the request's cursor (ReplicaBehind) leaves
 * the read to the primary; an answer for the client (HttpError) stands.
 */
export async function readFromReplica<T>(store: ServerStore, tenantId: string, read: (s: ServerStore) => Promise<T>): Promise<T> {
  const replica = store.readReplica?.();
  if (!replica) return read(store);
  const stats = store.replicaReads;
  try {
    const [primarySeq, first] = await Promise.all([tenantSeq(store, tenantId), tenantSeq(replica, tenantId)]);
    let replicaSeq = first;
    // The counter the replica must reach stays put while it replays: a standby streaming
    // normally gets there within milliseconds, so it is given a moment before the primary is asked.
    for (let waited = 0; replicaSeq < primarySeq && waited < REPLICA_WAIT_MS; waited += REPLICA_POLL_MS) {
      await new Promise((resolve) => setTimeout(resolve, REPLICA_POLL_MS));
      replicaSeq = await tenantSeq(replica, tenantId);
    }
    if (replicaSeq >= primarySeq) {
      const out = await read(replica);
      if (stats) stats.served++;
      return out;
    }
  } catch (e) {
    if (e instanceof HttpError) throw e;
  }
  if (stats) stats.primary++;
  return read(store);
}

/** How long a read waits for a lagging replica before the primary answers it, and how often it looks meanwhile, in ms. */
const REPLICA_WAIT_MS = 30;
const REPLICA_POLL_MS = 3;

async function tenantSeq(store: ServerStore, tenantId: string): Promise<number> {
  const row = await store.db.selectFrom("stowage_tenants").select("seq").where("id", "=", tenantId).executeTakeFirst();
  return row ? num(row.seq) : -1;
}
