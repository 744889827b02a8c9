import { StowageError, describeValue } from "../../errors.ts";
import type { RestClient } from "./client.ts";
import { sinceFor } from "./cursor.ts";
import { compareTimes, viewItem, type ItemView } from "./item.ts";
import { resolvePointer } from "./pointer.ts";
import { fillPath } from "./template.ts";

/**
 * Reading an API's feed, whatever its kind: a sync endpoint (`?since=` → items + server
 * time), a list filtered by `updated_at` (PostgREST's `updated_at=gt.…`, PocketBase's
 * `filter=`), or a plain full listing; one page or many (page/offset numbers, a next link,
 * an opaque next cursor). All pages of one pull are read before anything is applied, so a
 * pull is applied whole or not at all.
 */
export interface FeedRead {
  items: ItemView[];
  /** The cursor to store: the feed's own (first page's, the earliest), else the highest updatedAt seen, else the old one. */
  next: string | null;
}

/** At most this many pages per pull: a next link that never ends is an API bug, not a feed. */
const MAX_PAGES = 10_000;

/** Reads the feed of one resource from `cursor` (null: everything the feed lists). */
export async function readFeed(client: RestClient, resource: string, cursor: string | null): Promise<FeedRead> {
  const c = client.config;
  const f = c.feed;
  const base = fillPath(f.path, { resource });
  let query = new URLSearchParams(f.params);
  const sinceQuery = (bound: string | null) => {
    const q = new URLSearchParams(f.params);
    if (bound !== null) {
      const since = sinceFor(bound, c.overlapMs);
      for (const [k, v] of Object.entries(f.since)) q.set(k, v.replaceAll("{since}", since));
    }
    return q;
  };
  query = sinceQuery(cursor);
  // Page numbers over a list that changes while it is read skip items (an item updated on an
  // earlier page moves to the end and the rest shift back), and a cursor taken from the
  // highest updatedAt would then miss them for good. So a paged list filtered by updatedAt
  // is read keyset-style: each next page asks `since` the highest updatedAt read so far, from
  // the first page; page numbers only step through a full page that brought nothing new.
  const keyset = f.page !== null && f.cursor === null && Object.keys(f.since).length > 0;
  let bound = cursor;
  const collected = new Set<string>();
  const withQuery = (q: URLSearchParams) => (q.size ? `${base}${base.includes("?") ? "&" : "?"}${q}` : base);
  let page = f.page?.start ?? 0;
  const pageQuery = () => {
    const q = new URLSearchParams(query);
    if (f.page) {
      q.set(f.page.param, String(page));
      if (f.page.sizeParam) q.set(f.page.sizeParam, String(f.page.size));
    }
    return q;
  };
  let url = withQuery(pageQuery());
  const items: ItemView[] = [];
  let feedCursor: string | null = null;
  for (let n = 0; ; n++) {
    if (n >= MAX_PAGES) throw new StowageError("protocol", `GET ${base}: more than ${MAX_PAGES} pages in one pull; check feed.nextLink / feed.nextCursor / feed.page`);
    const where = `GET ${url.split("?")[0]}`;
    const body = (await client.request("GET", url)).body;
    const list = resolvePointer(body, f.items);
    if (!Array.isArray(list)) {
      throw new StowageError("protocol", `${where}: no item list at feed.items ${describeValue(f.items)} (fix feed.items in the rest config); the answer was ${JSON.stringify(body)?.slice(0, 160)}`);
    }
    let fresh = 0;
    for (const raw of list) {
      const item = viewItem(client.config, raw, where);
      const key = `${item.serverId}#${item.tag}`;
      if (collected.has(key)) continue; // read again through an overlapping page
      collected.add(key);
      items.push(item);
      fresh++;
    }
    if (n === 0 && f.cursor !== null) {
      const v = resolvePointer(body, f.cursor);
      if (typeof v !== "string" && typeof v !== "number") {
        throw new StowageError("protocol", `${where}: no cursor at feed.cursor ${describeValue(f.cursor)} (fix feed.cursor, or set it to null to use the highest item.updatedAt); the answer was ${JSON.stringify(body)?.slice(0, 160)}`);
      }
      feedCursor = String(v);
    }
    if (f.nextLink !== null) {
      const link = resolvePointer(body, f.nextLink);
      if (link === undefined || link === null || link === "") break;
      if (typeof link !== "string") throw new StowageError("protocol", `${where}: feed.nextLink ${describeValue(f.nextLink)} is not a URL: ${describeValue(link)}`);
      url = sameApi(client, link, where);
    } else if (f.nextCursor !== null) {
      const token = resolvePointer(body, f.nextCursor);
      if (token === undefined || token === null || token === "" || list.length === 0) break;
      const q = new URLSearchParams(query);
      q.set(f.nextParam, String(token));
      url = withQuery(q);
    } else if (f.page) {
      if (list.length < f.page.size) break;
      const top = highest(items);
      if (keyset && fresh > 0 && top !== null && (bound === null || compareTimes(top, bound) > 0)) {
        bound = top;
        query = sinceQuery(bound);
        page = f.page.start;
      } else page += f.page.offset ? list.length : 1;
      url = withQuery(pageQuery());
    } else break;
  }
  return { items, next: feedCursor ?? highest(items) ?? cursor };
}

/** The highest updatedAt among the items, as text; null when none has one. */
function highest(items: ItemView[]): string | null {
  let best: unknown;
  for (const i of items) {
    if (typeof i.updatedAt !== "string" && typeof i.updatedAt !== "number") continue;
    if (best === undefined || compareTimes(i.updatedAt, best) > 0) best = i.updatedAt;
  }
  return best === undefined ? null : String(best);
}

/** A next link is followed only on the API's own origin (the key must not go elsewhere). */
function sameApi(client: RestClient, link: string, where: string): string {
  const base = new URL(client.config.baseUrl);
  let target: URL;
  try {
    target = new URL(link, client.config.baseUrl + "/");
  } catch {
    throw new StowageError("protocol", `${where}: feed.nextLink is not a URL: ${describeValue(link)}`);
  }
  if (target.origin !== base.origin) throw new StowageError("protocol", `${where}: the next link ${describeValue(link)} leaves the API's origin ${base.origin}; not followed`);
  return target.href;
}
