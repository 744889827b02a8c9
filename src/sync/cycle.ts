import { StowageError } from "../errors.ts";
import type { OpResult } from "../protocol/wire.ts";
import type { Store } from "../store/store.ts";
import type { HttpClient } from "./http.ts";
import { applyPage, CURSOR_KEY, resetSyncedState } from "./pull.ts";
import { isRefusedWhole, prepareBatch, rejectAll, sendBatch, settleBatch, type PreparedBatch, type PushOutcome, type SyncIssue } from "./push.ts";
import { rebaseDocs } from "./rebase.ts";
import type { SyncResult, SyncState } from "./types.ts";

/** Pull pages larger than this make the next page smaller. */
const PAGE_BYTES = 8 * 1024 * 1024;

/** The steps of one sync cycle (engine.ts schedules them); what they need from the engine. */
export interface CycleContext {
  /** The local store. */
  store: Store;
  /** Protocol v1 client. */
  http: HttpClient;
  /** Largest pull page, in changes. */
  pullLimit: number;
  /** Step trace for tests (`push:500`, `pull:0`, `reset`). */
  trace: (line: string) => void;
  /** Reports the engine state (pushing, pulling). */
  setState: (state: SyncState) => void;
  /** Records reachability after an exchange (null error: it answered). */
  markOnline: (error: unknown) => void;
  /** Renews the sync lease before each request; throws when another process took it. */
  renewLease: () => Promise<void>;
  /** Emits a conflict or rejection to the application. */
  emitIssue: (issue: SyncIssue) => void;
}

/**
 * Drains the outbox. Pipelined: while a batch's request is in flight the next batch is read
 * and serialized, and it is sent as soon as the answer arrives, before the previous answer
 * is settled locally; this hides the local work behind the server's. Safe because batches
 * are sent strictly in op id order, one request at a time, reading batch N+1 only reads
 * entries after N's last op id, and settling batch N touches only entries ≤ N's last op id.
 */
export async function pushAll(ctx: CycleContext, result: SyncResult): Promise<void> {
  let isolate = false;
  let batch = await prepareBatch(ctx.store, 0, isolate);
  if (!batch) return;
  ctx.setState("pushing");
  let inflight = await send(ctx, batch);
  let prefetch = readAhead(ctx, batch);
  while (batch) {
    const outcome: PushOutcome = await inflight;
    let results: OpResult[];
    if (outcome.ok) {
      results = outcome.results;
      ctx.markOnline(null);
    } else {
      await prefetch.catch(() => null);
      ctx.markOnline(outcome.error);
      if (!isRefusedWhole(outcome.error)) throw outcome.error;
      if (!isolate) {
        // A whole-batch 400: find the bad group by pushing groups one at a time.
        ctx.trace("push:isolate");
        isolate = true;
        batch = (await prepareBatch(ctx.store, 0, true))!;
        inflight = await send(ctx, batch);
        prefetch = Promise.resolve(null);
        continue;
      }
      results = rejectAll(batch, outcome.error); // a lone group refused whole: record, drop
    }
    let next: PreparedBatch | null = null;
    if (!isolate) {
      next = await prefetch;
      if (next) inflight = await send(ctx, next);
    }
    const settled = await settleBatch(ctx.store, batch, results);
    ctx.trace(`push:${batch.rows.length}`);
    result.pushed += settled.applied + settled.duplicate;
    result.issues.push(...settled.issues);
    await refreshRejected(ctx, settled.issues);
    for (const issue of settled.issues) ctx.emitIssue(issue);
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
function readAhead(ctx: CycleContext, batch: PreparedBatch): Promise<PreparedBatch | null> {
  const read = prepareBatch(ctx.store, batch.lastOpId, false);
  read.catch(() => {});
  return read;
}

/** Renews the lease, then starts the request (not awaiting its answer). */
async function send(ctx: CycleContext, batch: PreparedBatch): Promise<Promise<PushOutcome>> {
  await ctx.renewLease();
  return sendBatch(ctx.http, batch);
}

/** Pulls pages until the server has no more, each applied with its cursor in one transaction. */
export async function pullAll(ctx: CycleContext, result: SyncResult): Promise<void> {
  ctx.setState("pulling");
  let cursor = (await ctx.store.getMeta(CURSOR_KEY)) ?? null;
  let limit = ctx.pullLimit;
  for (;;) {
    await ctx.renewLease();
    let text: string;
    try {
      text = await ctx.http.pull(cursor, limit);
    } catch (e) {
      ctx.markOnline(e);
      throw e;
    }
    ctx.markOnline(null);
    // Pages are bounded in documents, not bytes: with large documents, ask for fewer per
    // page so memory stays flat (and grow back once they are small again).
    limit = text.length > PAGE_BYTES ? Math.max(10, Math.floor(limit / 4)) : Math.min(ctx.pullLimit, limit * 2);
    const page = await applyPage(ctx.store, text);
    if (page.reset) {
      if (result.reset) throw new StowageError("protocol", "pull: the server asked for a reset twice in one cycle");
      ctx.trace("reset");
      result.reset = true;
      await resetSyncedState(ctx.store.db);
      cursor = null;
      continue;
    }
    ctx.trace(`pull:${page.changes}`);
    result.pulled += page.changes;
    cursor = page.cursor;
    if (page.changes > 0) ctx.store.events.emit("pulled", { collections: page.collections, changes: page.changes });
    if (!page.more) return;
  }
}

/** A rejected op may have left a local value the server never had: take the server's. */
async function refreshRejected(ctx: CycleContext, issues: SyncIssue[]): Promise<void> {
  const seen = new Set<string>();
  for (const issue of issues) {
    const key = `${issue.collection}/${issue.id}`;
    if (issue.kind !== "rejected" || seen.has(key)) continue;
    seen.add(key);
    try {
      const doc = await ctx.http.getDoc(issue.collection, issue.id);
      await ctx.store.db.transaction().execute((trx) =>
        rebaseDocs(trx, [{ collection: issue.collection, id: issue.id, value: doc?.value ?? null, version: doc?.version ?? null }]),
      );
    } catch {
      // Best effort: the next pull of this document corrects it anyway.
    }
  }
}
