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

/** A stream's filter: the event to send (`undefined`: a plain poke), or null: this commit is not the stream's business. */
export type StreamFilter = (seq: number, changes: CommitChanges | undefined) => CommitChanges | undefined | null;

function valueOf(state: DocState | undefined): JsonObject | null {
  if (!state || state.deleted || state.body === null) return null;
  return (state.value ??= JSON.parse(state.body) as JsonObject);
}

export function streamFilter(view: View): StreamFilter {
  const cursorOf = (seq: number) => formatCursor(seq, undefined, { fingerprint: view.fingerprint });
  return (_seq, c) => {
    if (!c) return undefined;
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
    if (parts.length === 0) return null;
    const json = `[${parts.join(",")}]`;
    if (json.length > EVENT_MAX_BYTES) return undefined;
    return { prev: c.prev, seq: c.seq, rows: c.rows, dialect: c.dialect, json, cursor: cursorOf(c.seq) };
  };
}
