import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { tempDir } from "../helpers/tmp.ts";
import { BIN, ROOT, cli, ndjson, startServe, type ServeProcess } from "./run.ts";

const tmp = tempDir("stowage-cli-srv-");
const data = tmp.file("server.db");
let server: ServeProcess;
let key = "";

beforeAll(async () => {
  const made = await cli(["keys", "create", "--tenant", "acme", "--label", "ci", "--data", data, "--json"]);
  expect(made.code).toBe(0);
  key = JSON.parse(made.stdout).key;
  server = await startServe(data);
});
afterAll(async () => {
  await server?.stop();
  tmp.cleanup();
});

const client = (name: string, ...args: string[]) => cli([...args, "--db", tmp.file(`${name}.db`), "--url", server.url, "--key", key]);

describe("server commands", () => {
  test("keys list shows the key without its secret", async () => {
    const r = await cli(["keys", "list", "--data", data, "--json"]);
    const [k] = ndjson(r.stdout);
    expect(k).toMatchObject({ tenantName: "acme", label: "ci", revokedAt: null });
    expect(key).toStartWith(`stw_${k.id.slice(2)}_`);
    expect(r.stdout).not.toContain(key);
  });

  test("two clients converge through sync", async () => {
    // A write command pushes right after its local commit, so the server has both at once.
    expect(await client("a", "put", "todos", '{"id":"t1","title":"from a"}')).toMatchObject({ code: 0, stdout: "t1\n", stderr: "" });
    expect(await client("b", "put", "todos", '{"id":"t2","title":"from b"}')).toMatchObject({ code: 0, stdout: "t2\n", stderr: "" });
    const a1 = await client("a", "sync", "--json");
    expect(a1.code).toBe(0);
    expect(JSON.parse(a1.stdout)).toMatchObject({ pushed: 0, pulled: 2, outbox: 0 });
    expect(JSON.parse((await client("b", "sync", "--json")).stdout)).toMatchObject({ pushed: 0, pulled: 2, outbox: 0 });
    await client("a", "sync");
    for (const who of ["a", "b"]) {
      const docs = ndjson((await client(who, "list", "todos", "--json")).stdout);
      expect(docs).toEqual([{ id: "t1", title: "from a" }, { id: "t2", title: "from b" }]);
    }
    // A patch and a delete travel too.
    await client("b", "patch", "todos", "t1", '{"done":true}');
    await client("b", "rm", "todos", "t2");
    expect(JSON.parse((await client("b", "status", "--json")).stdout).outbox.size).toBe(0);
    await client("a", "sync");
    expect(ndjson((await client("a", "list", "todos", "--json")).stdout)).toEqual([{ id: "t1", title: "from a", done: true }]);
  });

  test("sync --watch keeps pulling until interrupted", async () => {
    const db = tmp.file("watcher.db");
    const watcher = Bun.spawn([process.execPath, BIN, "sync", "--watch", "--json", "--db", db, "--url", server.url, "--key", key, "--sync-interval", "100ms"], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: tmp.path },
      stdout: "pipe",
      stderr: "pipe",
    });
    try {
      await client("a", "put", "watched", '{"id":"w1","n":1}');
      await client("a", "sync");
      let got = "";
      for (let i = 0; i < 200 && !got; i++) {
        await Bun.sleep(50);
        got = (await cli(["get", "watched", "w1", "--json", "--db", db])).stdout;
      }
      expect(got).toBe('{"id":"w1","n":1}\n');
    } finally {
      watcher.kill("SIGINT");
    }
    expect(await watcher.exited).toBe(0);
    const events = ndjson(await new Response(watcher.stdout).text());
    expect(events.some((e) => e.event === "sync" && e.pulled >= 1)).toBe(true);
  });

  test("http-only mode reads and writes the server directly", async () => {
    const direct = (...args: string[]) => client("unused", ...args, "--sync-disable");
    expect((await direct("put", "notes", '{"id":"n1","text":"direct"}')).code).toBe(0);
    expect(JSON.parse((await direct("get", "notes", "n1", "--json")).stdout)).toEqual({ id: "n1", text: "direct" });
    expect(JSON.parse((await client("a", "sync", "--json")).stdout).pulled).toBe(1);
    expect(JSON.parse((await client("a", "get", "notes", "n1", "--json")).stdout).text).toBe("direct");
    const env = await cli(["get", "notes", "n1", "--json"], { env: { STOWAGE_URL: server.url, STOWAGE_API_KEY: key, STOWAGE_SYNC_DISABLE: "1" } });
    expect(JSON.parse(env.stdout).text).toBe("direct");
  });

  test("status reports mode, outbox and a reachable server", async () => {
    await client("a", "put", "todos", '{"id":"t9"}');
    const s = JSON.parse((await client("a", "status", "--json")).stdout);
    expect(s).toMatchObject({ mode: "hybrid", url: server.url, outbox: { size: 0 }, server: { ok: true } });
    const local = JSON.parse((await cli(["status", "--json", "--db", tmp.file("lonely.db")])).stdout);
    expect(local).toMatchObject({ mode: "local", url: null, server: null, outbox: { size: 0 } });
  });

  test("an unreachable server: put saves and queues (exit 0, a notice); sync exits 5 and changes nothing", async () => {
    const db = tmp.file("a.db");
    const put = await cli(["put", "todos", '{"id":"offline1"}', "--db", db, "--url", "http://127.0.0.1:9", "--key", key]);
    expect(put.code).toBe(0);
    expect(put.stdout).toBe("offline1\n");
    expect(put.stderr).toMatch(/^stowage: server unreachable .*; saved locally, 1 write queued for `stowage sync`\n$/);
    const before = (await cli(["export", "--db", db])).stdout;
    expect(before).toContain('"offline1"');
    const r = await cli(["sync", "--db", db, "--url", "http://127.0.0.1:9", "--key", key]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^stowage: .*127\.0\.0\.1:9/);
    expect((await cli(["export", "--db", db])).stdout).toBe(before);
    expect(JSON.parse((await cli(["status", "--json", "--db", db])).stdout).outbox.size).toBe(1);
  });

  test("a revoked key is refused: exit 6", async () => {
    const other = JSON.parse((await cli(["keys", "create", "--tenant", "acme", "--data", data, "--json"])).stdout);
    expect((await cli(["keys", "revoke", other.id, "--data", data])).stdout).toBe(`revoked ${other.id} (tenant acme)\n`);
    const r = await cli(["sync", "--db", tmp.file("c.db"), "--url", server.url, "--key", other.key]);
    expect(r.code).toBe(6);
    expect(r.stderr).toStartWith("stowage: ");
    const missing = await cli(["keys", "revoke", "k_0000000000000000", "--data", data]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toBe('stowage: no key with id "k_0000000000000000"\n');
  });

  test("sync without a server and keys without --tenant are usage errors", async () => {
    const r = await cli(["sync", "--db", tmp.file("a.db")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("sync needs a server");
    expect((await cli(["keys", "create", "--data", data])).stderr).toContain("keys create needs --tenant NAME");
  });

  test("gc reports what it purged", async () => {
    const r = await cli(["gc", "--older-than", "0ms", "--data", data, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ tombstones: 1, tenants: 1 });
  });
});
