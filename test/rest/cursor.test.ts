import { expect, test } from "bun:test";
import { compareServerIds } from "../../src/sync/rest/client.ts";
import { resolveRestConfig } from "../../src/sync/rest/config.ts";
import { seenTag, sinceFor } from "../../src/sync/rest/cursor.ts";

test("the cursor moves back by the overlap, keeping the server's format", () => {
  expect(sinceFor("2026-03-14T10:00:05.000Z", 5000)).toBe("2026-03-14T10:00:00.000Z");
  expect(sinceFor("2026-03-14T10:00:05.123+00:00", 250)).toBe("2026-03-14T10:00:04.873Z");
  expect(sinceFor("1773482405000", 5000)).toBe("1773482400000"); // epoch ms
  expect(sinceFor("1773482405", 5000)).toBe("1773482400"); // epoch s
  expect(sinceFor("opaque-token-7", 5000)).toBe("opaque-token-7"); // not a time: sent as is
  expect(sinceFor("2026-03-14T10:00:05.000Z", 0)).toBe("2026-03-14T10:00:05.000Z");
});

test("seen tags change with the time or the content, not otherwise", () => {
  const a = { id: 1, content: "x", updated_at: "2026-03-14T10:00:00.000Z" };
  expect(seenTag(a, "updated_at")).toBe(seenTag({ ...a }, "updated_at"));
  expect(seenTag(a, "updated_at")).not.toBe(seenTag({ ...a, content: "y" }, "updated_at")); // same millisecond, other value
  expect(seenTag(a, "updated_at")).not.toBe(seenTag({ ...a, updated_at: "2026-03-14T10:00:00.001Z" }, "updated_at"));
});

test("server ids order numerically when they are integers", () => {
  expect(["10", "9", "100", "2"].sort(compareServerIds)).toEqual(["2", "9", "10", "100"]);
  expect(["b", "a"].sort(compareServerIds)).toEqual(["a", "b"]);
});

test("defaults follow the seed's API shape", () => {
  const c = resolveRestConfig({ baseUrl: "http://api.test/" }, "k");
  expect({ ...c, toServer: undefined, fromServer: undefined }).toEqual({
    baseUrl: "http://api.test", apiKey: "k", auth: "key", authHeader: "authorization", authFormat: "Bearer {key}",
    resources: { items: "/api/items" },
    create: { method: "POST", path: "{resource}", body: "$doc", id: "/id" },
    update: { method: "PUT", path: "{resource}/{server_id}", body: "$doc" },
    delete: { method: "DELETE", path: "{resource}/{server_id}", body: null },
    get: { method: "GET", path: "{resource}/{server_id}", body: null, item: "" },
    feed: { path: "{resource}/sync", since: { since: "{since}" }, params: {}, items: "/items", cursor: "/server_time", nextLink: null, nextCursor: null, nextParam: "cursor", page: null },
    item: { id: "/id", doc: "", localId: "/local_id", updatedAt: "/updated_at", tombstone: "/deleted_at" },
    localIdField: "local_id", serverFields: ["created_at", "updated_at"], recreateOnMissing: false, fullListEvery: 0,
    overlapMs: 5000, idempotencyKeys: true, timeoutMs: 10_000, toServer: undefined, fromServer: undefined,
  });
  expect(c.toServer({ id: "a", x: 1 }, "items")).toEqual({ x: 1 });
  expect(c.fromServer({ id: 3, x: 1, local_id: "a", deleted_at: null, created_at: "t", updated_at: "t" }, "items")).toEqual({ x: 1 });
  expect(() => resolveRestConfig({ baseUrl: "http://a", resources: { a: "/x", b: "/x/" } }, null)).toThrow(/two collections share the resource "\/x"/);
});
