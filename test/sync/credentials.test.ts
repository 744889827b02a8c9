/**
 * Guarantee 13: credentials are renewable. A real server verifying HS256 JWTs on 127.0.0.1,
 * clients whose getToken mints them; no fake clock (the lifetimes are seconds).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { SignJWT } from "jose";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { openStowage, type Stowage } from "../../src/stowage.ts";
import type { TokenReason } from "../../src/sync/credentials.ts";
import { startServe } from "../cli/run.ts";
import { startEmbedded, type EmbeddedServer } from "../server/embed-helpers.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
const WRONG = "another-secret-that-is-long-enough-for-hs256";
let s: EmbeddedServer;
const open: Stowage[] = [];
let n = 0;

beforeAll(async () => {
  // No leeway: a token is refused the second its exp passes, as the 2-second case needs.
  s = await startEmbedded({ jwt: { secret: SECRET, clockToleranceSec: 0 } });
});
afterAll(async () => {
  for (const c of open) await c.close().catch(() => {});
  await s.stop();
});

function mint(sub: string, lifetimeS: number, secret = SECRET): Promise<string> {
  const iat = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(iat).setExpirationTime(iat + lifetimeS).sign(new TextEncoder().encode(secret));
}

async function client(getToken: (r: { reason: TokenReason }) => string | Promise<string>, extra: Record<string, unknown> = {}): Promise<Stowage> {
  const c = await openStowage({ adapter: createBunSqliteAdapter({ path: s.file(`cred-${n++}.db`) }), url: s.url, getToken, env: {}, autoSync: false, live: false, ...extra });
  open.push(c);
  return c;
}

describe("getToken", () => {
  test("is called at start, then not again while the token is fresh", async () => {
    const reasons: TokenReason[] = [];
    const c = await client(({ reason }) => (reasons.push(reason), mint("tenant-a", 600)));
    await c.collection("todos").put({ id: "1" });
    await c.sync();
    await c.sync();
    expect(reasons).toEqual(["start"]);
    const auth = (await c.status()).auth;
    expect([auth.state, auth.reason, auth.renewable]).toEqual(["ok", null, true]);
    expect(auth.expiresAt).toBeGreaterThan(Date.now());
  });

  test("after a 401 it is called once and the request is retried with the new token", async () => {
    const reasons: TokenReason[] = [];
    const c = await client(({ reason }) => (reasons.push(reason), mint("tenant-b", 600, reason === "start" ? WRONG : SECRET)));
    await c.collection("todos").put({ id: "x", v: 1 });
    const r = await c.sync();
    expect([r.pushed, r.issues.length]).toEqual([1, 0]);
    expect(reasons).toEqual(["start", "unauthorized"]);
    expect((await c.status()).auth.state).toBe("ok");
  });

  test("a 401 that survives the renewal fails the cycle, keeps the queue and shows in status; it recovers when tokens are good", async () => {
    let secret = WRONG;
    const reasons: TokenReason[] = [];
    const c = await client(({ reason }) => (reasons.push(reason), mint("tenant-c", 600, secret)));
    await c.collection("todos").put({ id: "q" });
    const failed = await c.sync().then(() => null, (e) => e);
    expect([failed?.code, failed?.status]).toEqual(["rejected", 401]);
    expect(reasons).toEqual(["start", "unauthorized"]); // once per 401, not a loop
    const st = await c.status();
    expect([st.outbox.size, st.auth.state]).toEqual([1, "failed"]);
    expect(st.auth.reason).toMatch(/401 unauthorized/);
    secret = SECRET;
    const ok = await c.sync();
    expect(ok.pushed).toBe(1);
    expect((await c.status()).auth).toMatchObject({ state: "ok", reason: null });
  });

  test("a token near its exp is renewed before use (reason expiring)", async () => {
    const reasons: TokenReason[] = [];
    const c = await client(({ reason }) => (reasons.push(reason), mint("tenant-d", 2)));
    await c.sync();
    await Bun.sleep(1700); // past three quarters of its 2 s
    await c.sync();
    expect(reasons).toEqual(["start", "expiring"]);
  });

  test("a provider that throws or answers nothing usable is an auth error; the queue is kept", async () => {
    for (const [what, fn, message] of [
      ["throws", () => { throw new Error("the identity provider is down"); }, /getToken failed: the identity provider is down/],
      ["empty", () => "  ", /getToken returned an empty token/],
      ["not a string", () => 42 as unknown as string, /getToken returned no string \(number\)/],
      ["spaces", () => "two words", /spaces or control characters/],
    ] as const) {
      const c = await client(fn as () => string);
      await c.collection("todos").put({ id: what.replace(/ /g, "-") });
      const e = await c.sync().then(() => null, (err) => err);
      expect([what, e?.code]).toEqual([what, "auth"]);
      expect(e.message).toMatch(message);
      const st = await c.status();
      expect([what, st.outbox.size, st.auth.state]).toEqual([what, 1, "failed"]);
      expect(st.lastError?.code).toBe("auth");
    }
  });
});

describe("2-second JWTs for 30 seconds against stowage serve --jwt-secret, live on", () => {
  test("every write lands, the stream reconnects across each expiry, no cycle ends in an unrecovered 401", async () => {
    const served = await startServe(s.file("served.db"), { args: ["--jwt-secret", SECRET] });
    const trace: string[] = [];
    const errors: string[] = [];
    let minted = 0;
    const c = await client(() => (minted++, mint("tenant-live", 2)), { url: served.url, autoSync: true, live: true, syncIntervalMs: 5_000, onTrace: (l: string) => trace.push(l) });
    c.on("error", (e) => errors.push(`${e.code}:${e.status ?? ""}:${e.message}`));
    const reader = await client(() => mint("tenant-live", 600), { url: served.url });
    const start = Date.now();
    let writes = 0;
    while (Date.now() - start < 30_000) {
      await c.collection("ticks").put({ id: `t${writes}`, n: writes });
      writes++;
      await Bun.sleep(100);
    }
    // Drain: the last writes' pushes, then check the server has every one.
    const deadline = Date.now() + 20_000;
    while ((await c.status()).outbox.size > 0 && Date.now() < deadline) await Bun.sleep(50);
    expect((await c.status()).outbox.size).toBe(0);
    await reader.sync();
    const landed = (await reader.collection("ticks").list({ limit: 10_000 })).items.length;
    const reconnects = trace.filter((l) => l === "live:up").length - 1;
    const expiredCloses = trace.filter((l) => l === "live:closed:token_expired").length;
    console.log(`2-s JWTs, 30 s: ${writes} writes, ${landed} on the server, ${minted} tokens minted, ${reconnects} stream reconnects (${expiredCloses} at token expiry), errors: ${errors.length}`);
    expect(landed).toBe(writes);
    expect(errors.filter((e) => e.includes(":401:"))).toEqual([]);
    expect(reconnects).toBeGreaterThanOrEqual(10); // 30 s of 2-s tokens: ~15 expiries
    expect(expiredCloses).toBeGreaterThanOrEqual(10);
    expect((await c.status()).auth.state).toBe("ok");
    await c.close();
    await reader.close();
    await served.stop();
  }, 90_000);
});
