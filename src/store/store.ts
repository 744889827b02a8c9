import { Kysely, type Transaction } from "kysely";
import type { z } from "zod";
import { LOCAL_SQL, type StowageAdapter } from "../adapter.ts";
import { StowageError } from "../errors.ts";
import { randomToken } from "../ids.ts";
import { assertCollectionName } from "../names.ts";
import { emitChanges, type ChangedIds } from "./changes.ts";
import { Collection, type Scope } from "./collection.ts";
import { Emitter } from "./events.ts";
import { migrateLocal } from "./migrations.ts";
import { indexSql } from "./query.ts";
import { all, first, run, type Executor } from "./sql.ts";
import { CollectionViews } from "./views.ts";
import type { CollectionOptions, StoreEvents, StoreStatus } from "./types.ts";
import { nextOpId, type WriteContext } from "./writes.ts";

export interface OpenStoreOptions {
  adapter: StowageAdapter;
  /** Wall clock for outbox ages only; ordering never depends on it. */
  now?: () => number;
}

/** The local store: documents, the outbox and sync metadata in one SQLite database. */
export class Store {
  readonly db: Kysely<any>;
  readonly adapter: StowageAdapter;
  readonly clientId: string;
  readonly events = new Emitter<StoreEvents>();
  readonly now: () => number;
  readonly #collections = new Map<string, Collection<any>>();
  readonly #indexed = new Set<string>();
  /** One read-only SQL view per collection (views.ts), made after a handle's first use. */
  readonly views: CollectionViews;
  #closed = false;

  private constructor(db: Kysely<any>, adapter: StowageAdapter, clientId: string, now: () => number) {
    this.db = db;
    this.adapter = adapter;
    this.clientId = clientId;
    this.now = now;
    this.views = new CollectionViews(db);
  }

  static async open(options: OpenStoreOptions): Promise<Store> {
    if (options.adapter.capabilities.sql !== LOCAL_SQL) {
      throw new StowageError(
        "config",
        `the local store needs a SQLite adapter; ${options.adapter.name} (${options.adapter.capabilities.sql}) can only hold a sync server's data`,
      );
    }
    const db = new Kysely<any>({ dialect: options.adapter.dialect });
    try {
      await migrateLocal(db);
      // insert-or-ignore then read: two processes opening a new file agree on one id.
      await run(db, "insert or ignore into _stowage_meta (key, value) values ('client_id', ?)", [randomToken(16)]);
      const row = await first<{ value: string }>(db, "select value from _stowage_meta where key = 'client_id'");
      return new Store(db, options.adapter, row!.value, options.now ?? Date.now);
    } catch (e) {
      await db.destroy().catch(() => {});
      if (e instanceof StowageError) throw e;
      throw new StowageError("storage", `cannot open local store at ${options.adapter.location}: ${(e as Error).message}`, { cause: e });
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** A collection handle; options (schema, indexes) apply to every later call. */
  collection<S extends z.ZodType | undefined = undefined>(
    name: string,
    options: CollectionOptions<S> = {},
  ): Collection<S extends z.ZodType ? z.output<S> & object : Record<string, any>> {
    assertCollectionName(name);
    const existing = this.#collections.get(name);
    if (existing && Object.keys(options).length === 0) return existing;
    const collection = new Collection<any>(name, options, this.#scope(null, options.indexes ?? [], name, options));
    this.#collections.set(name, collection);
    return collection;
  }

  /** Collections declared in this process so far. */
  declared(): Collection<any>[] {
    return [...this.#collections.values()];
  }

  /**
   * Runs `fn` in one local transaction: every write inside commits together or not at all,
   * and is pushed as one group the server applies atomically. Use `tx.collection(...)`
   * inside; the store's own handles would wait for this transaction to finish.
   */
  async transaction<R>(fn: (tx: TransactionScope) => Promise<R>): Promise<R> {
    this.#assertOpen();
    const touched = new Set<string>();
    let ops = 0;
    let changed: ChangedIds = new Map();
    const result = await this.#wrapStorage(() =>
      this.db.transaction().execute(async (trx) => {
        changed = new Map();
        const ctx: WriteContext = { db: trx, tx: await nextOpId(trx), now: this.now(), touched, ops: 0, changed };
        const value = await fn(new TransactionScope(this, trx, ctx));
        ops = ctx.ops;
        return value;
      }),
    );
    if (ops > 0) this.events.emit("write", { collections: [...touched], ops });
    emitChanges(this.events, changed);
    return result;
  }

  /** Outbox size and age, conflicts; the sync engine adds mode, cursor and errors. */
  async status(): Promise<StoreStatus> {
    this.#assertOpen();
    const outbox = await first<{ n: number; oldest: number | null }>(
      this.db,
      "select count(*) as n, min(created_at) as oldest from _stowage_outbox",
    );
    const conflicts = await first<{ n: number }>(this.db, "select count(*) as n from _stowage_conflicts");
    const oldestAt = outbox?.oldest ?? null;
    return {
      clientId: this.clientId,
      outbox: { size: Number(outbox?.n ?? 0), oldestAt, oldestAgeMs: oldestAt === null ? null : Math.max(0, this.now() - oldestAt) },
      conflicts: Number(conflicts?.n ?? 0),
    };
  }

  /** Reads a sync metadata value (cursor, lease). */
  async getMeta(key: string, db: Executor = this.db): Promise<string | undefined> {
    return (await first<{ value: string }>(db, "select value from _stowage_meta where key = ?", [key]))?.value;
  }

  async setMeta(key: string, value: string, db: Executor = this.db): Promise<void> {
    await run(db, "insert into _stowage_meta (key, value) values (?, ?) on conflict (key) do update set value = excluded.value", [key, value]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.views.idle();
    await this.db.destroy();
  }

  #assertOpen(): void {
    if (this.#closed) throw new StowageError("closed", "store has already been closed");
  }

  /** Storage failures become StowageError("storage"); input errors pass through. */
  async #wrapStorage<R>(fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof StowageError) throw e;
      throw new StowageError("storage", `local database error: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
  }

  async #ensureIndexes(collection: string, indexes: (string | string[])[]): Promise<void> {
    for (const index of indexes) {
      const fields = Array.isArray(index) ? index : [index];
      const ddl = indexSql(collection, fields);
      if (this.#indexed.has(ddl)) continue;
      await run(this.db, ddl);
      this.#indexed.add(ddl);
    }
  }

  /** The scope a top-level collection handle uses: each write its own transaction. */
  #scope(_trx: null, indexes: (string | string[])[], name: string, options: CollectionOptions<any> = {}): Scope {
    let ready: Promise<void> | undefined;
    // After the first call commits, not before: the view must never delay or fail a write.
    let viewed = false;
    const view = () => {
      if (!viewed) this.views.schedule(name, options);
      viewed = true;
    };
    const prepare = () => (ready ??= this.#ensureIndexes(name, indexes).catch((e) => {
      ready = undefined;
      throw e;
    }));
    return {
      write: async (fn) => {
        this.#assertOpen();
        if (indexes.length) await this.#wrapStorage(prepare);
        const ctx: WriteContext = { db: this.db, tx: null, now: this.now(), touched: new Set(), ops: 0, changed: new Map() };
        const result = await this.#wrapStorage(() =>
          this.db.transaction().execute(async (trx) => {
            ctx.db = trx;
            return fn(ctx);
          }),
        );
        if (ctx.ops > 0) this.events.emit("write", { collections: [...ctx.touched], ops: ctx.ops });
        emitChanges(this.events, ctx.changed!);
        view();
        return result;
      },
      subscribe: (fn) => {
        // Pull paths that emit only `pulled` (collections, no ids) still wake live queries.
        const offChange = this.events.on("change", (e) => e.collection === name && fn());
        const offPulled = this.events.on("pulled", (e) => e.collections.includes(name) && fn());
        return () => {
          offChange();
          offPulled();
        };
      },
      closed: () => this.#closed,
      read: async (fn) => {
        this.#assertOpen();
        if (indexes.length) await this.#wrapStorage(prepare);
        const result = await this.#wrapStorage(() => fn(this.db));
        view();
        return result;
      },
    };
  }
}

/** Collections inside `store.transaction`; every write joins the open transaction. */
export class TransactionScope {
  readonly #store: Store;
  readonly #trx: Transaction<any>;
  readonly #ctx: WriteContext;

  constructor(store: Store, trx: Transaction<any>, ctx: WriteContext) {
    this.#store = store;
    this.#trx = trx;
    this.#ctx = ctx;
  }

  collection<S extends z.ZodType | undefined = undefined>(
    name: string,
    options?: CollectionOptions<S>,
  ): Collection<S extends z.ZodType ? z.output<S> & object : Record<string, any>> {
    const declared = this.#store.declared().find((c) => c.name === name);
    const opts = options ?? (declared?.options as CollectionOptions<S> | undefined) ?? {};
    return new Collection<any>(name, opts, {
      write: (fn) => fn(this.#ctx),
      read: (fn) => fn(this.#trx),
    });
  }

  /** Raw rows, for applications that need a query the collection API lacks. */
  async sql<R>(query: string, params: unknown[] = []): Promise<R[]> {
    return all<R>(this.#trx, query, params);
  }
}
