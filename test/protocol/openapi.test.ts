import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { openApiDocument, openApiText } from "../../src/protocol/openapi.ts";
import { openApiMismatch } from "../helpers/openapi-check.ts";
import { startServer, type TestServer } from "../helpers/server.ts";

const checkedIn = readFileSync(join(import.meta.dir, "../../docs/openapi.json"), "utf8");

describe("OpenAPI 3.1 document of protocol v1", () => {
  test("docs/openapi.json is exactly what `bun run openapi` generates from the zod schemas", () => {
    // On failure: run `bun run openapi` and commit docs/openapi.json.
    expect(checkedIn).toBe(openApiText());
  });

  test("the document validates against the official OpenAPI 3.1 schema", async () => {
    const validator = new Validator();
    const result = await validator.validate(JSON.parse(checkedIn));
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe("3.1");
  });

  test("every route is described, with bearer security and error bodies", () => {
    const doc = openApiDocument() as any;
    const ops = Object.entries(doc.paths).flatMap(([p, item]: [string, any]) =>
      Object.keys(item).filter((k) => k !== "parameters").map((m) => `${m.toUpperCase()} ${p}`),
    );
    expect(ops.sort()).toEqual([
      "DELETE /v1/docs/{collection}/{id}",
      "GET /v1/docs/{collection}",
      "GET /v1/docs/{collection}/{id}",
      "GET /v1/events",
      "GET /v1/health",
      "GET /v1/openapi.json",
      "GET /v1/pull",
      "PATCH /v1/docs/{collection}/{id}",
      "POST /v1/push",
      "PUT /v1/docs/{collection}/{id}",
    ]);
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    expect(doc.paths["/v1/health"].get.security).toEqual([]);
    expect(doc.paths["/v1/push"].post.responses["413"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/ErrorBody" });
    expect(doc.paths["/v1/docs/{collection}/{id}"].put.parameters[0].name).toBe("If-Match");
  });

  test("the response checker refuses what the document does not allow", () => {
    const url = "http://x/v1/docs/todos/a";
    expect(openApiMismatch("GET", url, 200, "application/json", { value: { id: "a" }, version: 3 })).toBeUndefined();
    expect(openApiMismatch("GET", url, 200, "application/json", { value: { id: "a" }, version: "3" })).toContain("must be integer");
    expect(openApiMismatch("GET", url, 200, "application/json", { value: {}, version: 1, extra: 1 })).toContain("additional properties");
    expect(openApiMismatch("GET", url, 404, "application/json", { error: { code: "not_found" } })).toContain("message");
    expect(openApiMismatch("GET", "http://x/v1/nothing", 200, "application/json", {})).toContain("no such operation");
    expect(openApiMismatch("GET", "http://x/v1/pull", 200, "text/plain", { reset: true })).toContain("not application/json");
  });
});

describe("GET /v1/openapi.json", () => {
  let s: TestServer;
  beforeAll(async () => (s = await startServer()));
  afterAll(() => s.stop());

  test("is served without a key, byte for byte the checked-in document", async () => {
    const res = await fetch(`${s.url}/v1/openapi.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("application/json");
    expect(await res.text()).toBe(checkedIn);
    const post = await fetch(`${s.url}/v1/openapi.json`, { method: "POST" });
    expect([post.status, ((await post.json()) as any).error.code]).toEqual([405, "method_not_allowed"]);
  });
});
