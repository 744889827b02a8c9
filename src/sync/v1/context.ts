import type { Executor } from "../../store/sql.ts";
import type { CycleContext } from "../transport.ts";
import type { HttpClient } from "./http.ts";

/** What protocol v1's steps get: the engine's context plus the v1 client (the seam has none). */
export interface V1Context extends CycleContext {
  http: HttpClient;
  /** Partial sync (issue 34, src/sync/partial/): set when the store holds subscriptions. */
  partial?: PartialPull;
}

/** How a cycle pulls when the store holds subscriptions (or just stopped holding them). */
export interface PartialPull {
  /** `subs=` for every page (the JSON array); absent: the whole tenant. */
  subs?: string;
  /** A backfill is in the stage: every page is staged and applied with it (partial/pull.ts). */
  prestaged?: boolean;
  /** Runs inside the transaction that applies a staged pull (records the subscriptions it covers). */
  onApply?: (trx: Executor) => Promise<void>;
  /**
   * Inside the push settle's transaction: whether the subscriptions are still those the push's
   * pull page was asked for (`subs`). When they changed meanwhile the page is not applied (an
   * unsubscribe's removals must not come back); the cycle's own pull fetches the new view.
   */
  stillCurrent?: (trx: Executor) => Promise<boolean>;
  /**
   * Inside the transaction that settles pushed ops or applies a refreshed server value: removes
   * those documents if they are now outside the view and nothing pending keeps them.
   */
  settled?: (trx: Executor, docs: readonly { collection: string; id: string }[]) => Promise<void>;
}
