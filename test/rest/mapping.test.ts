import { afterAll, expect, test } from "bun:test";
import { RestClient } from "../../src/sync/rest/client.ts";
import { resolveRestConfig, type RestConfig } from "../../src/sync/rest/config.ts";
import { readFeed } from "../../src/sync/rest/feed.ts";
import { resolvePointer } from "../../src/sync/rest/pointer.ts";
import { fillBody, fillPath } from "../../src/sync/rest/template.ts";

/** The mapping's parts on their own: JSON Pointers, templates, and the feed's paging kinds. */

test("JSON Pointer (RFC 6901): nested keys, array indexes, ~0 and ~1, missing steps", () => {
  const doc = { data: { items: [{ id: 7 }], "a/b": 1, "m~n": 2, nil: null } };
  expect(resolvePointer(doc, "")).toBe(doc);
  expect(resolvePointer(doc, "/data/items/0/id")).toBe(7);
  expect(resolvePointer(doc, "/data/a~1b")).toBe(1);
  expect(resolvePointer(doc, "/data/m~0n")).toBe(2);
  expect(resolvePointer(doc, "/data/nil")).toBeNull();
  expect(resolvePointer(doc, "/data/items/01")).toBeUndefined();
  expect(resolvePointer(doc, "/data/missing/x")).toBeUndefined();
  expect(() => resolveRestConfig({ baseUrl: "http://x", item: { doc: "body" } }, "k")).toThrow(/item\.doc must be a JSON Pointer/);
});

test("templates: ids URL-encoded in paths; $doc, $server_id (a number when all digits), {server_id} in text", () => {
  expect(fillPath("{resource}/{server_id}", { resource: "/api/items", serverId: "a b/c" })).toBe("/api/items/a%20b%2Fc");
  expect(fillPath("/x?id=eq.{server_id}&l={id}", { resource: "", serverId: "5", localId: "n1" })).toBe("/x?id=eq.5&l=n1");
  const vars = { resource: "/r", serverId: "42", localId: "n1", doc: { text: "t" }, patch: { n: 1 } };
  expect(fillBody({ id: "$server_id", body: "$doc", ref: "item-{server_id}", who: "$id", p: "$patch", k: [1, "$doc"] }, vars)).toEqual({
    id: 42, body: { text: "t" }, ref: "item-42", who: "n1", p: { n: 1 }, k: [1, { text: "t" }],
  });
  expect(fillBody("$server_id", { ...vars, serverId: "abc123def456ghi" })).toBe("abc123def456ghi");
});

const items = Array.from({ length: 7 }, (_, i) => ({ id: i + 1, text: `t${i + 1}`, updated_at: new Date(1_700_000_000_000 + i * 1000).toISOString(), deleted_at: null }));
const shifting = Array.from({ length: 7 }, (_, i) => ({ id: i + 1, updated: (i + 1) * 1000 }));
let shifted = false;
const server = Bun.serve({
  port: 0,
  hostname: "127.0.0.1",
  fetch(req) {
    const url = new URL(req.url);
    const after = Number(url.searchParams.get("after") ?? "0");
    const page = items.filter((i) => i.id > after).slice(0, 3);
    const last = page.at(-1)?.id;
    if (url.pathname === "/link") return Response.json({ results: page, links: { next: page.length === 3 ? `/link?after=${last}` : null } });
    if (url.pathname === "/token") return Response.json({ data: page, meta: { next: page.length === 3 ? String(last) : "" } });
    if (url.pathname === "/offset") {
      const offset = Number(url.searchParams.get("offset"));
      return Response.json(items.slice(offset, offset + Number(url.searchParams.get("limit"))));
    }
    if (url.pathname === "/shifting") {
      // Sorted by updated; the first answer is followed by an update of item 1 (it moves to the
      // end), so page numbers would skip item 4.
      const after = Number(url.searchParams.get("updated_after") ?? "-1");
      const page = Number(url.searchParams.get("page"));
      const sorted = shifting.filter((i) => i.updated > after).sort((a, b) => a.updated - b.updated);
      const out = structuredClone(sorted.slice((page - 1) * 3, page * 3));
      if (!shifted) {
        shifted = true;
        shifting[0].updated = 9000;
      }
      return Response.json({ results: out });
    }
    if (url.pathname === "/elsewhere") return Response.json({ results: [], links: { next: "http://example.com/steal" } });
    return new Response("no", { status: 404 });
  },
});
afterAll(() => server.stop(true));

async function feed(config: Partial<RestConfig>, cursor: string | null = null) {
  const c = resolveRestConfig({ baseUrl: `http://127.0.0.1:${server.port}`, resources: { items: "/" }, ...config }, "k");
  return readFeed(new RestClient(c), "", cursor);
}

test("paged feeds: a next link, an opaque next cursor, offsets; the cursor from the highest updated_at", async () => {
  const link = await feed({ feed: { path: "/link", items: "/results", cursor: null, nextLink: "/links/next" } });
  expect(link.items.map((i) => i.serverId)).toEqual(["1", "2", "3", "4", "5", "6", "7"]);
  expect(link.next).toBe(items[6].updated_at);
  const token = await feed({ feed: { path: "/token", items: "/data", cursor: null, nextCursor: "/meta/next", nextParam: "after" } });
  expect(token.items.map((i) => i.serverId)).toEqual(["1", "2", "3", "4", "5", "6", "7"]);
  const offset = await feed({ feed: { path: "/offset", items: "", cursor: null, page: { param: "offset", offset: true, size: 2, sizeParam: "limit" } } });
  expect(offset.items.map((i) => i.serverId)).toEqual(["1", "2", "3", "4", "5", "6", "7"]);
  // No items and no feed cursor: the old cursor stays.
  const empty = await feed({ feed: { path: "/link", items: "/results", cursor: null, nextLink: "/links/next", since: { after: "99" } } }, "2024-01-01T00:00:00.000Z");
  expect(empty.items).toEqual([]);
  expect(empty.next).toBe("2024-01-01T00:00:00.000Z");
});

test("a next link to another origin is not followed (the key would go there)", async () => {
  await expect(feed({ feed: { path: "/elsewhere", items: "/results", cursor: null, nextLink: "/links/next" } })).rejects.toThrow(/leaves the API's origin/);
});

test("a paged list that changes while it is read: pages follow the highest updatedAt (keyset), so no item is skipped", async () => {
  const read = await feed({
    overlapMs: 0,
    feed: { path: "/shifting", items: "/results", cursor: null, since: { updated_after: "{since}" }, page: { param: "page", start: 1, size: 3 } },
    item: { updatedAt: "/updated", tombstone: null },
  });
  // Item 1 twice: as first read and as updated (applied in that order, the later wins).
  expect(read.items.map((i) => `${i.serverId}@${i.updatedAt}`).sort()).toEqual(["1@1000", "1@9000", "2@2000", "3@3000", "4@4000", "5@5000", "6@6000", "7@7000"]);
  expect(read.next).toBe("9000");
});
