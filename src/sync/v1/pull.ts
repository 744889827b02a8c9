import { StowageError, describeValue } from "../../errors.ts";
import type { JsonObject } from "../../json.ts";
import { isCollectionName, isDocId } from "../../names.ts";
import type { Change } from "../../protocol/wire.ts";
import { changedIdsOf, emitChanges } from "../../store/changes.ts";
import type { Executor } from "../../store/sql.ts";
import type { Store } from "../../store/store.ts";
import { cursorSeq } from "../../protocol/cursor.ts";
import { ownWritesAtOrBelow } from "../../store/own-top.ts";
import { rebaseDocs } from "../../store/rebase.ts";
import { pendingKeys, writeChanges } from "../../store/server-docs.ts";
import { CURSOR_KEY } from "../../store/sync-meta.ts";

/** Meta key holding the opaque pull cursor (the store keeps it: store/sync-meta.ts). */
export { CURSOR_KEY };
/** Applying pulled documents is the store's (store/server-docs.ts); re-exported for the live path and tests. */
export { resetSyncedState, writeChanges } from "../../store/server-docs.ts";

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
 * alone: see cycle.ts and store/pull-stage.ts for guarantee 9.
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

