import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage } from "../../src/stowage.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { until } from "../helpers/until.ts";
import { spawnMcp } from "./client.ts";

const BIN = join(import.meta.dir, "../../src/cli/bin.ts");
const tmp = tempDir("stowage-mcp-res-");
afterAll(() => tmp.cleanup());

test("collections are resources; a subscribed one is announced when another client's write is pulled", async () => {
  const server = await startServer();
  const mcp = spawnMcp([process.execPath, BIN, "mcp", "--db", tmp.file("mcp.db")], { STOWAGE_URL: server.url, STOWAGE_API_KEY: server.key });
  const other = await openStowage({ adapter: createBunSqliteAdapter({ path: tmp.file("other.db") }), url: server.url, apiKey: server.key, env: {} });
  try {
    const init = await mcp.initialize();
    expect(init.capabilities.resources).toMatchObject({ subscribe: true });
    const uri = "stowage://collection/todos";
    expect(await mcp.request("resources/subscribe", { uri })).toEqual({});
    await until("the MCP server's stream", () => server.handler.openStreams() === 2, 20_000);

    await other.collection("todos").put({ id: "t1", title: "from another client" });
    await until("resources/updated", () => mcp.orphans.some((m) => m.method === "notifications/resources/updated"), 20_000);
    expect(mcp.orphans.filter((m) => m.method === "notifications/resources/updated")[0].params).toEqual({ uri });

    const { resources } = await mcp.request("resources/list");
    expect(resources.map((r: any) => r.uri)).toEqual([uri]);
    const read = await mcp.request("resources/read", { uri });
    expect(JSON.parse(read.contents[0].text)).toEqual([{ id: "t1", title: "from another client" }]);

    // Unsubscribed: a local write through the store tool announces nothing more.
    expect(await mcp.request("resources/unsubscribe", { uri })).toEqual({});
    const before = mcp.orphans.length;
    await mcp.call("store", { collection: "todos", id: "t2", content: "local" });
    await new Promise((r) => setTimeout(r, 100));
    expect(mcp.orphans.length).toBe(before);
    expect(await mcp.close()).toBe(0);
  } finally {
    mcp.proc.kill("SIGKILL");
    await other.close();
    await server.stop();
  }
}, 60_000);
