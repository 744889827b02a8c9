/** Per-op rules inside the write transaction: authorize, schemas (zod), resolve; read-only keys. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import { createKey, type Principal } from "../../src/server/index.ts";
import type { RuleOp } from "../../src/server/rules.ts";
import type { PushOp } from "../../src/protocol/wire.ts";
import { api } from "./client.ts";
import { call, startEmbedded, type EmbeddedServer } from "./embed-helpers.ts";

/** Every stored row of the server, for "nothing was written" checks. */
async function snapshot(s: EmbeddedServer) {
  const docs = await s.store.db.selectFrom("stowage_docs").selectAll().orderBy("tenant_id").orderBy("collection").orderBy("id").execute();
  const tenants = await s.store.db.selectFrom("stowage_tenants").select(["id", "seq"]).orderBy("id").execute();
  const marks = await s.store.db.selectFrom("stowage_clients").selectAll().orderBy("client_id").execute();
  return { docs, tenants, marks };
}

describe("an authorize hook refusing one collection", () => {
  let s: EmbeddedServer;
  const calls: { op: RuleOp; principal: Principal }[] = [];
  beforeAll(async () => {
    s = await startEmbedded({
      authorize: (op, principal) => {
        calls.push({ op, principal });
        if (op.collection === "secrets") return `${principal.tenant} may not write secrets`;
        if (op.collection === "locked") return false;
        return true;
      },
    });
  });
  afterAll(() => s.stop());

  test("refused ops are recorded as rejected (forbidden) on the client; the rest of the push applies; a refused op aborts its group", async () => {
    const db = await s.client("a", s.url, s.key);
    await db.collection("todos").put({ id: "t1", title: "one" });
    await db.collection("secrets").put({ id: "s1", pin: 1234 });
    await db.collection("todos").put({ id: "t2", title: "two" });
    await db.transaction(async (tx) => {
      await tx.collection("todos").put({ id: "t3", title: "in the group" });
      await tx.collection("locked").put({ id: "l1" });
    });
    await db.sync();
    const issues = (await db.issues()).map((i) => [i.kind, i.collection, i.id, i.message]);
    expect(issues).toEqual([
      ["rejected", "secrets", "s1", "forbidden: acme may not write secrets"],
      ["rejected", "todos", "t3", expect.stringMatching(/^tx_aborted: op \d+ of this transaction was refused \(forbidden\)$/)],
      ["rejected", "locked", "l1", "forbidden: put of locked/l1 is not allowed"],
    ]);
    const other = await s.client("b", s.url, s.key);
    await other.sync();
    expect((await other.collection("todos").list({ limit: 10 })).items.map((d) => d.id)).toEqual(["t1", "t2"]);
    expect(await other.collection("secrets").count()).toBe(0);
    expect(await other.collection("locked").count()).toBe(0);
    // The hook saw the principal and the stored value before each op.
    expect(calls.every((c) => c.principal.tenant === "acme" && c.principal.scopes.includes("write"))).toBe(true);
  });

  test("a retried push is answered from the record: nothing applied twice, the hook not called again", async () => {
    const a = api(s.url, s.key);
    const ops: PushOp[] = [
      { opId: 1, collection: "todos", id: "r1", op: "put" as const, value: { n: 1 } },
      { opId: 2, collection: "secrets", id: "r2", op: "put" as const, value: { n: 2 } },
      { opId: 3, collection: "todos", id: "r1", op: "patch" as const, value: { m: 3 } },
    ];
    const first = await a.push({ clientId: "retrying-client", ops });
    expect(first.results.map((r) => [r.status, r.error?.code])).toEqual([["applied", undefined], ["rejected", "forbidden"], ["applied", undefined]]);
    const hookCalls = calls.length;
    const before = await snapshot(s);
    const again = await a.push({ clientId: "retrying-client", ops });
    expect(again.results).toEqual([{ opId: 1, status: "duplicate" }, first.results[1], { opId: 3, status: "duplicate" }]);
    expect(calls.length).toBe(hookCalls);
    expect(await snapshot(s)).toEqual(before);
    expect((await call(s.url, s.key, "GET", "/v1/docs/todos/r1")).json.value).toEqual({ id: "r1", n: 1, m: 3 });
  });

  test("direct writes get the same rule: 403 forbidden, nothing written", async () => {
    const before = await snapshot(s);
    const put = await call(s.url, s.key, "PUT", "/v1/docs/secrets/d1", { pin: 1 });
    expect(put).toEqual({ status: 403, json: { error: { code: "forbidden", message: "acme may not write secrets" } } });
    expect((await call(s.url, s.key, "DELETE", "/v1/docs/locked/l9")).status).toBe(403);
    expect(await snapshot(s)).toEqual(before);
    expect((await call(s.url, s.key, "PUT", "/v1/docs/todos/d1", { ok: true })).status).toBe(200);
  });
});

describe("per-collection zod schemas", () => {
  let s: EmbeddedServer;
  beforeAll(async () => {
    s = await startEmbedded({ schemas: { todos: z.object({ title: z.string(), done: z.boolean().optional() }) } });
  });
  afterAll(() => s.stop());

  test("the value that would be stored is validated: invalid puts and patch results are rejected (invalid) with the message", async () => {
    const a = api(s.url, s.key);
    const res = await a.push({
      clientId: "schema-client",
      ops: [
        { opId: 1, collection: "todos", id: "ok", op: "put", value: { title: "fine" } },
        { opId: 2, collection: "todos", id: "bad", op: "put", value: { title: 5 } },
        { opId: 3, collection: "todos", id: "ok", op: "patch", value: { title: null } },
        { opId: 4, collection: "todos", id: "ok", op: "patch", value: { done: true } },
        { opId: 5, collection: "notes", id: "free", op: "put", value: { anything: [1] } },
      ],
    });
    expect(res.results.map((r) => r.status)).toEqual(["applied", "rejected", "rejected", "applied", "applied"]);
    expect(res.results[1].error).toMatchObject({ code: "invalid", issues: [{ path: ["title"] }] });
    expect(res.results[1].error!.message).toMatch(/^document todos\/bad is invalid: title: .*expected string/i);
    expect(res.results[2].error!.message).toMatch(/^document todos\/ok is invalid: title: /);
    expect((await call(s.url, s.key, "GET", "/v1/docs/todos/ok")).json.value).toEqual({ id: "ok", title: "fine", done: true });
    expect((await call(s.url, s.key, "GET", "/v1/docs/todos/bad")).status).toBe(404);
    const direct = await call(s.url, s.key, "PUT", "/v1/docs/todos/d", { title: [] });
    expect([direct.status, direct.json.error.code]).toEqual([400, "invalid"]);
  });

  test("the client records the rejection and keeps going", async () => {
    const db = await s.client("c", s.url, s.key);
    await db.collection("todos").put({ id: "x1", title: 1 });
    await db.collection("todos").put({ id: "x2", title: "good" });
    await db.sync();
    expect((await db.issues()).map((i) => [i.kind, i.id, i.message.split(":")[0]])).toEqual([["rejected", "x1", "invalid"]]);
    expect((await call(s.url, s.key, "GET", "/v1/docs/todos/x2")).status).toBe(200);
  });
});

describe("a resolve hook that adds counters", () => {
  let s: EmbeddedServer;
  const seen: { tenant: string; current: unknown }[] = [];
  beforeAll(async () => {
    s = await startEmbedded({
      resolve: ({ collection, current, incoming, op, principal }) => {
        seen.push({ tenant: principal.tenant, current });
        if (collection !== "counters") return incoming;
        // Clients send increments ({ inc: 5 }); the server keeps the sum.
        return { n: Number(current?.n ?? 0) + Number(op.value?.inc ?? 0) };
      },
    });
  });
  afterAll(() => s.stop());

  test("two offline clients each add 5; after sync every client holds 10", async () => {
    const a = await s.client("a", s.url, s.key);
    const b = await s.client("b", s.url, s.key);
    await a.collection("counters").put({ id: "c1", n: 0 });
    await a.sync();
    await b.sync();
    expect(await b.collection("counters").get("c1")).toEqual({ id: "c1", n: 0 });
    // Offline: neither syncs while writing.
    await a.collection("counters").patch("c1", { inc: 5 });
    await b.collection("counters").patch("c1", { inc: 5 });
    await a.sync();
    await b.sync();
    await a.sync();
    expect(await a.collection("counters").get("c1")).toEqual({ id: "c1", n: 10 });
    expect(await b.collection("counters").get("c1")).toEqual({ id: "c1", n: 10 });
    const c = await s.client("c", s.url, s.key);
    await c.sync();
    expect(await c.collection("counters").get("c1")).toEqual({ id: "c1", n: 10 });
    // Other collections stay last-writer-wins.
    await a.collection("notes").put({ id: "n", v: 1 });
    await b.collection("notes").put({ id: "n", v: 2 });
    await a.sync();
    await b.sync();
    await a.sync();
    expect(await a.collection("notes").get("n")).toEqual({ id: "n", v: 2 });
  });

  test("a put the hook rewrote comes back to its writer as stored (no asSent with rules: the pull brings it)", async () => {
    const a = await s.client("a2", s.url, s.key);
    await a.sync();
    await a.collection("counters").put({ id: "c2", inc: 3 });
    await a.push(); // alone: no page with it, so only the answer could move the cursor past the write
    await a.sync();
    expect(await a.collection("counters").get("c2")).toEqual({ id: "c2", n: 3 });
  });

  test("resolve sees only its own tenant's documents", async () => {
    const { key: other } = await createKey(s.store, "other-co", { createIfMissing: true });
    const at = seen.length;
    const r = await call(s.url, other, "PUT", "/v1/docs/counters/c1", { inc: 7 });
    expect(r.json).toEqual({ value: { id: "c1", n: 7 }, version: 1 });
    expect(seen.slice(at)).toEqual([{ tenant: "other-co", current: null }]);
  });

  test("a throwing hook fails the request (500) and rolls the whole push back", async () => {
    const errors: unknown[] = [];
    const t = await startEmbedded({
      onError: (e) => errors.push(e),
      resolve: ({ id, incoming }) => {
        if (id === "boom") throw new Error("resolver bug");
        return incoming;
      },
    });
    try {
      const before = await snapshot(t);
      const res = await call(t.url, t.key, "POST", "/v1/push", {
        clientId: "boom-client",
        ops: [
          { opId: 1, collection: "x", id: "fine", op: "put", value: {} },
          { opId: 2, collection: "x", id: "boom", op: "put", value: {} },
        ],
      });
      expect(res).toEqual({ status: 500, json: { error: { code: "internal", message: "the server failed to handle the request" } } });
      expect(errors.length).toBe(1);
      expect(await snapshot(t)).toEqual(before);
    } finally {
      await t.stop();
    }
  });
});

describe("a read-only key", () => {
  let s: EmbeddedServer;
  let reader = "";
  beforeAll(async () => {
    s = await startEmbedded();
    reader = (await createKey(s.store, "acme", { scope: "read", label: "dashboard" })).key;
    await call(s.url, s.key, "PUT", "/v1/docs/todos/t1", { title: "written by the write key" });
  });
  afterAll(() => s.stop());

  test("pulls, lists and GETs documents", async () => {
    expect((await call(s.url, reader, "GET", "/v1/pull")).json.changes.map((c: any) => c.id)).toEqual(["t1"]);
    expect((await call(s.url, reader, "GET", "/v1/docs/todos")).json.items.length).toBe(1);
    expect((await call(s.url, reader, "GET", "/v1/docs/todos/t1")).status).toBe(200);
    const db = await s.client("reader", s.url, reader);
    await db.sync();
    expect(await db.collection("todos").get("t1")).toEqual({ id: "t1", title: "written by the write key" });
  });

  test("every write path answers 403 forbidden and nothing is written", async () => {
    const before = await snapshot(s);
    const answers = [
      await call(s.url, reader, "POST", "/v1/push", { clientId: "reader-client", ops: [{ opId: 1, collection: "todos", id: "t2", op: "put", value: {} }] }),
      await call(s.url, reader, "PUT", "/v1/docs/todos/t2", { title: "no" }),
      await call(s.url, reader, "PATCH", "/v1/docs/todos/t1", { title: "no" }),
      await call(s.url, reader, "DELETE", "/v1/docs/todos/t1"),
    ].map((r) => [r.status, r.json.error.code]);
    expect(answers).toEqual([[403, "forbidden"], [403, "forbidden"], [403, "forbidden"], [403, "forbidden"]]);
    expect(await snapshot(s)).toEqual(before);
    expect(before.marks.some((m) => m.client_id === "reader-client")).toBe(false);
  });
});
