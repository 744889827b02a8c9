import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { spawnServer, type SpawnedServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { spawnMcp, text, type McpChild } from "./client.ts";

const BIN = join(import.meta.dir, "../../src/cli/bin.ts");
const tmp = tempDir();
const children: McpChild[] = [];
let server: SpawnedServer | undefined;

afterAll(async () => {
  for (const c of children) c.proc.kill("SIGKILL");
  await Promise.all(children.map((c) => c.proc.exited));
  await server?.kill();
  tmp.cleanup();
});

function mcp(db: string, url: string, key: string): McpChild {
  const child = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file(db)], {
    STOWAGE_URL: url,
    STOWAGE_API_KEY: key,
    STOWAGE_SYNC_INTERVAL: "200ms",
  });
  children.push(child);
  return child;
}

/** Asks until `check` holds (background sync is asynchronous); fails with the last answer. */
async function until<T>(what: string, ask: () => Promise<T>, check: (v: T) => boolean, tries = 100): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await ask();
    if (check(last)) return last;
    await Bun.sleep(100);
  }
  throw new Error(`${what} never happened; last answer: ${JSON.stringify(last)}`);
}

test("hybrid mode: store and recall work with the server down; the writes reach it when it is back and another instance finds them", async () => {
  const serverDb = tmp.file("server.db");
  server = await spawnServer({ dbPath: serverDb });
  const { url, key } = server;
  const port = Number(new URL(url).port);
  await server.kill("SIGKILL"); // the sync server is down before the MCP server starts

  const a = mcp("a.db", url, key);
  await a.initialize();
  const ids: string[] = [];
  for (const content of ["Offline note about the kestrel migration", "Second offline note: kestrel rollout checklist"]) {
    const r = await a.call("store", { content, tags: ["offline"] });
    expect(r.isError).toBeUndefined();
    ids.push(r.structuredContent.id);
  }
  const found = await a.call("recall", { query: "kestrel" });
  expect(found.structuredContent.hits.map((h: any) => h.id).sort()).toEqual([...ids].sort());
  const down = await a.call("sync_status", { sync: true });
  expect(down.isError).toBeUndefined();
  expect(down.structuredContent.mode).toBe("hybrid");
  expect(down.structuredContent.status.outbox.size).toBe(2);
  expect(down.structuredContent.status.online).toBe(false);
  expect(text(down)).toContain("sync failed:");

  // The server comes back on the same port; background sync drains the outbox.
  server = await spawnServer({ dbPath: serverDb, port });
  const drained = await until("the outbox draining", () => a.call("sync_status", {}), (r) => r.structuredContent.status.outbox.size === 0);
  expect(drained.structuredContent.status.online).toBe(true);
  for (const id of ids) {
    const res = await fetch(`${url}/v1/docs/memories/${id}`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    expect(JSON.stringify(await res.json())).toContain("kestrel");
  }

  // A second MCP instance on its own database finds them after it syncs (at start-up, and on request).
  const b = mcp("b.db", url, key);
  await b.initialize();
  const synced = await b.call("sync_status", { sync: true });
  expect(synced.isError).toBeUndefined();
  const recalled = await b.call("recall", { query: "kestrel checklist" });
  expect(recalled.structuredContent.hits.map((h: any) => h.id)).toEqual([ids[1]]);
  const both = await b.call("recall", { query: "kestrel" });
  expect(both.structuredContent.hits.map((h: any) => h.id).sort()).toEqual([...ids].sort());

  // A delete on B reaches A through the server, and A's index follows the pulled change.
  await b.call("delete", { id: ids[0] });
  await until("B's delete reaching the server", () => b.call("sync_status", {}), (r) => r.structuredContent.status.outbox.size === 0);
  const after = await until(
    "A pulling the delete",
    () => a.call("recall", { query: "kestrel" }),
    (r) => r.structuredContent.hits.length === 1,
  );
  expect(after.structuredContent.hits.map((h: any) => h.id)).toEqual([ids[1]]);
  expect(await a.close()).toBe(0);
  expect(await b.close()).toBe(0);
}, 60_000);

test("http-only mode: tools go straight to the server; recall scans it and says so", async () => {
  const { startServer } = await import("../helpers/server.ts");
  const direct = await startServer();
  try {
    const c = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("unused.db")], {
      STOWAGE_URL: direct.url,
      STOWAGE_API_KEY: direct.key,
      STOWAGE_SYNC_DISABLE: "1",
    });
    children.push(c);
    await c.initialize();
    const stored = await c.call("store", { id: "h1", title: "Direct write", content: "goes to the heron server" });
    expect(stored.isError).toBeUndefined();
    const res = await fetch(`${direct.url}/v1/docs/memories/h1`, { headers: { authorization: `Bearer ${direct.key}` } });
    expect(res.status).toBe(200);
    const found = await c.call("recall", { query: "heron" });
    expect(found.structuredContent.engine).toBe("scan");
    expect(found.structuredContent.hits.map((h: any) => h.id)).toEqual(["h1"]);
    expect(found.structuredContent.hits[0].snippet).toBe("goes to the **heron** server");
    expect(text(found)).toContain("http-only mode has no local index: scanned 1 document(s)");
    const status = await c.call("sync_status", {});
    expect(status.structuredContent.mode).toBe("http-only");
    await c.call("delete", { id: "h1" });
    expect((await c.call("recall", { query: "heron" })).structuredContent.hits).toEqual([]);
    expect(await c.close()).toBe(0);
  } finally {
    await direct.stop();
  }
}, 30_000);
