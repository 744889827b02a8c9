import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cli, ndjson, ROOT, type RunResult } from "../cli/run.ts";
import { startFaultProxy } from "../helpers/fault-proxy.ts";
import { tempDir } from "../helpers/tmp.ts";
import { seeded } from "./helpers.ts";
import { SHAPES, type ShapeServer } from "./shapes/index.ts";

/**
 * The four API shapes, each driven only through the CLI from its config file in
 * docs/examples/rest/ (baseUrl pointed at the reference server): the seed's four verification
 * steps, updates and deletes both ways, and 10% of answers dropped after the API committed
 * (the reference APIs ignore Idempotency-Key, so lost create answers make duplicates that the
 * local-id pointer must let repair find): 0 lost, 0 duplicates left.
 */
const LONG = 180_000;
const dir = tempDir("stowage-rest-shapes-");
const closers: (() => Promise<void>)[] = [];
let n = 0;
afterAll(async () => {
  for (const c of closers.reverse()) await c();
  dir.cleanup();
});

function configFor(shape: string, baseUrl: string): string {
  const config = JSON.parse(readFileSync(join(ROOT, "docs", "examples", "rest", `${shape}.json`), "utf8"));
  const file = dir.file(`${shape}-${n++}.json`);
  writeFileSync(file, JSON.stringify({ ...config, baseUrl }));
  return file;
}

function start(shape: string, options: { idempotency?: boolean } = {}): ShapeServer {
  const s = SHAPES[shape]({ path: dir.file(`${shape}-api-${n++}.db`), ...options });
  closers.push(() => s.close());
  return s;
}

/** A CLI client: one database, one config file. */
function client(server: ShapeServer, config: string) {
  const db = dir.file(`client-${n++}.db`);
  const auth = server.key === null ? [] : ["--key", server.key];
  return {
    db,
    run: (args: string[], env: Record<string, string> = {}): Promise<RunResult> => cli([...args, "--db", db, "--rest", config, ...auth], { env }),
    async get(id: string): Promise<Record<string, unknown> | null> {
      const r = await cli(["get", "notes", id, "--json", "--db", db]);
      if (r.code === 4) return null;
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout);
    },
    async docs(): Promise<Record<string, unknown>[]> {
      const r = await cli(["list", "notes", "--all", "--json", "--db", db]);
      expect(r.code).toBe(0);
      return ndjson(r.stdout).sort((a, b) => (a.id < b.id ? -1 : 1));
    },
  };
}

const localIdOf = (doc: Record<string, unknown>) => doc.local_id;
const mine = (server: ShapeServer, id: string) => server.live().filter((i) => localIdOf(i.doc) === id);

async function syncUntil(c: ReturnType<typeof client>, done: () => Promise<boolean>, tries = 8): Promise<number> {
  for (let i = 1; i <= tries; i++) {
    const r = await c.run(["sync"]);
    expect(r.code).toBe(0);
    if (await done()) return i;
  }
  throw new Error(`not done after ${tries} syncs`);
}

for (const shape of Object.keys(SHAPES)) {
  describe(`shape ${shape} (docs/examples/rest/${shape}.json), CLI only`, () => {
    test("the seed's four verification steps", async () => {
      const server = start(shape);
      const config = configFor(shape, server.url);
      const a = client(server, config);
      // 1. Hybrid: a write lands in local SQLite and on the API.
      expect((await a.run(["put", "notes", '{"id":"n1","text":"hello"}'])).code).toBe(0);
      expect(await a.get("n1")).toEqual({ id: "n1", text: "hello" });
      expect(mine(server, "n1").map((i) => i.doc.text)).toEqual(["hello"]);
      const status = await a.run(["status"]);
      expect(status.stdout).toContain(`REST API ${server.url}`);
      expect(status.stdout).toContain("hybrid mode");
      // 2. Offline: writes and reads work with the API down; they queue and drain when it returns.
      await server.stop();
      const offline = await a.run(["put", "notes", '{"id":"n2","text":"offline"}']);
      expect(offline.code).toBe(0);
      expect(offline.stderr).toContain("1 write queued");
      expect(await a.get("n2")).toEqual({ id: "n2", text: "offline" });
      expect(JSON.parse((await a.run(["status", "--json"])).stdout).outbox.size).toBe(1);
      await server.start();
      expect((await a.run(["sync"])).code).toBe(0);
      expect(JSON.parse((await a.run(["status", "--json"])).stdout).outbox.size).toBe(0);
      expect(mine(server, "n2").map((i) => i.doc.text)).toEqual(["offline"]);
      // 3. A write made on the API reaches the cache; a delete made there removes it.
      const sid = server.direct.create({ text: "from the API" });
      expect((await a.run(["sync"])).code).toBe(0);
      expect(await a.get(`srv-${sid}`)).toEqual({ id: `srv-${sid}`, text: "from the API" });
      server.direct.remove(sid);
      // Hard-deleting APIs show it at the next full listing (fullListEvery: 5 pulls).
      const syncs = await syncUntil(a, async () => (await a.get(`srv-${sid}`)) === null, 6);
      expect(syncs).toBeLessThanOrEqual(shape === "crud" || shape === "pocketbase" ? 5 : 1);
      // 4. No --rest: local only. Key + STOWAGE_SYNC_DISABLE=1: every call straight to the API.
      const local = dir.file(`local-${n++}.db`);
      expect((await cli(["put", "notes", '{"id":"l1"}', "--db", local])).code).toBe(0);
      expect((await cli(["status", "--db", local])).stdout).toContain("local");
      const n1 = mine(server, "n1")[0].serverId;
      const direct = await a.run(["get", "notes", n1, "--json"], { STOWAGE_SYNC_DISABLE: "1" });
      expect(direct.code).toBe(0);
      expect(JSON.parse(direct.stdout)).toMatchObject({ id: n1, text: "hello" });
    }, LONG);

    test("updates and deletes both ways", async () => {
      const server = start(shape);
      const config = configFor(shape, server.url);
      const a = client(server, config);
      const b = client(server, config);
      expect((await a.run(["put", "notes", '{"id":"u1","text":"v1","tags":["x"]}'])).code).toBe(0);
      expect((await a.run(["put", "notes", '{"id":"u2","text":"keep"}'])).code).toBe(0);
      expect((await b.run(["sync"])).code).toBe(0);
      // B sees A's documents under A's ids (the local id the API items carry).
      expect(await b.get("u1")).toEqual({ id: "u1", text: "v1", tags: ["x"] });
      // Client → API: an update, never a second item.
      expect((await a.run(["patch", "notes", "u1", '{"text":"v2"}'])).code).toBe(0);
      expect(mine(server, "u1").map((i) => i.doc.text)).toEqual(["v2"]);
      expect((await b.run(["sync"])).code).toBe(0);
      expect(await b.get("u1")).toEqual({ id: "u1", text: "v2", tags: ["x"] });
      // API → client: an update made on the API.
      const [u1] = mine(server, "u1");
      server.direct.update(u1.serverId, { ...u1.doc, text: "edited on the API" });
      expect((await a.run(["sync"])).code).toBe(0);
      expect(await a.get("u1")).toEqual({ id: "u1", text: "edited on the API", tags: ["x"] });
      // Client → API: a delete; the other client follows (at the next full listing when the API deletes for good).
      expect((await a.run(["rm", "notes", "u1"])).code).toBe(0);
      expect(mine(server, "u1")).toEqual([]);
      await syncUntil(b, async () => (await b.get("u1")) === null, 6);
      expect(await b.get("u2")).toEqual({ id: "u2", text: "keep" });
      expect(server.live().length).toBe(1);
    }, LONG);

    test("10% of answers dropped after the API committed: 0 lost, 0 duplicates left", async () => {
      const server = start(shape, { idempotency: false });
      const proxy = await startFaultProxy(server.url, { dropRate: 0.1, random: seeded(shape.length * 7 + 3) });
      closers.push(() => proxy.stop());
      const config = configFor(shape, proxy.url);
      const a = client(server, config);
      const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `d${i}`, text: `doc ${i}`, n: i }));
      writeFileSync(dir.file(`import-${shape}.ndjson`), lines.join("\n") + "\n");
      expect([0, 5]).toContain((await a.run(["import", dir.file(`import-${shape}.ndjson`), "--collection", "notes"])).code);
      for (const i of [1, 2, 3, 4]) expect([0, 5]).toContain((await a.run(["patch", "notes", `d${i}`, `{"text":"edited ${i}"}`])).code);
      for (const i of [5, 6]) expect([0, 5]).toContain((await a.run(["rm", "notes", `d${i}`])).code);
      // Sync until a cycle completes with nothing queued, then once more (queued repairs).
      let clean = 0;
      for (let i = 0; i < 40 && clean < 2; i++) {
        const r = await a.run(["sync"]);
        const s = JSON.parse((await a.run(["status", "--json"])).stdout);
        clean = r.code === 0 && s.outbox.size === 0 ? clean + 1 : 0;
      }
      expect(clean).toBe(2);
      const local = await a.docs();
      expect(local.map((d) => d.id)).toEqual(Array.from({ length: 30 }, (_, i) => `d${i}`).filter((id) => id !== "d5" && id !== "d6").sort());
      // 0 lost: every local document is on the API with its value; 0 duplicates: exactly once.
      for (const doc of local) {
        const copies = mine(server, doc.id as string);
        expect(copies.length).toBe(1);
        const { local_id: _l, ...fields } = copies[0].doc;
        expect({ ...fields, id: doc.id } as Record<string, unknown>).toEqual(doc);
      }
      expect(server.live().length).toBe(28);
      // Another client reads the same 28 through the same faults.
      const b = client(server, config);
      for (let i = 0; i < 20; i++) if ((await b.run(["sync"])).code === 0) break;
      expect(await b.docs()).toEqual(local);
      console.log(`${shape}: ${proxy.stats.forwarded} answered, ${proxy.stats.dropped} dropped after commit, ${server.stats.creates} items created for 30 documents`);
    }, LONG);
  });
}
