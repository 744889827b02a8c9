import type { z } from "zod";
import type { StowageAdapter } from "./adapter.ts";
import { StowageError, describeValue } from "./errors.ts";
import type { JsonObject } from "./json.ts";
import { readEnv } from "./runtime/env.ts";
import { thisProcess } from "./runtime/process.ts";
import { first, all, run } from "./store/sql.ts";
import { Store, type TransactionScope } from "./store/store.ts";
import type { CollectionOptions, StoreEvents } from "./store/types.ts";
import { typedQuery, type CollectionDeclarations, type ReadOnlyKysely, type ViewTables } from "./store/typed-query.ts";
import type { BackoffOptions, Clock } from "./sync/clock.ts";
import { SyncEngine } from "./sync/engine.ts";
import { Credentials, type GetToken } from "./sync/credentials.ts";
import { HttpClient, type FetchFn } from "./sync/v1/http.ts";
import type { SyncIssue } from "./sync/types.ts";
import { RemoteCollection, RemoteFirstCollection, type DocCollection } from "./sync/remote-collection.ts";
import type { StowageMode, SyncEvents, SyncResult, SyncStatus } from "./sync/types.ts";
import type { RestConfig } from "./sync/rest/config.ts";
import { restSetup } from "./sync/rest/open.ts";
import { addSubscription, listSubscriptions, removeSubscriptions, setSubscriptions } from "./sync/partial/manage.ts";
import { readSubscriptions, SUBSCRIPTIONS_KEY, SUBSCRIPTIONS_SYNCED_KEY, type Subscription } from "./store/subscriptions.ts";
import type { FieldFilter } from "./store/types.ts";

export interface StowageOptions {
  /** The local SQLite adapter; required in local and hybrid mode. */
  adapter?: StowageAdapter;
  /** Server URL (else `STOWAGE_URL`); none means local mode. */
  url?: string;
  /** API key (else `STOWAGE_API_KEY`). */
  apiKey?: string;
  /**
   * Token provider, instead of a static apiKey: called at start, shortly before a JWT's `exp`,
   * and after a 401 (src/sync/credentials.ts). Returns the bearer token, or a promise of it.
   */
  getToken?: GetToken;
  /** http-only mode: no local store, every call goes to the server (else `STOWAGE_SYNC_DISABLE=1`). */
  syncDisabled?: boolean;
  /** Background cycle period (else `STOWAGE_SYNC_INTERVAL`: `60000`, `30s`, `2m`; default 60 s). */
  syncIntervalMs?: number;
  /** Wait for a first sync before resolving: true (10 s at most) or a timeout in ms. Default false. */
  waitForFirstSync?: boolean | number;
  /** Environment to read; defaults to the process environment. */
  env?: Record<string, string | undefined>;
  /** Injected `fetch` (tests, proxies). */
  fetch?: FetchFn;
  /** Injected clock (tests). */
  clock?: Clock;
  /** Retry schedule after failures. */
  backoff?: BackoffOptions;
  /** Start the background loop (default true); false leaves syncing to explicit `sync()` calls. */
  autoSync?: boolean;
  /** Changes per pull page (default 1000; a pull from the start asks for at most 250 first, then doubles). */
  pullLimit?: number;
  /** How long a crashed process's sync lease blocks the others (default 20,000 ms). */
  leaseTtlMs?: number;
  /** Step-by-step trace of the sync engine, for tests and debugging. */
  onTrace?: (line: string) => void;
  /** Hybrid mode: keep the live event stream open and pull on every poke (else `STOWAGE_LIVE`; default true). */
  live?: boolean;
  /** Live stream: no bytes (events or heartbeats) for this long means it is dead (default 35,000 ms). */
  liveHeartbeatTimeoutMs?: number;
  /** Live stream reconnect schedule (default 1 s, or the server's retry hint, doubling to 30 s). */
  liveBackoff?: BackoffOptions;
  /** Sync with a REST API Stowage does not own instead of a Stowage server (src/sync/rest/config.ts). */
  rest?: RestConfig;
  /**
   * Partial sync (issue 34): hold only these subscriptions' documents (plus this client's
   * pending writes), each `{ collection, where? }` with `where` as in `list`. Kept in the
   * local store, so a later open without this option keeps them; null goes back to the
   * whole tenant. Absent: the stored ones, or the whole tenant when none are stored.
   */
  subscriptions?: Subscription[] | null;
}

/** The mode and settings options and environment give, before anything is opened. */
export interface ResolvedConfig {
  /** local, hybrid or http-only. */
  mode: StowageMode;
  /** Server base URL, null in local mode. */
  url: string | null;
  /** API key, if any (a `getToken` option wins over it). */
  apiKey: string | null;
  /** Background cycle period. */
  syncIntervalMs: number;
  /** Whether hybrid mode opens the live event stream. */
  live: boolean;
}

/** Mode detection (DESIGN.md "Modes"): options win over the environment. */
export function resolveConfig(options: StowageOptions = {}): ResolvedConfig {
  const env = options.env ?? readEnv();
  const url = (options.url ?? env.STOWAGE_URL ?? "").trim() || null;
  const apiKey = (options.apiKey ?? env.STOWAGE_API_KEY ?? "").trim() || null;
  const getToken = options.getToken ?? null;
  if (getToken !== null && typeof getToken !== "function") throw new StowageError("config", `getToken must be a function, got ${describeValue(getToken)}`);
  const disabled = options.syncDisabled ?? truthy(env.STOWAGE_SYNC_DISABLE);
  const syncIntervalMs = options.syncIntervalMs ?? parseInterval(env.STOWAGE_SYNC_INTERVAL) ?? 60_000;
  if (!Number.isFinite(syncIntervalMs) || syncIntervalMs < 10) {
    throw new StowageError("config", `sync interval must be at least 10 ms, got ${describeValue(syncIntervalMs)}`);
  }
  const live = options.live ?? !falsy(env.STOWAGE_LIVE);
  if (!url) return { mode: "local", url: null, apiKey, syncIntervalMs, live };
  if (!/^https?:\/\/[^/]/.test(url)) throw new StowageError("config", `server URL must start with http:// or https://, got ${describeValue(url)}`);
  if (!apiKey && !getToken) throw new StowageError("config", `server URL ${describeValue(url)} is set but no API key: set STOWAGE_API_KEY or pass apiKey or getToken`);
  return { mode: disabled ? "http-only" : "hybrid", url, apiKey, syncIntervalMs, live };
}

function falsy(v: string | undefined): boolean {
  return v !== undefined && /^(0|false|no|off)$/i.test(v.trim());
}

function truthy(v: string | undefined): boolean {
  return v !== undefined && /^(1|true|yes|on)$/i.test(v.trim());
}

function parseInterval(v: string | undefined): number | undefined {
  if (v === undefined || v.trim() === "") return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(v);
  if (!m) throw new StowageError("config", `STOWAGE_SYNC_INTERVAL must be milliseconds or a number with ms, s or m, got ${describeValue(v)}`);
  return Number(m[1]) * (m[2] === "s" ? 1000 : m[2] === "m" ? 60_000 : 1);
}

/** A conflict or rejection as recorded, with its place in the list. */
export interface SyncIssueRecord extends Omit<SyncIssue, "kind"> {
  /** As SyncIssue; over a REST API also `repaired` (a duplicate create deleted, src/sync/rest/repair.ts) and `gone` (an update answered 404: the item was deleted on the API, src/sync/rest/refusal.ts). */
  kind: SyncIssue["kind"] | "repaired" | "gone";
  /** Pass to `dismissIssue` once the application has handled it. */
  seq: number;
  /** Wall-clock time it was recorded. */
  at: number;
}

type HandleEvents = SyncEvents & Pick<StoreEvents, "write" | "pulled" | "change">;

/** Opens Stowage in the mode options and environment ask for. */
export async function openStowage(options: StowageOptions = {}): Promise<Stowage> {
  // REST: the key decides the mode (the URL is the config's); protocol v1 clients stay unused.
  const env = options.env ?? readEnv();
  const rest = options.rest ? restSetup(options.rest, { apiKey: options.apiKey, env, fetch: options.fetch }, options.syncDisabled ?? truthy(env.STOWAGE_SYNC_DISABLE)) : null;
  const config = rest ? { ...resolveConfig({ ...options, url: "" }), mode: rest.mode } : resolveConfig(options);
  const credentials = options.getToken ? Credentials.provider(options.getToken, options.clock ? () => options.clock!.now() : undefined) : Credentials.fixed(config.apiKey ?? "");
  const http = rest ? null : config.url ? new HttpClient({ url: config.url, credentials, fetch: options.fetch }) : null;
  if (Array.isArray(options.subscriptions) && config.mode === "local") throw new StowageError("config", "subscriptions (partial sync) need a server: set STOWAGE_URL and STOWAGE_API_KEY (or pass url and apiKey); a local-only store holds everything written to it");
  if (options.subscriptions !== undefined && config.mode === "http-only") throw new StowageError("config", "subscriptions need a local store; http-only mode (STOWAGE_SYNC_DISABLE=1) holds nothing");
  if (options.subscriptions !== undefined && options.subscriptions !== null && rest) throw new StowageError("config", "subscriptions (partial sync) need a Stowage server; a REST API sync always holds the resources its config names");
  if (config.mode === "http-only") return new Stowage(config.mode, null, null, http, rest?.remote);
  if (!options.adapter) throw new StowageError("config", `${config.mode} mode needs a local SQLite adapter: pass options.adapter`);
  const store = await Store.open({ adapter: options.adapter, now: options.clock ? () => options.clock!.now() : undefined });
  if (options.subscriptions !== undefined) {
    try {
      await setSubscriptions(store, options.subscriptions, null);
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  if (config.mode === "local") return new Stowage(config.mode, store, null, null);
  const engine = new SyncEngine({
    store,
    http: rest?.http ?? http!,
    transport: rest?.transport,
    clock: options.clock,
    intervalMs: config.syncIntervalMs,
    backoff: options.backoff,
    pullLimit: options.pullLimit,
    leaseTtlMs: options.leaseTtlMs,
    onTrace: options.onTrace,
    mode: config.mode,
    process: thisProcess(),
    live: config.live && !rest, // a REST API has no event stream: its interval carries sync
    liveHeartbeatTimeoutMs: options.liveHeartbeatTimeoutMs,
    liveBackoff: options.liveBackoff,
  });
  const handle = new Stowage(config.mode, store, engine, http);
  engine.view.set(await readSubscriptions(store.db, SUBSCRIPTIONS_KEY), await readSubscriptions(store.db, SUBSCRIPTIONS_SYNCED_KEY));
  if (options.autoSync !== false) engine.start();
  const wait = options.waitForFirstSync;
  if (wait) {
    const timeoutMs = typeof wait === "number" ? wait : 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Bounded: offline start-up still opens, with the failure in status().lastError.
    await Promise.race([
      engine.sync().catch(() => {}),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }
  return handle;
}

/** An open Stowage: collections, transactions, sync, status and events. */
export class Stowage {
  readonly mode: StowageMode;
  /** The local store (null in http-only mode). */
  readonly store: Store | null;
  /** The sync engine (hybrid mode only). */
  readonly engine: SyncEngine | null;
  readonly #http: HttpClient | null;
  /** http-only collections when they are not protocol v1 (REST). */
  readonly #remote: ((name: string, options: CollectionOptions<z.ZodType | undefined>) => DocCollection<any>) | undefined;
  #closed = false;

  constructor(
    mode: StowageMode,
    store: Store | null,
    engine: SyncEngine | null,
    http: HttpClient | null,
    remote?: (name: string, options: CollectionOptions<z.ZodType | undefined>) => DocCollection<any>,
  ) {
    this.mode = mode;
    this.store = store;
    this.engine = engine;
    this.#http = http;
    this.#remote = remote;
  }

  /** A collection handle: local SQLite, or the server for http-only mode and `remoteFirst` reads. */
  collection<S extends z.ZodType | undefined = undefined>(
    name: string,
    options: CollectionOptions<S> = {},
  ): DocCollection<S extends z.ZodType ? z.output<S> & object : Record<string, any>> {
    this.#assertOpen();
    if (!this.store) return this.#remote ? this.#remote(name, options) : new RemoteCollection(name, options, this.#http!);
    const local = this.store.collection(name, options);
    if (options.remoteFirst && this.#http) {
      const store = this.store;
      const pending = async (c: string, id: string) =>
        (await first(store.db, "select 1 from _stowage_outbox where collection = ? and id = ? limit 1", [c, id])) !== undefined;
      return new RemoteFirstCollection(local, new RemoteCollection(name, options, this.#http), pending);
    }
    return local;
  }

  /**
   * A typed, read-only Kysely over the collections' SQL views, for joins, aggregates and
   * reports: `await db.query({ todos: { schema: Todo } })`. Declares the given collections.
   */
  query<D extends CollectionDeclarations = {}>(collections?: D): Promise<ReadOnlyKysely<ViewTables<D>>> {
    this.#assertOpen();
    if (!this.store) return Promise.reject(new StowageError("config", "query needs a local store; http-only mode (STOWAGE_SYNC_DISABLE=1) has no SQL views"));
    return typedQuery(this.store, collections ?? ({} as D));
  }

  /** Several writes committed locally together and applied on the server together. */
  transaction<R>(fn: (tx: TransactionScope) => Promise<R>): Promise<R> {
    this.#assertOpen();
    if (!this.store) {
      return Promise.reject(new StowageError("config", "transactions need a local store; http-only mode (STOWAGE_SYNC_DISABLE=1) writes each document on its own"));
    }
    return this.store.transaction(fn);
  }

  /** One full cycle now (push everything, pull everything); nothing to do in local and http-only mode. */
  async sync(): Promise<SyncResult> {
    this.#assertOpen();
    if (!this.engine) return { pushed: 0, pulled: 0, issues: [], reset: false, leased: false };
    return this.engine.sync();
  }

  /** Pushes queued writes now, without pulling; nothing to do in local and http-only mode. */
  async push(): Promise<SyncResult> {
    this.#assertOpen();
    if (!this.engine) return { pushed: 0, pulled: 0, issues: [], reset: false, leased: false };
    return this.engine.push();
  }

  async status(): Promise<SyncStatus> {
    this.#assertOpen();
    if (this.engine) return this.engine.status();
    const base = this.store ? await this.store.status() : null;
    return {
      mode: this.mode,
      state: "stopped",
      online: null,
      clientId: base?.clientId ?? null,
      outbox: base?.outbox ?? { size: 0, oldestAt: null, oldestAgeMs: null },
      lastSyncAt: null,
      lastError: null,
      cursor: null,
      conflicts: 0,
      rejections: 0,
      unresolved: 0,
      live: { enabled: false, connected: false, since: null, lastEventAt: null, lastEventId: null },
      subscriptions: this.store ? await listSubscriptions(this.store) : null,
      auth: this.#http?.credentials.status() ?? { state: "ok", reason: null, expiresAt: null, renewable: false },
    };
  }

  /**
   * Partial sync (issue 34): also hold the documents of `collection` that `where` matches (as
   * in `list`; none: the whole collection). From the whole tenant, the store then holds just
   * this subscription. The next pull backfills it without downloading what is held already.
   * Answers the subscription's id (for `unsubscribe`).
   */
  async subscribe(collection: string, options: { where?: Record<string, FieldFilter> } = {}): Promise<string> {
    this.#assertPartial();
    const id = await addSubscription(this.store!, options.where === undefined ? { collection } : { collection, where: options.where }, this.engine?.view ?? null);
    this.engine?.viewChanged();
    return id;
  }

  /**
   * Drops subscriptions: by id (subscribe's answer), by `{ collection, where? }`, or every one
   * on a collection (its name). Held documents no remaining subscription matches are removed
   * locally in one transaction (never deleted on the server); those with pending writes stay
   * until pushed. Answers how many subscriptions went.
   */
  async unsubscribe(which: string | Subscription): Promise<number> {
    this.#assertPartial();
    const n = await removeSubscriptions(this.store!, which, this.engine?.view ?? null);
    if (n > 0) this.engine?.viewChanged();
    return n;
  }

  /** The subscriptions held, each with its id; null when the store holds the whole tenant. */
  async subscriptions(): Promise<(Subscription & { id: string })[] | null> {
    this.#assertOpen();
    return this.store ? listSubscriptions(this.store) : null;
  }

  /** Subscribes to sync and store events; returns the unsubscribe function. */
  on<K extends keyof HandleEvents>(event: K, listener: (payload: HandleEvents[K]) => void): () => void {
    if (event === "write" || event === "pulled" || event === "change") {
      if (!this.store) return () => {};
      return this.store.events.on(event, listener as (p: any) => void);
    }
    if (!this.engine) return () => {};
    return this.engine.events.on(event as keyof SyncEvents, listener as (p: unknown) => void);
  }

  /** Recorded conflicts and rejections, oldest first. */
  async issues(): Promise<SyncIssueRecord[]> {
    this.#assertOpen();
    if (!this.store) return [];
    const rows = await all<{ seq: number; kind: SyncIssueRecord["kind"]; op_id: number; collection: string; id: string; op: string; body: string | null; server_body: string | null; server_version: number | null; message: string; created_at: number }>(
      this.store.db,
      "select * from _stowage_conflicts order by seq",
    );
    return rows.map((r) => ({
      seq: r.seq,
      at: r.created_at,
      kind: r.kind,
      opId: r.op_id,
      collection: r.collection,
      id: r.id,
      op: r.op,
      value: r.body === null ? null : (JSON.parse(r.body) as JsonObject),
      serverValue: r.server_body === null ? null : (JSON.parse(r.server_body) as JsonObject),
      serverVersion: r.server_version,
      message: r.message,
    }));
  }

  /** Removes a handled conflict or rejection from the list. */
  async dismissIssue(seq: number): Promise<void> {
    this.#assertOpen();
    if (this.store) await run(this.store.db, "delete from _stowage_conflicts where seq = ?", [seq]);
  }

  /** Stops syncing (waiting for a cycle in flight) and closes the local database. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.engine?.stop();
    await this.store?.close();
  }

  #assertPartial(): void {
    this.#assertOpen();
    if (!this.store) throw new StowageError("config", "subscriptions need a local store; http-only mode (STOWAGE_SYNC_DISABLE=1) holds nothing");
    if (!this.engine) throw new StowageError("config", "subscriptions (partial sync) need a server: set STOWAGE_URL and STOWAGE_API_KEY (or pass url and apiKey); a local-only store holds everything written to it");
    if (this.engine && !this.engine.partialSupported) throw new StowageError("config", "subscriptions (partial sync) need a Stowage server; a REST API sync always holds the resources its config names");
  }

  #assertOpen(): void {
    if (this.#closed) throw new StowageError("closed", "this Stowage handle has already been closed");
  }
}
