import { afterAll, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";

const dir = tempDir();
afterAll(() => dir.cleanup());
const writer = new URL("../fixtures/local-writer.ts", import.meta.url).pathname;

test("three processes writing one file at once: every write lands once, op ids unique", async () => {
  const dbPath = dir.file("shared.db");
  // Create the schema first so the children race on writes, not on the first migration.
  await (await Store.open({ adapter: createBunSqliteAdapter({ path: dbPath }) })).close();
  const children = ["p1", "p2", "p3"].map((prefix) =>
    Bun.spawn([process.execPath, writer, dbPath, prefix, "200"], { stdout: "pipe", stderr: "pipe" }),
  );
  const outputs = await Promise.all(children.map(async (c) => ({ code: await c.exited, out: await new Response(c.stdout).text(), err: await new Response(c.stderr).text() })));
  for (const o of outputs) {
    expect(o.err).toBe("");
    expect(o.code).toBe(0);
    expect(o.out.trim().endsWith("done")).toBe(true);
  }
  const acked = outputs.flatMap((o) => o.out.split("\n").filter((l) => l.startsWith("ack ")).map((l) => l.slice(4)));
  // per 4 iterations: 1 + 2 + 2 + 1 documents
  expect(acked).toHaveLength(3 * 50 * 6);

  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dbPath }) });
  try {
    expect(await store.collection("crash").count()).toBe(acked.length);
    const opIds = ((await store.db.selectFrom("_stowage_outbox").select("op_id").execute()) as any[]).map((r) => r.op_id);
    // 6 docs per 4 iterations plus one patch each: 7 ops × 50 × 3 processes
    expect(opIds).toHaveLength(3 * 50 * 7);
    expect(new Set(opIds).size).toBe(opIds.length);
  } finally {
    await store.close();
  }
});

test("six processes opening a new file at the same instant all migrate and write without errors", async () => {
  const dbPath = dir.file("fresh.db");
  const children = Array.from({ length: 6 }, (_, i) =>
    Bun.spawn([process.execPath, writer, dbPath, `open${i}`, "1"], { stdout: "pipe", stderr: "pipe" }),
  );
  const results = await Promise.all(children.map(async (c) => ({ code: await c.exited, err: await new Response(c.stderr).text() })));
  expect(results).toEqual(Array.from({ length: 6 }, () => ({ code: 0, err: "" })));
  const store = await Store.open({ adapter: createBunSqliteAdapter({ path: dbPath }) });
  try {
    expect(await store.collection("crash").count()).toBe(6);
    const migrations = await store.db.selectFrom("_stowage_migration").select("name").execute();
    expect(migrations).toEqual([{ name: "0001_local_store" }, { name: "0002_pull_stage_and_refresh" }]);
  } finally {
    await store.close();
  }
});
