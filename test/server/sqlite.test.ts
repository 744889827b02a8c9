import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { spawnServer, type SpawnedServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { api, puts } from "./client.ts";
import { runServerSuite } from "./suite.ts";

runServerSuite({ name: "bun-sqlite", openAdapter: (dir) => createBunSqliteAdapter({ path: join(dir, "server.db") }) });

describe("server process [bun-sqlite]", () => {
  const tmp = tempDir();
  const procs: SpawnedServer[] = [];
  afterAll(async () => {
    for (const p of procs) await p.kill();
    tmp.cleanup();
  });

  test("a SIGKILLed server restarted on the same file and port keeps every acknowledged op, exactly once", async () => {
    const dbPath = tmp.file("server.db");
    const first = await spawnServer({ dbPath });
    procs.push(first);
    const port = Number(new URL(first.url).port);
    const a = api(first.url, first.key);
    const res = await a.push({ clientId: "client-restart", ops: puts(100) });
    expect(res.lastOpId).toBe(100);
    await first.kill("SIGKILL");
    const second = await spawnServer({ dbPath, port });
    procs.push(second);
    expect(second.url).toBe(first.url);
    expect(second.key).toBe(first.key);
    const again = await a.push({ clientId: "client-restart", ops: puts(100) });
    expect(again.results.every((r) => r.status === "duplicate")).toBe(true);
    const changes = (await a.pullAll()).flatMap((p) => p.changes);
    expect(changes.map((c) => c.version)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await second.kill("SIGTERM");
  });
});
