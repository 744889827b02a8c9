import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { createBunSqliteAdapter } from "../../adapters/bun-sqlite/index.ts";
import { serve, type RunningServer } from "../../src/runtime/serve.ts";
import { createKey, createServerHandler, createServerOps, openServerStore, type ServerHandlerOptions, type ServerStore } from "../../src/server/index.ts";
import { openApiDocument } from "../../src/protocol/openapi.ts";
import { openApiMismatch, openApiOperation } from "../helpers/openapi-check.ts";
import { tempDir } from "../helpers/tmp.ts";
import { spawnServe } from "../cli/ops-serve.ts";

/**
 * The contract test (issue 32): a request to every operation of docs/openapi.json for its
 * success and for each failure the document lists, each answer checked against the document
 * (status, declared headers, content type, body) and against the status the case means to
 * provoke. A status the server answers but the document does not list fails; so does one the
 * document lists but no case here provokes: the document and the server cannot drift apart.
 *
 * Served as `stowage serve` serves: the handler inside the ops wrapper (request ids, drain).
 */
const tmp = tempDir("stowage-contract-");
let store: ServerStore;
const servers: RunningServer[] = [];
let main = "";
let tight = "";
let draining = "";
let write = "";
let read = "";
const NO_SCOPES = "contract-token-without-scopes";

async function start(options: Partial<ServerHandlerOptions>, drain = false): Promise<string> {
  const ops = createServerOps();
  const handler = createServerHandler({
    store,
    apiKeys: true,
    // A credential with no scope at all: what a token whose scope claim grants nothing is.
    authenticate: (req) => (req.headers.get("authorization") === `Bearer ${NO_SCOPES}` ? { tenant: "contract", scopes: [] } : null),
    ...options,
  });
  const server = await serve({ fetch: Object.assign(ops.wrap(handler), { close: () => handler.close(), isStream: handler.isStream }), port: 0 });
  servers.push(server);
  if (drain) void ops.drain(60_000);
  return server.url;
}

beforeAll(async () => {
  store = await openServerStore({ adapter: createBunSqliteAdapter({ path: join(tmp.path, "server.db") }) });
  write = (await createKey(store, "contract", { createIfMissing: true })).key;
  read = (await createKey(store, "contract", { scope: "read" })).key;
  main = await start({ limits: { rate: false, maxBodyBytes: 4096 }, events: { maxStreamsPerKey: 1 } });
  // One request per key per ~17 minutes: the second request of a key is refused.
  tight = await start({ limits: { rate: { perSecond: 0.001, burst: 1 } } });
  draining = await start({ limits: { rate: false } }, true);
});
afterAll(async () => {
  for (const s of servers) await s.stop();
  await store.close();
  tmp.cleanup();
});

interface Case {
  /** What the case provokes, e.g. `PUT /v1/docs/{collection}/{id} 409`. */
  name: string;
  base?: () => string;
  method: string;
  path: string;
  key?: string | null;
  body?: string;
  headers?: Record<string, string>;
  /** Requests sent first (same key), their answers not checked: a rate limit's spent token. */
  before?: number;
}

const big = JSON.stringify({ pad: "x".repeat(5000) });
const push = (opId: number) => JSON.stringify({ clientId: "contract-client", ops: [{ opId, collection: "todos", id: `p${opId}`, op: "put", value: { n: opId } }] });
const OPS = [
  ["GET", "/v1/health", "/v1/health"],
  ["GET", "/v1/openapi.json", "/v1/openapi.json"],
  ["POST", "/v1/push", "/v1/push"],
  ["GET", "/v1/pull", "/v1/pull?limit=10"],
  ["GET", "/v1/docs/{collection}", "/v1/docs/todos"],
  ["GET", "/v1/docs/{collection}/{id}", "/v1/docs/todos/kept"],
  ["PUT", "/v1/docs/{collection}/{id}", "/v1/docs/todos/kept"],
  ["PATCH", "/v1/docs/{collection}/{id}", "/v1/docs/todos/kept"],
  ["DELETE", "/v1/docs/{collection}/{id}", "/v1/docs/todos/gone"],
  ["GET", "/v1/events", "/v1/events"],
] as const;
const bodyOf = (method: string, path: string) => (method === "POST" ? push(1) : method === "PUT" || method === "PATCH" ? JSON.stringify({ title: "t" }) : undefined);

function cases(): Case[] {
  const out: Case[] = [];
  const op = (m: string, t: string, status: number, c: Omit<Case, "name">) => out.push({ name: `${m} ${t} ${status}`, ...c });
  for (const [m, t, path] of OPS) {
    const body = bodyOf(m, path);
    // Every operation, while the server drains.
    op(m, t, 503, { base: () => draining, method: m, path, body });
    if (t === "/v1/health" || t === "/v1/openapi.json") {
      op(m, t, 200, { method: m, path });
      continue;
    }
    op(m, t, 401, { method: m, path, body, key: null });
    // 403: writes with a read-only key; reads with credentials that have no scope.
    op(m, t, 403, { method: m, path, body, key: m === "GET" ? NO_SCOPES : read });
    // 429: the tight server's second request of a fresh key (a second stream for events).
    if (t !== "/v1/events") op(m, t, 429, { base: () => tight, method: m, path, body, before: 1 });
  }
  // Successes and the failures particular to each operation.
  op("POST", "/v1/push", 200, { method: "POST", path: "/v1/push", body: push(1) });
  op("POST", "/v1/push", 400, { method: "POST", path: "/v1/push", body: JSON.stringify({ clientId: "contract-client" }) });
  op("POST", "/v1/push", 413, { method: "POST", path: "/v1/push", body: JSON.stringify({ clientId: "contract-client", ops: [{ opId: 2, collection: "todos", id: "big", op: "put", value: JSON.parse(big) }] }) });
  op("POST", "/v1/push", 415, { method: "POST", path: "/v1/push", body: push(3), headers: { "content-type": "text/plain" } });
  op("GET", "/v1/pull", 200, { method: "GET", path: "/v1/pull?limit=10" });
  op("GET", "/v1/pull", 400, { method: "GET", path: "/v1/pull?cursor=bogus" });
  op("GET", "/v1/docs/{collection}", 200, { method: "GET", path: "/v1/docs/todos?limit=2" });
  op("GET", "/v1/docs/{collection}", 400, { method: "GET", path: "/v1/docs/todos?limit=0" });
  op("PUT", "/v1/docs/{collection}/{id}", 200, { method: "PUT", path: "/v1/docs/todos/kept", body: JSON.stringify({ title: "kept" }) });
  op("PUT", "/v1/docs/{collection}/{id}", 400, { method: "PUT", path: "/v1/docs/todos/kept", body: "[1,2]" });
  op("PUT", "/v1/docs/{collection}/{id}", 409, { method: "PUT", path: "/v1/docs/todos/kept", body: "{}", headers: { "if-match": "999" } });
  op("PUT", "/v1/docs/{collection}/{id}", 413, { method: "PUT", path: "/v1/docs/todos/kept", body: big });
  op("PUT", "/v1/docs/{collection}/{id}", 415, { method: "PUT", path: "/v1/docs/todos/kept", body: "{}", headers: { "content-type": "text/plain" } });
  op("GET", "/v1/docs/{collection}/{id}", 200, { method: "GET", path: "/v1/docs/todos/kept" });
  op("GET", "/v1/docs/{collection}/{id}", 304, { method: "GET", path: "/v1/docs/todos/kept", headers: { "if-none-match": "CURRENT" } });
  op("GET", "/v1/docs/{collection}/{id}", 400, { method: "GET", path: "/v1/docs/todos/kept?x=1" });
  op("GET", "/v1/docs/{collection}/{id}", 404, { method: "GET", path: "/v1/docs/todos/absent" });
  op("PATCH", "/v1/docs/{collection}/{id}", 200, { method: "PATCH", path: "/v1/docs/todos/kept", body: JSON.stringify({ done: true }) });
  op("PATCH", "/v1/docs/{collection}/{id}", 400, { method: "PATCH", path: "/v1/docs/todos/kept", body: '"text"' });
  op("PATCH", "/v1/docs/{collection}/{id}", 404, { method: "PATCH", path: "/v1/docs/todos/absent", body: "{}" });
  op("PATCH", "/v1/docs/{collection}/{id}", 409, { method: "PATCH", path: "/v1/docs/todos/kept", body: "{}", headers: { "if-match": "999" } });
  op("PATCH", "/v1/docs/{collection}/{id}", 413, { method: "PATCH", path: "/v1/docs/todos/kept", body: big });
  op("PATCH", "/v1/docs/{collection}/{id}", 415, { method: "PATCH", path: "/v1/docs/todos/kept", body: "{}", headers: { "content-type": "text/plain" } });
  op("PUT", "/v1/docs/{collection}/{id}", 200, { method: "PUT", path: "/v1/docs/todos/gone", body: "{}" });
  op("DELETE", "/v1/docs/{collection}/{id}", 400, { method: "DELETE", path: "/v1/docs/todos/gone", headers: { "if-match": "abc" } });
  op("DELETE", "/v1/docs/{collection}/{id}", 409, { method: "DELETE", path: "/v1/docs/todos/gone", headers: { "if-match": "999" } });
  op("DELETE", "/v1/docs/{collection}/{id}", 200, { method: "DELETE", path: "/v1/docs/todos/gone" });
  op("DELETE", "/v1/docs/{collection}/{id}", 404, { method: "DELETE", path: "/v1/docs/todos/gone" });
  op("GET", "/v1/events", 400, { method: "GET", path: "/v1/events", headers: { "last-event-id": "bogus" } });
  op("GET", "/v1/events", 200, { method: "GET", path: "/v1/events" });
  // maxStreamsPerKey is 1 on the main server: a second stream of the write key (the 200 above is still open).
  op("GET", "/v1/events", 429, { method: "GET", path: "/v1/events" });
  return out;
}

const openStreams: Response[] = [];
afterAll(async () => {
  for (const r of openStreams) await r.body?.cancel().catch(() => {});
});

describe("the server answers what docs/openapi.json says, for every operation", () => {
  test("every documented status of every operation is provoked, and every answer matches the document", async () => {
    const exercised = new Set<string>();
    const problems: string[] = [];
    let etag = "";
    let fresh = 0;
    for (const c of cases()) {
      const base = c.base?.() ?? main;
      // A fresh key per rate-limited case, so each one starts with a full bucket.
      const key = c.key === undefined ? (c.before ? (await createKey(store, "contract", { label: `rate-${fresh++}` })).key : write) : c.key;
      const headers: Record<string, string> = { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(c.body !== undefined ? { "content-type": "application/json" } : {}), ...c.headers };
      if (headers["if-none-match"] === "CURRENT") headers["if-none-match"] = etag;
      const send = () => fetch(`${base}${c.path}`, { method: c.method, headers, body: c.body });
      for (let i = 0; i < (c.before ?? 0); i++) await (await send()).arrayBuffer();
      const res = await send();
      const type = res.headers.get("content-type");
      let body: unknown;
      if (type?.startsWith("text/event-stream")) openStreams.push(res);
      else {
        const text = await res.text();
        body = text === "" ? undefined : JSON.parse(text);
      }
      if (c.name === "GET /v1/docs/{collection}/{id} 200") etag = res.headers.get("etag") ?? "";
      const status = `${c.method} ${openApiOperation(c.method, c.path)!.template} ${res.status}`;
      if (status !== c.name) problems.push(`${c.name}: answered ${res.status} ${JSON.stringify(body)?.slice(0, 200)}`);
      const mismatch = openApiMismatch(c.method, `${base}${c.path}`, res.status, type, body, res.headers);
      if (mismatch) problems.push(mismatch);
      // `stowage serve` sets a request id on every answer (the ops wrapper this server runs in).
      if (!/^[A-Za-z0-9._:@/+=-]{1,128}$/.test(res.headers.get("x-request-id") ?? "")) problems.push(`${c.name}: no X-Request-Id`);
      exercised.add(status);
    }
    expect(problems).toEqual([]);
    const documented: string[] = [];
    for (const [template, item] of Object.entries((openApiDocument() as any).paths)) {
      for (const [method, op] of Object.entries(item as Record<string, any>)) {
        if (method === "parameters") continue;
        for (const status of Object.keys(op.responses)) if (status !== "default") documented.push(`${method.toUpperCase()} ${template} ${status}`);
      }
    }
    // Nothing documented goes unprovoked, nothing provoked is undocumented.
    expect(documented.filter((d) => !exercised.has(d))).toEqual([]);
    expect([...exercised].filter((e) => !documented.includes(e))).toEqual([]);
    console.log(`contract: ${exercised.size} (operation, status) pairs provoked and checked, ${documented.length} documented`);
  }, 60_000);

  test("an answer the document does not allow is caught: undeclared status, missing required header, wrong body", () => {
    const url = "http://x/v1/docs/todos/a";
    expect(openApiMismatch("GET", url, 418, "application/json", { error: { code: "teapot", message: "m" } }, new Headers())).toBeUndefined(); // `default`
    expect(openApiMismatch("POST", "http://x/v1/push", 429, "application/json", { error: { code: "rate_limited", message: "m" } }, new Headers())).toContain("header Retry-After is required");
    expect(openApiMismatch("GET", "http://x/v1/pull", 401, "application/json", { error: { code: "unauthorized", message: "m" } }, new Headers())).toContain("header WWW-Authenticate is required");
    expect(openApiMismatch("GET", url, 200, "application/json", { value: { id: "a" }, version: 3 }, new Headers())).toContain("header ETag is required");
    expect(openApiMismatch("GET", url, 200, "application/json", { value: { id: "a" }, version: 3 }, new Headers({ etag: "3" }))).toContain("does not match");
    expect(openApiMismatch("GET", url, 304, null, "body", new Headers({ etag: '"3"' }))).toContain("no body");
    expect(openApiMismatch("GET", "http://x/v1/docs/todos", 200, "application/json", { items: [{ id: "a" }] }, new Headers())).toContain("versions");
  });
});

describe("ETag and If-None-Match on GET /v1/docs/{collection}/{id}; versions in list items", () => {
  test("the ETag is the version; a current If-None-Match answers 304 without a body; a write changes it", async () => {
    const auth = { authorization: `Bearer ${write}`, "content-type": "application/json" };
    const put = await (await fetch(`${main}/v1/docs/etags/e1`, { method: "PUT", headers: auth, body: '{"v":1}' })).json();
    const first = await fetch(`${main}/v1/docs/etags/e1`, { headers: auth });
    expect(first.headers.get("etag")).toBe(`"${put.version}"`);
    expect((await first.json()).version).toBe(put.version);
    for (const inm of [`"${put.version}"`, `W/"${put.version}"`, `"1", "${put.version}"`, "*"]) {
      const again = await fetch(`${main}/v1/docs/etags/e1`, { headers: { ...auth, "if-none-match": inm } });
      expect([again.status, again.headers.get("etag"), await again.text()]).toEqual([304, `"${put.version}"`, ""]);
    }
    const next = await (await fetch(`${main}/v1/docs/etags/e1`, { method: "PATCH", headers: auth, body: '{"v":2}' })).json();
    const changed = await fetch(`${main}/v1/docs/etags/e1`, { headers: { ...auth, "if-none-match": `"${put.version}"` } });
    expect([changed.status, changed.headers.get("etag")]).toEqual([200, `"${next.version}"`]);
    expect(await changed.json()).toEqual({ value: { id: "e1", v: 2 }, version: next.version });
  });

  test("list answers carry each item's version, in SQL order and in filtered order alike", async () => {
    const auth = { authorization: `Bearer ${write}`, "content-type": "application/json" };
    const versions: Record<string, number> = {};
    for (const [id, n] of [["a", 3], ["b", 1], ["c", 2]] as const) {
      versions[id] = (await (await fetch(`${main}/v1/docs/listed/${id}`, { method: "PUT", headers: auth, body: JSON.stringify({ n }) })).json()).version;
    }
    const byId = await (await fetch(`${main}/v1/docs/listed`, { headers: auth })).json();
    expect(byId).toEqual({ items: [{ id: "a", n: 3 }, { id: "b", n: 1 }, { id: "c", n: 2 }], versions: [versions.a, versions.b, versions.c] });
    const byN = await (await fetch(`${main}/v1/docs/listed?orderBy=-n&limit=2`, { headers: auth })).json();
    expect(byN.items.map((d: any) => d.id)).toEqual(["a", "c"]);
    expect(byN.versions).toEqual([versions.a, versions.c]);
  });
});

describe("the served document says where the routes are mounted", () => {
  test("embedded with basePath /sync: servers is /sync, and a client built from the document reaches every public route", async () => {
    const handler = createServerHandler({ store, basePath: "/sync/" });
    const server = await serve({ fetch: handler, port: 0 });
    servers.push(server);
    expect((await fetch(`${server.url}/v1/openapi.json`)).status).toBe(404);
    const doc = await (await fetch(`${server.url}/sync/v1/openapi.json`)).json();
    expect(doc.servers).toEqual([{ url: "/sync", description: "the routes are mounted under /sync" }]);
    // What a generated client does: the server URL, then the path.
    const health = await fetch(new URL(`${doc.servers[0].url}/v1/health`, server.url));
    expect(health.status).toBe(200);
    const push = await fetch(new URL(`${doc.servers[0].url}/v1/pull`, server.url), { headers: { authorization: `Bearer ${write}` } });
    expect(push.status).toBe(200);
    // Everything else is the checked-in document.
    expect({ ...doc, servers: undefined }).toEqual({ ...(openApiDocument() as object), servers: undefined });
  });

  test("stowage serve --base-path /sync serves a document whose servers is /sync", async () => {
    const child = await spawnServe(join(tmp.path, "cli.db"), ["--base-path", "/sync", "--log-level", "off"]);
    try {
      const doc = await (await fetch(`${child.url}/sync/v1/openapi.json`)).json();
      expect(doc.servers[0].url).toBe("/sync");
      expect((await fetch(new URL(`${doc.servers[0].url}/v1/health`, child.url))).status).toBe(200);
    } finally {
      expect(await child.signal("SIGTERM")).toBe(0);
    }
  }, 30_000);
});
