/**
 * The changes a live event may carry (docs/PROTOCOL.md, "Events that carry the changes").
 *
 * The instance that commits a write knows every row the commit wrote, in its final state
 * (apply.ts `written`): exactly the rows whose seq lies in (seq before, seq after], which is
 * what a pull from `v1.<prev>` answers in one page right after the commit. Taking them from
 * memory costs no query; reading them back by seq range would cost one indexed query inside
 * the write transaction (after it, a later commit may already have moved a row past the
 * range, and the event would miss it). Pull answers every reader of a tenant the same rows
 * (keys differ only in read/write scope, and a stream needs read), so one event text serves
 * every stream of the tenant.
 */
import type { WrittenDoc } from "../apply.ts";
import type { ServerDialect } from "../sql/dialect.ts";
import type { PullPosition } from "../pull.ts";
import { formatCursor } from "../../protocol/cursor.ts";

/**
 * Most changes an event carries. A commit this small is an interactive write; a larger one
 * is a bulk import, where one pull round trip is small next to the work, and it keeps the
 * client's apply (one local transaction on its event loop) short.
 */
export const EVENT_MAX_CHANGES = 100;

/**
 * Most bytes of change JSON an event carries. Each stream queues up to 8 chunks before it
 * falls back to remembering a seq (sse.ts), so this bounds a slow reader at about 512 KiB,
 * and a browser EventSource or proxy never meets a multi-megabyte line.
 */
export const EVENT_MAX_BYTES = 64 * 1024;

/**
 * A commit's changes for a live event: the seq before and after, and the rows it wrote. The
 * pull page's `changes` text is built on first use (commitJson), so a commit nobody streams
 * with changes, or every commit while no stream is open, costs no serialization, and none of
 * it runs inside the write transaction.
 */
export interface CommitChanges {
  prev: number;
  seq: number;
  rows: readonly WrittenDoc[];
  dialect: ServerDialect;
  /** `[{"collection":…,"id":…,"version":…,"value":…,"deleted":…},…]` ordered by seq, as pullPage writes it; null when over EVENT_MAX_BYTES. */
  json?: string | null;
  /** The encoded event, built once for every stream that sends it (sse.ts). */
  encoded?: Uint8Array;
  /** The event's cursor when not `v1.<seq>` (a view's, with its rules fingerprint: sync-rules/fanout.ts). */
  cursor?: string;
}

/**
 * The commit's changes (cheap: no serialization). One too large to travel in an event has
 * `json: null` (its events are plain pokes, commitPage declines it); its rows still tell a
 * stream's view whether the commit touched it (sync-rules/fanout.ts).
 */
export function commitChanges(prev: number, seq: number, written: readonly WrittenDoc[], dialect: ServerDialect): CommitChanges | undefined {
  if (written.length === 0 || seq <= prev) return undefined;
  if (written.length > EVENT_MAX_CHANGES) return { prev, seq, rows: written, dialect, json: null };
  let bytes = 0;
  for (const d of written) {
    bytes += 80 + d.collection.length + d.id.length + (d.state.body?.length ?? 4);
    if (bytes > EVENT_MAX_BYTES) return { prev, seq, rows: written, dialect, json: null };
  }
  return { prev, seq, rows: written, dialect };
}

/** The `changes` JSON text, built once; null when it passes EVENT_MAX_BYTES (then a plain poke goes). */
export function commitJson(c: CommitChanges): string | null {
  if (c.json !== undefined) return c.json;
  const rows = [...c.rows].sort((a, b) => a.state.seq - b.state.seq);
  const parts: string[] = [];
  for (const { collection, id, state } of rows) {
    // The same text pullPage writes for a row (bodies are stored JSON text; PostgreSQL gives
    // jsonb's key order back, which the written text does not have yet).
    const value = state.deleted || state.body === null ? "null" : c.dialect.eventJson(state.body);
    parts.push(`{"collection":${JSON.stringify(collection)},"id":${JSON.stringify(id)},"version":${state.seq},"value":${value},"deleted":${state.deleted}}`);
  }
  const json = `[${parts.join(",")}]`;
  return (c.json = json.length > EVENT_MAX_BYTES ? null : json);
}

/**
 * The pull page after `after`, as a read right after this commit answers it, from memory: for
 * a reader that stood exactly where the commit began (`v1.<prev>`, the push's own client when
 * it was caught up), the rows after its cursor are the commit's rows, since the tenant's lock
 * kept every other writer out of (prev, seq]. A commit made later (by another instance) is
 * not in it, as it would not be in a read made at that instant; the cursor `v1.<seq>` takes
 * it up next time. So a small sync's pull costs no query (on PostgreSQL, two round trips and
 * a plan per push). Undefined where that does not hold: another cursor, a page smaller than
 * the commit, a commit too large for an event. `info` as pullPage fills it.
 */
export function commitPage(c: CommitChanges, after: PullPosition, limit: number, info?: { changes: number; cursor: number }): string | undefined {
  if (after.seq !== c.prev || after.horizon !== undefined || c.rows.length > limit) return undefined;
  const json = commitJson(c);
  if (json === null) return undefined;
  if (info) {
    info.changes = c.rows.length;
    info.cursor = c.seq;
  }
  return `{"changes":${json},"cursor":"${formatCursor(c.seq)}","more":false}`;
}
