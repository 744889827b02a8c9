/**
 * Live events through a view: each stream holds its view, and a commit wakes it only when one
 * of the commit's documents is in the view before or after (leaves included). When the commit's
 * rows are known (this process's writes, small enough for an event: events/changes.ts) the
 * event carries exactly the view's part of them, as a pull through the view would send them
 * (pull-view.ts); a commit too large for an event still wakes only the streams it touches, with
 * a plain poke. A commit seen without its rows (another process's) pokes every stream.
 */
import type { JsonObject } from "../../json.ts";
import { formatCursor } from "../../protocol/cursor.ts";
import type { DocState } from "../write-op.ts";
import type { WrittenDoc } from "../apply.ts";
import { EVENT_MAX_BYTES, type CommitChanges } from "../events/changes.ts";
import type { View } from "./view.ts";

/**
 * A stream's filter: the event to send (`undefined`: a plain poke), or null: this commit is not
 * the stream's business. `sent` is the highest seq the stream has carried (its head at first).
 */
export type StreamFilter = (seq: number, changes: CommitChanges | undefined, sent: number) => CommitChanges | undefined | null;

function valueOf(state: DocState | undefined): JsonObject | null {
  if (!state || state.deleted || state.body === null) return null;
  return (state.value ??= JSON.parse(state.body) as JsonObject);
}

/**
 * Each stream's filter keeps two numbers: `anchor`, where a reader that followed the stream
 * stands (its last event's seq, or its head), and `known`, up to where every commit since the
 * anchor was seen with its rows and held nothing of the view. An event then says `prev: anchor`:
 * a one-page view pull from the anchor answers exactly its changes, so a reader whose cursor is
 * there applies it though commits outside its view came between. A commit seen without its rows
 * (another process, a large one) breaks that chain: a plain poke, and the chain restarts there.
 */
/** A commit's rows in seq order, sorted once for all its streams. */
const sorted = new WeakMap<CommitChanges["rows"], WrittenDoc[]>();
function sortedRows(c: CommitChanges): WrittenDoc[] {
  let rows = sorted.get(c.rows);
  if (!rows) sorted.set(c.rows, (rows = [...c.rows].sort((a, b) => a.state.seq - b.state.seq)));
  return rows;
}

/** A row's body as events carry it (PostgreSQL's key order), made once for all streams. */
const bodies = new WeakMap<DocState, string>();
function eventBody(c: CommitChanges, state: DocState): string {
  let text = bodies.get(state);
  if (text === undefined) bodies.set(state, (text = c.dialect.eventJson(state.body!)));
  return text;
}

export function streamFilter(view: View): StreamFilter {
  const cursorOf = (seq: number) => formatCursor(seq, undefined, { fingerprint: view.fingerprint });
  let anchor: number | undefined;
  let known: number | undefined;
  return (seq, c, sent) => {
    if (anchor === undefined || known === undefined) anchor = known = sent;
    if (!c) {
      anchor = known = seq;
      return undefined;
    }
    const chained = c.prev === known;
    const parts: string[] = [];
    // A commit too large for an event only needs to know whether it touches the view.
    const whole = c.json !== null;
    for (const row of sortedRows(c)) {
      const { collection, id, state, before } = row;
      if (!view.covers(collection)) continue;
      const now = view.has(collection, valueOf(state));
      if (!now && !(view.bound ? view.has(collection, valueOf(before)) : state.deleted)) continue;
      if (!whole) {
        parts.push("");
        break;
      }
      const head = `{"collection":${JSON.stringify(collection)},"id":${JSON.stringify(id)},"version":${state.seq}`;
      parts.push(now ? `${head},"value":${eventBody(c, state)},"deleted":false}` : `${head},"value":null,"deleted":true${state.deleted ? "" : ',"left":true'}}`);
    }
    if (parts.length === 0) {
      if (chained) {
        known = c.seq;
        return null;
      }
      // Unseen commits lie between: this reader must pull to know.
      anchor = known = c.seq;
      return undefined;
    }
    const prev = chained ? anchor : c.prev;
    anchor = known = c.seq;
    const json = `[${parts.join(",")}]`;
    // Too large for an event (the whole commit or the view's part): a plain poke, the reader pulls.
    if (c.json === null || json.length > EVENT_MAX_BYTES) return undefined;
    return { prev, seq: c.seq, rows: c.rows, dialect: c.dialect, json, cursor: cursorOf(c.seq) };
  };
}
