import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { localSchemaVersion } from "../../src/store/migrations.ts";
import { serverSchemaVersion } from "../../src/server/schema.ts";
import { cli, ndjson, startServe, type ServeProcess } from "../cli/run.ts";
import { tempDir } from "../helpers/tmp.ts";
import fixture from "../fixtures/release-0.1.0/fixture.json" with { type: "json" };

/**
 * Upgrades from the first release (0.1.0, commit bc37e9b: CHANGELOG.md says why that one).
 * test/fixtures/release-0.1.0/ holds a client file and a server file written by that release's
 * own CLI (test/compat/make-fixtures.ts): the client has three queued writes — b1, which the
 * server already applied (its answer never reached this copy), c1 and a patch of a2 — and a
 * pull cursor. Today's build must open both with everything intact and drain the queue once.
 */
const FIXTURES = join(import.meta.dir, "..", "fixtures", "release-0.1.0");
const DEAD = "http://127.0.0.1:9"; // the discard port: nothing listens, so nothing syncs.
let tmp: ReturnType<typeof tempDir> | undefined;
let server: ServeProcess | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
  tmp?.cleanup();
});

function copyFixtures() {
  tmp = tempDir("stowage-upgrade-");
  for (const f of ["client.db", "server.db"]) copyFileSync(join(FIXTURES, f), tmp.file(f));
  return { client: tmp.file("client.db"), server: tmp.file("server.db") };
}

function rows<T>(path: string, query: string): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.query(query).all() as T[];
  } finally {
    db.close();
  }
}
const outboxOf = (path: string) => rows<{ op_id: number; collection: string; id: string; op: string }>(path, "select op_id, collection, id, op from _stowage_outbox order by op_id");
const metaOf = (path: string) => Object.fromEntries(rows<{ key: string; value: string }>(path, "select key, value from _stowage_meta").map((r) => [r.key, r.value]));
const serverDocs = (path: string) =>
  rows<{ collection: string; id: string; seq: number; deleted: number }>(path, "select collection, id, seq, deleted from stowage_docs order by collection, id");
const tenantSeq = (path: string) => rows<{ seq: number }>(path, "select seq from stowage_tenants")[0].seq;
const lastOpId = (path: string) => rows<{ last_op_id: number }>(path, `select last_op_id from stowage_clients where client_id = '${fixture.clientId}'`)[0]?.last_op_id;

test("a client file from release 0.1.0 opens with its documents, its three queued writes and its cursor intact", async () => {
  const files = copyFixtures();
  // The fixture is what 0.1.0 wrote (guards the fixture itself).
  expect(outboxOf(files.client)).toEqual(fixture.outbox);
  expect(metaOf(files.client)).toEqual({ client_id: fixture.clientId, sync_cursor: fixture.cursor });

  const at = ["--db", files.client, "--url", DEAD, "--key", fixture.key];
  const status = await cli(["status", "--json", ...at]);
  expect(status.code).toBe(0);
  expect(JSON.parse(status.stdout)).toMatchObject({ clientId: fixture.clientId, cursor: "v1.6", outbox: { size: 3 } });
  // Local reads show the queued writes on top of what was synced; the deleted a3 stays deleted.
  const todos = await cli(["list", "todos", "--json", ...at]);
  expect(ndjson(todos.stdout)).toEqual([
    { id: "a1", title: "first", n: 1, done: true },
    { id: "a2", title: "second", n: 20 },
    { id: "b1", title: "queued then pushed by the original" },
    { id: "c1", title: "queued" },
  ]);
  expect(ndjson((await cli(["list", "notes", "--json", ...at])).stdout)).toEqual([{ id: "o1", text: "from B" }]);

  // After today's migrations ran: the same outbox rows in the same order, the same cursor and id.
  expect(outboxOf(files.client)).toEqual(fixture.outbox);
  expect(metaOf(files.client)).toMatchObject({ client_id: fixture.clientId, sync_cursor: "v1.6" });
  expect(rows<{ name: string }>(files.client, "select name from _stowage_migration order by name").at(-1)!.name).toBe(localSchemaVersion());
});

test("the server file from release 0.1.0 serves its key, and the client's queued writes drain exactly once from its cursor", async () => {
  const files = copyFixtures();
  expect([tenantSeq(files.server), lastOpId(files.server)]).toEqual([7, 6]);
  const before = serverDocs(files.server);
  expect(before.map((d) => `${d.collection}/${d.id}@${d.seq}${d.deleted ? "†" : ""}`)).toEqual([
    "notes/o1@6",
    "todos/a1@3",
    "todos/a2@2",
    "todos/a3@5†",
    "todos/b1@7",
  ]);

  server = await startServe(files.server);
  const at = ["--db", files.client, "--url", server.url, "--key", fixture.key];
  const synced = await cli(["sync", "--json", ...at]);
  expect(synced.code).toBe(0);
  // Pushed all three (b1 answered as a duplicate), pulled from v1.6: only b1, c1 and a2's patch are newer.
  expect(JSON.parse(synced.stdout)).toMatchObject({ pushed: 3, pulled: 3, reset: false, outbox: 0, cursor: "v1.9" });
  expect(outboxOf(files.client)).toEqual([]);

  // Exactly once: two new changes (c1, a2's patch), b1 untouched at its old version, the client's mark at op 8.
  expect(tenantSeq(files.server)).toBe(9);
  expect(lastOpId(files.server)).toBe(8);
  const after = Object.fromEntries(serverDocs(files.server).map((d) => [`${d.collection}/${d.id}`, d.seq]));
  expect(after).toEqual({ "notes/o1": 6, "todos/a1": 3, "todos/a2": 9, "todos/a3": 5, "todos/b1": 7, "todos/c1": 8 });
  expect(rows<{ name: string }>(files.server, "select name from stowage_server_migration order by name").at(-1)!.name).toBe(serverSchemaVersion("sqlite"));

  // A fresh client of today's build pulls the same documents the upgraded client holds.
  const fresh = ["--db", tmp!.file("fresh.db"), "--url", server.url, "--key", fixture.key];
  expect((await cli(["sync", ...fresh])).code).toBe(0);
  const mine = await cli(["list", "todos", "--json", ...at]);
  expect((await cli(["list", "todos", "--json", ...fresh])).stdout).toBe(mine.stdout);
  expect(ndjson(mine.stdout).find((d) => d.id === "a2")).toEqual({ id: "a2", title: "second", n: 20 });
});
