import { afterEach, describe, expect, test } from "bun:test";
import { parseMetrics, startOpsServer, type OpsTestServer } from "./ops-helpers.ts";

let s: OpsTestServer | undefined;
afterEach(async () => {
  await s?.stop();
  s = undefined;
});

const auth = (key: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${key}`, ...extra });
const push = (t: OpsTestServer, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${t.url}/v1/push`, { method: "POST", headers: auth(t.key, { "content-type": "application/json", ...headers }), body: JSON.stringify(body) });
const scrape = async (t: OpsTestServer) => parseMetrics(await (await fetch(`${t.url}/metrics`)).text());

describe("metrics", () => {
  test("counters move by exactly the workload's amounts, with route templates as labels", async () => {
    s = await startOpsServer();
    const before = await scrape(s);
    const put = (opId: number, id: string, extra: Record<string, unknown> = {}) => ({ opId, collection: "notes", id, op: "put", value: { n: opId }, ...extra });
    const clientId = "client-metrics-1";
    const first = await push(s, { clientId, ops: [put(1, "d1"), put(2, "d2"), put(3, "d3")] });
    expect((await first.json()).results.map((r: any) => r.status)).toEqual(["applied", "applied", "applied"]);
    // Resent ops are duplicates; a stale baseVersion conflicts; a patch of nothing is rejected.
    const second = await push(s, { clientId, ops: [put(1, "d1"), put(2, "d2"), put(3, "d3")] });
    expect((await second.json()).results.map((r: any) => r.status)).toEqual(["duplicate", "duplicate", "duplicate"]);
    // (A client's own earlier write never conflicts with it, so the stale write comes from another.)
    const third = await push(s, { clientId: "client-metrics-2", ops: [put(1, "d1", { baseVersion: 99 }), { opId: 2, collection: "notes", id: "ghost", op: "patch", value: { x: 1 } }] });
    expect((await third.json()).results.map((r: any) => r.status)).toEqual(["conflict", "rejected"]);
    const pulled = await (await fetch(`${s.url}/v1/pull?clientId=${clientId}`, { headers: auth(s.key) })).json();
    expect(pulled.changes.length).toBe(3);
    expect((await fetch(`${s.url}/v1/docs/notes/d1`, { headers: auth(s.key) })).status).toBe(200);
    expect((await fetch(`${s.url}/v1/docs/notes/missing-doc`, { headers: auth(s.key) })).status).toBe(404);
    expect((await fetch(`${s.url}/v1/pull`, { headers: auth("stw_0000000000000000_" + "x".repeat(43)) })).status).toBe(401);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const after = parseMetrics(text);
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('stowage_http_requests_total{method="POST",route="/v1/push",status="200"}')).toBe(3);
    expect(delta('stowage_http_requests_total{method="GET",route="/v1/pull",status="200"}')).toBe(1);
    expect(delta('stowage_http_requests_total{method="GET",route="/v1/pull",status="401"}')).toBe(1);
    expect(delta('stowage_http_requests_total{method="GET",route="/v1/docs/:collection/:id",status="200"}')).toBe(1);
    expect(delta('stowage_http_requests_total{method="GET",route="/v1/docs/:collection/:id",status="404"}')).toBe(1);
    expect(delta('stowage_http_requests_total{method="GET",route="/metrics",status="200"}')).toBe(1);
    expect(delta('stowage_http_request_duration_seconds_count{method="POST",route="/v1/push"}')).toBe(3);
    expect(delta('stowage_http_request_duration_seconds_bucket{method="POST",route="/v1/push",le="+Inf"}')).toBe(3);
    expect(delta('stowage_push_ops_total{outcome="applied"}')).toBe(3);
    expect(delta('stowage_push_ops_total{outcome="duplicate"}')).toBe(3);
    expect(delta('stowage_push_ops_total{outcome="conflict"}')).toBe(1);
    expect(delta('stowage_push_ops_total{outcome="rejected"}')).toBe(1);
    expect(delta("stowage_pull_changes_total")).toBe(3);
    expect(delta("stowage_store_errors_total")).toBe(0);
    expect(after.get("stowage_http_requests_in_flight")).toBe(1); // the scrape itself
    // Document ids and collections never become labels.
    expect(text).not.toContain("d1");
    expect(text).not.toContain("notes");
    expect(text).toContain("# TYPE stowage_http_request_duration_seconds histogram");
  });

  test("a gauge callback registered later shows up (e.g. open live streams)", async () => {
    s = await startOpsServer();
    let streams = 3;
    s.metrics.registry.gauge("stowage_live_streams", "Open GET /v1/events streams.", () => streams);
    expect((await scrape(s)).get("stowage_live_streams")).toBe(3);
    streams = 0;
    expect((await scrape(s)).get("stowage_live_streams")).toBe(0);
  });

  test("closed unless opened; with an admin key only that key opens it (never a tenant key)", async () => {
    s = await startOpsServer({ ops: { metricsAccess: {} } });
    expect((await fetch(`${s.url}/metrics`)).status).toBe(404);
    await s.stop();
    const adminKey = "admin-secret-0123456789";
    s = await startOpsServer({ ops: { metricsAccess: { adminKey } } });
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${s.url}/metrics`, { headers: auth(s.key) })).status).toBe(401);
    const ok = await fetch(`${s.url}/metrics`, { headers: auth(adminKey) });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(await ok.text()).toContain("stowage_http_requests_total");
  });
});

describe("request log", () => {
  test("one line per request, with the request id taken when sane and echoed", async () => {
    s = await startOpsServer();
    const sent: [string, RequestInit, string | null][] = [
      [`${s.url}/v1/health`, { headers: { "x-request-id": "req-1" } }, "req-1"],
      [`${s.url}/v1/pull?clientId=client-log-0001`, { headers: auth(s.key, { "x-request-id": "req-2" }) }, "req-2"],
      [`${s.url}/v1/push`, { method: "POST", headers: auth(s.key, { "x-request-id": "req-3" }), body: "{not json" }, "req-3"],
      [`${s.url}/v1/docs/notes/abc`, { headers: auth(s.key, { "x-request-id": "has spaces and \"quotes\"" }) }, null],
      [`${s.url}/v1/nowhere`, {}, null],
    ];
    const ids: string[] = [];
    for (const [url, init, want] of sent) {
      const res = await fetch(url, init);
      await res.arrayBuffer();
      const id = res.headers.get("x-request-id")!;
      if (want) expect(id).toBe(want);
      else expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      ids.push(id);
    }
    const lines = s.logs.filter((l) => l.msg === "request");
    expect(lines.map((l) => [l.method, l.route, l.status, l.requestId, l.tenant ?? null])).toEqual([
      ["GET", "/v1/health", 200, ids[0], null],
      ["GET", "/v1/pull", 200, ids[1], s.tenantId],
      ["POST", "/v1/push", 400, ids[2], s.tenantId],
      ["GET", "/v1/docs/:collection/:id", 404, ids[3], s.tenantId],
      ["GET", "other", 404, ids[4], null],
    ]);
    for (const l of lines) {
      expect(l.level).toBe("info");
      expect(typeof l.ms).toBe("number");
      expect(typeof l.time).toBe("string");
    }
    // Never the key, never a body.
    const all = JSON.stringify(s.logs);
    expect(all).not.toContain(s.key);
    expect(all).not.toContain(s.key.slice(4, 20));
    expect(all).not.toContain("not json");
  });

  test("an internal failure: stack in the log, a plain 500 in the response", async () => {
    s = await startOpsServer();
    await s.store.close(); // every query now fails
    const res = await fetch(`${s.url}/v1/pull`, { headers: auth(s.key, { "x-request-id": "boom-1" }) });
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({ error: { code: "internal", message: "the server failed to handle the request" } });
    expect(body).not.toContain("at ");
    const err = s.logs.find((l) => l.msg === "server error")!;
    expect(err.level).toBe("error");
    expect(typeof err.stack).toBe("string");
    expect(err.stack.length).toBeGreaterThan(0);
    expect(s.logs.find((l) => l.msg === "request")).toMatchObject({ level: "error", status: 500, requestId: "boom-1" });
    expect(s.metrics.storeErrors.get()).toBe(1);
  });
});

describe("CORS", () => {
  test("off by default: a preflight is 405 and no allow-origin header is sent", async () => {
    s = await startOpsServer();
    const pre = await fetch(`${s.url}/v1/push`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    expect(pre.status).toBe(405);
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const get = await fetch(`${s.url}/v1/health`, { headers: { origin: "https://app.example" } });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("with --cors-origin: preflight answered for that origin only, actual responses carry the header", async () => {
    s = await startOpsServer({ ops: { corsOrigins: ["https://app.example"] } });
    const pre = await fetch(`${s.url}/v1/push`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(pre.headers.get("access-control-allow-methods")).toBe("GET, POST, PUT, PATCH, DELETE, OPTIONS");
    expect(pre.headers.get("access-control-allow-headers")).toBe("authorization, content-type, if-match, last-event-id, x-request-id");
    const other = await fetch(`${s.url}/v1/push`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(other.status).toBe(403);
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    const get = await fetch(`${s.url}/v1/pull`, { headers: auth(s.key, { origin: "https://app.example" }) });
    expect(get.status).toBe(200);
    expect(get.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(get.headers.get("access-control-expose-headers")).toContain("x-request-id");
    const foreign = await fetch(`${s.url}/v1/pull`, { headers: auth(s.key, { origin: "https://evil.example" }) });
    expect(foreign.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("rate limit", () => {
  test("300 malformed requests cannot lock the key out past Retry-After (small limit, injected clock)", async () => {
    let clock = 1_000_000;
    s = await startOpsServer({ limits: { rate: { perSecond: 10, burst: 20 } }, now: () => clock });
    const statuses: number[] = [];
    const retry = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const res = await push(s, { clientId: "bad" });
      statuses.push(res.status);
      if (res.status === 429) retry.add(res.headers.get("retry-after")!);
      await res.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 400).length).toBe(20);
    expect(statuses.filter((x) => x === 429).length).toBe(280);
    expect([...retry]).toEqual(["1"]);
    clock += 1000; // what Retry-After said
    expect((await fetch(`${s.url}/v1/pull`, { headers: auth(s.key) })).status).toBe(200);
  });

  test("at the default limit, 300 malformed requests leave good requests untouched", async () => {
    const clock = 1_000_000; // frozen: no refill at all
    s = await startOpsServer({ limits: { rate: undefined }, now: () => clock });
    const { DEFAULT_LIMITS } = await import("../../src/server/index.ts");
    expect(DEFAULT_LIMITS.rate).toEqual({ perSecond: 10_000, burst: 20_000 });
    for (let i = 0; i < 300; i++) expect((await push(s, { clientId: "bad" })).status).toBe(400);
    expect((await fetch(`${s.url}/v1/pull`, { headers: auth(s.key) })).status).toBe(200);
  });
});
