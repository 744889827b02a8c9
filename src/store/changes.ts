import type { Emitter } from "./events.ts";
import type { StoreEvents } from "./types.ts";

/** Document ids changed in one committed transaction, by collection. */
export type ChangedIds = Map<string, Set<string>>;

/** Records that `collection/id` changed in the transaction being built. */
export function noteChanged(changed: ChangedIds, collection: string, id: string): void {
  let ids = changed.get(collection);
  if (!ids) changed.set(collection, (ids = new Set()));
  ids.add(id);
}

/**
 * Emits one `change` event per collection after a commit (never before: a listener that
 * reads must see the committed rows, and a rolled-back transaction changed nothing).
 */
export function emitChanges(events: Emitter<StoreEvents>, changed: ChangedIds): void {
  for (const [collection, ids] of changed) events.emit("change", { collection, ids: [...ids] });
}

/** Groups a pull page's changes for `emitChanges`. */
export function changedIdsOf(changes: readonly { collection: string; id: string }[]): ChangedIds {
  const changed: ChangedIds = new Map();
  for (const c of changes) noteChanged(changed, c.collection, c.id);
  return changed;
}
