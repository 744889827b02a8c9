/** Authentication when embedded: built-in JWTs (HS256, JWKS), an application's hook, API keys beside them. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { findTenant, listTenants } from "../../src/server/index.ts";
import { call, startEmbedded, twoClientsConverge, type EmbeddedServer } from "./embed-helpers.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
const now = () => Math.floor(Date.now() / 1000);

function hs256(claims: Record<string, unknown>, secret = SECRET, exp = now() + 600): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).setIssuedAt().setExpirationTime(exp).sign(new TextEncoder().encode(secret));
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

describe("JWT (HS256, audience and issuer checked)", () => {
  let s: EmbeddedServer;
  beforeAll(async () => {
    s = await startEmbedded({ basePath: "/sync", jwt: { secret: SECRET, audience: "my-app", issuer: "https://auth.example" } });
  });
  afterAll(() => s.stop());
  const base = () => `${s.url}/sync`;
  const good = (sub: string, extra: Record<string, unknown> = {}) => hs256({ sub, aud: "my-app", iss: "https://auth.example", ...extra });

  test("a valid token syncs two clients; its sub becomes a tenant created on first sight", async () => {
    const token = await good("user-alice");
    expect(await findTenant(s.store, "user-alice")).toBeUndefined();
    await twoClientsConverge((who) => s.client(who, base(), token));
    expect((await findTenant(s.store, "user-alice"))?.name).toBe("user-alice");
  });

  test("expired, badly signed, wrong audience, wrong issuer, alg none and garbage tokens are each a 401", async () => {
    const payload = { sub: "user-alice", aud: "my-app", iss: "https://auth.example" };
    const cases: [string, string][] = [
      ["expired", await hs256(payload, SECRET, now() - 120)],
      ["bad signature", await hs256(payload, "another-secret-that-is-also-long-enough!!")],
      ["wrong audience", await good("user-alice", { aud: "other-app" })],
      ["wrong issuer", await good("user-alice", { iss: "https://evil.example" })],
      ["alg none", `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...payload, exp: now() + 600 })}.`],
      ["alg none, signature kept", `${b64({ alg: "none" })}.${b64({ ...payload, exp: now() + 600 })}.${(await good("user-alice")).split(".")[2]}`],
      ["not a token", "hello"],
    ];
    for (const [what, token] of cases) {
      const r = await call(base(), token, "GET", "/v1/pull");
      expect([what, r.status, r.json.error?.code]).toEqual([what, 401, "unauthorized"]);
    }
    // The reason is named, never a stack: "exp" failed, the signature failed, "aud" failed.
    expect((await call(base(), cases[0][1], "GET", "/v1/pull")).json.error.message).toMatch(/exp/);
    expect((await call(base(), cases[2][1], "GET", "/v1/pull")).json.error.message).toMatch(/aud/);
  });

  test("a token expired by less than the 30 s leeway still passes", async () => {
    const token = await hs256({ sub: "user-alice", aud: "my-app", iss: "https://auth.example" }, SECRET, now() - 5);
    expect((await call(base(), token, "GET", "/v1/pull")).status).toBe(200);
  });

  test("a new sub gets its own tenant and cannot see another's data", async () => {
    const alice = await good("user-alice");
    const bob = await good("user-bob");
    expect((await call(base(), alice, "PUT", "/v1/docs/notes/secret", { text: "alice only" })).status).toBe(200);
    expect((await call(base(), bob, "GET", "/v1/docs/notes/secret")).status).toBe(404);
    expect((await call(base(), bob, "GET", "/v1/pull")).json).toEqual({ changes: [], cursor: "v1.0", more: false });
    expect((await call(base(), bob, "GET", "/v1/docs/notes")).json).toEqual({ items: [], versions: [] });
    const names = (await listTenants(s.store)).map((t) => t.name);
    expect(names).toEqual(["acme", "user-alice", "user-bob"]);
    // And bob's writes stay his.
    expect((await call(base(), bob, "PUT", "/v1/docs/notes/secret", { text: "bob's" })).json).toEqual({ value: { id: "secret", text: "bob's" }, version: 1 });
    expect((await call(base(), alice, "GET", "/v1/docs/notes/secret")).json.value).toEqual({ id: "secret", text: "alice only" });
  });

  test("scopes come from the scope claim: read may pull and GET, every write path is 403", async () => {
    const reader = await good("user-alice", { scope: "openid read" });
    expect((await call(base(), reader, "GET", "/v1/pull")).status).toBe(200);
    expect((await call(base(), reader, "GET", "/v1/docs/notes/secret")).status).toBe(200);
    const push = await call(base(), reader, "POST", "/v1/push", { clientId: "reader-client", ops: [{ opId: 1, collection: "notes", id: "x", op: "put", value: {} }] });
    expect([push.status, push.json.error.code]).toEqual([403, "forbidden"]);
    expect((await call(base(), reader, "PUT", "/v1/docs/notes/x", { a: 1 })).status).toBe(403);
    const writer = await good("user-alice", { scopes: ["write"] });
    expect((await call(base(), writer, "PUT", "/v1/docs/notes/x", { a: 1 })).status).toBe(200);
    const none = await good("user-alice", { scope: "openid profile" });
    expect((await call(base(), none, "GET", "/v1/pull")).status).toBe(403);
  });

  test("API keys keep working beside JWTs", async () => {
    expect((await call(base(), s.key, "GET", "/v1/pull")).status).toBe(200);
    expect((await call(base(), "stw_0000000000000000_" + "A".repeat(43), "GET", "/v1/pull")).status).toBe(401);
  });
});

describe("JWT (ES256 from a JWK Set), API keys off, tenant from a custom claim", () => {
  let s: EmbeddedServer;
  let sign: (claims: Record<string, unknown>) => Promise<string>;
  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime(now() + 600).sign(privateKey);
    s = await startEmbedded({ jwt: { jwks: { keys: [jwk] }, tenantClaim: "org" }, apiKeys: false });
  });
  afterAll(() => s.stop());

  test("members of one org share a tenant; the key of the store is refused", async () => {
    const ann = await sign({ sub: "ann", org: "org-1" });
    const ben = await sign({ sub: "ben", org: "org-1" });
    expect((await call(s.url, ann, "PUT", "/v1/docs/notes/n1", { by: "ann" })).status).toBe(200);
    expect((await call(s.url, ben, "GET", "/v1/docs/notes/n1")).json.value).toEqual({ id: "n1", by: "ann" });
    expect((await call(s.url, await sign({ sub: "cy", org: "org-2" }), "GET", "/v1/docs/notes/n1")).status).toBe(404);
    expect((await call(s.url, await sign({ sub: "dee" }), "GET", "/v1/pull")).json.error.message).toMatch(/"org" claim/);
    expect((await call(s.url, s.key, "GET", "/v1/pull")).status).toBe(401);
    // An HS256 token signed with the public key's bytes (the classic confusion) is refused.
    const forged = await hs256({ sub: "x", org: "org-1" }, JSON.stringify((await exportJWK((await generateKeyPair("ES256")).publicKey))));
    expect((await call(s.url, forged, "GET", "/v1/pull")).status).toBe(401);
  });
});

describe("an application's authenticate hook", () => {
  let s: EmbeddedServer;
  const errors: unknown[] = [];
  beforeAll(async () => {
    s = await startEmbedded({
      onError: (e) => errors.push(e),
      authenticate: (req) => {
        const session = req.headers.get("cookie")?.match(/session=(\w+)/)?.[1];
        if (session === "boom") throw new Error("session store down: secret detail");
        if (session === "reader") return { tenant: "team-1", subject: "rita", scopes: ["read"] };
        return session ? { tenant: "team-1", subject: session } : null;
      },
    });
  });
  afterAll(() => s.stop());
  const withCookie = (cookie: string | null, method = "GET", path = "/v1/pull", body?: unknown) =>
    fetch(`${s.url}${path}`, { method, headers: { ...(cookie ? { cookie } : {}), ...(body ? { "content-type": "application/json" } : {}) }, body: body ? JSON.stringify(body) : undefined });

  test("its identity is the tenant; null is a 401; API keys are off unless apiKeys: true", async () => {
    const put = await withCookie("session=sam", "PUT", "/v1/docs/notes/a", { x: 1 });
    expect([put.status, await put.json()]).toEqual([200, { value: { id: "a", x: 1 }, version: 1 }]);
    expect((await findTenant(s.store, "team-1"))?.name).toBe("team-1");
    const none = await withCookie(null);
    expect([none.status, ((await none.json()) as any).error.code]).toEqual([401, "unauthorized"]);
    expect((await call(s.url, s.key, "GET", "/v1/pull")).status).toBe(401);
    const reader = await withCookie("session=reader", "PUT", "/v1/docs/notes/a", { x: 2 });
    expect([reader.status, ((await reader.json()) as any).error.code]).toEqual([403, "forbidden"]);
  });

  test("a throwing hook is a 500 that leaks nothing, reported to onError once", async () => {
    const before = errors.length;
    const res = await withCookie("session=boom");
    const text = await res.text();
    expect(res.status).toBe(500);
    expect(JSON.parse(text)).toEqual({ error: { code: "internal", message: "the server failed to handle the request" } });
    expect(text).not.toContain("secret detail");
    expect(errors.length - before).toBe(1);
    expect(String((errors[before] as Error).message)).toContain("session store down");
  });

  test("apiKeys: true keeps keys working beside the hook", async () => {
    const both = await startEmbedded({ apiKeys: true, authenticate: () => null });
    try {
      expect((await call(both.url, both.key, "GET", "/v1/pull")).status).toBe(200);
      expect((await call(both.url, "nope", "GET", "/v1/pull")).status).toBe(401);
    } finally {
      await both.stop();
    }
  });

  test("misconfiguration fails at creation", async () => {
    const store = { family: "sqlite" } as never;
    const { createServerHandler } = await import("../../src/server/index.ts");
    expect(() => createServerHandler({ store, apiKeys: false })).toThrow(/no way to authenticate/);
    expect(() => createServerHandler({ store, jwt: { secret: "short" } })).toThrow(/at least 32/);
    expect(() => createServerHandler({ store, jwt: {} })).toThrow(/needs a secret \(HS256\), a jwks/);
  });
});

describe("JWT (RS256 from a JWKS URL)", () => {
  test("keys are fetched from the URL; a token signed by another key is a 401", async () => {
    const { publicKey, privateKey } = await generateKeyPair("RS256");
    const other = await generateKeyPair("RS256");
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: "rsa-1", alg: "RS256" }] };
    let fetched = 0;
    const idp = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => (fetched++, Response.json(jwks)) });
    const s = await startEmbedded({ jwt: { jwks: `http://127.0.0.1:${idp.port}/.well-known/jwks.json` } });
    try {
      const sign = (key: CryptoKey) => new SignJWT({ sub: "rsa-user" }).setProtectedHeader({ alg: "RS256", kid: "rsa-1" }).setExpirationTime("5m").sign(key);
      expect((await call(s.url, await sign(privateKey), "PUT", "/v1/docs/notes/r", { ok: 1 })).status).toBe(200);
      expect((await call(s.url, await sign(privateKey), "GET", "/v1/docs/notes/r")).json.value).toEqual({ id: "r", ok: 1 });
      expect((await call(s.url, await sign(other.privateKey), "GET", "/v1/pull")).status).toBe(401);
      expect(fetched).toBeGreaterThanOrEqual(1);
    } finally {
      await s.stop();
      await idp.stop(true);
    }
  });
});
