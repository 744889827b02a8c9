import { StowageError, describeValue } from "../../errors.ts";
import type { OpResult } from "../../protocol/wire.ts";
import { changedIdsOf, emitChanges, noteChanged, type ChangedIds } from "../../store/changes.ts";
import type { Store } from "../../store/store.ts";
import { plainCursorSeq } from "../../protocol/cursor.ts";
import { applyParsed, applyParsedIn, CURSOR_KEY, parsePage, type ParsedPage } from "./pull.ts";
import type { Executor } from "../../store/sql.ts";
import { refreshDocs } from "./refresh.ts";
import { applyStage, clearStage, stagePage, stageRows } from "../../store/pull-stage.ts";
import { linedPage, type LinedPage } from "./page-lines.ts";
import { isForbiddenWhole, isRefusedWhole, prepareBatch, PUSH_BATCH_OPS, rejectAll, sendBatch, settleBatch, type PreparedBatch, type PushOutcome } from "./push.ts";
import type { CycleContext, SyncTransport } from "../transport.ts";
import type { V1Context } from "./context.ts";
import type { HttpClient } from "./http.ts";
import type { SyncResult } from "../types.ts";

/** A staged pull names at most this many changed ids in `change` events (README "Live"). */
const CHANGE_IDS = 50_000;

/** The first page of a pull from the start holds at most this many changes (pullPages). */
const FIRST_PAGE = 250;

/** Pull pages larger than this make the next page smaller. */
const PAGE_BYTES = 8 * 1024 * 1024;

/**
 * The pull page a push asks for (pullWithPush) holds at most this many changes: a small sync
 * gets all it needs, and a client far behind wastes at most this much before its paged pull.
 */
const PULL_WITH_PUSH_LIMIT = 100;

/**
 * Drains the outbox. Pipelined: while a batch's request is in flight the next batch is read
 * and serialized, and it is sent as soon as the answer arrives, before the previous answer
 * is settled locally; this hides the local work behind the server's. Safe because batches
 * are sent strictly in op id order, one request at a time, reading batch N+1 only reads
 * entries after N's last op id, and settling batch N touches only entries ≤ N's last op id.
 */
export async function pushAll(ctx: V1Context, result: SyncResult): Promise<void> {
  let isolate = false;
  let batch = await prepareBatch(ctx.store, 0, isolate);
  if (!batch) return;
  ctx.setState("pushing");
  const alsoPull = batch.rows.length < PUSH_BATCH_OPS ? await pullWithPush(ctx) : undefined;
  let inflight = await send(ctx, batch, batch, alsoPull);
  let prefetch = readAhead(ctx, batch);
  while (batch) {
    const outcome: PushOutcome = await inflight.outcome;
    let results: OpResult[];
    if (outcome.ok) {
      results = outcome.results;
      ctx.markOnline(null);
    } else {
      await prefetch.catch(() => null);
      ctx.markOnline(outcome.error);
      if (isForbiddenWhole(outcome.error)) {
        ctx.trace("push:forbidden");
        results = rejectAll(batch, outcome.error);
      } else if (!isRefusedWhole(outcome.error)) throw outcome.error;
      else if (!isolate) {
        // A whole-batch 400: find the bad group by pushing groups one at a time.
        ctx.trace("push:isolate");
        isolate = true;
        batch = (await prepareBatch(ctx.store, 0, true))!;
        inflight = await send(ctx, batch);
        prefetch = Promise.resolve(null);
        continue;
      } else results = rejectAll(batch, outcome.error); // a lone group refused whole: record, drop
    }
    let next: PreparedBatch | null = null;
    if (!isolate) {
      next = await prefetch;
      if (next) inflight = await send(ctx, next, batch);
    }
    // The page read after this push committed, applied in the settle's transaction after the
    // answers (our own writes then come back at the versions just recorded); only when nothing
    // was sent after it, so the cycle still ends with a pull taken after its last push.
    const page = outcome.ok && outcome.page && !next && !outcome.page.reset && !outcome.page.more ? outcome.page : null;
    let pageApplied = false;
    // With subscriptions, only if they are still those the page was asked for (partial/transport.ts).
    const applyPage = page
      ? async (trx: Executor) => void (pageApplied = (await (ctx.partial?.stillCurrent?.(trx) ?? true)) && (await applyParsedIn(trx, ctx.store, page, outcome.ok ? outcome.pulledFrom : undefined)))
      : undefined;
    // With subscriptions, documents whose ops just settled leave in the same transaction when outside the view.
    const prune = ctx.partial?.settled;
    const rows = batch.rows;
    const then = prune ? async (trx: Executor) => { await applyPage?.(trx); await prune(trx, rows); } : applyPage;
    const settled = await settleBatch(ctx.store, batch, results, then, outcome.ok && outcome.asSent === true);
    ctx.trace(`push:${batch.rows.length}`);
    result.pushed += settled.applied + settled.duplicate;
    result.issues.push(...settled.issues);
    for (const issue of settled.issues) ctx.emitIssue(issue);
    if (page && pageApplied) {
      emitChanges(ctx.store.events, changedIdsOf(page.changes));
      pageDone(ctx, page, result);
      ctx.pulledWithPush = true;
    }
    if (isolate) {
      isolate = false;
      next = await prepareBatch(ctx.store, 0, false);
      if (next) inflight = await send(ctx, next);
    }
    batch = next;
    prefetch = batch ? readAhead(ctx, batch) : Promise.resolve(null);
  }
}

/**
 * Starts reading the batch after `batch` while its request is in flight. The promise is
 * observed at once so a failure (e.g. the store closing) never goes unhandled; awaiting it
 * later still throws that failure.
 */
function readAhead(ctx: V1Context, batch: PreparedBatch): Promise<PreparedBatch | null> {
  const read = prepareBatch(ctx.store, batch.lastOpId, false);
  read.catch(() => {});
  return read;
}

/**
 * Renews the lease, then starts the request (not awaiting its answer). `unsettled` is the
 * oldest batch whose answer is not yet recorded locally (the one in flight, or `batch` itself):
 * every op below its first op id has left the outbox, which is what the request reports as
 * settled. (Not `batch`'s own first op: the batch before it may still be unsettled.) The
 * answer's promise is boxed, as fetchPage's is: an async function returning a promise adopts
 * it, so `await send(…)` waited for the answer and nothing overlapped it (the settle of the
 * batch before, the read of the one after): a 50,000-op push spent 12.5 ms per 1,000-op batch
 * where the server needed 6.5.
 */
async function send(ctx: V1Context, batch: PreparedBatch, unsettled: PreparedBatch = batch, pull?: { cursor: string; limit: number; subs?: string }): Promise<{ outcome: Promise<PushOutcome> }> {
  await ctx.renewLease();
  return { outcome: sendBatch(ctx.http, batch, unsettled.rows[0].op_id - 1, pull) };
}

/**
 * What a full cycle's push asks to pull in the same request: the page after the stored cursor
 * (docs/PROTOCOL.md, "Pull with the push"). Not without a cursor (a first pull is applied as
 * a reset, staged) nor from any other cursor form than `v1.<seq>`: the cycle's own pull does those.
 */
async function pullWithPush(ctx: V1Context): Promise<{ cursor: string; limit: number; subs?: string } | undefined> {
  // With subscriptions the page is the view's (`subs=`); not while they change (partial/transport.ts).
  if (!ctx.pullWithPush || (ctx.partial && !ctx.partial.subs)) return undefined;
  const cursor = await ctx.store.getMeta(CURSOR_KEY);
  const seq = plainCursorSeq(cursor);
  return cursor && seq !== null && !(ctx.partial && seq === 0) ? { cursor, limit: Math.min(ctx.pullLimit, PULL_WITH_PUSH_LIMIT), subs: ctx.partial?.subs } : undefined;
}

/** Reports a whole-pull page applied (`more: false`, with its cursor). */
function pageDone(ctx: V1Context, page: Extract<ParsedPage, { reset: false }>, result: SyncResult): void {
  const n = page.changes.length;
  ctx.trace(`pull:${n}`);
  result.pulled += n;
  if (n > 0) ctx.store.events.emit("pulled", { collections: page.collections, changes: n });
}

/**
 * Pulls everything after the stored cursor (guarantee 9: no reader ever holds part of a
 * group). A pull that is one page (`more: false` at once) is applied as it comes, with its
 * cursor: that page is the server's state at one instant. A longer pull is staged on disk
 * page by page and applied whole with the final cursor (store/pull-stage.ts says why that is sound);
 * `pulled` fires only after that apply. Pipelined: the next page is requested before the
 * current one is written locally, so server, network and local writes overlap, with at most
 * two pages in memory. Then documents waiting for their server value are refreshed.
 */
export async function pullAll(ctx: V1Context, result: SyncResult): Promise<void> {
  if (!ctx.pulledWithPush) await pullPages(ctx, result);
  await refreshDocs(ctx, result);
}

async function pullPages(ctx: V1Context, result: SyncResult): Promise<void> {
  ctx.setState("pulling");
  let limit = ctx.pullLimit;
  /** The server asked for a full resync: stage it from the start, apply it with the reset. */
  let reset = false;
  // A backfill already staged (partial/pull.ts): this catch-up pull is staged onto it.
  let staging = ctx.partial?.prestaged === true;
  let tombstones = staging;
  let changes = 0;
  const collections = new Set<string>();
  /** Ids for the `change` events after a staged apply; past CHANGE_IDS only `pulled` fires (memory stays flat). */
  let changed: ChangedIds | null = new Map();
  const start = (await ctx.store.getMeta(CURSOR_KEY)) ?? null;
  // No cursor: the pull reads the server's whole state, and is applied as a reset is (synced
  // documents it does not list are dropped; pending ops stay). The store may already hold this
  // client's own pushed writes, and a document deleted since, its tombstone purged, is simply
  // not listed (chaos found such a write kept for good).
  // Through a view (partial sync) a `v1.0` cursor is a start too: the server sends no leaves
  // from seq 0 (its reader "holds nothing yet"), but this store may hold its own settled writes
  // (found by the partial fault tester, seed 3).
  const fromStart = start === null || (ctx.partial?.subs !== undefined && plainCursorSeq(start) === 0);
  // A pull from the start asks for a smaller first page: the server answers it sooner, and
  // reads the next (nextLimit doubles the size) while this one is written here. Measured on a
  // 10,000-document initial pull: the first page landed after 7 ms at 1,000, 3-4 ms at 250.
  if (fromStart) limit = Math.min(limit, FIRST_PAGE);
  let inflight = await fetchPage(ctx, start, limit);
  for (;;) {
    const text = await answer(ctx, inflight);
    // One request ahead: the server reads page k+1 while page k is parsed and written here.
    // The cursor is read off the page's tail (the server writes it last) so the request
    // goes out before the parse; checked against the parsed page below.
    const tail = TAIL.exec(text.slice(-80));
    let ahead: string | null = null;
    if (tail && tail[2] === "true") {
      limit = nextLimit(ctx, limit, text.length);
      inflight = await fetchPage(ctx, (ahead = tail[1]), limit);
    }
    // A page that will be staged is read by lines when its layout allows (page-lines.ts):
    // its values are staged as the server sent them, never parsed here.
    const lined = staging || reset || fromStart || (tail !== null && tail[2] === "true") ? linedPage(text) : null;
    const page: ParsedPage | (LinedPage & { reset: false }) = lined ? { ...lined, reset: false } : parsePage(text);
    if (page.reset) {
      if (reset) throw new StowageError("protocol", "pull: the server asked for a reset twice in one cycle");
      ctx.trace("reset");
      result.reset = reset = true;
      staging = false;
      tombstones = false;
      changes = 0;
      collections.clear();
      changed = new Map();
      inflight = await fetchPage(ctx, null, limit);
      continue;
    }
    if (ahead !== null && (!page.more || page.cursor !== ahead)) {
      throw new StowageError("protocol", `pull: the page's cursor ${describeValue(page.cursor)} is not the one at its end`);
    }
    if (page.more && ahead === null) {
      limit = nextLimit(ctx, limit, text.length);
      inflight = await fetchPage(ctx, page.cursor, limit);
    }
    const n = page.changes.length;
    if (!staging && !page.more && !reset && !fromStart && !("deletes" in page)) {
      await applyParsed(ctx.store, page, undefined, () => pageDone(ctx, page, result));
      return;
    }
    if (!staging) {
      await clearStage(ctx.store);
      staging = true;
    }
    if ("deletes" in page) await stageRows(ctx.store, page.changes);
    else await stagePage(ctx.store, page.changes);
    ctx.trace(`pull:${n}`);
    result.pulled += n;
    changes += n;
    for (const c of page.collections) collections.add(c);
    if (changed && changes > CHANGE_IDS) changed = null;
    if (changed) for (const c of page.changes) noteChanged(changed, c.collection, c.id);
    if ("deletes" in page) tombstones ||= page.deletes > 0;
    else if (!tombstones) for (const c of page.changes) if (c.deleted) tombstones = true;
    if (!page.more) {
      await ctx.renewLease();
      await applyStage(ctx.store, page.cursor, reset || fromStart, tombstones, ctx.partial?.onApply);
      if (changes > 0) ctx.store.events.emit("pulled", { collections: [...collections], changes });
      if (changed) emitChanges(ctx.store.events, changed);
      return;
    }
  }
}

/** The end of a page as the server writes it: `…"cursor":"v1.42","more":true}`. */
const TAIL = /"cursor":"([^"\\]*)","more":(true|false)\}\s*$/;

/**
 * Pages are bounded in documents, not bytes: with large documents, ask for fewer per page so
 * memory stays flat (and grow back once they are small again).
 */
function nextLimit(ctx: V1Context, limit: number, bytes: number): number {
  return bytes > PAGE_BYTES ? Math.max(10, Math.floor(limit / 4)) : Math.min(ctx.pullLimit, limit * 2);
}

type PageOutcome = { ok: true; text: string } | { ok: false; error: unknown };

/**
 * Renews the lease, then starts a page request. The request's promise is boxed: an async
 * function returning a promise would adopt it, and awaiting the lease would then wait for
 * the answer too. It never rejects (it may be left in flight when a local write fails).
 */
async function fetchPage(ctx: V1Context, cursor: string | null, limit: number): Promise<{ outcome: Promise<PageOutcome> }> {
  await ctx.renewLease();
  return {
    outcome: ctx.http.pull(cursor, limit, ctx.store.clientId, ctx.partial?.subs ? { subs: ctx.partial.subs } : undefined).then(
      (text): PageOutcome => ({ ok: true, text }),
      (error): PageOutcome => ({ ok: false, error }),
    ),
  };
}

async function answer(ctx: V1Context, inflight: { outcome: Promise<PageOutcome> }): Promise<string> {
  const outcome = await inflight.outcome;
  ctx.markOnline(outcome.ok ? null : outcome.error);
  if (!outcome.ok) throw outcome.error;
  return outcome.text;
}

/** Protocol v1 against the Stowage server, over `http`. */
export function protocolV1(http: HttpClient): SyncTransport {
  // The same context object goes to a cycle's push and then its pull (pushAll sets
  // pulledWithPush for pullAll to read), so the client is added to it, not to a copy.
  const v1 = (ctx: CycleContext): V1Context => Object.assign(ctx, { http });
  return { push: (ctx, result) => pushAll(v1(ctx), result), pull: (ctx, result) => pullAll(v1(ctx), result) };
}
