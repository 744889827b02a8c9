import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { cli } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import { startReferenceServer } from "./reference-server.ts";

const tmp = tempDir("stowage-rest-cli-");
const server = startReferenceServer();
afterAll(async () => {
  await server.stop();
  tmp.cleanup();
});

test("--rest FILE / STOWAGE_REST: a CLI write is pushed to the API; --sync-disable reads it straight from the API; bad files are named", async () => {
  const config = tmp.file("rest.json");
  writeFileSync(config, JSON.stringify({ baseUrl: server.url, resources: { notes: "/api/items" } }));
  const db = tmp.file("cli.db");
  const put = await cli(["put", "notes", '{"id":"n1","text":"hello"}', "--db", db, "--rest", config, "--key", server.key]);
  expect(put.code).toBe(0);
  expect(server.rows().map((r) => r.body)).toEqual([{ text: "hello", local_id: "n1" }]);
  const sid = String(server.rows()[0].id);
  const direct = await cli(["get", "notes", sid, "--json"], { env: { STOWAGE_REST: config, STOWAGE_API_KEY: server.key, STOWAGE_SYNC_DISABLE: "1" } });
  expect(direct.code).toBe(0);
  expect(JSON.parse(direct.stdout)).toEqual({ id: sid, text: "hello" });
  writeFileSync(tmp.file("bad.json"), '{"baseUrl":"ftp://x"}');
  const bad = await cli(["put", "notes", "{}", "--db", db, "--rest", tmp.file("bad.json"), "--key", "k"]);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('baseUrl must start with http:// or https://, got "ftp://x"');
  const missing = await cli(["put", "notes", "{}", "--db", db, "--rest", tmp.file("nope.json"), "--key", "k"]);
  expect(missing.code).toBe(3);
  expect(missing.stderr).toContain("nope.json");
}, 60_000);
