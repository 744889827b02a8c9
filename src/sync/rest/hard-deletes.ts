import type { Store } from "../../store/store.ts";
import type { CycleContext } from "../transport.ts";
import type { RestClient } from "./client.ts";
import type { ResolvedRestConfig } from "./config.ts";
import { readFeed } from "./feed.ts";
import { getOne } from "./get-one.ts";
import { mappedServerIds } from "../../store/id-map.ts";

/**
 * Deletions on an API that deletes for good leave nothing in a feed. So, every
 * `fullListEvery` pulls of a collection and whenever it has no cursor (first pull, reset),
 * the whole listing (the feed without `since`) is compared with the id map. A mapped item
 * missing from it is read back one by one before it counts as deleted: a listing read page
 * by page while others write can skip an item, a 404 cannot lie that way.
 */

const COUNT_KEY = (collection: string) => `rest_pulls:${collection}`;

/** Counts this pull and says whether a full listing is due. */
export async function fullListDue(store: Store, c: ResolvedRestConfig, collection: string, cursor: string | null): Promise<boolean> {
  if (c.fullListEvery <= 0) return false;
  const n = Number((await store.getMeta(COUNT_KEY(collection))) ?? "0") + 1;
  await store.setMeta(COUNT_KEY(collection), String(n));
  return cursor === null || n % c.fullListEvery === 0;
}

/** Server ids of mapped documents that the API no longer has (confirmed by a 404 or a tombstone). */
export async function findHardDeletes(ctx: CycleContext, client: RestClient, collection: string, resource: string): Promise<string[]> {
  const listing = await readFeed(client, resource, null);
  const listed = new Set(listing.items.filter((i) => !i.dead).map((i) => i.serverId));
  const gone: string[] = [];
  for (const serverId of await mappedServerIds(ctx.store.db, collection)) {
    if (listed.has(serverId)) continue;
    await ctx.renewLease();
    if ((await getOne(client, resource, serverId)) === null) gone.push(serverId);
  }
  ctx.trace(`full-list:${listing.items.length}:${gone.length}`);
  return gone;
}
