import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { ROOT } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { startPocketbaseShape } from "./shapes/pocketbase.ts";

/**
 * Duplicate repair seen from a reader, on an API with text ids (PocketBase), where the item
 * kept (the lowest id) can be the retry rather than the first create. Found by the REST fault
 * tester: a reader that held the first item's content sent it to the kept item, overwriting
 * the creator's newer edit; and a reader that did not must still show the kept item's content
 * at once (not only when the overlap happens to bring it again).
 */
const dir = tempDir("stowage-rest-repair-reader-");
const server = startPocketbaseShape({ idempotency: false });
const handles: Stowage[] = [];
afterAll(async () => {
  for (const h of handles) await h.close();
  await server.close();
  dir.cleanup();
});

async function client(name: string): Promise<Stowage> {
  const config = JSON.parse(readFileSync(join(ROOT, "docs", "examples", "rest", "pocketbase.json"), "utf8"));
  const s = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`${name}.db`) }), rest: { ...config, baseUrl: server.url, overlapMs: 0 }, apiKey: server.key!, env: {}, autoSync: false });
  handles.push(s);
  return s;
}

test("a reader repairing a duplicate takes the kept item's content and never sends its own older copy", async () => {
  const writer = await client("writer");
  const reader = await client("reader");
  // The writer's first create landed but its answer was lost: an item with the highest text id.
  const first = server.direct.create({ v: 1, local_id: "w1" }, "zzzzzzzzzzzzzzz");
  await reader.sync();
  expect(await reader.collection("notes").get("w1")).toEqual({ id: "w1", v: 1 });
  // The retry: a second item (a lower id), which the writer maps to and edits.
  await writer.collection("notes").put({ id: "w1", v: 1 });
  await writer.push();
  await writer.collection("notes").patch("w1", { v: 2 });
  await writer.push();
  const retry = server.live().find((i) => i.serverId !== first)!.serverId;
  expect(retry < first).toBe(true);
  // The reader sees the retry: keeps it (lowest id), deletes the first, shows v2 now.
  await reader.sync();
  expect(server.live()).toEqual([{ serverId: retry, doc: { v: 2, local_id: "w1" } }]);
  expect(await reader.collection("notes").get("w1")).toEqual({ id: "w1", v: 2 });
  expect((await reader.issues()).map((i) => [i.kind, i.serverValue])).toEqual([["repaired", { kept: retry, deleted: first }]]);
  await writer.sync();
  expect(await writer.collection("notes").get("w1")).toEqual({ id: "w1", v: 2 });
  expect(server.live()).toEqual([{ serverId: retry, doc: { v: 2, local_id: "w1" } }]);
}, 60_000);
