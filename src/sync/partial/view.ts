/**
 * What the sync engine knows of the store's subscriptions between cycles (issue 34): the live
 * stream's `subs=` and whether a live event's changes may be applied without a pull. The
 * source of truth is the store's meta (store/subscriptions.ts); every pull step reads it
 * again, so another process's subscribe is seen at the next cycle.
 */
import { Mutex } from "../../sqlite/mutex.ts";
import { sameSubscriptions, type Subscription } from "../../store/subscriptions.ts";

/** The `subs=` parameter for a list of subscriptions (the contract's JSON array). */
export function subsParam(subs: readonly Subscription[]): string {
  return JSON.stringify(subs);
}

export class PartialView {
  /** What the application asked for; null = the whole tenant. */
  #desired: Subscription[] | null = null;
  /** What the held documents cover; differs from desired until a backfill is applied. */
  #synced: Subscription[] | null = null;
  /** Held by a cycle, and by subscribe/unsubscribe, so a view change never lands inside a pull. */
  readonly lock = new Mutex();

  /** Called when `desired` changes (the engine reopens its live stream on the new view). */
  onDesiredChange: (() => void) | null = null;

  set(desired: Subscription[] | null, synced: Subscription[] | null): void {
    const changed = !sameSubscriptions(this.#desired, desired);
    this.#desired = desired;
    this.#synced = synced;
    if (changed) this.onDesiredChange?.();
  }

  get desired(): Subscription[] | null {
    return this.#desired;
  }

  /** True when the store holds subscriptions, or is on its way back from them to the whole tenant. */
  get active(): boolean {
    return this.#desired !== null || this.#synced !== null;
  }

  /** True when a change of subscriptions waits for its backfill (or its removal). */
  get pending(): boolean {
    return !sameSubscriptions(this.#desired, this.#synced);
  }

  /**
   * The live stream's `subs=` value: null for the whole tenant, "" when nothing is subscribed
   * (the stream stays closed: there is nothing to hear about).
   */
  streamParam(): string | null {
    if (this.#desired === null) return null;
    return this.#desired.length === 0 ? "" : subsParam(this.#desired);
  }
}
