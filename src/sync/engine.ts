/**
 * The client sync engine.
 *
 *                     start()
 *     ┌─────────┐ ─────────────► ┌──────┐ ◄──────────────────────────────────┐
 *     │ stopped │                │ idle │                                    │ done
 *     └─────────┘ ◄── stop() ─── └──────┘                                    │
 *                                   │ write (push only) · live poke (pull    │
 *                                   │ only) · interval timer · sync() ·      │
 *                                   │ start() (full cycle)                   │
 *                                   ▼                                        │
 *                              ┌─────────┐  outbox empty and  ┌─────────┐    │
 *                              │ pushing │ ─────────────────► │ pulling │ ───┘
 *                              └─────────┘  a full cycle      └─────────┘
 *                                 │  ▲ next batch                 │  ▲ more: next page
 *                         failure │  └──┘                 failure │  └──┘
 *                                 ▼                               ▼
 *                      ┌──────────────────────────────────────────────────┐
 *                      │ backoff: half to all of min(cap, base·2^n) ms,   │
 *                      │ at least Retry-After; then a full cycle          │ ──► pushing
 *                      └──────────────────────────────────────────────────┘
 *
 * A push-only cycle (after a write, or push()) goes back to idle from pushing; a pull-only
 * cycle (a poke from the live event stream, live/stream.ts, past our cursor) skips pushing,
 * and applies the poke's changes instead of pulling when they continue the cursor (live/apply.ts).
 * stop() closes the stream and waits for the cycle in flight.
 * One cycle runs at a time; requests made meanwhile coalesce into the next one. Background
 * cycles never reject: failures go to status, the `error` event and the backoff timer. Only
 * the process holding the lease (see lease.ts) talks to the server. The steps of a cycle
 * (push drain, pull pages, reset) are in v1/cycle.ts; this file decides when they run.
 */
import { StowageError } from "../errors.ts";
import { randomToken } from "../ids.ts";
import { Emitter } from "../store/events.ts";
import { conflictCounts } from "../store/conflicts.ts";
import { countRefresh } from "../store/refresh-records.ts";
import type { Store } from "../store/store.ts";
import { backoffDelay, systemClock, type BackoffOptions, type Clock } from "./clock.ts";
import type { HttpClient } from "./v1/http.ts";
import { SyncLease, type ProcessIdentity } from "./lease.ts";
import { CURSOR_KEY } from "./v1/pull.ts";
import { protocolV1 } from "./v1/cycle.ts";
import type { CycleContext, SyncTransport } from "./transport.ts";
import { LiveStream } from "./v1/live/stream.ts";
import { cursorSeq } from "../protocol/cursor.ts";
import { applyLiveChanges, type LiveChanges } from "./v1/live/apply.ts";
import { PartialView } from "./partial/view.ts";
import { withSubscriptions } from "./partial/transport.ts";
import { listSubscriptions } from "./partial/manage.ts";
import type { LiveStatus, StowageMode, SyncEvents, SyncResult, SyncState, SyncStatus } from "./types.ts";

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
  /** This process, so a crashed holder's lease is taken over at once (src/runtime/process.ts). */
  process?: ProcessIdentity;
  /** Open the live event stream while started (default false here; openStowage turns it on in hybrid mode). */
  live?: boolean;
  /** Live stream: no bytes for this long means it is dead (default 35,000 ms). */
  liveHeartbeatTimeoutMs?: number;
  /** Live stream reconnect schedule (default 1 s doubling to 30 s, jittered). */
  liveBackoff?: BackoffOptions;
  /** How a cycle pushes and pulls (default: protocol v1, v1/cycle.ts); src/sync/rest/ has a REST one. */
  transport?: SyncTransport;
}

const LIVE_OFF: LiveStatus = { enabled: false, connected: false, since: null, lastEventAt: null, lastEventId: null };

export class SyncEngine {
  readonly events = new Emitter<SyncEvents>();
  /** The store's subscriptions as the live stream and live apply need them (partial/view.ts). */
  readonly view = new PartialView();
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
  readonly #transport: SyncTransport;
  /** The protocol v1 transport over `http` (the default one). */
  readonly #v1: SyncTransport;
  #state: SyncState = "stopped";
  /** The one queued request: "pull" (a live poke) and "push" together make a full cycle. */
  #want: "push" | "pull" | "full" | null = null;
  #waiters: { resolve: (r: SyncResult) => void; reject: (e: unknown) => void }[] = [];
  /** Callers of push(): any cycle settles them, since a full cycle pushes first. */
  #pushWaiters: { resolve: (r: SyncResult) => void; reject: (e: unknown) => void }[] = [];
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
  readonly #live: LiveStream | null;
  /**
   * Live events with changes, each continuing the previous, riding on a queued pull-only
   * cycle that has not started: it applies them instead of pulling if they continue the
   * cursor (live/apply.ts). Emptied whenever that cannot hold, so the cycle pulls.
   */
  #liveChanges: LiveChanges[] = [];

  constructor(options: SyncEngineOptions) {
    this.#store = options.store;
    this.#http = options.http;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#backoff = { maxMs: Math.min(60_000, this.#intervalMs), ...options.backoff };
    this.#leaseTtlMs = options.leaseTtlMs ?? 20_000;
    this.#lease = new SyncLease(options.store, randomToken(12), this.#leaseTtlMs, options.process);
    this.#pullLimit = options.pullLimit ?? 1000;
    this.#trace = options.onTrace ?? (() => {});
    this.#mode = options.mode ?? "hybrid";
    this.#live = options.live !== true ? null : new LiveStream({
      http: this.#http,
      clock: this.#clock,
      heartbeatTimeoutMs: options.liveHeartbeatTimeoutMs,
      backoff: options.liveBackoff,
      trace: this.#trace,
      subs: () => this.view.streamParam(),
      // Changes heard on a stream opened for another view, or while a backfill waits, are a plain poke.
      onPoke: (seq, changes, subs) => void this.#onPoke(seq, changes && subs === this.view.streamParam() && !this.view.pending ? { ...changes, subs } : null),
      onConnected: (up) => this.#onLive(up),
    });
    this.#v1 = withSubscriptions(protocolV1(this.#http), this.#http, this.view);
    // Subscriptions changed (here, or seen in the store after another process changed them): the
    // stream must carry the new view.
    this.view.onDesiredChange = () => this.#live?.restart();
    this.#transport = options.transport ?? this.#v1;
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
    this.#live?.start();
  }

  /** Whether this engine syncs subscriptions (protocol v1; a REST API has no such thing). */
  get partialSupported(): boolean {
    return this.#transport === this.#v1;
  }

  /**
   * The subscriptions changed (partial/manage.ts): a pull backfills what was added (the live
   * stream already reopened on the new view: onDesiredChange).
   */
  viewChanged(): void {
    if (this.#started) this.#request("pull");
  }

  /** Runs one complete cycle (push everything, pull everything) and answers what it did. */
  sync(): Promise<SyncResult> {
    if (this.#store.closed) return Promise.reject(new StowageError("closed", "store has already been closed"));
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#request("full");
    });
  }

  /** Pushes the outbox now (no pull) and answers what it did; rejects when the push fails. */
  push(): Promise<SyncResult> {
    if (this.#store.closed) return Promise.reject(new StowageError("closed", "store has already been closed"));
    return new Promise((resolve, reject) => {
      this.#pushWaiters.push({ resolve, reject });
      this.#request("push");
    });
  }

  /** Stops the timers and waits for a cycle in flight; later writes stay queued locally. */
  async stop(): Promise<void> {
    this.#started = false;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    this.#clearTimer();
    this.#want = null;
    await this.#live?.stop();
    await this.#loop;
    for (const w of [...this.#waiters.splice(0), ...this.#pushWaiters.splice(0)]) w.reject(new StowageError("closed", "sync engine was stopped"));
    this.#setState("stopped", true);
    if (!this.#store.closed) await this.#lease.release().catch(() => {});
  }

  async status(): Promise<SyncStatus> {
    const base = await this.#store.status();
    const kinds = await conflictCounts(this.#store.db);
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
      unresolved: await countRefresh(this.#store.db),
      live: this.#live?.status() ?? LIVE_OFF,
      subscriptions: await listSubscriptions(this.#store),
      auth: this.#http.credentials.status(),
    };
  }

  /**
   * A live poke: pull when the server's seq is past our cursor (or either is unknown). Not
   * while backing off: the failure may be a 429, and the cycle the backoff timer runs pulls
   * anyway, so pokes must not shorten the wait.
   * A poke with its commit's changes rides on the pull it requests when nothing is queued
   * (or it continues the events already riding on a queued pull): that cycle then applies
   * them instead of pulling, if they continue the cursor. Otherwise it pulls.
   */
  async #onPoke(seq: number | null, changes: LiveChanges | null = null): Promise<void> {
    if (!this.#started || this.#store.closed || this.#state === "backoff") return;
    // Changes that can ride on a new pull-only cycle skip the cursor read: their apply reads
    // it in its own transaction and skips what the cursor already covers (live/apply.ts).
    if (seq !== null && !this.#canRide(changes)) {
      const at = cursorSeq(await this.#store.getMeta(CURSOR_KEY).catch(() => undefined));
      if (at !== null && seq <= at) return;
    }
    if (!this.#started || this.state === "backoff") return;
    const riding = this.#liveChanges;
    const last = riding[riding.length - 1];
    if (this.#canRide(changes)) this.#liveChanges = [changes!];
    else if (changes && last && this.#want === "pull" && changes.prev === last.seq) riding.push(changes);
    else if (!(seq !== null && last && this.#want === "pull" && seq <= last.seq)) this.#liveChanges = [];
    this.#request("pull");
  }

  /**
   * Whether a poke's changes can ride on a pull-only cycle of their own: nothing is queued. A
   * cycle may be running (say, the push of the very write this event carries): the ride then
   * waits for it, and its apply checks the cursor it left, pulling on anything but `v1.<prev>`.
   */
  #canRide(changes: LiveChanges | null): boolean {
    return changes !== null && this.#transport === this.#v1 && this.#want === null;
  }

  /**
   * The stream is (re)connected: the server answers again, so a backoff wait (say, after a
   * restart) ends now with a full cycle. Bounded by the stream's own reconnect backoff.
   */
  #onLive(up: boolean): void {
    this.events.emit("live", up);
    if (up && this.#started && this.#state === "backoff") this.#request("full");
  }

  #request(kind: "push" | "pull" | "full"): void {
    const want = this.#want;
    this.#want = want === null || want === kind ? kind : "full";
    this.#loop ??= this.#drain();
  }

  async #drain(): Promise<void> {
    // Let the caller's synchronous code (e.g. more writes) run first so requests coalesce.
    await Promise.resolve();
    while (this.#want !== null) {
      const kind = this.#want;
      this.#want = null;
      const live = kind === "pull" ? this.#liveChanges : [];
      this.#liveChanges = [];
      const waiters = kind === "full" ? [...this.#waiters.splice(0), ...this.#pushWaiters.splice(0)] : kind === "push" ? this.#pushWaiters.splice(0) : [];
      this.#clearTimer();
      try {
        const result = await this.#cycle(kind, live);
        this.#attempt = 0;
        if (kind === "full") {
          // Another process holds the lease: look again once it would have expired.
          this.#fullDueAt = this.#clock.now() + (result.leased ? this.#intervalMs : Math.min(this.#intervalMs, this.#leaseTtlMs));
          if (result.leased) this.#lastSyncAt = this.#clock.now();
        }
        for (const w of waiters) w.resolve(result);
        if (kind !== "push") this.events.emit("sync", result);
        // A refusal's document goes back to the server's state at once, not at the next
        // interval: a pull-only cycle fetches it (v1/refresh.ts).
        else if (result.issues.length > 0 && this.#started) this.#request("pull");
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

  async #cycle(kind: "push" | "pull" | "full", live: readonly LiveChanges[] = []): Promise<SyncResult> {
    const result: SyncResult = { pushed: 0, pulled: 0, issues: [], reset: false, leased: true };
    if (this.#store.closed) throw new StowageError("closed", "store has already been closed");
    if (!(await this.#lease.acquire(this.#clock.now()))) {
      this.#trace("lease:busy");
      result.leased = false;
      return result;
    }
    const steps = this.#steps();
    steps.pullWithPush = kind === "full";
    if (live.length > 0 && (await this.#applyLive(steps, live, result))) return result;
    if (kind !== "pull") await this.#transport.push(steps, result);
    if (kind !== "push") await this.#transport.pull(steps, result);
    return result;
  }

  /**
   * Applies live events' changes, under the view's lock and only if the subscriptions are still
   * those their stream was opened for: an unsubscribe between the event and this apply must not
   * see the documents it removed come back (partial/manage.ts). Otherwise the cycle pulls.
   */
  async #applyLive(steps: CycleContext, live: readonly LiveChanges[], result: SyncResult): Promise<boolean> {
    const release = await this.view.lock.lock();
    try {
      const current = this.view.streamParam();
      if (this.view.pending || live.some((e) => (e.subs ?? null) !== current)) return false;
      return await applyLiveChanges(steps, live, result);
    } finally {
      release();
    }
  }

  /** What the cycle steps (v1/cycle.ts, rest/) need from the engine. */
  #steps(): CycleContext {
    return {
      store: this.#store,
      pullLimit: this.#pullLimit,
      trace: this.#trace,
      setState: (state) => this.#setState(state),
      markOnline: (error) => this.#markOnline(error),
      renewLease: () => this.#renewLease(),
      emitIssue: (issue) => this.events.emit(issue.kind, issue),
    };
  }

  /** A cycle longer than the lease must not run on after another process took over. */
  async #renewLease(): Promise<void> {
    if (!(await this.#lease.acquire(this.#clock.now()))) {
      throw new StowageError("storage", "the sync lease passed to another process during this cycle");
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
