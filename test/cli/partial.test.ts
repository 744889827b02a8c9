/**
 * `--only` (partial sync, issue 34) end to end: the CLI and `stowage mcp` as child processes
 * against a real server in this process, real SQLite files.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage } from "../../src/stowage.ts";
import { spawnMcp } from "../mcp/client.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { BIN, cli, ndjson } from "./run.ts";

const tmp = tempDir("stowage-cli-partial-");
let s: TestServer;

beforeAll(async () => {
  s = await startServer({ rules: ["index todos: owner, n", "index notes: owner", "* read: true", "* write: true"].join("\n") });
  const w = await openStowage({ adapter: createBunSqliteAdapter({ path: tmp.file("writer.db") }), url: s.url, apiKey: s.key, env: {}, autoSync: false });
  await w.transaction(async (tx) => {
    for (let i = 1; i <= 6; i++) await tx.collection("todos").put({ id: `t${i}`, owner: i % 2 ? "ann" : "bob", n: i });
    for (let i = 1; i <= 2; i++) await tx.collection("notes").put({ id: `x${i}`, owner: "ann" });
  });
  await w.sync();
  await w.close();
});
afterAll(async () => {
  await s?.stop();
  tmp.cleanup();
});

const run = (db: string, args: string[], env: Record<string, string> = {}) => cli([...args, "--db", tmp.file(db), "--url", s.url, "--key", s.key], { env });
const ids = async (db: string, collection: string) => ndjson((await run(db, ["list", collection, "--json"])).stdout).map((d) => d.id);

describe("stowage --only", () => {
  test("sync --only holds just those documents; status lists them; later runs keep them", async () => {
    const r = await run("a.db", ["sync", "--only", "todos:owner=ann", "--only", "notes"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await ids("a.db", "todos")).toEqual(["t1", "t3", "t5"]);
    expect(await ids("a.db", "notes")).toEqual(["x1", "x2"]);
    const st = await run("a.db", ["status", "--json"]);
    expect(st.code).toBe(0);
    expect(JSON.parse(st.stdout).subscriptions.map((x: any) => ({ collection: x.collection, where: x.where }))).toEqual([
      { collection: "todos", where: { owner: "ann" } },
      { collection: "notes", where: undefined },
    ]);
    const text = await run("a.db", ["status"]);
    expect(text.stdout).toContain('holds      todos:where={"owner":"ann"}  notes');
    // No --only: the stored subscriptions stay.
    expect((await run("a.db", ["sync"])).code).toBe(0);
    expect(await ids("a.db", "todos")).toEqual(["t1", "t3", "t5"]);
    // A narrower --only removes what it no longer covers.
    expect((await run("a.db", ["sync", "--only", "todos:owner=ann"])).code).toBe(0);
    expect(await ids("a.db", "notes")).toEqual([]);
  });

  test("the JSON form and STOWAGE_ONLY (comma-separated)", async () => {
    const r = await run("b.db", ["sync"], { STOWAGE_ONLY: 'todos:where={"n":{"gte":4},"owner":"bob"},notes:owner=ann' });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(await ids("b.db", "todos")).toEqual(["t4", "t6"]);
    expect(await ids("b.db", "notes")).toEqual(["x1", "x2"]);
  });

  test("a malformed --only exits 2 naming the value", async () => {
    for (const bad of ['todos:where={"n":', "todos:", "Bad Name", "todos:owner", 'todos:where={"n":{"near":1}}', 'todos:where=[1]']) {
      const r = await run("c.db", ["sync", "--only", bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(JSON.stringify(bad));
    }
    const local = await cli(["status", "--db", tmp.file("l.db"), "--only", "todos"]);
    expect(local.code).toBe(2);
    expect(local.stderr).toContain("--only (STOWAGE_ONLY) needs a Stowage server");
    const env = await run("c.db", ["status"], { STOWAGE_ONLY: "todos:" });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain("STOWAGE_ONLY");
  });

  test("a where the server does not index: the server's refusal, naming the field and the fix (exit 6)", async () => {
    const plain = await startServer(); // no rules file: no field is indexed
    try {
      const r = await cli(["sync", "--only", "todos:owner=ann", "--db", tmp.file("u.db"), "--url", plain.url, "--key", plain.key]);
      expect(r.code).toBe(6);
      expect(r.stderr).toContain("unindexed_filter");
      expect(r.stderr).toContain('"index todos: owner"');
      // A whole collection needs no index.
      expect((await cli(["sync", "--only", "todos", "--db", tmp.file("u.db"), "--url", plain.url, "--key", plain.key])).code).toBe(0);
    } finally {
      await plain.stop();
    }
  });

  test("--help documents --only", async () => {
    const r = await cli(["sync", "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("--only SUB");
    expect(r.stdout).toContain("[STOWAGE_ONLY]");
  });

  test("stowage mcp --only holds the subscription; subscribe and unsubscribe tools change it", async () => {
    const child = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("m.db"), "--only", "notes"], { STOWAGE_URL: s.url, STOWAGE_API_KEY: s.key });
    try {
      await child.initialize();
      const listed = await child.call("subscriptions", {});
      expect(listed.structuredContent.subscriptions.map((x: any) => x.collection)).toEqual(["notes"]);
      await child.call("sync_status", { sync: true });
      expect((await child.call("list", { collection: "notes" })).structuredContent.items.map((d: any) => d.id).sort()).toEqual(["x1", "x2"]);
      const sub = await child.call("subscribe", { collection: "todos", where: { n: { lte: 2 } } });
      expect(sub.isError).toBeUndefined();
      await child.call("sync_status", { sync: true });
      expect((await child.call("list", { collection: "todos" })).structuredContent.items.map((d: any) => d.id).sort()).toEqual(["t1", "t2"]);
      const un = await child.call("unsubscribe", { which: "notes" });
      expect(un.structuredContent).toEqual({ removed: 1 });
      expect((await child.call("list", { collection: "notes" })).structuredContent.items).toEqual([]);
    } finally {
      expect(await child.close()).toBe(0);
    }
  });
});
