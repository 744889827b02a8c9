import { afterAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ROOT } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { SHAPES, type ShapeServer } from "./shapes/index.ts";

/**
 * Issue 30's user-facing defects, through the CLI: a refused write is never dropped silently
 * (exit 6 with the API's words, the document back to the API's state), `--rest` without a key
 * says why, a malformed config names the key and the form expected, and an API answering HTML
 * or a wrong shape is a clear error with nothing lost and nothing duplicated.
 */
const dir = tempDir("stowage-rest-refusals-");
const servers: ShapeServer[] = [];
let n = 0;
afterAll(async () => {
  for (const s of servers) await s.close();
  dir.cleanup();
});

function envelope(patch: (c: Record<string, any>) => void = () => {}): { server: ShapeServer; config: string; db: string } {
  const server = SHAPES.envelope({ path: dir.file(`api${n++}.db`) });
  servers.push(server);
  const config = { ...JSON.parse(readFileSync(join(ROOT, "docs", "examples", "rest", "envelope.json"), "utf8")), baseUrl: server.url };
  patch(config);
  const file = dir.file(`c${n++}.json`);
  writeFileSync(file, JSON.stringify(config));
  return { server, config: file, db: dir.file(`db${n++}.db`) };
}

test("a refused create: `put` exits 6 with the API's message, the document is not kept locally, `sync` prints the refusal", async () => {
  // The seed's envelope API without the body template: every create is refused with 400.
  const { server, config, db } = envelope((c) => delete c.create.body);
  const put = await cli(["put", "notes", '{"id":"r1","text":"x"}', "--db", db, "--rest", config, "--key", server.key!]);
  expect(put.code).toBe(6);
  expect(put.stderr).toContain("rejected: notes/r1: POST");
  expect(put.stderr).toContain("answered 400: body required");
  expect((await cli(["get", "notes", "r1", "--db", db])).code).toBe(4);
  expect(server.rows()).toEqual([]);
  // Queued while the API was down, refused at the next sync: printed, exit 6, nothing queued after.
  await server.stop();
  expect((await cli(["put", "notes", '{"id":"r2","text":"y"}', "--db", db, "--rest", config, "--key", server.key!])).code).toBe(0);
  await server.start();
  const sync = await cli(["sync", "--db", db, "--rest", config, "--key", server.key!]);
  expect(sync.code).toBe(6);
  expect(sync.stderr).toContain("rejected: notes/r2:");
  expect(sync.stderr).toContain("body required");
  expect(sync.stdout).toContain("0 still queued");
  expect((await cli(["get", "notes", "r2", "--db", db])).code).toBe(4);
  const status = JSON.parse((await cli(["status", "--json", "--db", db, "--rest", config, "--key", server.key!])).stdout);
  expect(status.rejections).toBe(2);
}, 60_000);

test("--rest without a key (and without auth: none) is a usage error that says why", async () => {
  const { config, db } = envelope();
  const r = await cli(["put", "notes", '{"id":"k1"}', "--db", db, "--rest", config]);
  expect(r.code).toBe(2);
  expect(r.stderr).toContain('needs a key: pass --key KEY, set STOWAGE_API_KEY, or put "apiKey" in the file; for an API without auth set "auth": "none"');
  const status = await cli(["status", "--db", db, "--rest", config]);
  expect(status.code).toBe(2);
});

test("a malformed config exits 2 naming the key and the expected form", async () => {
  const cases: [unknown, string][] = [
    [{ baseUrl: "http://x", item: { id: "id" } }, 'item.id must be a JSON Pointer ("" or starting with /, e.g. "/data/id"), got "id"'],
    [{ baseUrl: "http://x", feed: { page: { param: "page" } } }, "feed.page.size must be an integer ≥ 1 (the API's page size), got undefined"],
    [{ baseUrl: "http://x", update: { method: "UPSERT" } }, 'update.method must be one of GET, POST, PUT, PATCH, DELETE, got "UPSERT"'],
    [{ baseUrl: "http://x", update: { body: { id: "$server_id" } } }, 'update.body must place the document with "$doc"'],
    [{ baseUrl: "http://x", delete: { path: "{resource}/{uuid}" } }, "delete.path: unknown variable {uuid}"],
    [{ baseUrl: "http://x", feed: { itemz: "/x" } }, "unknown setting feed.itemz"],
    [{ baseUrl: "http://x", fullListEvery: -1 }, "fullListEvery must be a number ≥ 0, got -1"],
  ];
  for (const [config, message] of cases) {
    const file = dir.file(`bad${n++}.json`);
    writeFileSync(file, JSON.stringify(config));
    const r = await cli(["put", "notes", "{}", "--db", dir.file(`bad${n++}.db`), "--rest", file, "--key", "k"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(message);
  }
}, 60_000);

test("an API answering HTML, or without the configured path: a clear error naming it; nothing lost, never a second item", async () => {
  const { server, config, db } = envelope();
  const html = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("<html>Sign in</html>", { headers: { "content-type": "text/html" } }) });
  const htmlConfig = dir.file(`html${n++}.json`);
  writeFileSync(htmlConfig, JSON.stringify({ ...JSON.parse(readFileSync(config, "utf8")), baseUrl: `http://127.0.0.1:${html.port}` }));
  try {
    const r = await cli(["put", "notes", '{"id":"h1","text":"kept"}', "--db", db, "--rest", htmlConfig, "--key", server.key!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("text/html that is not JSON");
    expect(JSON.parse((await cli(["get", "notes", "h1", "--json", "--db", db])).stdout)).toEqual({ id: "h1", text: "kept" });
  } finally {
    html.stop(true);
  }
  // The right API, but create.id points where its answers have nothing.
  const wrongId = dir.file(`wrongid${n++}.json`);
  const good = JSON.parse(readFileSync(config, "utf8"));
  // (item.localId broken too, so no pull can find the item either: the state that must not resend.)
  writeFileSync(wrongId, JSON.stringify({ ...good, create: { ...good.create, id: "/data/uuid" }, item: { ...good.item, localId: "/local_id" } }));
  for (let i = 0; i < 3; i++) {
    const r = await cli(["sync", "--db", db, "--rest", wrongId, "--key", server.key!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('create.id "/data/uuid"');
  }
  expect(server.live().length).toBe(1); // sent once, never again
  // Fixed config: the pull finds the item by its local id; nothing duplicated, nothing lost.
  const fixed = await cli(["sync", "--db", db, "--rest", config, "--key", server.key!]);
  expect(fixed.code).toBe(0);
  expect(fixed.stdout).toContain("pulled 1");
  expect((await cli(["sync", "--db", db, "--rest", config, "--key", server.key!])).stdout).toContain("0 still queued");
  expect(server.live().map((i) => i.doc)).toEqual([{ text: "kept", local_id: "h1" }]);
  expect(JSON.parse((await cli(["get", "notes", "h1", "--json", "--db", db])).stdout)).toEqual({ id: "h1", text: "kept" });
}, 60_000);

test("a feed answer of the wrong shape: `sync` names feed.items, applies nothing, keeps the cursor; the queued write still lands once", async () => {
  const { server, config, db } = envelope();
  const good = JSON.parse(readFileSync(config, "utf8"));
  const wrong = dir.file(`wrongitems${n++}.json`);
  writeFileSync(wrong, JSON.stringify({ ...good, feed: { ...good.feed, items: "/items" } }));
  server.direct.create({ text: "on the API" });
  expect((await cli(["put", "notes", '{"id":"w1","text":"mine"}', "--db", db, "--rest", wrong, "--key", server.key!])).code).toBe(0);
  const r = await cli(["sync", "--db", db, "--rest", wrong, "--key", server.key!]);
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('no item list at feed.items "/items" (fix feed.items in the rest config)');
  const docs = (await cli(["list", "notes", "--json", "--db", db])).stdout.trim().split("\n").map((l) => JSON.parse(l));
  expect(docs).toEqual([{ id: "w1", text: "mine" }]);
  expect((await cli(["sync", "--db", db, "--rest", config, "--key", server.key!])).code).toBe(0);
  expect(server.live().map((i) => i.doc.text).sort()).toEqual(["mine", "on the API"]);
}, 60_000);
