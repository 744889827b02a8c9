import { describe, expect, test } from "bun:test";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openServerStore } from "../../src/server/index.ts";
import { until } from "../helpers/until.ts";
import { openClient } from "../sync/clients.ts";
import { serveScope, sqlite3, sqlite3Available } from "./ops-serve.ts";
import { cli, ROOT } from "./run.ts";

const { tmp, keyFor, serveAt } = serveScope("stowage-cli-ops-");

describe("stowage serve at default settings", () => {
  test("two clients on ONE key, each syncing after every write, 500 rounds: no 429, nothing lost", async () => {
    const data = tmp.file("default.db");
    const key = await keyFor(data, "shared");
    const server = await serveAt(data);
    const clients = [await openClient(tmp.file("c1.db"), server.url, key), await openClient(tmp.file("c2.db"), server.url, key)];
    const errors: unknown[] = [];
    await Promise.all(
      clients.map(async (c, n) => {
        for (let i = 0; i < 500; i++) {
          await c.collection("rounds").put({ id: `c${n}-${i}`, i });
          try {
            await c.sync();
          } catch (e) {
            errors.push(e);
          }
        }
      }),
    );
    expect(errors).toEqual([]);
    for (const c of clients) await c.sync();
    for (const c of clients) {
      expect((await c.collection("rounds").list({ limit: 2000 })).items.length).toBe(1000);
      expect((await c.status()).outbox.size).toBe(0);
      await c.close();
    }
    // The log is read from the child's stderr as it arrives: wait for the last lines, not for luck.
    await until("every push logged", () => server.logs().filter((l) => l.msg === "request" && l.route === "/v1/push").length >= 1000, 30_000);
    const logs = server.logs().filter((l) => l.msg === "request");
    expect(logs.filter((l) => l.status === 429).length).toBe(0);
    expect(logs.filter((l) => l.status !== 200).length).toBe(0);
    expect(logs.filter((l) => l.route === "/v1/push").length).toBeGreaterThanOrEqual(1000);
    // The scheduled GC ran at start and was logged.
    expect(server.logs().find((l) => l.msg === "gc")).toMatchObject({ level: "info", tombstones: 0 });
    expect(await server.signal("SIGTERM")).toBe(0);
  }, 120_000);
});

describe("serve flags", () => {
  test("--rate-limit, --max-body, --max-doc and their env vars take effect; bad values exit 2 (usage) naming the flag and the accepted form", async () => {
    const data = tmp.file("flags.db");
    const key = await keyFor(data, "flags");
    const server = await serveAt(data, ["--rate-limit", "1,3", "--max-body", "2KiB", "--log-level", "off"], { env: { STOWAGE_MAX_DOC: "100" } });
    const headers = { authorization: `Bearer ${key}`, "content-type": "application/json" };
    const big = JSON.stringify({ clientId: "flags-client", ops: [{ opId: 1, collection: "c", id: "x", op: "put", value: { pad: "x".repeat(3000) } }] });
    expect((await fetch(`${server.url}/v1/push`, { method: "POST", headers, body: big })).status).toBe(413);
    const doc = JSON.stringify({ clientId: "flags-client", ops: [{ opId: 1, collection: "c", id: "x", op: "put", value: { pad: "x".repeat(200) } }] });
    const tooBig = await fetch(`${server.url}/v1/push`, { method: "POST", headers, body: doc });
    expect(tooBig.status).toBe(400);
    expect((await tooBig.json()).error.message).toContain("the limit is 100");
    // Burst 3 at 1/s: within a few more requests one is refused (a slow machine may refill one or two).
    let limited: Response | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const res = await fetch(`${server.url}/v1/pull`, { headers });
      if (res.status === 429) limited = res;
      else expect(res.status).toBe(200);
    }
    expect(limited?.headers.get("retry-after")).toBe("1");
    expect(server.stderr()).not.toContain('"msg":"request"');
    await server.signal("SIGTERM");
    const off = await serveAt(data, ["--log-level", "off"], { env: { STOWAGE_RATE_LIMIT: "off" } });
    for (let i = 0; i < 30; i++) expect((await fetch(`${off.url}/v1/pull`, { headers })).status).toBe(200);
    await off.signal("SIGTERM");
    for (const [flag, value, message] of [
      ["--rate-limit", "fast", 'stowage: --rate-limit must be RATE[,BURST] (requests per second per key, e.g. 10000,20000) or off, got "fast"\n'],
      ["--max-body", "4 parsecs", 'stowage: --max-body must be a size like 4MiB, 512KiB or 1000000 (bytes), got "4 parsecs"\n'],
      ["--log-format", "xml", 'stowage: --log-format must be json or pretty, got "xml"\n'],
      ["--cors-origin", "app.example", 'stowage: --cors-origin must be * or scheme://host[:port], got "app.example"\n'],
    ]) {
      expect(await cli(["serve", "--port", "0", "--data", data, flag, value])).toMatchObject({ code: 2, stdout: "", stderr: message });
    }
  }, 60_000);
});

describe("graceful shutdown", () => {
  test("SIGTERM during a large push: the client's retry after restart leaves every op applied exactly once", async () => {
    const data = tmp.file("shutdown.db");
    await keyFor(data, "unused");
    const key = await keyFor(data, "sigterm");
    let server = await serveAt(data);
    const port = server.port;
    const COUNT = 3000;
    const writer = Bun.spawn([process.execPath, "test/fixtures/sync-client.ts", tmp.file("writer.db"), server.url, key, "w", String(COUNT), "1"], {
      cwd: ROOT,
      stdout: "pipe",
      stderr: "inherit",
    });
    const out = { text: "" };
    void (async () => {
      for await (const chunk of writer.stdout as ReadableStream<Uint8Array>) out.text += new TextDecoder().decode(chunk);
    })();
    // Wait until pushes are flowing, then stop the server while one is (very likely) in flight.
    for (let i = 0; i < 3000 && server.logs().filter((l) => l.route === "/v1/push").length < 3; i++) await Bun.sleep(5);
    const code = await server.signal("SIGTERM");
    expect(code).toBe(0);
    expect(server.stderr()).toContain("stowage serve: stopped");
    const drained = server.logs().find((l) => l.msg === "shutdown: draining");
    console.log(`SIGTERM arrived with ${drained?.requests} request(s) in flight`);
    const before = server.logs().filter((l) => l.msg === "request" && l.route === "/v1/push");
    // Every push the old server saw was answered: applied (200) or refused while draining (503).
    expect(before.every((l) => l.status === 200 || l.status === 503)).toBe(true);
    server = await serveAt(data, [], { port });
    for (let i = 0; i < 6000 && !out.text.includes("done\n"); i++) await Bun.sleep(10);
    expect(out.text).toContain("done\n");
    expect(await writer.exited).toBe(0);
    await server.signal("SIGTERM");
    const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: data }) });
    try {
      const tenant = await store.db.selectFrom("stowage_tenants").select(["id", "seq"]).where("name", "=", "sigterm").executeTakeFirstOrThrow();
      const docs = await store.db.selectFrom("stowage_docs").select(["id", "seq"]).where("tenant_id", "=", tenant.id).orderBy("seq").execute();
      // Exactly once: COUNT documents at versions 1..COUNT; an op applied twice would have used a second number.
      expect(Number(tenant.seq)).toBe(COUNT);
      expect(docs.length).toBe(COUNT);
      expect(docs.map((d) => Number(d.seq))).toEqual(Array.from({ length: COUNT }, (_, i) => i + 1));
      expect(new Set(docs.map((d) => d.id)).size).toBe(COUNT);
    } finally {
      await store.close();
    }
  }, 120_000);
});

describe("graceful shutdown, mid-push", () => {
  test("SIGTERM while a 1,000-op push is being applied: it is answered or cleanly failed, and the resend after restart applies nothing twice", async () => {
    const data = tmp.file("midpush.db");
    const key = await keyFor(data, "midpush");
    let server = await serveAt(data);
    const port = server.port;
    const BATCHES = 4;
    const SIZE = 1000;
    const batch = (b: number) =>
      JSON.stringify({
        clientId: "midpush-client",
        ops: Array.from({ length: SIZE }, (_, i) => ({ opId: b * SIZE + i + 1, collection: "big", id: `d${b * SIZE + i}`, op: "put", value: { pad: "z".repeat(1500) } })),
      });
    const send = (b: number) =>
      fetch(`http://127.0.0.1:${port}/v1/push`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: batch(b) });
    const outcomes: string[] = [];
    const statuses: Record<string, number> = {};
    for (let b = 0; b < BATCHES; b++) {
      for (;;) {
        const pending = send(b);
        if (b === 1 && outcomes.length === 1) {
          // The second batch is on its way: stop the server while it is (almost surely) being applied.
          await Bun.sleep(30);
          expect(await server.signal("SIGTERM")).toBe(0);
          console.log(`SIGTERM arrived with ${server.logs().find((l) => l.msg === "shutdown: draining")?.requests} request(s) in flight`);
          server = await serveAt(data, [], { port });
        }
        const res = await pending.catch(() => undefined);
        outcomes.push(res ? String(res.status) : "no answer");
        if (res?.status === 200) {
          for (const r of (await res.json()).results) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          break;
        }
        await res?.arrayBuffer();
        expect(outcomes.length).toBeLessThan(20);
      }
    }
    console.log(`mid-push outcomes: ${outcomes.join(", ")}; results ${JSON.stringify(statuses)}`);
    // Answered (200), refused while draining (503) or cut off (no answer): never anything else.
    expect(outcomes.every((o) => o === "200" || o === "503" || o === "no answer")).toBe(true);
    // Each op applied once: a batch the old server committed comes back as duplicates.
    expect((statuses.applied ?? 0) + (statuses.duplicate ?? 0)).toBe(BATCHES * SIZE);
    await server.signal("SIGTERM");
    expect(await sqlite3Count(data, "midpush")).toEqual({ seq: BATCHES * SIZE, docs: BATCHES * SIZE, distinct: BATCHES * SIZE, max: BATCHES * SIZE });
  }, 120_000);
});

async function sqlite3Count(data: string, tenant: string): Promise<{ seq: number; docs: number; distinct: number; max: number }> {
  const store = await openServerStore({ adapter: createBunSqliteAdapter({ path: data }) });
  try {
    const t = await store.db.selectFrom("stowage_tenants").select(["id", "seq"]).where("name", "=", tenant).executeTakeFirstOrThrow();
    const rows = await store.db.selectFrom("stowage_docs").select(["seq"]).where("tenant_id", "=", t.id).execute();
    const seqs = rows.map((r) => Number(r.seq));
    return { seq: Number(t.seq), docs: rows.length, distinct: new Set(seqs).size, max: Math.max(...seqs) };
  } finally {
    await store.close();
  }
}

const haveSqlite3 = sqlite3Available("stowage backup test");

describe.skipIf(!haveSqlite3)("stowage backup", () => {
  test("while 4 writers push: the copy opens with sqlite3, passes integrity_check, and holds a gapless prefix of the sequence", async () => {
    const data = tmp.file("backup-src.db");
    const key = await keyFor(data, "backed");
    const server = await serveAt(data, ["--log-level", "warn"]);
    let stop = false;
    const pushed = [0, 0, 0, 0];
    const writers = pushed.map(async (_, w) => {
      let opId = 0;
      while (!stop) {
        const ops = Array.from({ length: 20 }, () => ({ opId: ++opId, collection: "w", id: `w${w}-${opId}`, op: "put", value: { w, opId, pad: "p".repeat(200) } }));
        const res = await fetch(`${server.url}/v1/push`, {
          method: "POST",
          headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
          body: JSON.stringify({ clientId: `backup-writer-${w}`, ops }),
        });
        expect(res.status).toBe(200);
        await res.arrayBuffer();
        pushed[w] += ops.length;
      }
    });
    while (pushed.reduce((a, b) => a + b) < 400) await Bun.sleep(5);
    const out = tmp.file("backup.db");
    const r = await cli(["backup", "--data", data, "--out", out, "--json"]);
    const during = pushed.reduce((a, b) => a + b);
    stop = true;
    await Promise.all(writers);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ out });
    expect(await sqlite3(out, "pragma integrity_check")).toBe("ok");
    const [tenantId, seq] = (await sqlite3(out, "select id, seq from stowage_tenants where name = 'backed'")).split("|");
    const n = Number(seq);
    expect(n).toBeGreaterThanOrEqual(400);
    expect(n).toBeLessThanOrEqual(during + 80);
    // A prefix: versions 1..n with no gap, none above the tenant's counter.
    expect(await sqlite3(out, `select count(*), count(distinct seq), min(seq), max(seq) from stowage_docs where tenant_id = '${tenantId}'`)).toBe(`${n}|${n}|1|${n}`);
    // And per writer: its recorded mark equals the documents it wrote (no half-applied push).
    const marks = await sqlite3(out, `select c.client_id, c.last_op_id, (select count(*) from stowage_docs d where d.tenant_id = c.tenant_id and d.writer = c.client_id) from stowage_clients c where c.tenant_id = '${tenantId}' order by 1`);
    for (const line of marks.split("\n")) {
      const [, mark, count] = line.split("|");
      expect(Number(mark)).toBe(Number(count));
      expect(Number(mark) % 20).toBe(0);
    }
    // The live database went on past the copy; the copy is unaffected.
    const live = await openServerStore({ adapter: createBunSqliteAdapter({ path: data }) });
    const liveSeq = Number((await live.db.selectFrom("stowage_tenants").select("seq").where("id", "=", tenantId).executeTakeFirstOrThrow()).seq);
    await live.close();
    expect(liveSeq).toBeGreaterThanOrEqual(n);
    expect((await cli(["backup", "--data", data, "--out", out])).code).toBe(3);
    expect((await cli(["backup", "--data", "postgres://x@127.0.0.1/db", "--out", tmp.file("pg.db")])).stderr).toContain("pg_dump");
    await server.signal("SIGTERM");
  }, 60_000);
});
