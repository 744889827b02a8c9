import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { isCollectionName, isDocId } from "../../names.ts";
import type { Change } from "../../protocol/wire.ts";
import { changedIdsOf, emitChanges } from "../../store/changes.ts";
import { all, placeholders, run, type Executor } from "../../store/sql.ts";
import type { Store } from "../../store/store.ts";
import { cursorSeq } from "../../protocol/cursor.ts";
import { ownWritesAtOrBelow } from "./own-top.ts";
import { rebaseDocs } from "../rebase.ts";

/** Meta key holding the opaque pull cursor. */
export const CURSOR_KEY = "sync_cursor";

/** What applying one pull page did. */
export interface PageResult {
  /** Changes in the page. */
  changes: number;
  /** Collections the page touched. */
  collections: string[];
  /** True when the server has more after this page. */
  more: boolean;
  /** True when the server answered `{ reset: true }` (nothing was applied). */
  reset: boolean;
  /** The cursor stored with this page (null on reset). */
  cursor: string | null;
}

/** Rows per multi-row statement (4 parameters each). */
const ROWS = 500;

/**
 * When a pulled change replaces the local row: a newer version, or the same version with
 * other text. A row already at the change's version with the very same text (our own put,
 * whose version the push settle recorded, push.ts) is left alone: writing it would change
 * nothing but cost a row write, its index entries and triggers, for every document a bulk
 * push sends. Documents with pending ops never come here (they are rebased).
 */
export const NEWER_OR_DIFFERENT = `_stowage_docs.version is null or _stowage_docs.version < excluded.version
  or (_stowage_docs.version = excluded.version and _stowage_docs.body is not excluded.body)`;
const UPSERT_TAIL = `on conflict (collection, id) do update set body = excluded.body, version = excluded.version
  where ${NEWER_OR_DIFFERENT}`;

/** A pull page as parsed and checked: `{ reset: true }`, or changes with the next cursor. */
export type ParsedPage = { reset: true } | { reset: false; changes: Change[]; cursor: string; more: boolean; collections: string[] };

/** Parses and checks one page (the server's JSON text); throws `protocol` for anything else. */
export function parsePage(text: string): ParsedPage {
  let body: { changes?: unknown; cursor?: unknown; more?: unknown; reset?: unknown };
  try {
    body = JSON.parse(text);
  } catch {
    throw new StowageError("protocol", `pull: the server's answer is not JSON: ${describeValue(text.slice(0, 120))}`);
  }
  return pageOf(body, text);
}

/** parsePage for JSON already parsed (a live event's data, live/stream.ts): the same checks. */
export function pageOf(body: { changes?: unknown; cursor?: unknown; more?: unknown; reset?: unknown }, text?: string): ParsedPage {
  if (body?.reset === true) return { reset: true };
  if (!Array.isArray(body?.changes) || typeof body.cursor !== "string" || typeof body.more !== "boolean") {
    throw new StowageError("protocol", `pull: the server's answer is not a protocol v1 page: ${describeValue((text ?? String(JSON.stringify(body))).slice(0, 120))}`);
  }
  const changes = body.changes as Change[];
  const collections = new Set<string>();
  for (const c of changes) {
    if (!isCollectionName(c?.collection) || !isDocId(c.id) || typeof c.version !== "number" || (!c.deleted && (c.value === null || typeof c.value !== "object"))) {
      throw new StowageError("protocol", `pull: malformed change ${describeValue(c)}`);
    }
    collections.add(c.collection);
  }
  return { reset: false, changes, cursor: body.cursor, more: body.more, collections: [...collections] };
}

/**
 * Applies one page (the server's JSON text) and stores its cursor in ONE local transaction,
 * so a crash never skips a page; applying a page twice is harmless because versions only
 * move forward. Documents with pending outbox entries are rebased, never overwritten.
 * Only a page that is a whole pull (`more: false` from the stored cursor) may be applied
 * alone: see cycle.ts and stage.ts for guarantee 9.
 * (Measured: one JSON.parse and multi-row upserts beat SQLite's json_each over the text,
 * which re-parses each element per extracted field.)
 */
export async function applyPage(store: Store, text: string): Promise<PageResult> {
  const page = parsePage(text);
  if (page.reset) return { changes: 0, collections: [], more: false, reset: true, cursor: null };
  await applyParsed(store, page);
  return { changes: page.changes.length, collections: page.collections, more: page.more, reset: false, cursor: page.cursor };
}

/**
 * applyPage for a page already parsed. With `after`, the page is applied only if the stored
 * cursor is exactly `after`, checked inside the same transaction (a live event's changes,
 * live/apply.ts); answers whether it was applied. `then` runs right after the `change`
 * events, only when the page was applied.
 */
export async function applyParsed(store: Store, page: { changes: Change[]; cursor: string }, after?: string, then?: () => void): Promise<boolean> {
  const { changes, cursor } = page;
  // An idle poll (nothing new, same cursor) needs no write transaction.
  if (after === undefined && changes.length === 0 && (await store.getMeta(CURSOR_KEY)) === cursor) {
    then?.();
    return true;
  }
  const applied = await store.db.transaction().execute((trx) => applyParsedIn(trx, store, page, after));
  if (applied) {
    emitChanges(store.events, changedIdsOf(changes)); // live queries (README "Live"), after commit
    // In the same synchronous stretch as `change` (the caller's `pulled`): a live query wakes once.
    then?.();
  }
  return applied;
}

/**
 * applyParsed inside the caller's transaction (a push's settle, cycle.ts); the caller emits
 * the `change` events after its commit.
 */
export async function applyParsedIn(trx: Executor, store: Store, page: { changes: Change[]; cursor: string }, after?: string): Promise<boolean> {
  const { changes, cursor } = page;
  if (after !== undefined && (await store.getMeta(CURSOR_KEY, trx)) !== after) return false;
  if (after !== undefined && !(await ownWritesAtOrBelow(trx, cursorSeq(cursor) ?? 0))) return false;
  const pending = changes.length ? await pendingKeys(trx, changes) : null;
  const live: Change[] = [];
  const dead: Change[] = [];
  const rebase: Change[] = [];
  for (const c of changes) {
    if (pending?.has(`${c.collection}\u0000${c.id}`)) rebase.push(c);
    else if (c.deleted) dead.push(c);
    else live.push(c);
  }
  await writeChanges(trx, live, dead);
  if (rebase.length) {
    await rebaseDocs(trx, rebase.map((c) => ({ collection: c.collection, id: c.id, value: c.deleted ? null : (c.value as JsonObject), version: c.version })));
  }
  await store.setMeta(CURSOR_KEY, cursor, trx);
  return true;
}

/**
 * Writes pulled documents without pending ops: `live` rows upserted where newer or different
 * (NEWER_OR_DIFFERENT), `dead` ones deleted; multi-row statements of ROWS documents.
 */
export async function writeChanges(trx: Executor, live: readonly Change[], dead: readonly Change[]): Promise<void> {
  for (let i = 0; i < live.length; i += ROWS) {
    const chunk = live.slice(i, i + ROWS);
    const params: unknown[] = new Array(chunk.length * 4);
    for (let j = 0; j < chunk.length; j++) {
      const c = chunk[j];
      params[j * 4] = c.collection;
      params[j * 4 + 1] = c.id;
      params[j * 4 + 2] = JSON.stringify(c.value);
      params[j * 4 + 3] = c.version;
    }
    await run(trx, `insert into _stowage_docs (collection, id, body, version) values ${placeholders(chunk.length, 4)} ${UPSERT_TAIL}`, params);
  }
  for (let i = 0; i < dead.length; i += ROWS) {
    const chunk = dead.slice(i, i + ROWS);
    const params: unknown[] = [];
    for (const c of chunk) params.push(c.collection, c.id);
    await run(trx, `delete from _stowage_docs where (collection, id) in (values ${placeholders(chunk.length, 2)})`, params);
  }
}


/** Which of the page's documents have pending ops (one outbox pass; usually the outbox is empty). */
async function pendingKeys(db: Executor, changes: Change[]): Promise<Set<string> | null> {
  const any = await all(db, "select 1 from _stowage_outbox limit 1");
  if (any.length === 0) return null;
  const keys = new Set<string>();
  for (let i = 0; i < changes.length; i += ROWS) {
    const chunk = changes.slice(i, i + ROWS);
    const params: string[] = [];
    for (const c of chunk) params.push(c.collection, c.id);
    const rows = await all<{ collection: string; id: string }>(
      db,
      `select distinct collection, id from _stowage_outbox where (collection, id) in (values ${placeholders(chunk.length, 2)})`,
      params,
    );
    for (const r of rows) keys.add(`${r.collection}\u0000${r.id}`);
  }
  return keys;
}

/**
 * Guarantee 5: the server purged tombstones past our cursor (or its data was replaced). Drops
 * synced documents with no pending ops and the cursor, keeping every pending op and the local
 * values they produced; the next pull starts from the beginning and rebases them.
 */
export async function resetSyncedState(db: Executor & Pick<Store["db"], "transaction">): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await resetIn(trx);
    await run(trx, "delete from _stowage_pull_stage");
  });
}

/** resetSyncedState inside the caller's transaction (a staged pull after a reset applies both at once). */
export async function resetIn(trx: Executor): Promise<void> {
  await run(trx, "delete from _stowage_docs where (collection, id) not in (select collection, id from _stowage_outbox)");
  await run(trx, "update _stowage_docs set version = null");
  await run(trx, "delete from _stowage_meta where key = ?", [CURSOR_KEY]);
  // Our settled writes were dropped with the rest of the synced state (own-top.ts).
  await run(trx, "delete from _stowage_meta where key = 'own_top'");
}
