/**
 * A pull through a view (rules and/or subscriptions): the same page shape as pull.ts's, with
 * only the view's changes, in seq order. A document's row is sent
 *   - as it is, when the document is in the view now;
 *   - as a leave (`value: null, deleted: true, left: true`) when it is not, but was after the
 *     catch-up's origin: one of its recorded moves (moves.ts) after the origin starts inside
 *     the view;
 *   - as an ordinary tombstone when it was deleted and was in the view after the origin;
 *   - not at all otherwise (a reader never learns of documents it cannot see).
 * The origin is the cursor the catch-up began at, carried in the cursor while `more` is true: a
 * document's move may lie before this page while its current row (rows are read by their latest
 * seq) lies after it, so every page of one catch-up asks about moves since the same origin.
 * A scan from the start has as origin the tenant's seq its first page read: its reader holds
 * nothing older, so only documents it sent and that moved since can leave; its first page sends
 * no leaves or tombstones at all.
 *
 * Where the rows come from: under rules, the view's anchors (anchors.ts), each an index range
 * in seq order, merged, plus the rows of documents with moves after the origin; so a pull
 * costs what the view changed, not what the tenant changed. Without rules (whole-collection
 * subscriptions only), or for a view of more anchors than a page should query (anchors.ts), the
 * tenant's changes are read and filtered, at most SCAN_ROWS a page.
 * Every read is bounded by the tenant's seq read first: every commit at or below it is
 * visible to every later statement, so separate reads cannot straddle a commit, and a caught-up
 * reader's cursor moves to it even when the view had nothing new.
 */
import { sql, type RawBuilder } from "kysely";
import type { JsonObject } from "../../json.ts";
import { formatCursor, type CursorPosition } from "../../protocol/cursor.ts";
import { ReplicaBehind } from "../replica.ts";
import type { ServerStore } from "../store.ts";
import { num } from "../tables.ts";
import type { Anchor } from "./anchors.ts";
import type { View } from "./view.ts";

/** Rows one page reads at most when it filters the tenant's changes (no rules). */
export const SCAN_ROWS = 10_000;

type Row = { collection: string; id: string; seq: number | string; deleted: number; body: string | null };

const key = (collection: string, id: string) => `${collection}\u0000${id}`;

/** Rows in seq order from one read, fetched a batch at a time. */
class RowStream {
  #rows: Row[] = [];
  #at = 0;
  #done = false;
  #after: number;
  readonly #fetch: (after: number, limit: number) => Promise<Row[]>;
  readonly #batch: number;
  /** Every live row it finds is in the view (View.exact). */
  readonly exact: boolean;

  constructor(after: number, batch: number, fetch: (after: number, limit: number) => Promise<Row[]>, exact = false) {
    this.#after = after;
    this.#batch = batch;
    this.#fetch = fetch;
    this.exact = exact;
  }

  /** The next row's seq without taking it, undefined when there is none, or null: call fill() first. */
  peek(): number | undefined | null {
    if (this.#at < this.#rows.length) return num(this.#rows[this.#at].seq);
    return this.#done ? undefined : null;
  }

  /** Reads the next batch (after peek() answered null). */
  async fill(): Promise<void> {
    this.#rows = await this.#fetch(this.#after, this.#batch);
    this.#at = 0;
    if (this.#rows.length < this.#batch) this.#done = true;
    if (this.#rows.length > 0) this.#after = num(this.#rows[this.#rows.length - 1].seq);
  }

  /** peek(), reading a batch when needed. */
  async head(): Promise<number | undefined> {
    let h = this.peek();
    if (h === null) {
      await this.fill();
      h = this.peek();
    }
    return h ?? undefined;
  }

  take(): Row {
    return this.#rows[this.#at++];
  }
}

/** One page of the view's changes after `at`, as JSON text; `info` as pullPage fills it. */
export async function pullViewPage(
  store: ServerStore,
  tenantId: string,
  at: CursorPosition,
  limit: number,
  view: View,
  info?: { changes: number; cursor: number; reset: boolean },
): Promise<string> {
  const reset = () => {
    if (info) info.reset = true;
    return '{"reset":true}';
  };
  // A cursor made under other rules or other claims: the reader's copy may hold what it may no longer see.
  if ((at.seq > 0 || at.horizon !== undefined) && at.fingerprint !== view.fingerprint) return reset();
  const after = at.seq;
  const { seq: top, purged } = await counters(store, tenantId);
  // A scan from the start holds nothing from before its first page: a document it sent can
  // only have moved after that page's read, so its moves count from the seq read then.
  const origin = at.origin ?? (after === 0 && at.horizon === undefined ? top : after);
  const started = after === 0 && at.horizon === undefined ? purged : at.horizon;
  const scanning = started !== undefined && started === purged;
  // A read replica that has not replayed up to the cursor yet: the primary answers (replica.ts).
  if (store.replica && (after > top || (at.horizon !== undefined && purged < at.horizon))) throw new ReplicaBehind();
  // As pullPage: behind the horizon a purged tombstone or move may be missing, unless this is an unbroken scan from the start.
  if ((origin > 0 && origin < purged && !scanning) || after > top || (at.horizon !== undefined && at.horizon !== purged && after < purged)) return reset();

  const leavesToo = after > 0;
  const batch = Math.min(Math.max(limit + 1, 100), 1000);
  const streams: RowStream[] = [];
  const outside = new Set<string>();
  if (view.anchors) {
    for (const a of view.anchors) streams.push(new RowStream(after, batch, (from, n) => anchorRows(store, tenantId, a, from, top, n), view.exact?.(a) ?? false));
  } else {
    streams.push(new RowStream(after, 1000, (from, n) => tenantRows(store, tenantId, from, top, n)));
  }
  if (leavesToo && view.bound && origin < top) {
    const rows = await leftRows(store, tenantId, view, origin, after, top);
    for (const r of rows) outside.add(key(r.collection, r.id));
    streams.push(new RowStream(after, Number.MAX_SAFE_INTEGER, async () => rows));
  }

  const parts: string[] = [];
  let last = after;
  let read = 0;
  let more = false;
  for (;;) {
    let min: number | undefined;
    for (const s of streams) {
      // Awaited only at a batch's end: a row costs no promise.
      const p = s.peek();
      const h = p === null ? await s.head() : p;
      if (h !== undefined && (min === undefined || h < min)) min = h;
    }
    if (min === undefined) break;
    if (parts.length >= limit || (!view.anchors && read >= SCAN_ROWS)) {
      more = true;
      break;
    }
    let row: Row | undefined;
    let known = false;
    for (const s of streams) {
      if (s.peek() !== min) continue;
      row = s.take();
      known ||= s.exact;
    }
    last = min;
    read++;
    const r = row!;
    const deleted = Number(r.deleted) === 1 || r.body === null;
    if (!view.covers(r.collection)) continue;
    if (!deleted && (known || view.has(r.collection, JSON.parse(r.body!) as JsonObject))) {
      parts.push(`{"collection":${JSON.stringify(r.collection)},"id":${JSON.stringify(r.id)},"version":${min},"value":${r.body},"deleted":false}`);
      continue;
    }
    // Without rules a covered collection's documents are all in the view: a tombstone was in it.
    const was = view.bound ? outside.has(key(r.collection, r.id)) : deleted && leavesToo;
    if (was) parts.push(`{"collection":${JSON.stringify(r.collection)},"id":${JSON.stringify(r.id)},"version":${min},"value":null,"deleted":true${deleted ? "" : ',"left":true'}}`);
  }
  // Caught up: every commit up to the tenant's seq read first was considered.
  if (!more) last = Math.max(last, top);
  if (info) {
    info.changes = parts.length;
    info.cursor = last;
  }
  const viewPart = { origin: more ? origin : undefined, fingerprint: view.fingerprint };
  const cursor = !scanning || last >= purged ? formatCursor(last, undefined, viewPart) : more ? formatCursor(last, purged, viewPart) : formatCursor(purged, undefined, viewPart);
  return `{"changes":[${parts.join(",")}],"cursor":"${cursor}","more":${more}}`;
}

const ROW = sql.raw("collection, id, seq, deleted, body");

async function run(store: ServerStore, query: RawBuilder<Row>): Promise<Row[]> {
  return (await query.execute(store.db)).rows;
}

/** One anchor's rows in (from, top], oldest first. */
function anchorRows(store: ServerStore, tenantId: string, a: Anchor, from: number, top: number, limit: number): Promise<Row[]> {
  return run(store, anchorQuery(store, tenantId, a, from, top, limit));
}

/** One anchor's read: an index range in seq order (test/sync-rules/plans.test.ts checks the plans). */
export function anchorQuery(store: ServerStore, tenantId: string, a: Anchor, from: number, top: number, limit: number): RawBuilder<Row> {
  if (a.kind === "field") {
    const field = sql.raw(store.dialect.fieldSql(a.path));
    return sql<Row>`select ${ROW} from stowage_docs where tenant_id = ${tenantId} and collection = ${a.collection} and ${field} = ${store.dialect.fieldParam(a.value)}
        and seq > ${from} and seq <= ${top} order by seq limit ${limit}`;
  }
  if (a.kind === "range") {
    // Bounds compare in the store's own order, which may let other types through: rows are tested exactly after.
    const field = sql.raw(store.dialect.fieldSql(a.path));
    const lo = a.range.lo ? sql` and ${field} ${sql.raw(a.range.lo[0])} ${store.dialect.fieldParam(a.range.lo[1])}` : sql``;
    const hi = a.range.hi ? sql` and ${field} ${sql.raw(a.range.hi[0])} ${store.dialect.fieldParam(a.range.hi[1])}` : sql``;
    return sql<Row>`select ${ROW} from stowage_docs where tenant_id = ${tenantId} and collection = ${a.collection}${lo}${hi}
        and seq > ${from} and seq <= ${top} order by seq limit ${limit}`;
  }
  if (a.kind === "collection") {
    return sql<Row>`select ${ROW} from stowage_docs where tenant_id = ${tenantId} and collection = ${a.collection} and seq > ${from} and seq <= ${top} order by seq limit ${limit}`;
  }
  const exclude = a.exclude.length ? sql` and collection not in (${sql.join(a.exclude)})` : sql``;
  return sql<Row>`select ${ROW} from stowage_docs where tenant_id = ${tenantId} and seq > ${from} and seq <= ${top}${exclude} order by seq limit ${limit}`;
}

/** The tenant's rows in (from, top], oldest first. */
function tenantRows(store: ServerStore, tenantId: string, from: number, top: number, limit: number): Promise<Row[]> {
  return run(store, sql<Row>`select ${ROW} from stowage_docs where tenant_id = ${tenantId} and seq > ${from} and seq <= ${top} order by seq limit ${limit}`);
}

/**
 * The current rows (after `after`) of the documents with a move in (origin, top] whose earlier
 * value is in the view: the candidates for a leave or a tombstone, oldest first.
 */
async function leftRows(store: ServerStore, tenantId: string, view: View, origin: number, after: number, top: number): Promise<Row[]> {
  // One statement: the moves in the range (a range of their key) whose document this catch-up
  // has not read yet (a probe of its primary key each), with that document's row.
  const found = await run(store, leftQuery(tenantId, origin, after, top));
  const out = new Map<number, Row>();
  for (const r of found as (Row & { moved: string })[]) {
    const seq = num(r.seq);
    if (out.has(seq) || !view.covers(r.collection) || !view.has(r.collection, JSON.parse(r.moved) as JsonObject)) continue;
    out.set(seq, { collection: r.collection, id: r.id, seq, deleted: r.deleted, body: r.body });
  }
  return [...out.values()].sort((a, b) => num(a.seq) - num(b.seq));
}

/** leftRows' statement (test/sync-rules/plans.test.ts checks it probes the documents' primary key). */
export function leftQuery(tenantId: string, origin: number, after: number, top: number): RawBuilder<Row & { moved: string }> {
  return sql<Row & { moved: string }>`select d.collection, d.id, d.seq, d.deleted, d.body, m.body as moved
      from stowage_doc_moves m join stowage_docs d on d.tenant_id = m.tenant_id and d.collection = m.collection and d.id = m.id
      where m.tenant_id = ${tenantId} and m.seq > ${origin} and m.seq <= ${top} and d.seq > ${after} and d.seq <= ${top}`;
}

async function counters(store: ServerStore, tenantId: string): Promise<{ seq: number; purged: number }> {
  const row = await store.db.selectFrom("stowage_tenants").select(["seq", "purged_seq"]).where("id", "=", tenantId).executeTakeFirst();
  return { seq: num(row?.seq), purged: num(row?.purged_seq) };
}
