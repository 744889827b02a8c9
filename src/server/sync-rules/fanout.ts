/**
 * Live events through a view: each stream holds its view, and a commit wakes it only when one
 * of the commit's documents is in the view before or after (leaves included). When the commit's
 * rows are known (this process's writes, small enough for an event: events/changes.ts) the
 * event carries exactly the view's part of them, as a pull through the view would send them
 * (pull-view.ts); otherwise the stream gets a plain poke and its reader pulls its view.
 */
import type { JsonObject } from "../../json.ts";
import { formatCursor } from "../../protocol/cursor.ts";
import type { DocState } from "../write-op.ts";
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
    const rows = [...c.rows].sort((a, b) => a.state.seq - b.state.seq);
    const parts: string[] = [];
    for (const { collection, id, state, before } of rows) {
      if (!view.covers(collection)) continue;
      const head = `{"collection":${JSON.stringify(collection)},"id":${JSON.stringify(id)},"version":${state.seq}`;
      if (view.has(collection, valueOf(state))) {
        parts.push(`${head},"value":${c.dialect.eventJson(state.body!)},"deleted":false}`);
        continue;
      }
      const was = view.bound ? view.has(collection, valueOf(before)) : state.deleted;
      if (was) parts.push(`${head},"value":null,"deleted":true${state.deleted ? "" : ',"left":true'}}`);
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
    if (json.length > EVENT_MAX_BYTES) return undefined;
    return { prev, seq: c.seq, rows: c.rows, dialect: c.dialect, json, cursor: cursorOf(c.seq) };
  };
}
