import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { Store } from "../../src/store/store.ts";
import { tempDir } from "../helpers/tmp.ts";

// Every adapter that declares multiProcess, at once on one WAL file: bun:sqlite and libsql
// under Bun, node:sqlite and libsql under Node 24 (the project's own dev dependency).
const dir = tempDir();
const children: Bun.Subprocess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  dir.cleanup();
});
const WRITER = join(import.meta.dir, "writer-process.ts");
const NODE = join(import.meta.dir, "../../node_modules/.bin/node");
const N = 120;

test("four processes on three drivers write one file at once: every write lands once, op ids unique", async () => {
  const dbPath = dir.file("mixed.db");
  // Create the schema first so the children race on writes, not on the first migration.
  await (await Store.open({ adapter: createLibsqlAdapter({ url: `file:${dbPath}` }) })).close();
  const runs: [string, string, string][] = [
    [process.execPath, "bun-sqlite", "bun"],
    [process.execPath, "libsql", "bunlibsql"],
    [NODE, "node-sqlite", "node"],
    [NODE, "libsql", "nodelibsql"],
  ];
  for (const [runtime, driver, prefix] of runs) {
    children.push(Bun.spawn([runtime, WRITER, driver, dbPath, prefix, String(N)], { stdout: "pipe", stderr: "pipe" }));
  }
  const outputs = await Promise.all(
    children.map(async (c) => ({ code: await c.exited, out: await new Response(c.stdout as ReadableStream).text(), err: await new Response(c.stderr as ReadableStream).text() })),
  );
  for (const o of outputs) {
    expect(o.err).toBe("");
    expect(o.code).toBe(0);
    expect(o.out.trim().endsWith("done")).toBe(true);
  }
  const acked = outputs.flatMap((o) => o.out.split("\n").filter((l) => l.startsWith("ack ")).map((l) => l.slice(4)));
  // per 4 iterations: 1 + 2 + 2 + 1 documents
  expect(acked).toHaveLength(4 * (N / 4) * 6);

  const store = await Store.open({ adapter: createLibsqlAdapter({ url: `file:${dbPath}` }) });
  try {
    const c = store.collection("mixed");
    expect(await c.count()).toBe(acked.length);
    for (const [, driver] of runs) expect(await c.count({ by: driver })).toBe(driver === "libsql" ? 2 * (N / 4) * 6 : (N / 4) * 6);
    expect(await c.count({ patched: true })).toBe(4 * (N / 4));
    const opIds = ((await store.db.selectFrom("_stowage_outbox").select("op_id").execute()) as any[]).map((r) => r.op_id);
    // 6 docs per 4 iterations plus one patch each: 7 ops per 4 iterations per process
    expect(opIds).toHaveLength(4 * (N / 4) * 7);
    expect(new Set(opIds).size).toBe(opIds.length);
  } finally {
    await store.close();
  }
});
