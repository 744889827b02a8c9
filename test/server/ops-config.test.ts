import { describe, expect, test } from "bun:test";
import { parseRateLimit, parseSize } from "../../src/server/ops/config.ts";
import { createLogger } from "../../src/server/ops/log.ts";
import { routeTemplate } from "../../src/server/ops/routes.ts";

describe("serve option parsing", () => {
  test("sizes: binary and decimal units, plain bytes; anything else names the value", () => {
    expect(parseSize("--max-body", "4MiB")).toBe(4 * 1024 * 1024);
    expect(parseSize("--max-body", "512KiB")).toBe(512 * 1024);
    expect(parseSize("--max-body", "1MB")).toBe(1_000_000);
    expect(parseSize("--max-body", "2 GiB")).toBe(2 * 1024 ** 3);
    expect(parseSize("--max-body", "1.5k")).toBe(1536);
    expect(parseSize("--max-body", "1000")).toBe(1000);
    for (const bad of ["", "0", "-1", "4 parsecs", "MiB", "0.1"]) expect(() => parseSize("--max-body", bad)).toThrow("--max-body must");
  });

  test("rate limits: RATE[,BURST] or off", () => {
    expect(parseRateLimit("--rate-limit", "10000,20000")).toEqual({ perSecond: 10000, burst: 20000 });
    expect(parseRateLimit("--rate-limit", "50")).toEqual({ perSecond: 50, burst: 100 });
    expect(parseRateLimit("--rate-limit", "0.5")).toEqual({ perSecond: 0.5, burst: 1 });
    expect(parseRateLimit("--rate-limit", "off")).toBe(false);
    expect(parseRateLimit("STOWAGE_RATE_LIMIT", "OFF")).toBe(false);
    for (const bad of ["fast", "10,", ",5", "10,0", "-3", "10,2.5"]) expect(() => parseRateLimit("--rate-limit", bad)).toThrow("--rate-limit must be RATE[,BURST]");
  });

  test("route templates never carry ids", () => {
    expect(routeTemplate("/v1/docs/todos/abc")).toBe("/v1/docs/:collection/:id");
    expect(routeTemplate("/v1/docs/todos")).toBe("/v1/docs/:collection");
    expect(routeTemplate("/v1/push")).toBe("/v1/push");
    expect(routeTemplate("/v1/events")).toBe("/v1/events");
    expect(routeTemplate("/etc/passwd")).toBe("other");
    expect(routeTemplate("/v1/docs/a/b/c")).toBe("other");
  });
});

describe("logger", () => {
  test("pretty: one line of key=value, stack on the lines after; levels filter", () => {
    const lines: string[] = [];
    const log = createLogger({ format: "pretty", level: "info", write: (l) => lines.push(l), now: () => Date.UTC(2026, 0, 2, 3, 4, 5) });
    log.debug("hidden");
    log.info("request", { method: "GET", route: "/v1/pull", status: 200, ms: 1.5, tenant: undefined, requestId: "r 1" });
    log.error("server error", { error: "boom", stack: "Error: boom\n    at x" });
    expect(lines).toEqual([
      '2026-01-02T03:04:05.000Z INFO  request method=GET route=/v1/pull status=200 ms=1.5 requestId="r 1"\n',
      "2026-01-02T03:04:05.000Z ERROR server error error=boom\nError: boom\n    at x\n",
    ]);
  });

  test("json: one object per line; off writes nothing", () => {
    const lines: string[] = [];
    createLogger({ format: "json", level: "warn", write: (l) => lines.push(l), now: () => 0 }).warn("gc failed", { tenants: 2 });
    expect(lines).toEqual(['{"time":"1970-01-01T00:00:00.000Z","level":"warn","msg":"gc failed","tenants":2}\n']);
    const none: string[] = [];
    const off = createLogger({ format: "json", level: "off", write: (l) => none.push(l) });
    off.error("x");
    expect(none).toEqual([]);
  });
});
