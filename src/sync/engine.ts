/**
 * The client sync engine.
 *
 *                 start()                      write event (push only), interval timer,
 *    ┌─────────┐ ────────► ┌──────┐ ◄───────┐  sync() (full: push then pull)
 *    │ stopped │           │ idle │ ───────►│──────────────┐
 *    └─────────┘ ◄──────── └──────┘         │              ▼
 *         ▲        stop()      ▲            │        ┌─────────┐ outbox empty ┌─────────┐
 *         │                    │ done       │        │ pushing │ ───────────► │ pulling │ more: next page
 *         │                    └────────────┼─────── └─────────┘   (full)     └─────────┘ ◄──┐
 *         │ stop()                          │             │ failure               │  └───────┘
 *         │                                 │             ▼                       │ failure
 *    ┌─────────┐  timer: min(cap, base·2^n), half to all of it (jitter)           │
 *    │ backoff │ ──────────────────────────►┘  (a full cycle)  ◄──────────────────┘
 *    └─────────┘
 *
 * One cycle runs at a time; requests made meanwhile coalesce into the next one. Background
 * cycles never reject: failures go to status, the `error` event and the backoff timer. Only
 * the process holding the lease (see lease.ts) talks to the server.
 */
import { StowageError } from "../errors.ts";
import { randomToken } from "../ids.ts";
import { Emitter } from "../store/events.ts";
import { all } from "../store/sql.ts";
import type { Store } from "../store/store.ts";
import { backoffDelay, systemClock, type BackoffOptions, type Clock } from "./clock.ts";
import type { HttpClient } from "./http.ts";
import { SyncLease } from "./lease.ts";
import { applyPage, CURSOR_KEY, resetSyncedState } from "./pull.ts";
import type { OpResult } from "../protocol/wire.ts";
import { isRefusedWhole, prepareBatch, rejectAll, sendBatch, settleBatch, type PreparedBatch, type PushOutcome, type SyncIssue } from "./push.ts";
import { rebaseDocs } from "./rebase.ts";
import type { StowageMode, SyncEvents, SyncResult, SyncState, SyncStatus } from "./types.ts";

/** Pull pages larger than this make the next page smaller. */
const PAGE_BYTES = 8 * 1024 * 1024;

export interface SyncEngineOptions {
  /** The local store whose outbox is pushed and whose documents pulls update. */
  store: Store;
  /** Protocol v1 client for the server. */
  http: HttpClient;
  /** Real clock unless a test passes a fake one. */
  clock?: Clock;
  /** Period of the background push-then-pull cycle (default 60,000 ms). */
  intervalMs?: number;
  backoff?: BackoffOptions;
  /** Sync lease lifetime (default 20,000 ms), renewed before every request; longer than any one request. */
  leaseTtlMs?: number;
  /** Changes per pull page (default 1000). */
  pullLimit?: number;
  /** Receives a short line per step (`push:3`, `pull:0`, `idle`, `backoff:500`): tests assert these. */
  onTrace?: (line: string) => void;
  /** Reported in status. */
  mode?: StowageMode;
}

export class SyncEngine {
  readonly events = new Emitter<SyncEvents>();
  readonly #store: Store;
  readonly #http: HttpClient;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #backoff: BackoffOptions;
  readonly #lease: SyncLease;
  readonly #leaseTtlMs: number;
  readonly #pullLimit: number;
  readonly #trace: (line: string) => void;
  readonly #mode: StowageMode;
  #state: SyncState = "stopped";
  #want: "push" | "full" | null = null;
  #waiters: { resolve: (r: SyncResult) => void; reject: (e: unknown) => void }[] = [];
  #loop: Promise<void> | null = null;
  #timer: unknown = null;
  #attempt = 0;
  #online: boolean | null = null;
  #lastSyncAt: number | null = null;
  #lastError: SyncStatus["lastError"] = null;
  #unsubscribe: (() => void) | null = null;
  #started = false;
  /** When the next periodic full cycle is due; write-triggered pushes do not postpone it. */
  #fullDueAt = 0;

  constructor(options: SyncEngineOptions) {
    this.#store = options.store;
    this.#http = options.http;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#backoff = { maxMs: Math.min(60_000, this.#intervalMs), ...options.backoff };
    this.#leaseTtlMs = options.leaseTtlMs ?? 20_000;
    this.#lease = new SyncLease(options.store, randomToken(12), this.#leaseTtlMs);
    this.#pullLimit = options.pullLimit ?? 1000;
    this.#trace = options.onTrace ?? (() => {});
    this.#mode = options.mode ?? "hybrid";
  }

  get state(): SyncState {
    return this.#state;
  }

  /** Starts background sync: a full cycle now, pushes on every local write, a cycle per interval. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#setState("idle");
    this.#unsubscribe = this.#store.events.on("write", () => {
      // Pushing on a write would only hammer a server we are waiting out.
      if (this.#state !== "backoff" && this.#started) this.#request("push");
    });
    this.#request("full");
  }

  /** Runs one complete cycle (push everything, pull everything) and answers what it did. */
  sync(): Promise<SyncResult> {
    if (this.#store.closed) return Promise.reject(new StowageError("closed", "store has already been closed"));
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#request("full");
    });
  }

  /** Stops the timers and waits for a cycle in flight; later writes stay queued locally. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#clearTimer();
    this.#want = null;
    await this.#loop;
    for (const w of this.#waiters.splice(0)) w.reject(new StowageError("closed", "sync engine was stopped"));
    this.#setState("stopped", true);
    if (!this.#store.closed) await this.#lease.release().catch(() => {});
  }

  async status(): Promise<SyncStatus> {
    const base = await this.#store.status();
    const kinds = await all<{ kind: string; n: number }>(this.#store.db, "select kind, count(*) as n from _stowage_conflicts group by kind");
    const count = (k: string) => Number(kinds.find((r) => r.kind === k)?.n ?? 0);
    return {
      mode: this.#mode,
      state: this.#state,
      online: this.#online,
      clientId: base.clientId,
      outbox: base.outbox,
      lastSyncAt: this.#lastSyncAt,
      lastError: this.#lastError,
      cursor: (await this.#store.getMeta(CURSOR_KEY)) ?? null,
      conflicts: count("conflict"),
      rejections: count("rejected"),
    };
  }

  #request(kind: "push" | "full"): void {
    this.#want = this.#want === "full" || kind === "full" ? "full" : "push";
    this.#loop ??= this.#drain();
  }

  async #drain(): Promise<void> {
    // Let the caller's synchronous code (e.g. more writes) run first so requests coalesce.
    await Promise.resolve();
    while (this.#want !== null) {
      const kind = this.#want;
      this.#want = null;
      const waiters = kind === "full" ? this.#waiters.splice(0) : [];
      this.#clearTimer();
      try {
        const result = await this.#cycle(kind);
        this.#attempt = 0;
        if (kind === "full") {
          // Another process holds the lease: look again once it would have expired.
          this.#fullDueAt = this.#clock.now() + (result.leased ? this.#intervalMs : Math.min(this.#intervalMs, this.#leaseTtlMs));
          if (result.leased) this.#lastSyncAt = this.#clock.now();
        }
        for (const w of waiters) w.resolve(result);
        if (kind === "full") this.events.emit("sync", result);
      } catch (e) {
        for (const w of waiters) w.reject(e);
        this.#fail(e);
        continue;
      }
      if (!this.#started) this.#setState("stopped");
      else if (this.#want === null) {
        this.#setState("idle");
        this.#schedule(Math.max(0, this.#fullDueAt - this.#clock.now()));
      }
    }
    this.#loop = null;
  }

  async #cycle(kind: "push" | "full"): Promise<SyncResult> {
    const result: SyncResult = { pushed: 0, pulled: 0, issues: [], reset: false, leased: true };
    if (this.#store.closed) throw new StowageError("closed", "store has already been closed");
    if (!(await this.#lease.acquire(this.#clock.now()))) {
      this.#trace("lease:busy");
      result.leased = false;
      return result;
    }
    await this.#push(result);
    if (kind === "full") await this.#pull(result);
    return result;
  }

  /**
   * Drains the outbox. Pipelined: the next batch is read and sent before the previous answer
   * is settled locally, which hides the local work behind the server's. Safe because batches
   * are sent strictly in op id order, one request at a time, and settling batch N touches
   * only entries ≤ N's last op id.
   */
  async #push(result: SyncResult): Promise<void> {
    let isolate = false;
    let batch = await prepareBatch(this.#store, 0, isolate);
    if (!batch) return;
    this.#setState("pushing");
    let inflight = await this.#send(batch);
    while (batch) {
      const outcome: PushOutcome = await inflight;
      let results: OpResult[];
      if (outcome.ok) {
        results = outcome.results;
        this.#markOnline(null);
      } else {
        this.#markOnline(outcome.error);
        if (!isRefusedWhole(outcome.error)) throw outcome.error;
        if (!isolate) {
          // A whole-batch 400: find the bad group by pushing groups one at a time.
          this.#trace("push:isolate");
          isolate = true;
          batch = (await prepareBatch(this.#store, 0, true))!;
          inflight = await this.#send(batch);
          continue;
        }
        results = rejectAll(batch, outcome.error); // a lone group refused whole: record, drop
      }
      let next: PreparedBatch | null = null;
      if (!isolate) {
        next = await prepareBatch(this.#store, batch.lastOpId, false);
        if (next) inflight = await this.#send(next);
      }
      const settled = await settleBatch(this.#store, batch, results);
      this.#trace(`push:${batch.rows.length}`);
      result.pushed += settled.applied + settled.duplicate;
      result.issues.push(...settled.issues);
      await this.#refreshRejected(settled.issues);
      for (const issue of settled.issues) this.events.emit(issue.kind, issue);
      if (isolate) {
        isolate = false;
        next = await prepareBatch(this.#store, 0, false);
        if (next) inflight = await this.#send(next);
      }
      batch = next;
    }
  }

  /** Renews the lease, then starts the request (not awaiting its answer). */
  async #send(batch: PreparedBatch): Promise<Promise<PushOutcome>> {
    await this.#renewLease();
    return sendBatch(this.#http, batch);
  }

  async #pull(result: SyncResult): Promise<void> {
    this.#setState("pulling");
    let cursor = (await this.#store.getMeta(CURSOR_KEY)) ?? null;
    let limit = this.#pullLimit;
    for (;;) {
      await this.#renewLease();
      let text: string;
      try {
        text = await this.#http.pull(cursor, limit);
      } catch (e) {
        this.#markOnline(e);
        throw e;
      }
      this.#markOnline(null);
      // Pages are bounded in documents, not bytes: with large documents, ask for fewer per
      // page so memory stays flat (and grow back once they are small again).
      limit = text.length > PAGE_BYTES ? Math.max(10, Math.floor(limit / 4)) : Math.min(this.#pullLimit, limit * 2);
      const page = await applyPage(this.#store, text);
      if (page.reset) {
        if (result.reset) throw new StowageError("protocol", "pull: the server asked for a reset twice in one cycle");
        this.#trace("reset");
        result.reset = true;
        await resetSyncedState(this.#store.db);
        cursor = null;
        continue;
      }
      this.#trace(`pull:${page.changes}`);
      result.pulled += page.changes;
      cursor = page.cursor;
      if (page.changes > 0) this.#store.events.emit("pulled", { collections: page.collections, changes: page.changes });
      if (!page.more) return;
    }
  }

  /** A cycle longer than the lease must not run on after another process took over. */
  async #renewLease(): Promise<void> {
    if (!(await this.#lease.acquire(this.#clock.now()))) {
      throw new StowageError("storage", "the sync lease passed to another process during this cycle");
    }
  }

  /** A rejected op may have left a local value the server never had: take the server's. */
  async #refreshRejected(issues: SyncIssue[]): Promise<void> {
    const seen = new Set<string>();
    for (const issue of issues) {
      const key = `${issue.collection}/${issue.id}`;
      if (issue.kind !== "rejected" || seen.has(key)) continue;
      seen.add(key);
      try {
        const doc = await this.#http.getDoc(issue.collection, issue.id);
        await this.#store.db.transaction().execute((trx) =>
          rebaseDocs(trx, [{ collection: issue.collection, id: issue.id, value: doc?.value ?? null, version: doc?.version ?? null }]),
        );
      } catch {
        // Best effort: the next pull of this document corrects it anyway.
      }
    }
  }

  #fail(e: unknown): void {
    const err = e instanceof StowageError ? e : new StowageError("storage", `sync failed: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    this.#lastError = { code: err.code, message: err.message, at: this.#clock.now() };
    this.#trace(`error:${err.code}`);
    this.events.emit("error", err);
    if (!this.#started || err.code === "closed") {
      this.#setState("stopped");
      return;
    }
    const retryAfter = (err as { retryAfterS?: number }).retryAfterS;
    const delay = Math.max(backoffDelay(this.#attempt++, this.#backoff), retryAfter ? retryAfter * 1000 : 0);
    this.#setState("backoff");
    this.#trace(`backoff:${delay}`);
    this.#schedule(delay);
  }

  #schedule(ms: number): void {
    this.#clearTimer();
    if (!this.#started) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = null;
      this.#request("full");
    }, ms);
  }

  #clearTimer(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  #markOnline(error: unknown): void {
    const online = !(error instanceof StowageError && error.code === "transport" && error.status === undefined);
    if (online === this.#online) return;
    this.#online = online;
    this.events.emit("online", online);
  }

  /** `traced`: a manual `sync()` on an engine never started returns to stopped silently. */
  #setState(state: SyncState, traced = state === "idle"): void {
    if (state === this.#state) return;
    this.#state = state;
    if (traced) this.#trace(state);
    this.events.emit("state", state);
  }
}
