import pg from "pg";
import { CHANGES_CHANNEL, KEYS_CHANNEL, type KeyInvalidations } from "../../src/adapter.ts";
import { postgresConnectionSettings } from "./connection.ts";

/**
 * Pokes between server instances. Every committed change to a tenant's sequence sends
 * `NOTIFY stowage_changes, '<tenantId>:<seq>'` (a trigger on the tenant row does it, inside the
 * write transaction, so PostgreSQL delivers it at commit and never for a rolled-back write).
 * Each server instance LISTENs on one dedicated connection and fans the pokes out in-process.
 */
export { CHANGES_CHANNEL };

/** One poke: a tenant's sequence reached `seq`. */
export interface ChangePoke {
  /** The tenant's id (`t_…`). */
  tenant: string;
  /** The tenant's latest sequence number; absent after a reconnect, when pokes may have been missed. */
  seq?: number;
}

/** The in-process end of LISTEN: subscribe to one tenant's pokes. */
export interface ChangeListener {
  /** Calls `fn` on every poke for `tenant` until the returned function is called. */
  subscribe(tenant: string, fn: (poke: ChangePoke) => void): () => void;
  /** Resolves once LISTEN is in place (pokes sent before that may be missed). */
  readonly ready: Promise<void>;
  /**
   * With `probe`: whether the first LISTEN heard a NOTIFY sent from another connection within
   * `probeMs` (false behind a pooler in transaction mode, whose LISTEN holds no session).
   * Without: true once LISTEN is in place.
   */
  readonly hears: Promise<boolean>;
  /**
   * Revoked or deleted API keys (`NOTIFY stowage_keys, '<key id>'`), for the server's key row
   * cache (`cacheKeyRows`, src/server/auth/key-cache.ts): `live` only while LISTEN is in place.
   */
  readonly keys: KeyInvalidations;
  /** Stops listening and closes the connection. */
  close(): Promise<void>;
}

export interface ListenOptions {
  /** Same URL as the adapter's. */
  url: string;
  /** Same schema as the adapter's (pokes are database-wide, so this only sets the connection up alike). */
  schema?: string;
  /** `application_name` of the LISTEN connection, as pg_stat_activity shows it (default `stowage-listen`). */
  applicationName?: string;
  /** Wait before reconnecting after the connection broke, in ms (default 1000). */
  retryMs?: number;
  /** Sends `NOTIFY stowage_probe, payload` from another connection (the store's pool), to check that LISTEN hears. */
  probe?: (channel: string, payload: string) => Promise<unknown>;
  /** How long the probe's NOTIFY may take to arrive, in ms (default 2000). */
  probeMs?: number;
}

/** The channel `probe` sends on. */
export const PROBE_CHANNEL = "stowage_probe";

/** Opens the dedicated LISTEN connection; it reconnects by itself and never rejects in the background. */
export function listenForChanges(options: ListenOptions): ChangeListener {
  const subscribers = new Map<string, Set<(poke: ChangePoke) => void>>();
  const retryMs = options.retryMs ?? 1000;
  let client: pg.Client | undefined;
  let closed = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let markReady!: () => void;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  let heard!: (yes: boolean) => void;
  const hears = new Promise<boolean>((resolve) => (heard = resolve));
  const token = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  /** LISTEN is in place on the current connection: every key change since reaches keyFns. */
  let live = false;
  const keyFns = new Set<(keyId: string | undefined) => void>();
  const keyChanged = (keyId: string | undefined) => {
    for (const fn of keyFns) fn(keyId);
  };

  const emit = (poke: ChangePoke) => {
    for (const fn of subscribers.get(poke.tenant) ?? []) {
      try {
        fn(poke);
      } catch {
        // A subscriber's failure is its own; the other subscribers still get the poke.
      }
    }
  };

  const connect = async (reconnecting: boolean) => {
    const c = new pg.Client(postgresConnectionSettings({ ...options, applicationName: options.applicationName ?? "stowage-listen" }));
    client = c;
    c.on("notification", (msg) => {
      if (msg.channel === PROBE_CHANNEL && msg.payload === token) return heard(true);
      if (msg.channel === KEYS_CHANNEL && msg.payload) return keyChanged(msg.payload);
      if (msg.channel !== CHANGES_CHANNEL || !msg.payload) return;
      const at = msg.payload.lastIndexOf(":");
      const seq = Number(msg.payload.slice(at + 1));
      if (at > 0 && Number.isSafeInteger(seq)) emit({ tenant: msg.payload.slice(0, at), seq });
    });
    c.on("error", () => retry(c));
    c.on("end", () => retry(c));
    try {
      await c.connect();
      await c.query(`listen ${CHANGES_CHANNEL}; listen ${KEYS_CHANNEL}${options.probe ? `; listen ${PROBE_CHANNEL}` : ""}`);
    } catch {
      retry(c);
      return;
    }
    if (closed) return void c.end().catch(() => {});
    if (client === c) {
      // Key changes made while no connection listened are unknown: start from nothing.
      keyChanged(undefined);
      live = true;
    }
    markReady();
    if (!options.probe) heard(true);
    else if (!reconnecting) {
      const timer = setTimeout(() => heard(false), options.probeMs ?? 2000);
      void hears.then(() => clearTimeout(timer));
      options.probe(PROBE_CHANNEL, token).catch(() => heard(false));
    }
    // Pokes sent while we were disconnected are gone: tell everyone to look again.
    if (reconnecting) for (const tenant of subscribers.keys()) emit({ tenant });
  };

  const retry = (c: pg.Client) => {
    if (client === c && live) {
      live = false;
      keyChanged(undefined);
    }
    if (closed || client !== c || timer) return;
    client = undefined;
    c.end().catch(() => {});
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) void connect(true);
    }, retryMs);
  };

  void connect(false);
  return {
    ready,
    hears,
    keys: {
      get live() {
        return live && !closed;
      },
      onChange(fn) {
        keyFns.add(fn);
        return () => void keyFns.delete(fn);
      },
    },
    subscribe(tenant, fn) {
      let set = subscribers.get(tenant);
      if (!set) subscribers.set(tenant, (set = new Set()));
      set.add(fn);
      return () => {
        set.delete(fn);
        if (set.size === 0 && subscribers.get(tenant) === set) subscribers.delete(tenant);
      };
    },
    async close() {
      closed = true;
      live = false;
      keyChanged(undefined);
      if (timer) clearTimeout(timer);
      markReady();
      heard(false);
      const c = client;
      client = undefined;
      subscribers.clear();
      if (c) await c.end().catch(() => {});
    },
  };
}
