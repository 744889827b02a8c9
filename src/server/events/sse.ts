/**
 * The Server-Sent Events streams of `GET /v1/events`: one per connected client, each a poke
 * feed for its key's tenant (docs/PROTOCOL.md, "GET /v1/events"); with `?changes=1`, pokes for
 * small commits of this process carry their changes (changes.ts).
 *
 * Every stream is a ReadableStream the runtime drains into the socket. A poke is written only
 * when the stream's queue has room; otherwise the stream remembers the latest seq and writes
 * it when the runtime pulls again, so a slow reader costs one number, never a growing queue.
 * One timer per process writes the heartbeats, not one per stream.
 */
import { HttpError } from "../http.ts";
import { commitJson, type CommitChanges } from "./changes.ts";
import type { ChangeFeed } from "./feed.ts";
import { formatCursor } from "../../protocol/cursor.ts";

export interface EventStreamOptions {
  /** A `: ping` comment this often, in ms (default 15000), so idle proxies keep the stream. */
  heartbeatMs: number;
  /** The `retry:` hint sent first, in ms: how long an EventSource waits before reconnecting (default 2000). */
  retryMs: number;
  /** Most open streams per key (default 256); one more answers 429 `too_many_streams`. */
  maxStreamsPerKey: number;
}

export const DEFAULT_EVENT_OPTIONS: EventStreamOptions = { heartbeatMs: 15_000, retryMs: 2_000, maxStreamsPerKey: 256 };

/** Who a stream belongs to. */
export interface StreamOwner {
  /** Whose pokes it carries. */
  tenantId: string;
  /** Which key's cap it counts against. */
  keyId: string;
  /** The client asked for events with changes (`?changes=1`); otherwise every event is a plain poke. */
  changes?: boolean;
  /** When its credentials expire (a JWT's `exp`, ms): the stream ends then, with a `closed` event. */
  expiresAt?: number;
  /**
   * The stream's view (sync rules, subscriptions: sync-rules/fanout.ts): per commit, the event
   * to send (undefined: a plain poke) or null to stay asleep. Absent: every commit of the tenant.
   */
  view?: (seq: number, changes: CommitChanges | undefined, sent: number) => CommitChanges | undefined | null;
}

/**
 * Which of these API key ids are revoked or gone (read from the store, not a cache): their
 * streams end within SESSION_CHECK_MS. Ids that are not API keys (`id:…`) are never passed.
 */
export type RevokedKeys = (keyIds: string[]) => Promise<Set<string>>;

/** How often open streams are checked for expired tokens and revoked keys. */
export const SESSION_CHECK_MS = 400;

interface Stream {
  owner: StreamOwner;
  controller: ReadableStreamDefaultController<Uint8Array>;
  /** Highest seq written to this stream. */
  sent: number;
  /** Highest seq waiting for room in the queue (0: none). */
  pending: number;
  /** The runtime took a chunk since the last heartbeat. */
  progressed: boolean;
  /** Heartbeats in a row that found the queue full and nothing taken. */
  stalls: number;
  cleanup: () => void;
}

const encoder = new TextEncoder();
const PING = encoder.encode(": ping\n\n");
/** The last event of a stream the server ends on shutdown: reconnect in about a second. */
const RECONNECT = encoder.encode('retry: 1000\nevent: reconnect\ndata: {"reason":"shutting_down"}\n\n');

/** Room for a few small chunks before a stream counts as backed up. */
const QUEUE_CHUNKS = 8;

/**
 * Heartbeats a full, unread queue is kept. Its client is not reading (it would have dropped the
 * stream after two silent heartbeats itself), and ending it frees its slot under the key's cap
 * instead of waiting for TCP to give up on a vanished peer.
 */
const MAX_STALLS = 2;

/** A stream asked for while closing: retry shortly, like any request during the drain. */
function shuttingDown(): HttpError {
  return new HttpError(503, "shutting_down", "the server is shutting down; retry shortly", { headers: { "retry-after": "1" } });
}

function changeEvent(seq: number): Uint8Array {
  return encoder.encode(`id: ${seq}\nevent: change\ndata: {"seq":${seq}}\n\n`);
}

/**
 * A poke that carries its commit's changes: the data is a one-page pull answer for cursor
 * `v1.<prev>` plus `seq` and `prev`. Same id and event name as a plain poke, so Last-Event-ID
 * and older clients (which read `seq` only) are unaffected. Encoded once per commit.
 */
function changesEvent(c: CommitChanges): Uint8Array {
  if (c.encoded) return c.encoded;
  const json = commitJson(c);
  return (c.encoded = json === null ? changeEvent(c.seq) : encoder.encode(`id: ${c.seq}\nevent: change\ndata: {"seq":${c.seq},"prev":${c.prev},"changes":${json},"cursor":"${c.cursor ?? formatCursor(c.seq)}","more":false}\n\n`));
}

/** Every open stream of one handler: opening, fan-out, heartbeats, caps and shutdown. */
export class EventStreams {
  readonly #feed: ChangeFeed;
  readonly #options: EventStreamOptions;
  readonly #streams = new Set<Stream>();
  readonly #perKey = new Map<string, number>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #session: ReturnType<typeof setInterval> | undefined;
  #checking = false;
  readonly #revoked: RevokedKeys | undefined;
  readonly #now: () => number;
  #closed = false;
  #wakes = 0;

  constructor(feed: ChangeFeed, options: Partial<EventStreamOptions> = {}, session: { revoked?: RevokedKeys; now?: () => number } = {}) {
    this.#feed = feed;
    this.#options = { ...DEFAULT_EVENT_OPTIONS, ...options };
    this.#revoked = session.revoked;
    this.#now = session.now ?? Date.now;
  }

  /** Streams woken by commits since start: one per stream per commit it was told of (a view's stream sleeps through commits outside its view). */
  get wakes(): number {
    return this.#wakes;
  }

    /** Open streams right now (the "open streams" gauge). */
  get size(): number {
    return this.#streams.size;
  }

  /**
   * Opens a stream for `owner`: `retry:`, then the tenant's current seq (from `currentSeq`),
   * then one event per seq the feed reports. Throws HttpError 429 past the key's cap and 503
   * once closing. The stream ends when the client goes away (Bun, Node and Deno all cancel the
   * body then; we do not touch `request.signal`, which Deno aborts only once a response is
   * complete and warns about) or on close().
   */
  async open(owner: StreamOwner, currentSeq: () => Promise<number>): Promise<Response> {
    if (this.#closed) throw shuttingDown();
    const { maxStreamsPerKey } = this.#options;
    const count = this.#perKey.get(owner.keyId) ?? 0;
    if (count >= maxStreamsPerKey) {
      throw new HttpError(429, "too_many_streams", `key ${owner.keyId} already has ${count} open event streams (the limit is ${maxStreamsPerKey}); close one first`, {
        headers: { "retry-after": String(Math.max(1, Math.ceil(this.#options.retryMs / 1000))) },
      });
    }
    // Take the slot and subscribe before reading the seq, so no commit falls between the two.
    this.#perKey.set(owner.keyId, count + 1);
    let stream: Stream | undefined;
    let early = 0;
    let released = false;
    let unsubscribe = () => {};
    const release = () => {
      if (released) return;
      released = true;
      unsubscribe();
      const n = (this.#perKey.get(owner.keyId) ?? 1) - 1;
      if (n > 0) this.#perKey.set(owner.keyId, n);
      else this.#perKey.delete(owner.keyId);
      if (stream) this.#streams.delete(stream);
      if (this.#streams.size === 0) this.#stopHeartbeat();
    };
    unsubscribe = this.#feed.subscribe(owner.tenantId, (seq, changes) => {
      if (!stream) {
        early = Math.max(early, seq);
        return;
      }
      if (owner.view) {
        const mine = owner.view(seq, changes, stream.sent);
        if (mine === null) return;
        changes = mine;
      }
      this.#wakes++;
      this.#poke(stream, seq, owner.changes ? changes : undefined);
    });
    let head: number;
    try {
      head = Math.max(await currentSeq(), early);
    } catch (e) {
      release();
      throw e;
    }
    if (this.#closed) {
      release();
      throw shuttingDown();
    }
    const retry = this.#options.retryMs;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          stream = { owner, controller, sent: head, pending: 0, progressed: false, stalls: 0, cleanup: release };
          this.#streams.add(stream);
          controller.enqueue(encoder.encode(`retry: ${retry}\n\n`));
          controller.enqueue(changeEvent(head));
          this.#startHeartbeat();
          this.#startSessionCheck();
        },
        pull: () => {
          if (!stream) return;
          stream.progressed = true;
          if (stream.pending > stream.sent) this.#write(stream, stream.pending);
        },
        cancel: () => release(),
      },
      { highWaterMark: QUEUE_CHUNKS },
    );
    return new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        // nginx buffers responses by default, which would hold pokes back.
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * Ends every open stream and refuses new ones. Each stream's last event is `reconnect`
   * (docs/PROTOCOL.md): the server is going away on purpose, so the client reconnects after the
   * `retry:` delay sent with it, without counting the end as a failure.
   */
  close(): void {
    this.#closed = true;
    for (const s of [...this.#streams]) this.#end(s, RECONNECT);
    this.#stopHeartbeat();
  }

  /** A backed-up stream only remembers the seq: its changes are dropped, and the client pulls. */
  #poke(stream: Stream, seq: number, changes?: CommitChanges): void {
    if (seq <= stream.sent) return;
    if ((stream.controller.desiredSize ?? 0) > 0) this.#write(stream, seq, changes);
    else if (seq > stream.pending) stream.pending = seq;
  }

  #write(stream: Stream, seq: number, changes?: CommitChanges): void {
    try {
      stream.controller.enqueue(changes ? changesEvent(changes) : changeEvent(seq));
      stream.sent = seq;
      stream.pending = 0;
    } catch {
      this.#end(stream); // the body is already closed or errored
    }
  }

  /** `last`: a final event (why the stream ends). */
  #end(stream: Stream | undefined, last?: Uint8Array): void {
    if (!stream) return;
    stream.cleanup();
    try {
      // A seq still waiting for room goes out last: the queue closes after it drains anyway.
      if (stream.pending > stream.sent) stream.controller.enqueue(changeEvent(stream.pending));
      if (last) stream.controller.enqueue(last);
      stream.controller.close();
    } catch {
      // already closed or cancelled
    }
  }

  #startHeartbeat(): void {
    if (this.#heartbeat) return;
    this.#heartbeat = setInterval(() => {
      for (const s of [...this.#streams]) {
        // A stream whose queue is full is not being read; a ping would only add to it.
        if ((s.controller.desiredSize ?? 0) <= 0) {
          s.stalls = s.progressed ? 0 : s.stalls + 1;
          s.progressed = false;
          if (s.stalls >= MAX_STALLS) this.#end(s);
          continue;
        }
        s.stalls = 0;
        s.progressed = false;
        try {
          s.controller.enqueue(PING);
        } catch {
          this.#end(s);
        }
      }
    }, this.#options.heartbeatMs);
    // Streams alone should not keep a process alive.
    (this.#heartbeat as { unref?: () => void }).unref?.();
  }

  #stopHeartbeat(): void {
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
    if (this.#session) clearInterval(this.#session);
    this.#session = undefined;
  }

  /**
   * A stream outlives no credentials: one timer per process ends streams whose token expired
   * and, with one store read per round for all keys with streams, those of revoked keys. Each
   * gets a last `closed` event saying why, so its client renews before reconnecting.
   */
  #startSessionCheck(): void {
    if (this.#session) return;
    this.#session = setInterval(() => void this.#checkSessions(), SESSION_CHECK_MS);
    (this.#session as { unref?: () => void }).unref?.();
  }

  async #checkSessions(): Promise<void> {
    if (this.#checking) return;
    this.#checking = true;
    try {
      const now = this.#now();
      const keys = new Set<string>();
      for (const s of [...this.#streams]) {
        if (s.owner.expiresAt !== undefined && s.owner.expiresAt <= now) this.#endWith(s, "token_expired", "the bearer token expired; reconnect with a new one");
        else if (s.owner.keyId.startsWith("k_")) keys.add(s.owner.keyId);
      }
      if (!this.#revoked || keys.size === 0) return;
      const revoked = await this.#revoked([...keys]);
      if (revoked.size === 0) return;
      for (const s of [...this.#streams]) if (revoked.has(s.owner.keyId)) this.#endWith(s, "key_revoked", "the API key was revoked");
    } catch {
      // A failed read ends nothing; the next round reads again.
    } finally {
      this.#checking = false;
    }
  }

  #endWith(stream: Stream, reason: string, message: string): void {
    this.#end(stream, encoder.encode(`event: closed\ndata: ${JSON.stringify({ reason, message })}\n\n`));
  }
}
