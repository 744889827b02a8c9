/**
 * A tenant deleted in the console while a JWT client keeps pushing: the process caches the
 * token's tenant name → id (auth/principal.ts), so the push meets a tenant that is gone. It is
 * a retryable 503 (was a 500), and within TENANT_TTL_MS the same token reaches the tenant anew.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { TENANT_TTL_MS } from "../../src/server/auth/principal.ts";
import { deleteTenant } from "../../src/server/tenants.ts";
import { findTenant } from "../../src/server/index.ts";
import { startEmbedded, type EmbeddedServer } from "./embed-helpers.ts";

const SECRET = "a-test-secret-that-is-long-enough-for-hs256!";
let s: EmbeddedServer;
beforeAll(async () => {
  s = await startEmbedded({ jwt: { secret: SECRET } });
});
afterAll(() => s.stop());

async function push(token: string, opId: number): Promise<{ status: number; json: any; retryAfter: string | null }> {
  const res = await fetch(`${s.url}/v1/push`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ clientId: "c-deleted", ops: [{ opId, collection: "notes", id: `n${opId}`, op: "put", value: { n: opId } }] }),
  });
  return { status: res.status, json: await res.json(), retryAfter: res.headers.get("retry-after") };
}

test("a push to a tenant deleted under a cached token is a 503 tenant_gone with Retry-After, then lands in the tenant made anew", async () => {
  const token = await new SignJWT({ sub: "user-gone" }).setProtectedHeader({ alg: "HS256" }).setIssuedAt().setExpirationTime("10m").sign(new TextEncoder().encode(SECRET));
  expect((await push(token, 1)).status).toBe(200);
  const before = (await findTenant(s.store, "user-gone"))!.id;
  expect((await deleteTenant(s.store, "user-gone")).docs).toBe(1);

  const gone = await push(token, 2);
  expect([gone.status, gone.json.error.code]).toEqual([503, "tenant_gone"]);
  expect(gone.retryAfter).toBe("1");

  const deadline = Date.now() + TENANT_TTL_MS + 10_000;
  let again = gone;
  while (again.status === 503 && Date.now() < deadline) {
    await Bun.sleep(250);
    again = await push(token, 2);
  }
  expect(again.status).toBe(200);
  expect(again.json.results).toEqual([{ opId: 2, status: "applied", version: 1 }]);
  const after = (await findTenant(s.store, "user-gone"))!.id;
  expect(after).not.toBe(before);
}, 60_000);
