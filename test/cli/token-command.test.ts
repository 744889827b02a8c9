/**
 * `--token-command` / STOWAGE_TOKEN_COMMAND: real CLI processes, a real server verifying
 * HS256 JWTs, a token command that mints them (test/fixtures/mint-token.ts).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";
import { spawnMcp } from "../mcp/client.ts";
import { BIN, cli, ROOT, startServe } from "./run.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
const MINT = `"${process.execPath}" "${join(ROOT, "test/fixtures/mint-token.ts")}"`;
let s: EmbeddedServer;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  s = await startEmbedded({ jwt: { secret: SECRET, clockToleranceSec: 0 } });
});
afterAll(async () => {
  for (const c of cleanups) await c();
  await s.stop();
});

function env(db: string, command: string, extra: Record<string, string> = {}): Record<string, string> {
  return { STOWAGE_URL: s.url, STOWAGE_DB: s.file(db), STOWAGE_TOKEN_COMMAND: command, STOWAGE_LIVE: "0", MINT_SECRET: SECRET, MINT_SUB: "cli-tenant", ...extra };
}

describe("a working token command", () => {
  test("put, sync and get run with its token; it runs once per process while the token is fresh", async () => {
    const log = s.file("reasons.log");
    const e = env("ok.db", MINT, { MINT_LOG: log });
    const put = await cli(["put", "todos", '{"id":"a","title":"with a token"}'], { env: e });
    expect([put.code, put.stderr]).toEqual([0, ""]);
    const other = env("other.db", MINT);
    const sync = await cli(["sync"], { env: other });
    expect([sync.code, sync.stdout]).toEqual([0, "pushed 0, pulled 1; 0 still queued\n"]);
    expect(JSON.parse((await cli(["get", "todos", "a", "--json"], { env: other })).stdout)).toEqual({ id: "a", title: "with a token" });
    expect(readFileSync(log, "utf8")).toBe("start\n");
  });

  test("--key and --token-command together is a usage error", async () => {
    const r = await cli(["sync", "--key", "stw_x"], { env: env("both.db", MINT) });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not both");
  });
});

describe("a token command that fails, hangs or prints nothing", () => {
  for (const [what, command, message] of [
    ["fails", "echo 'no session: run login first' >&2; exit 3", /token command "echo 'no session: run login first' >&2; exit 3" failed \(exit 3\): no session: run login first/],
    ["prints nothing", "true", /printed nothing on stdout/],
    ["hangs", "sleep 30", /printed no token within 10 s \(killed\)/],
  ] as const) {
    test(`${what}: exit 6 with the reason; the write stays queued`, async () => {
      const e = env(`${what.replace(/ /g, "-")}.db`, command);
      const put = await cli(["put", "todos", '{"id":"q"}'], { env: e });
      expect(put.code).toBe(6);
      expect(put.stderr).toMatch(/saved locally and queued, but no credentials for the push/);
      expect(put.stderr).toMatch(message);
      // "hangs": the message itself proves the timeout fired (a finished `sleep 30` prints nothing).
      const status = JSON.parse((await cli(["status", "--json"], { env: e })).stdout);
      expect(status.outbox.size).toBe(1);
      const sync = await cli(["sync"], { env: e });
      expect(sync.code).toBe(6);
      expect(sync.stderr).toMatch(message);
    }, 60_000);
  }
});

describe("2-second JWTs through the CLI for 30 s", () => {
  test("against stowage serve --jwt-secret, sync --watch with live on: every write lands, the stream reconnects across expiries, no 401 error", async () => {
    const served = await startServe(s.file("served.db"), { args: ["--jwt-secret", SECRET] });
    cleanups.push(() => served.stop());
    const e = { ...env("watch.db", MINT, { MINT_LIFETIME_S: "2" }), STOWAGE_URL: served.url, STOWAGE_LIVE: "1", PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1" };
    const watch = Bun.spawn([process.execPath, BIN, "sync", "--watch", "--json", "--sync-interval", "5s"], { cwd: ROOT, env: e, stdout: "pipe", stderr: "pipe" });
    const out = new Response(watch.stdout).text();
    const start = Date.now();
    let writes = 0;
    while (Date.now() - start < 30_000) {
      const r = await cli(["put", "ticks", `{"id":"t${writes}"}`], { env: e });
      expect(r.code).toBe(0);
      writes++;
      await Bun.sleep(200);
    }
    await Bun.sleep(3_000);
    watch.kill("SIGTERM");
    await watch.exited;
    const events = (await out).split("\n").filter(Boolean).map((l) => JSON.parse(l));
    const ups = events.filter((ev) => ev.event === "live" && ev.connected).length;
    const auth401 = events.filter((ev) => ev.event === "error" && /401/.test(ev.message));
    const reader = { ...env("watch-reader.db", MINT), STOWAGE_URL: served.url };
    expect((await cli(["sync"], { env: reader })).code).toBe(0);
    const listed = (await cli(["list", "ticks", "--all", "--json"], { env: reader })).stdout.split("\n").filter(Boolean).length;
    console.log(`CLI, 2-s JWTs, 30 s: ${writes} writes (one process each), ${listed} on the server, ${ups - 1} stream reconnects by sync --watch, ${auth401.length} 401 errors`);
    expect(listed).toBe(writes);
    expect(auth401).toEqual([]);
    expect(ups - 1).toBeGreaterThanOrEqual(10);
  }, 90_000);
});

describe("stowage mcp with STOWAGE_TOKEN_COMMAND", () => {
  test("stores through the token's tenant; sync_status shows the auth state", async () => {
    const e = env("mcp.db", MINT, { MINT_SUB: "mcp-tenant" });
    const child = spawnMcp([process.execPath, BIN, "mcp"], { ...e, STOWAGE_API_KEY: undefined });
    try {
      await child.initialize();
      const stored = await child.call("store", { content: "a note stored with a minted token" });
      expect(stored.isError).toBeUndefined();
      const status = await child.call("sync_status", { sync: true });
      expect(status.isError).toBeUndefined();
      expect(status.structuredContent.status.outbox.size).toBe(0);
      expect(status.structuredContent.status.auth).toMatchObject({ state: "ok", reason: null, renewable: true });
      // Another client of the same tenant (same token command) pulls the note.
      const other = env("mcp-reader.db", MINT, { MINT_SUB: "mcp-tenant" });
      expect((await cli(["sync"], { env: other })).stdout).toBe("pushed 0, pulled 1; 0 still queued\n");
    } finally {
      await child.close();
    }
  }, 60_000);
});
