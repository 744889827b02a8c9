import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checkRest } from "../../src/sync/rest/check.ts";
import { cli, ROOT } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { SHAPES, type ShapeServer } from "./shapes/index.ts";

/** `stowage rest check`: every example config passes against its API; each planted mapping mistake is caught and named. */
const dir = tempDir("stowage-rest-check-");
const servers: ShapeServer[] = [];
let n = 0;
afterAll(async () => {
  for (const s of servers) await s.close();
  dir.cleanup();
});

function example(shape: string): Record<string, any> {
  return JSON.parse(readFileSync(join(ROOT, "docs", "examples", "rest", `${shape}.json`), "utf8"));
}

function write(config: unknown): string {
  const file = dir.file(`c${n++}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

describe("stowage rest check", () => {
  for (const shape of Object.keys(SHAPES)) {
    test(`${shape}: the example config passes, and the probe item is deleted`, async () => {
      const server = SHAPES[shape]();
      servers.push(server);
      const r = await cli(["rest", "check", write({ ...example(shape), baseUrl: server.url }), ...(server.key ? ["--key", server.key] : [])]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toContain("every check passed");
      expect(r.stdout).not.toContain("FAIL");
      expect(server.live()).toEqual([]);
    }, 60_000);
  }

  const planted: [string, (c: Record<string, any>) => void, string][] = [
    ["wrong update route (PUT where the API upserts by POST)", (c) => (c.update = { method: "PUT", path: "{resource}/{server_id}" }), "fix: update.method"],
    ["wrong id pointer", (c) => (c.create = { ...c.create, id: "/id" }), "fix: create.id"],
    ["wrong items pointer", (c) => (c.feed = { ...c.feed, items: "/items" }), "fix: feed.items"],
    ["missing local-id pointer", (c) => (c.item = { ...c.item, localId: "/local_id" }), "fix: item.localId"],
    ["wrong tombstone field", (c) => (c.item = { ...c.item, tombstone: "/deleted_at" }), "fix: item.tombstone"],
  ];
  for (const [name, plant, fix] of planted) {
    test(`envelope API, ${name}: caught, the key named, exit 1, no probe left`, async () => {
      const server = SHAPES.envelope();
      servers.push(server);
      const config = { ...example("envelope"), baseUrl: server.url };
      plant(config);
      const r = await cli(["rest", "check", write(config), "--key", server.key!]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("FAIL");
      expect(r.stdout).toContain(fix);
      expect(server.live()).toEqual([]);
    }, 60_000);
  }

  test("checkRest(config) in the library: the same report as data", async () => {
    const server = SHAPES.seed();
    servers.push(server);
    const report = await checkRest({ ...example("seed"), baseUrl: server.url }, { apiKey: server.key });
    expect(report.ok).toBe(true);
    expect(report.cleaned).toBe(true);
    expect(report.rows.map((r) => r.step)).toEqual([
      "feed: list", "create", "get one", "item.id", "item.doc", "item.localId", "item.updatedAt", "item.tombstone",
      "feed: sees the new item", "update", "delete", "feed: shows the delete",
    ]);
  }, 60_000);

  test("an API that answers HTML, or is down: a clear message, not a crash", async () => {
    const html = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("<!doctype html><title>Login</title>", { headers: { "content-type": "text/html" } }) });
    try {
      const r = await cli(["rest", "check", write({ ...example("seed"), baseUrl: `http://127.0.0.1:${html.port}` }), "--key", "k"]);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("text/html that is not JSON (is baseUrl the API, not a web page?)");
    } finally {
      html.stop(true);
    }
    const down = await cli(["rest", "check", write({ ...example("seed"), baseUrl: "http://127.0.0.1:9" }), "--key", "k"]);
    expect(down.code).toBe(5);
    expect(down.stderr).toContain("the API is unreachable");
  }, 60_000);
});
