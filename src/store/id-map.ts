import { all, first, run, type Executor } from "./sql.ts";

/**
 * (collection, local id) → server id, in `_stowage_rest_ids`. Local ids stay client-generated;
 * the server's id is learned from a create's answer or from a pull. A row whose server_id is
 * null records a create that was sent but whose answer never arrived: the item may exist on
 * the server, so a later delete cannot simply be cancelled.
 */
export interface IdRow {
  local_id: string;
  server_id: string | null;
  seen: string | null;
}

export function byLocal(db: Executor, collection: string, localId: string): Promise<IdRow | undefined> {
  return first<IdRow>(db, "select local_id, server_id, seen from _stowage_rest_ids where collection = ? and local_id = ?", [collection, localId]);
}

export function byServer(db: Executor, collection: string, serverId: string): Promise<IdRow | undefined> {
  return first<IdRow>(db, "select local_id, server_id, seen from _stowage_rest_ids where collection = ? and server_id = ?", [collection, serverId]);
}

/**
 * `seen` of a document deleted through this client: its server id stays known, so a duplicate
 * of it that turns up later (a create retried after a lost answer) is deleted too, not pulled
 * back in as the live document. (Seen tags always contain "#".)
 */
export const DELETED = "deleted";

/** Notes that a create is about to be sent (kept if the answer is lost); a deleted document's row starts over. */
export async function markCreateSent(db: Executor, collection: string, localId: string): Promise<void> {
  await run(
    db,
    `insert into _stowage_rest_ids (collection, local_id, server_id, seen) values (?, ?, null, '${OWN}')
     on conflict (collection, local_id) do update set server_id = null, seen = '${OWN}' where _stowage_rest_ids.seen = '${DELETED}'`,
    [collection, localId],
  );
}

/**
 * `seen` of a create the API answered (2xx) without a server id where create.id points: the
 * item exists, so the create is never sent again (that would only make duplicates); a pull
 * that finds the item by the local id it carries maps it, and the op goes on as an update.
 */
export const NO_ID = "no-id";

export async function markNoId(db: Executor, collection: string, localId: string): Promise<void> {
  await run(db, `update _stowage_rest_ids set seen = '${NO_ID}' where collection = ? and local_id = ? and server_id is null`, [collection, localId]);
}

/** How many creates wait for a pull to find their server id (see NO_ID). */
export async function countNoId(db: Executor, collection?: string): Promise<number> {
  const where = collection === undefined ? "" : " and collection = ?";
  return (await first<{ n: number }>(db, `select count(*) as n from _stowage_rest_ids where seen = '${NO_ID}' and server_id is null${where}`, collection === undefined ? [] : [collection]))?.n ?? 0;
}

/** Marks a document deleted on the API by this client (see DELETED). */
export async function markDeleted(db: Executor, collection: string, localId: string): Promise<void> {
  await run(db, `update _stowage_rest_ids set seen = '${DELETED}' where collection = ? and local_id = ?`, [collection, localId]);
}

/**
 * `seen` of a document this client created starts with this mark (kept through remaps and
 * seen tags): only its creator may have pushed edits to a duplicate, so only its creator sends
 * its value to the item duplicate repair keeps (pull.ts).
 */
const OWN = "own:";

export function isOwn(seen: string | null): boolean {
  return seen !== null && seen.startsWith(OWN);
}

/** The seen tag without the creator mark. */
export function seenTagOf(seen: string | null): string | null {
  return seen !== null && seen.startsWith(OWN) ? seen.slice(OWN.length) || null : seen;
}

/** Records the server id of a local document (the server id moves if another row held it). */
export async function setServerId(db: Executor, collection: string, localId: string, serverId: string, seen: string | null = null): Promise<void> {
  const old = await byLocal(db, collection, localId);
  await run(db, "delete from _stowage_rest_ids where collection = ? and server_id = ? and local_id <> ?", [collection, serverId, localId]);
  const tag = seen ?? (old && old.server_id === serverId ? seenTagOf(old.seen) : null);
  const mark = old && isOwn(old.seen) ? OWN + (tag ?? "") : tag;
  await run(
    db,
    `insert into _stowage_rest_ids (collection, local_id, server_id, seen) values (?, ?, ?, ?)
     on conflict (collection, local_id) do update set server_id = excluded.server_id, seen = excluded.seen`,
    [collection, localId, serverId, mark],
  );
}

export async function setSeen(db: Executor, collection: string, localId: string, seen: string): Promise<void> {
  await run(db, `update _stowage_rest_ids set seen = case when seen like '${OWN}%' then '${OWN}' || ? else ? end where collection = ? and local_id = ?`, [seen, seen, collection, localId]);
}

export async function forget(db: Executor, collection: string, localId: string): Promise<void> {
  await run(db, "delete from _stowage_rest_ids where collection = ? and local_id = ?", [collection, localId]);
}

/** Every server id a collection's documents map to (for comparing with a full listing). */
export async function mappedServerIds(db: Executor, collection: string): Promise<string[]> {
  const rows = await all<{ server_id: string }>(db, `select server_id from _stowage_rest_ids where collection = ? and server_id is not null and coalesce(seen, '') <> '${DELETED}'`, [collection]);
  return rows.map((r) => r.server_id);
}
