/**
 * JWT strictness (issue 31): exp required, algorithms pinned, secret and JWKS together; and
 * event streams that outlive no credentials (a revoked key's stream ends within a second, an
 * expired token's stream ends at its exp), each with a `closed` event saying why.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { createKey, revokeKey } from "../../src/server/index.ts";
import { call, startEmbedded, type EmbeddedServer } from "./embed-helpers.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs384-and-hs512-too-0123456789";
const now = () => Math.floor(Date.now() / 1000);
const key = new TextEncoder().encode(SECRET);

function hs(alg: string, claims: Record<string, unknown>, exp: number | null = now() + 600): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg, typ: "JWT" }).setIssuedAt();
  if (exp !== null) jwt.setExpirationTime(exp);
  return jwt.sign(key);
}

/** Reads an event stream until it ends (or `ms` pass); answers the text and when it ended. */
async function readStream(url: string, token: string, ms = 10_000): Promise<{ status: number; text: string; endedAt: number | null }> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  const res = await fetch(`${url}/v1/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  if (!res.ok) {
    clearTimeout(timer);
    return { status: res.status, text: await res.text(), endedAt: null };
  }
  let text = "";
  const reader = res.body!.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { status: res.status, text, endedAt: Date.now() };
      text += new TextDecoder().decode(value);
    }
  } catch {
    return { status: res.status, text, endedAt: null };
  } finally {
    clearTimeout(timer);
  }
}

describe("a secret (HS256 unless told otherwise)", () => {
  let s: EmbeddedServer;
  beforeAll(async () => {
    s = await startEmbedded({ jwt: { secret: SECRET } });
  });
  afterAll(() => s.stop());

  test("a token without exp is a 401 naming the claim; with exp it passes", async () => {
    const noExp = await call(s.url, await hs("HS256", { sub: "u1" }, null), "GET", "/v1/pull");
    expect([noExp.status, noExp.json.error.code]).toEqual([401, "unauthorized"]);
    expect(noExp.json.error.message).toMatch(/"exp"/);
    expect((await call(s.url, await hs("HS256", { sub: "u1" }), "GET", "/v1/pull")).status).toBe(200);
  });

  test("HS384 and HS512 tokens signed with the same secret are a 401", async () => {
    for (const alg of ["HS384", "HS512"]) {
      const r = await call(s.url, await hs(alg, { sub: "u1" }), "GET", "/v1/pull");
      expect([alg, r.status, r.json.error.code]).toEqual([alg, 401, "unauthorized"]);
    }
  });

  test("an asymmetric token meets no key here: 401", async () => {
    const pair = await generateKeyPair("ES256");
    const token = await new SignJWT({ sub: "u1" }).setProtectedHeader({ alg: "ES256" }).setExpirationTime(now() + 600).sign(pair.privateKey);
    expect((await call(s.url, token, "GET", "/v1/pull")).status).toBe(401);
  });
});

describe("options that loosen it", () => {
  test("allowNoExp accepts a token without exp; algorithms ['HS384'] accepts HS384 and refuses HS256", async () => {
    const s = await startEmbedded({ jwt: { secret: SECRET, allowNoExp: true, algorithms: ["HS384"] } });
    try {
      expect((await call(s.url, await hs("HS384", { sub: "u1" }, null), "GET", "/v1/pull")).status).toBe(200);
      expect((await call(s.url, await hs("HS256", { sub: "u1" }), "GET", "/v1/pull")).status).toBe(401);
    } finally {
      await s.stop();
    }
  });

  test("bad settings fail at creation", async () => {
    const store = { family: "sqlite" } as never;
    const { createServerHandler } = await import("../../src/server/index.ts");
    expect(() => createServerHandler({ store, jwt: { secret: SECRET, algorithms: ["RS256"] } })).toThrow(/cannot be used with a secret/);
    expect(() => createServerHandler({ store, jwt: { secret: "x".repeat(40), algorithms: ["HS512"] } })).toThrow(/need[s]? at least 64/);
    expect(() => createServerHandler({ store, jwt: { jwks: { keys: [{ kty: "oct", k: "abc" }] } } })).toThrow(/no usable alg/);
  });
});

describe("a secret and a JWKS together (rotation)", () => {
  test("either verifies; a JWKS key only verifies its own alg", async () => {
    const pair = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: "k1" }; // no alg: pinned to ES256 by its curve
    const s = await startEmbedded({ jwt: { secret: SECRET, jwks: { keys: [jwk] } } });
    try {
      const es = await new SignJWT({ sub: "u1" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime(now() + 600).sign(pair.privateKey);
      expect((await call(s.url, es, "GET", "/v1/pull")).status).toBe(200);
      expect((await call(s.url, await hs("HS256", { sub: "u1" }), "GET", "/v1/pull")).status).toBe(200);
      // The same P-256 key claimed as ES384 in the header: no key pinned to that alg.
      const forgedAlg = `${Buffer.from(JSON.stringify({ alg: "ES384", kid: "k1" })).toString("base64url")}.${es.split(".")[1]}.${es.split(".")[2]}`;
      expect((await call(s.url, forgedAlg, "GET", "/v1/pull")).status).toBe(401);
      const noExp = await new SignJWT({ sub: "u1" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).sign(pair.privateKey);
      expect((await call(s.url, noExp, "GET", "/v1/pull")).status).toBe(401);
    } finally {
      await s.stop();
    }
  });
});

describe("event streams outlive no credentials", () => {
  let s: EmbeddedServer;
  beforeAll(async () => {
    s = await startEmbedded({ jwt: { secret: SECRET, clockToleranceSec: 0 } });
  });
  afterAll(() => s.stop());

  test("a revoked key's open stream ends within 1 s with a closed event; the key is then a 401", async () => {
    const { id, key: apiKey } = await createKey(s.store, "acme", { label: "to revoke" });
    const other = await createKey(s.store, "acme", { label: "stays" });
    const reading = readStream(s.url, apiKey);
    const staying = readStream(s.url, other.key, 3_000);
    await Bun.sleep(300); // both streams open
    const revokedAt = Date.now();
    await revokeKey(s.store, id);
    const r = await reading;
    expect(r.status).toBe(200);
    expect(r.endedAt).not.toBeNull();
    expect(r.endedAt! - revokedAt).toBeLessThan(1000);
    expect(r.text).toContain('event: closed\ndata: {"reason":"key_revoked"');
    // The other key's stream was not touched (it ran until the reader gave up).
    expect((await staying).endedAt).toBeNull();
    expect((await call(s.url, apiKey, "GET", "/v1/pull")).status).toBe(401);
  });

  test("a JWT's stream ends at its exp with closed/token_expired", async () => {
    const exp = now() + 2;
    const r = await readStream(s.url, await hs("HS256", { sub: "u2" }, exp));
    expect(r.endedAt).not.toBeNull();
    expect(r.endedAt!).toBeGreaterThanOrEqual(exp * 1000);
    expect(r.endedAt! - exp * 1000).toBeLessThan(1500);
    expect(r.text).toContain('event: closed\ndata: {"reason":"token_expired"');
  });
});

describe("stowage serve flags", () => {
  test("--jwt-secret and --jwt-jwks together, --jwt-alg HS384, --jwt-allow-no-exp; bad combinations exit 2", async () => {
    const { cli, startServe } = await import("../cli/run.ts");
    const { tempDir } = await import("../helpers/tmp.ts");
    const tmp = tempDir("stowage-jwt-cli-");
    try {
      const pair = await generateKeyPair("ES256");
      const jwkFile = tmp.file("jwks.json");
      await Bun.write(jwkFile, JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: "k1", alg: "ES256" }] }));
      const s = await startServe(tmp.file("server.db"), { args: ["--jwt-secret", SECRET, "--jwt-jwks", jwkFile, "--jwt-alg", "HS384", "--jwt-allow-no-exp"] });
      try {
        const es = await new SignJWT({ sub: "u1" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime(now() + 600).sign(pair.privateKey);
        expect((await call(s.url, es, "GET", "/v1/pull")).status).toBe(200);
        expect((await call(s.url, await hs("HS384", { sub: "u1" }, null), "GET", "/v1/pull")).status).toBe(200);
        expect((await call(s.url, await hs("HS256", { sub: "u1" }), "GET", "/v1/pull")).status).toBe(401);
      } finally {
        await s.stop();
      }
      const noSecret = await cli(["serve", "--port", "0", "--data", tmp.file("other.db"), "--jwt-jwks", jwkFile, "--jwt-alg", "HS256"]);
      expect(noSecret.code).toBe(2);
      expect(noSecret.stderr).toContain("--jwt-alg applies to --jwt-secret");
      const badAlg = await cli(["serve", "--port", "0", "--data", tmp.file("other.db"), "--jwt-secret", SECRET, "--jwt-alg", "RS256"]);
      expect(badAlg.code).toBe(2);
      expect(badAlg.stderr).toContain("cannot be used with a secret");
    } finally {
      tmp.cleanup();
    }
  }, 60_000);
});
