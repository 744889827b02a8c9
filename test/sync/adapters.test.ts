import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { openStowage } from "../../src/stowage.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { stateHash } from "./clients.ts";

const ADAPTERS: { name: string; open: (path: string) => StowageAdapter }[] = [
  { name: "bun-sqlite", open: (path) => createBunSqliteAdapter({ path }) },
  { name: "node-sqlite", open: (path) => createNodeSqliteAdapter({ path }) },
  { name: "libsql", open: (path) => createLibsqlAdapter({ url: `file:${path}` }) },
];

const dir = tempDir("stowage-sync-adapters-");
let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.stop();
  dir.cleanup();
});

// The engine's SQL (multi-row upserts, row-value IN, the lease) must hold on every adapter.
for (const adapter of ADAPTERS) {
  describe(`sync over ${adapter.name}`, () => {
    test("push, pull with a pending edit, conflict-free convergence", async () => {
      const env = {};
      const a = await openStowage({ adapter: adapter.open(dir.file(`${adapter.name}-a.db`)), url: server.url, apiKey: server.key, env, autoSync: false });
      const b = await openStowage({ adapter: createBunSqliteAdapter({ path: dir.file(`${adapter.name}-b.db`) }), url: server.url, apiKey: server.key, env, autoSync: false });
      const col = `c_${adapter.name.replace("-", "_")}`;
      await a.collection(col).putMany(Array.from({ length: 600 }, (_, i) => ({ id: `d${i}`, i })));
      await a.transaction(async (tx) => {
        await tx.collection(col).patch("d1", { tx: true });
        await tx.collection(col).delete("d2");
      });
      expect((await a.sync()).pushed).toBe(602);
      await b.sync();
      await b.collection(col).patch("d3", { fromB: 1 });
      await b.sync();
      await a.collection(col).patch("d3", { fromA: 1 }); // pending while A pulls B's change
      await a.sync();
      await b.sync();
      expect(await a.collection(col).get("d3")).toEqual({ id: "d3", i: 3, fromA: 1, fromB: 1 });
      expect(await stateHash(a)).toBe(await stateHash(b));
      await a.close();
      await b.close();
    });
  });
}
