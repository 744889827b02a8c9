/**
 * The client end of `GET /v1/events` (docs/PROTOCOL.md "Live"): one long-lived streaming
 * fetch, parsed as Server-Sent Events, reconnected with jittered backoff.
 *
 *      start()        answer 200            bytes (event or `: ping`)
 *   ─────────► connecting ─────────► connected ◄──────┐ re-arms the watchdog
 *                  ▲                   │   └──────────┘
 *                  │ after backoff     │ body ends · error · no bytes for heartbeatTimeoutMs
 *                  └──── waiting ◄─────┘ (abort)
 *
 * Events are pokes: the stream never applies data, it only tells the engine the tenant's
 * sequence number so the engine pulls. A lost, duplicated or lying poke therefore costs at
 * most one pull and can never skip or repeat a change (the pull cursor decides). A poke may
 * carry its commit's changes (live/apply.ts): the engine applies them only when they continue
 * its cursor exactly, and pulls otherwise.
 */
import { backoffDelay, type BackoffOptions, type Clock } from "../../clock.ts";
import type { HttpClient } from "../http.ts";
import type { LiveStatus } from "../../types.ts";
import { liveChangesOf, type LiveChanges } from "./apply.ts";
import { SseParser } from "./sse.ts";

export interface LiveStreamOptions {
  http: HttpClient;
  clock: Clock;
  /** No bytes for this long means the stream is dead: abort and reconnect (default 35,000 ms). */
  heartbeatTimeoutMs?: number;
  /** Reconnect schedule; the server's `retry:` hint replaces the base delay. */
  backoff?: BackoffOptions;
  /** A `change` event: the tenant's seq after a commit (null when the data carried none), the commit's changes when it carried them, and the `subs=` the stream was opened with. */
  onPoke(seq: number | null, changes: LiveChanges | null, subs: string | null): void;
  /** The `subs=` to open the stream with (partial sync, issue 34); null or absent: the whole tenant; "": nothing subscribed, stay closed. */
  subs?: () => string | null;
  /** The stream went up (true) or down (false). */
  onConnected(connected: boolean): void;
  /** Step trace (`live:up`, `live:down`, `live:poke:42`, `live:retry:1500`). */
  trace(line: string): void;
}

const DEFAULT_HEARTBEAT_TIMEOUT_MS = 35_000;
const DEFAULT_BASE_MS = 1_000;
const DEFAULT_MAX_MS = 30_000;

export class LiveStream {
  readonly #o: LiveStreamOptions;
  readonly #timeoutMs: number;
  #running = false;
  #loop: Promise<void> | null = null;
  #controller: AbortController | null = null;
  #watchdog: unknown = null;
  #sleep: { timer: unknown; wake: () => void } | null = null;
  #attempt = 0;
  #retryMs: number | null = null;
  /** The server ended the stream because its token expired: the next connect needs no wait. */
  #reconnectNow = false;
  #lastByteAt = 0;
  #connected = false;
  #since: number | null = null;
  #lastEventAt: number | null = null;
  #lastEventId: string | null = null;

  constructor(options: LiveStreamOptions) {
    this.#o = options;
    this.#timeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  }

  status(): LiveStatus {
    return { enabled: this.#running, connected: this.#connected, since: this.#since, lastEventAt: this.#lastEventAt, lastEventId: this.#lastEventId };
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#since = this.#o.clock.now();
    this.#loop = this.#run();
  }

  /**
   * Reconnects now (the subscriptions changed: the stream must carry the new view). A
   * backoff wait in progress ends at once; a stopped stream stays stopped.
   */
  restart(): void {
    if (!this.#running) return;
    if (this.#sleep) {
      this.#o.clock.clearTimeout(this.#sleep.timer);
      this.#sleep.wake();
      return;
    }
    this.#reconnectNow = true;
    this.#controller?.abort();
  }

  /** Aborts the open request, cancels every timer and waits for the loop to end. */
  async stop(): Promise<void> {
    this.#running = false;
    this.#controller?.abort();
    this.#disarm();
    if (this.#sleep) {
      this.#o.clock.clearTimeout(this.#sleep.timer);
      this.#sleep.wake();
    }
    await this.#loop;
    this.#loop = null;
  }

  /** Never rejects: every failure ends in the backoff wait. */
  async #run(): Promise<void> {
    while (this.#running) {
      if (this.#o.subs?.() === "") {
        // Nothing subscribed: nothing to hear. Wait for restart() (a subscribe), looking again now and then.
        this.#o.trace("live:idle");
        await new Promise<void>((wake) => {
          this.#sleep = { timer: this.#o.clock.setTimeout(wake, DEFAULT_MAX_MS), wake };
        });
        this.#sleep = null;
        continue;
      }
      try {
        await this.#connectOnce();
        if (this.#running) this.#o.trace("live:end");
      } catch (e) {
        if (this.#running) this.#o.trace(`live:error:${(e as { code?: string })?.code ?? (e as Error)?.name ?? "unknown"}`);
      }
      this.#setConnected(false);
      if (!this.#running) break;
      const now = this.#reconnectNow;
      this.#reconnectNow = false;
      const delay = now ? 0 : backoffDelay(this.#attempt++, {
        ...this.#o.backoff,
        baseMs: this.#retryMs ?? this.#o.backoff?.baseMs ?? DEFAULT_BASE_MS,
        maxMs: this.#o.backoff?.maxMs ?? DEFAULT_MAX_MS,
      });
      this.#o.trace(`live:retry:${delay}`);
      await new Promise<void>((wake) => {
        this.#sleep = { timer: this.#o.clock.setTimeout(wake, delay), wake };
      });
      this.#sleep = null;
    }
  }

  async #connectOnce(): Promise<void> {
    const controller = new AbortController();
    this.#controller = controller;
    // The watchdog covers the connect too: a black hole that never answers is also dead.
    this.#arm();
    try {
      const subs = this.#o.subs?.() ?? null;
      const res = await this.#o.http.events(this.#lastEventId, controller.signal, subs);
      if (!res.body) throw new Error("the event stream has no body");
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      const parser = new SseParser({
        onMessage: (m) => {
          // The server's last event before a planned end (shutdown): not a failure; the body
          // ends next and the loop reconnects after the `retry:` it came with.
          if (m.event === "reconnect") {
            this.#o.trace("live:reconnect");
            return;
          }
          if (m.event === "closed") {
            // The server ended the stream for its credentials (docs/PROTOCOL.md): an expired
            // token is renewed on the reconnect (credentials.ts), so reconnect at once.
            const reason = (parseData(m.data) as { reason?: unknown } | null)?.reason;
            this.#o.trace(`live:closed:${typeof reason === "string" ? reason : "unknown"}`);
            if (reason === "token_expired") this.#reconnectNow = true;
            return;
          }
          if (m.event !== "change") return;
          this.#lastEventAt = this.#o.clock.now();
          this.#lastEventId = m.lastEventId || this.#lastEventId;
          const data = parseData(m.data);
          const seq = seqOf(data);
          this.#o.trace(`live:poke:${seq}`);
          this.#o.onPoke(seq, liveChangesOf(data, seq), subs);
        },
        onRetry: (ms) => (this.#retryMs = Math.max(100, ms)),
      });
      this.#attempt = 0;
      this.#setConnected(true);
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done || !this.#running) break;
          this.#lastByteAt = this.#o.clock.now();
          parser.feed(decoder.decode(value, { stream: true }));
        }
      } finally {
        reader.cancel().catch(() => {});
      }
    } finally {
      this.#disarm();
      controller.abort(); // releases the connection whatever ended the read
      this.#controller = null;
    }
  }

  /**
   * One timer per stream, not one per chunk: when it fires it re-arms for the remainder if
   * bytes came meanwhile, and aborts the request otherwise.
   */
  #arm(): void {
    this.#disarm();
    this.#lastByteAt = this.#o.clock.now();
    const check = () => {
      const idle = this.#o.clock.now() - this.#lastByteAt;
      if (idle >= this.#timeoutMs) {
        this.#watchdog = null;
        this.#o.trace("live:timeout");
        this.#controller?.abort();
        return;
      }
      this.#watchdog = this.#o.clock.setTimeout(check, this.#timeoutMs - idle);
    };
    this.#watchdog = this.#o.clock.setTimeout(check, this.#timeoutMs);
  }

  #disarm(): void {
    if (this.#watchdog !== null) this.#o.clock.clearTimeout(this.#watchdog);
    this.#watchdog = null;
  }

  #setConnected(connected: boolean): void {
    if (connected === this.#connected) return;
    this.#connected = connected;
    this.#since = this.#o.clock.now();
    this.#o.trace(connected ? "live:up" : "live:down");
    this.#o.onConnected(connected);
  }
}

/** An event's data as JSON, or null when it is not JSON. */
function parseData(data: string): unknown {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

/** `{"seq":42}` → 42; anything else → null (the engine then simply pulls). */
function seqOf(data: unknown): number | null {
  const seq = (data as { seq?: unknown } | null)?.seq;
  return typeof seq === "number" && Number.isSafeInteger(seq) ? seq : null;
}
