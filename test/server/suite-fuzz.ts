import { describe, expect, test } from "bun:test";
import { assertOpenApi } from "../helpers/openapi-check.ts";
import { isCollectionName, isDocId } from "../../src/names.ts";
import type { TestServer } from "../helpers/server.ts";
import { puts, rawStatus, useServer, type Api } from "./client.ts";
import type { SuiteContext } from "./suite.ts";

/** Mulberry32: a seeded PRNG, so a failing case can be replayed. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Case {
  method: string;
  path: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
  auth?: string | null;
}

const WRONG = [null, true, false, 0, -1, 1.5, 2 ** 60, "", "x y", "💥", [], [1], {}, { a: 1 }, "x".repeat(10_000)];
const BAD_NAMES = ["..", ".", "%2e%2e", "a/b", "a%2Fb", "%2F", "..%2F..%2Fetc", "A", "1abc", "a b", "a\u0000b", "é", "x".repeat(300), "", "%00", "a?b", "a#b", "%ZZ", "%", "\\", "con", "a;drop table x"];
const BAD_CURSORS = ["x", "v1.", "v1.-1", "v1.1.2", "v0.1", "V1.1", "v1.1e3", " v1.1", "v1.0x10", "%00", "v1." + "9".repeat(30), "null", "[]", "x".repeat(300)];

function generate(r: () => number, n: number): Case[] {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const valid = () => ({ clientId: "fuzz-client-1", ops: puts(1 + Math.floor(r() * 3), { prefix: "fz-", firstOpId: 1 }) as any[] });
  const enc = (s: string) => encodeURIComponent(s);
  const out: Case[] = [];
  const kinds = [
    // truncated or garbled JSON
    () => {
      const text = JSON.stringify(valid());
      return { method: "POST", path: "/v1/push", body: text.slice(0, Math.floor(r() * (text.length - 1))) };
    },
    () => ({ method: "POST", path: "/v1/push", body: pick(["", "null", "[]", "{", "}", "\"x\"", "1", "true", "{\"clientId\":}", "[".repeat(5000) + "]".repeat(5000), "{\"a\":".repeat(3000), "\ufeff{}", "{}"]) }),
    () => ({ method: "POST", path: "/v1/push", body: Uint8Array.from({ length: 1 + Math.floor(r() * 64) }, () => Math.floor(r() * 256)) }),
    // wrong types, top level and per op
    () => {
      const body: any = valid();
      body[pick(["clientId", "ops"])] = pick(WRONG.filter((w) => !Array.isArray(w) || w.length === 0));
      return { method: "POST", path: "/v1/push", body: JSON.stringify(body) };
    },
    () => {
      const body: any = valid();
      const field = pick(["opId", "tx", "collection", "id", "op", "value", "baseVersion"]);
      let w = pick(WRONG);
      if (field === "baseVersion" && (w === null || w === 0)) w = -1;
      if (field === "tx" && w === null) w = "t";
      body.ops[0][field] = w;
      if (field === "value" && body.ops[0].op === "put" && w !== null && typeof w === "object" && !Array.isArray(w)) body.ops[0].value = [w];
      return { method: "POST", path: "/v1/push", body: JSON.stringify(body) };
    },
    // unknown fields
    () => {
      const body: any = valid();
      if (r() < 0.5) body[pick(["extra", "__proto__x", "cursor", "Ops"])] = 1;
      else body.ops[Math.floor(r() * body.ops.length)][pick(["extra", "version", "deleted", "ts"])] = 1;
      return { method: "POST", path: "/v1/push", body: JSON.stringify(body) };
    },
    // bad names and huge strings inside a push
    () => {
      const body: any = valid();
      const field = pick(["collection", "id"]);
      body.ops[0][field] = pick(BAD_NAMES.filter((n) => (field === "id" ? !isDocId(n) : !isCollectionName(n))));
      return { method: "POST", path: "/v1/push", body: JSON.stringify(body) };
    },
    () => {
      const body: any = valid();
      body.ops[0].value = { big: "y".repeat(1024 * 1024 + 10) };
      return { method: "POST", path: "/v1/push", body: JSON.stringify(body) };
    },
    () => {
      const body: any = valid();
      let v: any = {};
      const root = v;
      for (let i = 0; i < 100; i++) v = v.x = {};
      body.ops[0].value = root;
      return { method: "POST", path: "/v1/push", body: JSON.stringify(body) };
    },
    () => ({ method: "POST", path: "/v1/push", body: JSON.stringify({ clientId: "fuzz-client-1", ops: puts(1001) }) }),
    // bad cursors and limits
    () => ({ method: "GET", path: `/v1/pull?cursor=${enc(pick(BAD_CURSORS))}` }),
    () => ({ method: "GET", path: `/v1/pull?limit=${enc(pick(["0", "-1", "1001", "abc", "1e2", "", "99999", " 5"]))}` }),
    () => ({ method: "GET", path: `/v1/docs/todos?${pick(["limit=0", "limit=5000", "cursor=%%%", "cursor=eyJ4Ijox", "where=%7B", "where=%5B%5D", `where=${enc('{"a":{"like":1}}')}`, `where=${enc('{"a b":1}')}`, `where=${enc('{"a":{"in":[]}}')}`, `where=${enc('{"a":[1]}')}`, "orderBy=-", "orderBy=a..b", "orderBy=%24x", "x=1"])}` }),
    // path tricks in collection names and ids
    () => ({ method: pick(["GET", "DELETE"]), path: `/v1/docs/${pick(BAD_NAMES.filter((n) => n !== "" && n !== "." && n !== ".."))}/${pick(["x", ...BAD_NAMES.filter((n) => n !== "" && n !== "." && n !== "..")])}` }),
    () => ({ method: "GET", path: `/v1/docs/todos/${pick(BAD_NAMES.filter((n) => n !== "" && n !== "." && n !== ".."))}` }),
    () => ({ method: "PUT", path: `/v1/docs/todos/x`, body: pick(["[]", "1", "{", JSON.stringify({ id: "y" }), "null"]) }),
    () => ({ method: "PUT", path: `/v1/docs/todos/x`, body: "{}", headers: { "if-match": pick(["abc", "-1", "1.5", "W/\"1\"", "", "99999999999999999999"]) } }),
    // missing and wrong keys
    () => ({ method: pick(["GET", "POST"]), path: pick(["/v1/pull", "/v1/push", "/v1/docs/todos"]), body: "{}", auth: pick([null, "", "Bearer", "Bearer x", "Basic Zm9vOmJhcg==", `Bearer stw_${"0".repeat(16)}_${"a".repeat(43)}`, "Bearer " + "k".repeat(5000)]) }),
  ];
  for (let i = 0; i < n; i++) out.push(pick(kinds)() as Case);
  return out;
}

export function fuzzTests(name: string, ctx: SuiteContext): void {
  describe(`server malformed input [${name}]`, () => {
    let s: TestServer;
    let a: Api;
    useServer(ctx.start, (server, client) => {
      s = server;
      a = client;
    });

    test("1,200 generated malformed requests: never a 5xx, data intact afterwards", async () => {
      await a.push({ clientId: "fuzz-owner-1", ops: puts(20, { prefix: "keep-" }) });
      const before = (await a.pullAll()).flatMap((p) => p.changes);
      const cases = generate(rng(20261124), 1200);
      const statuses = new Map<number, number>();
      for (let i = 0; i < cases.length; i += 24) {
        await Promise.all(
          cases.slice(i, i + 24).map(async (c) => {
            const headers: Record<string, string> = { "content-type": "application/json", ...c.headers };
            if (c.auth !== null) headers.authorization = c.auth ?? `Bearer ${s.key}`;
            const res = await fetch(`${s.url}${c.path}`, { method: c.method, headers, body: c.method === "GET" ? undefined : (c.body as BodyInit | undefined) });
            const text = await res.text();
            statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
            if (res.status >= 500) throw new Error(`${c.method} ${c.path.slice(0, 120)} answered ${res.status}: ${text.slice(0, 200)}`);
            if (res.status >= 400) {
              const json = JSON.parse(text);
              assertOpenApi(c.method, `${s.url}${c.path}`, res.status, res.headers.get("content-type"), json, res.headers);
              expect(typeof json.error.code).toBe("string");
              expect(typeof json.error.message).toBe("string");
            }
          }),
        );
      }
      // Raw request targets that fetch would normalize on the client side.
      const u = new URL(s.url);
      for (const target of ["/v1/docs/../../etc/passwd", "/v1/docs/todos/..", "/v1/docs/todos/../../push", "//v1/pull", "/v1/docs/todos/a%2F..%2F..", "/v1/docs/%2e%2e/%2e%2e", "*", "/v1/pull?cursor=%ff%fe"]) {
        const status = await rawStatus(s.url, `GET ${target} HTTP/1.1\r\nHost: ${u.host}\r\nAuthorization: Bearer ${s.key}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, []);
        expect([target, status < 500]).toEqual([target, true]);
      }
      const refused = [...statuses].filter(([st]) => st >= 400).reduce((n, [, c]) => n + c, 0);
      expect(refused).toBeGreaterThanOrEqual(1000);
      expect((await fetch(`${s.url}/v1/health`)).status).toBe(200);
      expect((await a.pullAll()).flatMap((p) => p.changes)).toEqual(before);
      expect((await a.call("GET", "/v1/docs/todos/keep-7")).json).toEqual({ value: { id: "keep-7", title: "t7", n: 7 }, version: 7 });
      const more = await a.push({ clientId: "fuzz-owner-1", ops: puts(1, { prefix: "keep-", firstOpId: 21 }) });
      expect(more.results[0]).toEqual({ opId: 21, status: "applied", version: 21 });
    });
  });
}
