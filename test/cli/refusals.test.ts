/** The CLI side of guarantee 12: a refused write exits 6 and says so, and never wedges the database. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { createKey } from "../../src/server/index.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { cli } from "./run.ts";

const dir = tempDir("stowage-cli-refusals-");
let server: TestServer;
let readKey: string;

beforeAll(async () => {
  server = await startServer();
  readKey = (await createKey(server.store, server.tenant, { scope: "read" })).key;
});
afterAll(async () => {
  await server.stop();
  dir.cleanup();
});

test("put with a read-scope key exits 6, records the rejection, drops the refused value, and sync still pulls", async () => {
  const db = join(dir.path, "reader.db");
  const env = { STOWAGE_URL: server.url, STOWAGE_API_KEY: readKey, STOWAGE_DB: db, STOWAGE_LIVE: "0" };
  const put = await cli(["put", "todos", '{"id":"x","title":"refused"}'], { env });
  expect(put.code).toBe(6);
  expect(put.stderr).toContain("the server refused 1 write");
  expect(put.stderr).toContain("rejected: todos/x: forbidden");

  const get = await cli(["get", "todos", "x"], { env });
  expect(get.code).toBe(4); // the refused value is gone: the server never had x

  const status = await cli(["status", "--json"], { env });
  const s = JSON.parse(status.stdout);
  expect([s.rejections, s.outbox.size, s.unresolved]).toEqual([1, 0, 0]);

  const writerEnv = { ...env, STOWAGE_API_KEY: server.key, STOWAGE_DB: join(dir.path, "writer.db") };
  expect((await cli(["put", "todos", '{"id":"w","title":"from the writer"}'], { env: writerEnv })).code).toBe(0);
  const sync = await cli(["sync"], { env });
  expect([sync.code, sync.stdout]).toEqual([0, "pushed 0, pulled 1; 0 still queued\n"]);
  expect(JSON.parse((await cli(["get", "todos", "w", "--json"], { env })).stdout)).toEqual({ id: "w", title: "from the writer" });
});
