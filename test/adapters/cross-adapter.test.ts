import { afterAll, describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { createLibsqlAdapter } from "../../adapters/libsql/index.ts";
import { createNodeSqliteAdapter } from "../../adapters/node-sqlite/index.ts";
import type { StowageAdapter } from "../../src/adapter.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import { startServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { startHranaServer, type HranaServer } from "./hrana-server.ts";

// Clients on one adapter, the server on another: the core is storage-agnostic, so documents,
// patches, deletes and transactions must come out the same whatever SQLite driver held them.
const dir = tempDir();
const hrana: HranaServer[] = [];
afterAll(async () => {
  for (const h of hrana) await h.stop();
  dir.cleanup();
});

type Open = (name: string) => StowageAdapter;
const ADAPTERS: Record<string, Open> = {
  "bun-sqlite": (name) => createBunSqliteAdapter({ path: dir.file(`${name}.db`) }),
  "node-sqlite": (name) => createNodeSqliteAdapter({ path: dir.file(`${name}.db`) }),
  "libsql file": (name) => createLibsqlAdapter({ url: `file:${dir.file(`${name}.db`)}` }),
  "libsql :memory:": () => createLibsqlAdapter({ url: ":memory:" }),
  "libsql remote": (name) => {
    const h = startHranaServer({ path: dir.file(`${name}.db`), authToken: "tok" });
    hrana.push(h);
    return createLibsqlAdapter({ url: h.url, authToken: "tok" });
  },
};

// [server, client A, client B]
const MATRIX: [string, string, string][] = [
  ["node-sqlite", "libsql file", "bun-sqlite"],
  ["libsql file", "node-sqlite", "libsql :memory:"],
  ["bun-sqlite", "libsql :memory:", "node-sqlite"],
  ["libsql remote", "bun-sqlite", "libsql file"],
];

/** Values whose types each driver could bend: big and negative integers, floats, unicode, nesting. */
const AWKWARD = {
  id: "awkward",
  int: 9007199254740991,
  neg: -42,
  zero: 0,
  float: 0.1 + 0.2,
  whole: 5,
  yes: true,
  no: false,
  nothing: null,
  text: "naïve café — 日本語 🚀 \u0000 nul and \"quotes\"",
  empty: "",
  list: [1, "two", [3], { four: 4 }, null],
  deep: { a: { b: { c: { d: [true] } } } },
};

let n = 0;
for (const [serverName, aName, bName] of MATRIX) {
  describe(`server on ${serverName}, clients on ${aName} and ${bName}`, () => {
    test("writes, patches, deletes and transactions exchange exactly", async () => {
      const run = n++;
      const server = await startServer({ adapter: ADAPTERS[serverName](`server-${run}`) });
      const open = (which: string, name: string) =>
        openStowage({ adapter: ADAPTERS[which](`${name}-${run}`), url: server.url, apiKey: server.key, env: {}, autoSync: false });
      let a: Stowage | undefined;
      let b: Stowage | undefined;
      try {
        a = await open(aName, "a");
        b = await open(bName, "b");
        const notes = a.collection("notes", { indexes: ["n"] });
        await notes.put(AWKWARD);
        await notes.putMany(Array.from({ length: 250 }, (_, i) => ({ id: `n${String(i).padStart(3, "0")}`, n: i, tag: i % 3 === 0 ? "fizz" : "plain" })));
        await a.transaction(async (tx) => {
          await tx.collection("notes").patch("n001", { tag: "patched", extra: { k: 1 } });
          await tx.collection("notes").delete("n002");
          await tx.collection("other").put({ id: "o1", ok: true });
        });
        expect((await a.sync()).pushed).toBe(254);

        await b.sync();
        const bn = b.collection("notes", { indexes: ["n"] });
        expect(await bn.get("awkward")).toEqual(AWKWARD);
        expect(await bn.count()).toBe(250); // 250 + awkward - n002
        expect(await bn.get("n001")).toEqual({ id: "n001", n: 1, tag: "patched", extra: { k: 1 } });
        expect(await bn.get("n002")).toBeUndefined();
        expect(await b.collection("other").get("o1")).toEqual({ id: "o1", ok: true });
        expect((await bn.list({ where: { tag: "fizz", n: { lt: 10 } } })).items.map((d) => d.id)).toEqual(["n000", "n003", "n006", "n009"]);

        // b edits different fields of the same document a edits: both survive (merge patches).
        await bn.patch("n005", { fromB: "b" });
        await notes.patch("n005", { fromA: "a" });
        await bn.delete("n010");
        await b.sync();
        await a.sync();
        await b.sync();
        for (const s of [a, b]) {
          const c = s.collection("notes");
          expect(await c.get("n005")).toEqual({ id: "n005", n: 5, tag: "plain", fromA: "a", fromB: "b" });
          expect(await c.get("n010")).toBeUndefined();
          expect(await c.count()).toBe(249);
          expect((await s.status()).outbox.size).toBe(0);
        }
        const ids = async (s: Stowage) => (await s.collection("notes").list({ limit: 1000 })).items.map((d) => JSON.stringify(d));
        expect(await ids(a)).toEqual(await ids(b));
      } finally {
        await a?.close();
        await b?.close();
        await server.stop();
      }
    });
  });
}
