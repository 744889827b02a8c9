import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Stowage } from "../../src/stowage.ts";
import { startServer, type TestServer } from "../helpers/server.ts";
import { tempDir } from "../helpers/tmp.ts";
import { openClient, rng, serverHash, stateHash } from "./clients.ts";

const dir = tempDir("stowage-converge-");
let server: TestServer;
const open: Stowage[] = [];
let n = 0;
async function client(): Promise<Stowage> {
  const c = await openClient(dir.file(`c${n++}.db`), server.url, server.key);
  open.push(c);
  return c;
}

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  for (const c of open) await c.close();
  await server.stop();
  dir.cleanup();
});

describe("clients over the real server", () => {
  test("two clients doing puts, patches and deletes on overlapping documents converge", async () => {
    const a = await client();
    const b = await client();
    const random = rng(42);
    const ids = Array.from({ length: 40 }, (_, i) => `doc${i}`);
    for (let round = 0; round < 30; round++) {
      for (const c of [a, b]) {
        const items = c.collection("items");
        for (let k = 0; k < 10; k++) {
          const id = ids[Math.floor(random() * ids.length)];
          const r = random();
          if (r < 0.4) await items.put({ id, v: Math.floor(random() * 1000), by: c === a ? "a" : "b" });
          else if (r < 0.8) {
            if (await items.get(id)) await items.patch(id, { [`f${Math.floor(random() * 4)}`]: round });
            else await items.put({ id, created: round });
          } else await items.delete(id);
        }
      }
      if (round % 3 === 0) await a.sync();
      if (round % 4 === 1) await b.sync();
    }
    // Two settling rounds: each client's last push reaches the other.
    await a.sync();
    await b.sync();
    await a.sync();
    expect((await a.status()).outbox.size).toBe(0);
    expect((await b.status()).outbox.size).toBe(0);
    const ha = await stateHash(a);
    expect(await stateHash(b)).toBe(ha);
    expect(await serverHash(server.url, server.key, ["items"])).toBe(ha);
  });

  test("concurrent patches to different fields of one document both survive", async () => {
    const a = await client();
    const b = await client();
    await a.collection("notes").put({ id: "n1", title: "t", body: "b" });
    await a.sync();
    await b.sync();
    await a.collection("notes").patch("n1", { title: "from a" });
    await b.collection("notes").patch("n1", { body: "from b" });
    await a.sync();
    await b.sync();
    await a.sync();
    const want = { id: "n1", title: "from a", body: "from b" };
    expect(await a.collection("notes").get("n1")).toEqual(want);
    expect(await b.collection("notes").get("n1")).toEqual(want);
  });

  test("a pull while a local edit is pending keeps the edit; it then reaches the server and every client", async () => {
    const a = await client();
    const b = await client();
    const c = await client();
    await a.collection("tasks").put({ id: "t", title: "draft", done: false, owner: "a" });
    await a.sync();
    await b.sync();
    await c.sync();
    // B edits offline-style (no sync yet); A changes the same doc and syncs.
    await b.collection("tasks").patch("t", { done: true });
    await a.collection("tasks").patch("t", { title: "final" });
    await a.sync();
    // B pulls first (engine internals: push would also work; pull only shows the rebase).
    const { applyPage } = await import("../../src/sync/v1/pull.ts");
    const { HttpClient } = await import("../../src/sync/v1/http.ts");
    const http = new HttpClient({ url: server.url, apiKey: server.key });
    const text = await http.pull((await b.store!.getMeta("sync_cursor")) ?? null, 100);
    await applyPage(b.store!, text);
    expect(await b.collection("tasks").get("t")).toEqual({ id: "t", title: "final", done: true, owner: "a" });
    expect((await b.status()).outbox.size).toBe(1);
    await b.sync();
    await c.sync();
    await a.sync();
    const want = { id: "t", title: "final", done: true, owner: "a" };
    for (const x of [a, b, c]) expect(await x.collection("tasks").get("t")).toEqual(want);
  });

  test("two writers and a reader over 500 rounds: the reader ends with every change", async () => {
    const w1 = await client();
    const w2 = await client();
    const reader = await client();
    const expected = new Map<string, unknown>();
    for (let round = 0; round < 500; round++) {
      // Each round: a new document per writer, and both writers patch one shared document
      // (different fields) — commits land in the same millisecond, which is what defeats a
      // timestamp cursor.
      await Promise.all([
        w1.collection("log").put({ id: `w1-${round}`, round }),
        w2.collection("log").put({ id: `w2-${round}`, round }),
      ]);
      if (round === 0) {
        await w1.collection("log").put({ id: "shared", w1: -1, w2: -1 });
        await w1.sync();
        await w2.sync();
      } else {
        await Promise.all([w1.collection("log").patch("shared", { w1: round }), w2.collection("log").patch("shared", { w2: round })]);
      }
      expected.set(`w1-${round}`, { id: `w1-${round}`, round });
      expected.set(`w2-${round}`, { id: `w2-${round}`, round });
      // Interleaved pushes and pulls, as three processes would do them.
      await Promise.all([w1.sync(), w2.sync(), reader.sync()]);
    }
    await reader.sync();
    expected.set("shared", { id: "shared", w1: 499, w2: 499 });
    const page = await reader.collection("log").list({ limit: 2000 });
    expect(page.items.length).toBe(1001);
    expect(new Map<string, unknown>(page.items.map((d) => [d.id, d]))).toEqual(expected);
  });
});
