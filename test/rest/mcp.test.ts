import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { tempDir } from "../helpers/tmp.ts";
import { spawnMcp, type McpChild } from "../mcp/client.ts";
import { startReferenceServer } from "./reference-server.ts";

const BIN = join(import.meta.dir, "../../src/cli/bin.ts");
const tmp = tempDir("stowage-rest-mcp-");
const children: McpChild[] = [];
afterAll(async () => {
  for (const c of children) c.proc.kill("SIGKILL");
  await Promise.all(children.map((c) => c.proc.exited));
  tmp.cleanup();
});

async function until<T>(what: string, ask: () => Promise<T>, check: (v: T) => boolean, tries = 100): Promise<T> {
  let last: T | undefined;
  for (let i = 0; i < tries; i++) {
    last = await ask();
    if (check(last)) return last;
    await Bun.sleep(100);
  }
  throw new Error(`${what} never happened; last answer: ${JSON.stringify(last)}`);
}

test("stowage mcp --rest FILE in front of the seed-shaped API: store and recall while it is down; the memories reach it when it returns", async () => {
  const server = startReferenceServer();
  const proxy = await startFaultProxy(server.url);
  try {
    proxy.refuse = true; // the API is down before the MCP server starts
    const config = tmp.file("rest.json");
    writeFileSync(config, JSON.stringify({ baseUrl: proxy.url, resources: { memories: "/api/items" } }));
    const a = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("a.db"), "--rest", config], { STOWAGE_API_KEY: server.key, STOWAGE_SYNC_INTERVAL: "200ms" });
    children.push(a);
    await a.initialize();
    const ids: string[] = [];
    for (const content of ["Offline note about the kestrel migration", "Second offline note: kestrel rollout checklist"]) {
      const r = await a.call("store", { content });
      expect(r.isError).toBeUndefined();
      ids.push(r.structuredContent.id);
    }
    const found = await a.call("recall", { query: "kestrel" });
    expect(found.structuredContent.hits.map((h: any) => h.id).sort()).toEqual([...ids].sort());
    const down = await a.call("sync_status", {});
    expect(down.structuredContent.mode).toBe("hybrid");
    expect(down.structuredContent.status.outbox.size).toBe(2);
    expect(server.rows()).toEqual([]);

    proxy.refuse = false; // the API is back: background sync drains the outbox
    await until("the outbox draining", () => a.call("sync_status", {}), (r) => r.structuredContent.status.outbox.size === 0);
    const rows = server.rows();
    expect(rows.map((r) => r.body.local_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => String(r.body.content).includes("kestrel") && r.deleted_at === null)).toBe(true);

    // A memory stored directly on the API is pulled in and recalled.
    await fetch(`${server.url}/api/items`, {
      method: "POST",
      headers: { authorization: `Bearer ${server.key}`, "content-type": "application/json" },
      body: JSON.stringify({ content: "kestrel note written by another tool" }),
    });
    const three = await until("the API's memory reaching the cache", () => a.call("recall", { query: "kestrel" }), (r) => r.structuredContent.hits.length === 3);
    expect(three.structuredContent.hits.some((h: any) => String(h.id).startsWith("srv-"))).toBe(true);
    expect(await a.close()).toBe(0);
  } finally {
    await proxy.stop();
    await server.stop();
  }
}, 60_000);
