/**
 * `stowage serve` as a child process with --schema (JSON Schema via ajv), --jwt-jwks (a local
 * ES256 JWK Set file) and --base-path, and `keys create --scope read` / `keys list`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { tempDir } from "../helpers/tmp.ts";
import { readUrl } from "../helpers/server.ts";
import { BIN, ROOT, cli, ndjson } from "../cli/run.ts";
import { call } from "./embed-helpers.ts";

const tmp = tempDir("stowage-embed-cli-");
const data = tmp.file("server.db");
let proc: ReturnType<typeof Bun.spawn> | undefined;
let base = "";
let writer = "";
let reader = "";
let sign: (claims: Record<string, unknown>) => Promise<string>;

const SCHEMAS = {
  todos: {
    type: "object",
    required: ["title"],
    properties: { id: { type: "string" }, title: { type: "string", minLength: 1 }, done: { type: "boolean" } },
    additionalProperties: false,
  },
};

beforeAll(async () => {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  writeFileSync(tmp.file("jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "main", alg: "ES256" }] }));
  sign = (claims) => new SignJWT(claims).setProtectedHeader({ alg: "ES256", kid: "main" }).setExpirationTime("10m").sign(privateKey);
  writeFileSync(tmp.file("schemas.json"), JSON.stringify(SCHEMAS));
  const w = await cli(["keys", "create", "--tenant", "acme", "--data", data, "--json"]);
  const r = await cli(["keys", "create", "--tenant", "acme", "--scope", "read", "--label", "dash", "--data", data, "--json"]);
  expect([w.code, r.code]).toEqual([0, 0]);
  writer = JSON.parse(w.stdout).key;
  expect(JSON.parse(r.stdout)).toMatchObject({ tenant: "acme", scope: "read" });
  reader = JSON.parse(r.stdout).key;
  proc = Bun.spawn(
    [process.execPath, BIN, "serve", "--port", "0", "--json", "--data", data, "--schema", tmp.file("schemas.json"), "--jwt-jwks", tmp.file("jwks.json"), "--jwt-audience", "my-app", "--base-path", "/sync"],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? "", HOME: tmp.path, NO_COLOR: "1" }, stdout: "pipe", stderr: "inherit" },
  );
  base = `${await readUrl(proc as never)}/sync`;
}, 30_000);
afterAll(async () => {
  proc?.kill("SIGKILL");
  await proc?.exited;
  tmp.cleanup();
});

describe("stowage serve with embedding flags", () => {
  test("--schema: an invalid pushed document is rejected with ajv's message; a valid one is applied", async () => {
    const res = await call(base, writer, "POST", "/v1/push", {
      clientId: "schema-cli-client",
      ops: [
        { opId: 1, collection: "todos", id: "bad", op: "put", value: { done: "yes" } },
        { opId: 2, collection: "todos", id: "good", op: "put", value: { title: "valid", done: false } },
        { opId: 3, collection: "todos", id: "good", op: "patch", value: { extra: 1 } },
        { opId: 4, collection: "notes", id: "free", op: "put", value: { no: "schema" } },
      ],
    });
    expect(res.status).toBe(200);
    const [bad, good, extra, free] = res.json.results;
    expect(bad).toEqual({
      opId: 1,
      status: "rejected",
      error: {
        code: "invalid",
        message: "document todos/bad is invalid: value must have required property 'title', value/done must be boolean",
        issues: [
          { path: [], message: "must have required property 'title'" },
          { path: ["done"], message: "must be boolean" },
        ],
      },
    });
    expect(good).toMatchObject({ status: "applied", version: 1 });
    expect(extra.error.message).toBe("document todos/good is invalid: value must NOT have additional properties");
    expect(free).toMatchObject({ status: "applied" });
    expect((await call(base, writer, "GET", "/v1/docs/todos/good")).json).toEqual({ value: { id: "good", title: "valid", done: false }, version: 1 });
    expect((await call(base, writer, "GET", "/v1/docs/todos/bad")).status).toBe(404);
  });

  test("--jwt-jwks FILE: an ES256 token syncs; a wrong audience is a 401; API keys keep working", async () => {
    const token = await sign({ sub: "jwt-user", aud: "my-app" });
    expect((await call(base, token, "PUT", "/v1/docs/todos/j1", { title: "by token" })).status).toBe(200);
    expect((await call(base, token, "GET", "/v1/pull")).json.changes.map((c: any) => c.id)).toEqual(["j1"]);
    expect((await call(base, await sign({ sub: "jwt-user", aud: "else" }), "GET", "/v1/pull")).status).toBe(401);
    expect((await call(base, writer, "GET", "/v1/pull")).json.changes.map((c: any) => c.id)).toEqual(["good", "free"]);
  });

  test("a --scope read key pulls but cannot push (403); keys list shows the scope", { timeout: 20_000 }, async () => {
    expect((await call(base, reader, "GET", "/v1/pull")).status).toBe(200);
    const push = await call(base, reader, "POST", "/v1/push", { clientId: "reader-cli", ops: [{ opId: 1, collection: "todos", id: "r", op: "put", value: { title: "x" } }] });
    expect([push.status, push.json.error.code]).toEqual([403, "forbidden"]);
    const list = ndjson((await cli(["keys", "list", "--data", data, "--json"])).stdout);
    expect(list.map((k) => [k.tenantName, k.scope, k.label])).toEqual([["acme", "write", null], ["acme", "read", "dash"]]);
    const table = await cli(["keys", "list", "--data", data]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+TENANT\s+SCOPE\s+LABEL/);
    expect((await cli(["keys", "create", "--tenant", "acme", "--scope", "admin", "--data", data])).code).toBe(2);
  });

  test("bad flag combinations exit 2 with a message", { timeout: 20_000 }, async () => {
    const noKeys = await cli(["serve", "--port", "0", "--data", tmp.file("x.db"), "--no-api-keys"]);
    expect([noKeys.code, noKeys.stderr]).toEqual([2, expect.stringContaining("--no-api-keys needs --jwt-secret or --jwt-jwks")]);
    const short = await cli(["serve", "--port", "0", "--data", tmp.file("x.db"), "--jwt-secret", "short"]);
    expect([short.code, short.stderr]).toEqual([2, expect.stringContaining("--jwt-secret must be at least 32 bytes")]);
    writeFileSync(tmp.file("bad-schema.json"), JSON.stringify({ todos: { type: "nonsense" } }));
    const bad = await cli(["serve", "--port", "0", "--data", tmp.file("x.db"), "--schema", tmp.file("bad-schema.json")]);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining("the JSON Schema of todos does not compile")]);
  });
});
