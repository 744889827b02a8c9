import { describe, expect, test } from "bun:test";
import { assertOpenApi } from "../helpers/openapi-check.ts";
import { createKey, revokeKey } from "../../src/server/index.ts";
import type { TestServer } from "../helpers/server.ts";
import { api, puts, rawStatus, useServer, type Api } from "./client.ts";
import type { SuiteContext } from "./suite.ts";

export function limitTests(name: string, ctx: SuiteContext): void {
  describe(`server limits and refusals [${name}]`, () => {
    let s: TestServer;
    let a: Api;
    let clock = 1_000_000;
    useServer(
      () => ctx.start({ limits: { maxBodyBytes: 20_000, rate: { perSecond: 2, burst: 5 } }, now: () => clock }),
      (server, client) => {
        s = server;
        a = client;
      },
    );

    test("401 for missing, malformed, unknown and revoked keys on every endpoint", async () => {
      clock += 60_000;
      const { id, key } = await createKey(s.store, s.tenant);
      const good = api(s.url, key);
      expect((await good.call("GET", "/v1/pull")).status).toBe(200);
      await revokeKey(s.store, id);
      const wrongSecret = key.slice(0, -4) + (key.endsWith("AAAA") ? "BBBB" : "AAAA");
      const unknown = `stw_0000000000000000_${"A".repeat(43)}`;
      const endpoints: [string, string, unknown?][] = [
        ["POST", "/v1/push", { clientId: "client-401", ops: puts(1) }],
        ["GET", "/v1/pull"],
        ["GET", "/v1/docs/todos"],
        ["GET", "/v1/docs/todos/d1"],
        ["PUT", "/v1/docs/todos/d1", { a: 1 }],
        ["PATCH", "/v1/docs/todos/d1", { a: 1 }],
        ["DELETE", "/v1/docs/todos/d1"],
      ];
      for (const [method, path, body] of endpoints) {
        for (const auth of [undefined, "Bearer", "Basic abc", `Bearer ${key}`, `Bearer ${wrongSecret}`, `Bearer ${unknown}`, `Bearer ${s.key}x`]) {
          const res = await fetch(`${s.url}${path}`, {
            method,
            headers: { ...(auth ? { authorization: auth } : {}), "content-type": "application/json" },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          const json = (await res.json()) as any;
          assertOpenApi(method, `${s.url}${path}`, res.status, res.headers.get("content-type"), json, res.headers);
          expect([method, path, auth, res.status, json.error.code]).toEqual([method, path, auth, 401, "unauthorized"]);
        }
      }
      expect((await a.call("GET", "/v1/docs/todos/d1")).status).toBe(404); // nothing was written
    });

    test("413 for bodies over the limit, by Content-Length and by counting a chunked body", async () => {
      clock += 60_000; // full buckets
      const big = { clientId: "client-big", ops: [{ opId: 1, collection: "todos", id: "big", op: "put", value: { s: "x".repeat(30_000) } }] };
      const r = await a.call("POST", "/v1/push", big);
      expect([r.status, r.json.error.code]).toEqual([413, "payload_too_large"]);
      expect((await a.call("PUT", "/v1/docs/todos/big", { s: "x".repeat(30_000) })).status).toBe(413);
      const u = new URL(s.url);
      const head = `POST /v1/push HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${s.key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
      const text = JSON.stringify(big);
      const chunks = Array.from({ length: Math.ceil(text.length / 4000) }, (_, i) => text.slice(i * 4000, (i + 1) * 4000));
      expect(await rawStatus(s.url, head, chunks)).toBe(413);
      // A small chunked body is read whole.
      expect(await rawStatus(s.url, head, [JSON.stringify({ clientId: "client-chunk", ops: puts(1, { prefix: "chunk-" }) })])).toBe(200);
      expect((await a.call("GET", "/v1/docs/todos/big")).status).toBe(404);
    });

    test("429 with Retry-After per key, refilling with time", async () => {
      clock += 60_000; // full buckets
      const other = api(s.url, (await createKey(s.store, s.tenant)).key);
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 7; i++) {
        const r = await a.call("GET", "/v1/pull");
        statuses.push(r.status);
        if (r.status === 429) {
          retryAfter = r.headers.get("retry-after");
          expect(r.json.error.code).toBe("rate_limited");
        }
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
      expect(retryAfter).toBe("1");
      expect((await other.call("GET", "/v1/pull")).status).toBe(200); // another key has its own bucket
      expect((await fetch(`${s.url}/v1/health`)).status).toBe(200); // health is not limited
      clock += 500; // one token at 2/s
      expect((await a.call("GET", "/v1/pull")).status).toBe(200);
      expect((await a.call("GET", "/v1/pull")).status).toBe(429);
      clock += 60_000;
    });

    test("404, 405 and 415 answer with the error body", async () => {
      clock += 60_000;
      const cases: [string, string, number, string, Record<string, string>?][] = [
        ["GET", "/v2/pull", 404, "not_found"],
        ["GET", "/v1/nothing", 404, "not_found"],
        ["GET", "/", 404, "not_found"],
        ["GET", "/v1/push", 405, "method_not_allowed"],
        ["POST", "/v1/pull", 405, "method_not_allowed"],
        ["POST", "/v1/health", 405, "method_not_allowed"],
        ["POST", "/v1/docs/todos/x", 405, "method_not_allowed"],
        ["POST", "/v1/push", 415, "unsupported_media_type", { "content-type": "text/plain" }],
      ];
      for (const [method, path, status, code, headers] of cases) {
        const r = await a.call(method, path, method === "POST" ? "{}" : undefined, headers);
        expect([method, path, r.status, r.json?.error?.code]).toEqual([method, path, status, code]);
      }
    });
  });
}
