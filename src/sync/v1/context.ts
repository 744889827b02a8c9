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
}
