import { afterAll, beforeAll, expect, test } from "bun:test";
import { buildTarget, HOST } from "../../build.ts";
import { tempDir } from "../helpers/tmp.ts";
import { spawnMcp, text, type McpChild } from "./client.ts";

const out = tempDir("stowage-mcp-bin-");
let exe = "";
let child: McpChild | undefined;

beforeAll(async () => {
  if (!HOST) return;
  const built = await buildTarget(HOST, out.path);
  expect(built).toMatchObject({ status: "ok" });
  exe = built.file!;
}, 120_000);
afterAll(async () => {
  child?.proc.kill("SIGKILL");
  await child?.proc.exited;
  out.cleanup();
});

test.skipIf(!HOST)("the compiled executable's mcp command answers the same exchange", async () => {
  child = spawnMcp([exe, "mcp", "--db", out.file("bin.db")], { STOWAGE_DB: undefined });
  const init = await child.initialize();
  expect(init.serverInfo).toMatchObject({ name: "stowage" });
  const { tools } = await child.request("tools/list");
  expect(tools.map((t: any) => t.name).sort()).toEqual(["delete", "get", "list", "recall", "store", "sync_status", "update"]);

  const stored = await child.call("store", { content: "Compiled binaries remember the osprey", tags: ["bin"] });
  const id = stored.structuredContent.id;
  expect(text(stored)).toBe(`Stored memories/${id}`);
  const found = await child.call("recall", { query: "osprey" });
  expect(found.structuredContent.engine).toBe("fts5");
  expect(found.structuredContent.hits.map((h: any) => h.id)).toEqual([id]);
  expect((await child.call("delete", { id })).structuredContent.existed).toBe(true);
  expect((await child.call("recall", { query: "osprey" })).structuredContent.hits).toEqual([]);

  const bad = await child.call("recall", { query: 42 });
  expect(bad.isError).toBe(true);
  expect(text(bad)).toContain("expected string, received number at query");
  const alive = await child.call("store", { content: "still up" });
  expect(alive.isError).toBeUndefined();
  expect(await child.close()).toBe(0);
}, 60_000);
