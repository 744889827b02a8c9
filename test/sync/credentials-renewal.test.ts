/** When Credentials asks its provider again (credentials.ts renewTime), under an injected clock. */
import { expect, test } from "bun:test";
import { Credentials, type TokenReason } from "../../src/sync/credentials.ts";

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
const jwt = (claims: Record<string, unknown>) => `${b64({ alg: "HS256" })}.${b64(claims)}.sig`;

function provider(tokens: string[]) {
  let now = 0;
  const reasons: TokenReason[] = [];
  const creds = Credentials.provider(({ reason }) => (reasons.push(reason), tokens[Math.min(reasons.length - 1, tokens.length - 1)]), () => now);
  return { creds, reasons, at: (ms: number) => (now = ms) };
}

test("a token whose iat is older than the moment it arrived is renewed before exp by the local clock", async () => {
  // iat 1000 s, exp 1002 s, obtained at 1000.9 s: three quarters of exp - iat would be 1002.4 s, after exp.
  const p = provider([jwt({ iat: 1000, exp: 1002 }), jwt({ iat: 1001, exp: 1003 })]);
  p.at(1_000_900);
  await p.creds.token();
  p.at(1_001_700);
  await p.creds.token();
  expect(p.reasons).toEqual(["start"]);
  p.at(1_001_800); // past exp - min(30 s, 1.1 s / 4)
  await p.creds.token();
  expect(p.reasons).toEqual(["start", "expiring"]);
});

test("a local clock minutes ahead renews by the issuer's lifetime, never in a loop", async () => {
  const p = provider([jwt({ iat: 1000, exp: 1060 })]);
  p.at(1_120_000); // 2 minutes ahead: the token looks expired locally
  await p.creds.token();
  await p.creds.token();
  expect(p.reasons).toEqual(["start"]);
  p.at(1_120_000 + 44_000);
  await p.creds.token();
  expect(p.reasons).toEqual(["start"]);
  p.at(1_120_000 + 46_000); // three quarters of 60 s after it arrived
  await p.creds.token();
  expect(p.reasons).toEqual(["start", "expiring"]);
});

test("a token without exp (or not a JWT) is kept until a 401", async () => {
  const p = provider(["opaque-token", "second"]);
  p.at(0);
  await p.creds.token();
  p.at(10 ** 12);
  expect(await p.creds.token()).toBe("opaque-token");
  expect(await p.creds.renewAfter401("opaque-token", "401")).toBe("second");
  expect(p.reasons).toEqual(["start", "unauthorized"]);
  expect(p.creds.status()).toMatchObject({ state: "ok", expiresAt: null, renewable: true });
});

test("concurrent callers share one provider call; a static key is never renewed", async () => {
  const p = provider([jwt({ exp: 5000 })]);
  p.at(0);
  await Promise.all([p.creds.token(), p.creds.token(), p.creds.token()]);
  expect(p.reasons).toEqual(["start"]);
  const fixed = Credentials.fixed("stw_key");
  expect(await fixed.renewAfter401("stw_key", "GET /v1/pull answered 401 unauthorized: revoked")).toBeNull();
  expect(fixed.status()).toEqual({ state: "failed", reason: "GET /v1/pull answered 401 unauthorized: revoked", expiresAt: null, renewable: false });
});
