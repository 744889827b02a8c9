import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { serverSchemaVersion } from "../../src/server/schema.ts";
import { localSchemaVersion } from "../../src/store/migrations.ts";
import { cli, ndjson, startServe, type ServeProcess } from "../cli/run.ts";
import fixture from "../fixtures/release-0.1.0/fixture.json" with { type: "json" };
import { dropSchema, newSchemaName, PG_URL, pgAvailable, pgQuery } from "../helpers/pg.ts";
import { tempDir } from "../helpers/tmp.ts";
import { SCHEMA_PLACEHOLDER } from "./make-fixtures.ts";

/**
 * Upgrades from the first release (0.1.0, commit bc37e9b: CHANGELOG.md says why that one).
 * test/fixtures/release-0.1.0/ holds what that release's own CLI wrote (make-fixtures.ts): a
 * SQLite server file and a PostgreSQL schema (dumped as SQL), and for each a client file with
 * three queued writes — b1, which the server already applied (its answer never reached this
 * copy), c1 and a patch of a2 — and a pull cursor. Today's build must open every one with
 * everything intact and drain the queue exactly once, from the cursor.
 */
const FIXTURES = join(import.meta.dir, "..", "fixtures", "release-0.1.0");
const DEAD = "http://127.0.0.1:9"; // the discard port: nothing listens, so nothing syncs.
const hasPg = await pgAvailable("upgrade from 0.1.0 on PostgreSQL");
let tmp: ReturnType<typeof tempDir> | undefined;
let server: ServeProcess | undefined;
let schema: string | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
  tmp?.cleanup();
  if (schema) await dropSchema(schema);
  schema = undefined;
});

function copyClient(name: string): string {
  tmp = tempDir("stowage-upgrade-");
  copyFileSync(join(FIXTURES, name), tmp.file("client.db"));
  return tmp.file("client.db");
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

/** What the server store holds, read the same way from a SQLite file or a PostgreSQL schema. */
interface ServerView {
  seq(): Promise<number>;
  lastOpId(clientId: string): Promise<number>;
  docs(): Promise<string[]>;
  migration(): Promise<string>;
}
const SQL = {
  seq: "select seq from stowage_tenants",
  docs: "select collection, id, seq, deleted from stowage_docs order by collection, id",
  migration: "select name from stowage_server_migration order by name desc limit 1",
};
const docLine = (d: { collection: string; id: string; seq: number | string; deleted: number }) => `${d.collection}/${d.id}@${d.seq}${d.deleted ? "†" : ""}`;

function sqliteView(path: string): ServerView {
  return {
    seq: async () => rows<{ seq: number }>(path, SQL.seq)[0].seq,
    lastOpId: async (c) => rows<{ n: number }>(path, `select last_op_id as n from stowage_clients where client_id = '${c}'`)[0]?.n,
    docs: async () => rows<{ collection: string; id: string; seq: number; deleted: number }>(path, SQL.docs).map(docLine),
    migration: async () => rows<{ name: string }>(path, SQL.migration)[0].name,
  };
}

function pgView(schema: string): ServerView {
  return {
    seq: async () => Number((await pgQuery<{ seq: string }>(SQL.seq, [], schema))[0].seq),
    lastOpId: async (c) => Number((await pgQuery<{ n: string }>("select last_op_id as n from stowage_clients where client_id = $1", [c], schema))[0]?.n),
    docs: async () => (await pgQuery<{ collection: string; id: string; seq: string; deleted: number }>(SQL.docs, [], schema)).map(docLine),
    migration: async () => (await pgQuery<{ name: string }>(SQL.migration, [], schema))[0].name,
  };
}

/** Loads the 0.1.0 dump into a fresh schema (one simple-protocol query: the dump is many statements). */
async function restorePgDump(): Promise<string> {
  const name = newSchemaName();
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    await client.query(readFileSync(join(FIXTURES, "server-postgres.sql"), "utf8").replaceAll(SCHEMA_PLACEHOLDER, name));
  } finally {
    await client.end();
  }
  return name;
}

for (const store of ["sqlite", "postgres"] as const) {
  const f = fixture[store];
  const clientFile = store === "sqlite" ? "client.db" : "client-postgres.db";

  test(`a client file from release 0.1.0 (${store} server) opens with its documents, its three queued writes and its cursor intact`, async () => {
    const client = copyClient(clientFile);
    // The fixture is what 0.1.0 wrote (guards the fixture itself).
    expect(outboxOf(client)).toEqual(f.outbox);
    expect(metaOf(client)).toEqual({ client_id: f.clientId, sync_cursor: "v1.6" });

    const at = ["--db", client, "--url", DEAD, "--key", f.key];
    const status = await cli(["status", "--json", ...at]);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ clientId: f.clientId, cursor: "v1.6", outbox: { size: 3 } });
    // Local reads show the queued writes on top of what was synced; the deleted a3 stays deleted.
    expect(ndjson((await cli(["list", "todos", "--json", ...at])).stdout)).toEqual([
      { id: "a1", title: "first", n: 1, done: true },
      { id: "a2", title: "second", n: 20 },
      { id: "b1", title: "queued then pushed by the original" },
      { id: "c1", title: "queued" },
    ]);
    expect(ndjson((await cli(["list", "notes", "--json", ...at])).stdout)).toEqual([{ id: "o1", text: "from B" }]);

    // After today's migrations ran: the same outbox rows in the same order, the same cursor and id.
    expect(outboxOf(client)).toEqual(f.outbox);
    expect(metaOf(client)).toMatchObject({ client_id: f.clientId, sync_cursor: "v1.6" });
    expect(rows<{ name: string }>(client, "select name from _stowage_migration order by name").at(-1)!.name).toBe(localSchemaVersion());
  });

  test.skipIf(store === "postgres" && !hasPg)(
    `the ${store} server store from release 0.1.0 serves its key, and the client's queued writes drain exactly once from its cursor`,
    async () => {
      const client = copyClient(clientFile);
      let data: string;
      let view: ServerView;
      if (store === "sqlite") {
        data = tmp!.file("server.db");
        copyFileSync(join(FIXTURES, "server.db"), data);
        view = sqliteView(data);
      } else {
        schema = await restorePgDump();
        data = `${PG_URL}${PG_URL.includes("?") ? "&" : "?"}schema=${schema}`;
        view = pgView(schema);
      }
      expect([await view.seq(), await view.lastOpId(f.clientId)]).toEqual([7, 6]);
      expect(await view.docs()).toEqual(["notes/o1@6", "todos/a1@3", "todos/a2@2", "todos/a3@5†", "todos/b1@7"]);

      server = await startServe(data);
      const at = ["--db", client, "--url", server.url, "--key", f.key];
      const synced = await cli(["sync", "--json", ...at]);
      expect(synced.code).toBe(0);
      // Pushed all three (b1 answered as a duplicate), pulled from v1.6: only b1, c1 and a2's patch are newer.
      expect(JSON.parse(synced.stdout)).toMatchObject({ pushed: 3, pulled: 3, reset: false, outbox: 0, cursor: "v1.9" });
      expect(outboxOf(client)).toEqual([]);

      // Exactly once: two new changes (c1, a2's patch), b1 untouched at its old version, the client's mark at op 8.
      expect(await view.seq()).toBe(9);
      expect(await view.lastOpId(f.clientId)).toBe(8);
      expect(await view.docs()).toEqual(["notes/o1@6", "todos/a1@3", "todos/a2@9", "todos/a3@5†", "todos/b1@7", "todos/c1@8"]);
      expect(await view.migration()).toBe(serverSchemaVersion(store));

      // A fresh client of today's build pulls the same documents the upgraded client holds.
      const fresh = ["--db", tmp!.file("fresh.db"), "--url", server.url, "--key", f.key];
      expect((await cli(["sync", ...fresh])).code).toBe(0);
      const mine = await cli(["list", "todos", "--json", ...at]);
      expect((await cli(["list", "todos", "--json", ...fresh])).stdout).toBe(mine.stdout);
      expect(ndjson(mine.stdout).find((d) => d.id === "a2")).toEqual({ id: "a2", title: "second", n: 20 });
    },
    60_000,
  );
}
