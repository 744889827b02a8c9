import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { tempDir } from "../helpers/tmp.ts";
import { spawnMcp, text, type McpChild } from "./client.ts";

const BIN = join(import.meta.dir, "../../src/cli/bin.ts");
const tmp = tempDir();
let mcp: McpChild;

beforeAll(async () => {
  mcp = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("mcp.db"), "--search", "notes=title,body"]);
});
afterAll(async () => {
  mcp.proc.kill("SIGKILL");
  await mcp.proc.exited;
  tmp.cleanup();
});

describe("stowage mcp over stdio", () => {
  test("initialize and tools/list", async () => {
    const init = await mcp.initialize();
    expect(init.serverInfo.name).toBe("stowage");
    expect(init.capabilities.tools).toBeDefined();
    const { tools } = await mcp.request("tools/list");
    expect(tools.map((t: any) => t.name).sort()).toEqual(["delete", "get", "list", "recall", "store", "sync_status", "update"]);
    const recall = tools.find((t: any) => t.name === "recall");
    expect(recall.inputSchema.required).toEqual(["query"]);
    expect(recall.inputSchema.properties.query.description).toBe("Words to look for");
    expect(recall.outputSchema.properties.hits.type).toBe("array");
  });

  test("store, recall finds it, delete, recall no longer finds it", async () => {
    const stored = await mcp.call("store", { content: "The staging database moves to eu-west on Friday", title: "Migration plan", tags: ["ops", "db"] });
    expect(stored.isError).toBeUndefined();
    const id = stored.structuredContent.id as string;
    expect(text(stored)).toBe(`Stored memories/${id}`);
    expect(stored.structuredContent.document).toEqual({ id, content: "The staging database moves to eu-west on Friday", title: "Migration plan", tags: ["ops", "db"] });
    await mcp.call("store", { content: "Lunch on Friday is pizza" });

    const found = await mcp.call("recall", { query: "staging databases" });
    expect(found.isError).toBeUndefined();
    expect(found.structuredContent.engine).toBe("fts5");
    expect(found.structuredContent.hits.map((h: any) => h.id)).toEqual([id]);
    expect(found.structuredContent.hits[0].snippet).toBe("The **staging** **database** moves to eu-west on Friday");
    expect(text(found)).toBe(`1 match(es) in memories for "staging databases":\n1. ${id}: The **staging** **database** moves to eu-west on Friday`);
    const byTag = await mcp.call("recall", { query: "ops" });
    expect(byTag.structuredContent.hits.map((h: any) => h.id)).toEqual([id]);
    const friday = await mcp.call("recall", { query: "friday" });
    expect(friday.structuredContent.hits).toHaveLength(2);

    const deleted = await mcp.call("delete", { id });
    expect(deleted.structuredContent).toEqual({ collection: "memories", id, existed: true });
    const gone = await mcp.call("recall", { query: "staging databases" });
    expect(gone.structuredContent.hits).toEqual([]);
    expect(text(gone)).toBe(`Nothing in memories matches "staging databases".`);
    const get = await mcp.call("get", { id });
    expect(get.isError).toBe(true);
    expect(text(get)).toBe(`input error: document memories/${id} not found`);
  });

  test("bad arguments get a tool error naming the problem; the server stays up", async () => {
    const bad = await mcp.call("store", { collection: "Bad Name", content: 42 });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toContain("Invalid arguments for tool store");
    expect(text(bad)).toContain("at collection");
    expect(text(bad)).toContain("expected string, received number at content");

    const empty = await mcp.call("store", {});
    expect(empty.isError).toBe(true);
    expect(text(empty)).toBe("input error: store needs something to store: content, title, tags or fields");

    const noQuery = await mcp.call("recall", {});
    expect(noQuery.isError).toBe(true);
    expect(text(noQuery)).toContain("query");

    const badId = await mcp.call("get", { id: "a/b" });
    expect(text(badId)).toContain('invalid document id "a/b"');

    const hostile = await mcp.call("recall", { query: 'foo" OR NEAR(' });
    expect(hostile.isError).toBeUndefined();

    const badFilter = await mcp.call("list", { where: { n: { between: [1, 2] } } });
    expect(badFilter.isError).toBe(true);
    const unknown = await mcp.call("no_such_tool", {});
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toContain("Tool no_such_tool not found");

    mcp.raw("this is not json");
    mcp.raw('{"jsonrpc":"2.0","id":"x"}');
    const still = await mcp.call("store", { content: "still alive after bad input" });
    expect(still.isError).toBeUndefined();
    expect(mcp.orphans.map((o) => o.error?.code)).toEqual([-32700, -32600]);
    expect((await mcp.call("recall", { query: "alive" })).structuredContent.hits).toHaveLength(1);
  });

  test("list with filters, update by merge patch, other collections, sync status", async () => {
    for (const [i, title] of ["alpha", "beta", "gamma"].entries()) {
      await mcp.call("store", { collection: "notes", id: `n${i}`, title, fields: { body: `note number ${i}`, rank: i } });
    }
    const page = await mcp.call("list", { collection: "notes", where: { rank: { gte: 1 } }, orderBy: "rank" });
    expect(page.structuredContent.items.map((d: any) => d.id)).toEqual(["n1", "n2"]);
    expect(text(page)).toBe("2 document(s) in notes:\n- n1: beta\n- n2: gamma");
    const first = await mcp.call("list", { collection: "notes", limit: 1 });
    expect(first.structuredContent.items.map((d: any) => d.id)).toEqual(["n2"]);
    const second = await mcp.call("list", { collection: "notes", limit: 1, cursor: first.structuredContent.next });
    expect(second.structuredContent.items.map((d: any) => d.id)).toEqual(["n1"]);

    const updated = await mcp.call("update", { collection: "notes", id: "n0", patch: { title: "alpha prime", rank: null } });
    expect(updated.structuredContent.document).toEqual({ id: "n0", title: "alpha prime", body: "note number 0" });
    const byBody = await mcp.call("recall", { collection: "notes", query: "number prime" });
    expect(byBody.structuredContent.hits.map((h: any) => h.id)).toEqual(["n0"]);
    const missing = await mcp.call("update", { collection: "notes", id: "nope", patch: { a: 1 } });
    expect(text(missing)).toBe("input error: document notes/nope not found");

    const status = await mcp.call("sync_status", {});
    expect(status.structuredContent.mode).toBe("local");
    expect(status.structuredContent.status.outbox.size).toBeGreaterThan(0);
    const cannot = await mcp.call("sync_status", { sync: true });
    expect(cannot.isError).toBe(true);
    expect(text(cannot)).toContain("no sync server is configured");
  });

  test("closing stdin ends the server cleanly", async () => {
    const other = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("other.db")]);
    await other.initialize();
    expect(await other.close()).toBe(0);
  });

  test("SIGTERM stops the server cleanly; what it stored is still there on restart", async () => {
    const first = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("term.db")]);
    await first.initialize();
    await first.call("store", { id: "t1", content: "survives a restart" });
    first.proc.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);
    const again = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("term.db")]);
    await again.initialize();
    expect((await again.call("recall", { query: "restart" })).structuredContent.hits.map((h: any) => h.id)).toEqual(["t1"]);
    expect(await again.close()).toBe(0);
  });
});
