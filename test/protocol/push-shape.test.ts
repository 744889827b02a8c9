import { describe, expect, test } from "bun:test";
import { isPushRequest } from "../../src/protocol/push-shape.ts";
import { pushRequestSchema, WIRE_LIMITS } from "../../src/protocol/wire.ts";

/**
 * The server takes a push body that isPushRequest accepts without running the zod schema, so
 * it must never accept what the schema refuses; and it should accept what clients send, or the
 * fast path does nothing. Every case below is decided by both and must be decided alike.
 */
const good = () => ({
  clientId: "client-abc_123",
  settled: 4,
  ops: [
    { opId: 5, collection: "todos", id: "a", op: "put", value: { title: "x", n: 1 } },
    { opId: 6, tx: 6, collection: "todos", id: "b", op: "patch", value: { done: true }, baseVersion: 12 },
    { opId: 7, tx: 6, collection: "todos", id: "c", op: "delete", baseVersion: null },
    { opId: 8, collection: "notes_2", id: "d.e~f:g@h+i=j-k", op: "put", value: {}, baseVersion: 0 },
  ],
});

type Body = ReturnType<typeof good> & Record<string, unknown>;
const variants: [string, (b: Body) => unknown][] = [
  ["as sent", (b) => b],
  ["no settled", (b) => ({ clientId: b.clientId, ops: b.ops })],
  ["one op", (b) => ({ ...b, ops: [b.ops[0]] })],
  ["not an object", () => [1]],
  ["null", () => null],
  ["a string", () => "push"],
  ["extra field", (b) => ({ ...b, extra: 1 })],
  ["__proto__ field", () => JSON.parse(`{"clientId":"client-abc_123","ops":[{"opId":1,"collection":"t","id":"a","op":"delete"}],"__proto__":{}}`)],
  ["clientId short", (b) => ({ ...b, clientId: "abc" })],
  ["clientId long", (b) => ({ ...b, clientId: "a".repeat(65) })],
  ["clientId bad char", (b) => ({ ...b, clientId: "client id!" })],
  ["clientId number", (b) => ({ ...b, clientId: 12345678 })],
  ["clientId missing", (b) => ({ ops: b.ops })],
  ["settled negative", (b) => ({ ...b, settled: -1 })],
  ["settled fraction", (b) => ({ ...b, settled: 1.5 })],
  ["settled string", (b) => ({ ...b, settled: "1" })],
  ["settled null", (b) => ({ ...b, settled: null })],
  ["settled unsafe", (b) => ({ ...b, settled: 2 ** 53 })],
  ["ops empty", (b) => ({ ...b, ops: [] })],
  ["ops missing", (b) => ({ clientId: b.clientId })],
  ["ops not an array", (b) => ({ ...b, ops: b.ops[0] })],
  ["ops too many", (b) => ({ ...b, ops: Array.from({ length: WIRE_LIMITS.maxOpsPerPush + 1 }, (_, i) => ({ opId: i + 1, collection: "t", id: `d${i}`, op: "delete" })) })],
  ["ops at the limit", (b) => ({ ...b, ops: Array.from({ length: WIRE_LIMITS.maxOpsPerPush }, (_, i) => ({ opId: i + 1, collection: "t", id: `d${i}`, op: "delete" })) })],
];
const opVariants: [string, (op: Record<string, unknown>) => unknown][] = [
  ["null op", () => null],
  ["array op", () => []],
  ["extra op field", (op) => ({ ...op, extra: true })],
  ["opId zero", (op) => ({ ...op, opId: 0 })],
  ["opId fraction", (op) => ({ ...op, opId: 1.5 })],
  ["opId string", (op) => ({ ...op, opId: "1" })],
  ["opId unsafe", (op) => ({ ...op, opId: 2 ** 53 })],
  ["opId missing", ({ opId: _, ...op }) => op],
  ["tx zero", (op) => ({ ...op, tx: 0 })],
  ["tx null", (op) => ({ ...op, tx: null })],
  ["tx string", (op) => ({ ...op, tx: "1" })],
  ["collection bad", (op) => ({ ...op, collection: "Todos" })],
  ["collection long", (op) => ({ ...op, collection: `a${"b".repeat(63)}` })],
  ["collection missing", ({ collection: _, ...op }) => op],
  ["id empty", (op) => ({ ...op, id: "" })],
  ["id dot", (op) => ({ ...op, id: "." })],
  ["id dotdot", (op) => ({ ...op, id: ".." })],
  ["id slash", (op) => ({ ...op, id: "a/b" })],
  ["id long", (op) => ({ ...op, id: "a".repeat(201) })],
  ["id at the limit", (op) => ({ ...op, id: "a".repeat(200) })],
  ["id number", (op) => ({ ...op, id: 1 })],
  ["op unknown", (op) => ({ ...op, op: "upsert" })],
  ["op missing", ({ op: _, ...op }) => op],
  ["baseVersion negative", (op) => ({ ...op, baseVersion: -1 })],
  ["baseVersion fraction", (op) => ({ ...op, baseVersion: 0.5 })],
  ["baseVersion string", (op) => ({ ...op, baseVersion: "1" })],
  ["value missing", ({ value: _, ...op }) => op],
  ["value array", (op) => ({ ...op, value: [1] })],
  ["value null", (op) => ({ ...op, value: null })],
  ["value string", (op) => ({ ...op, value: "{}" })],
  ["value on a delete", (op) => ({ ...op, op: "delete" })],
  ["delete with value removed", ({ value: _, ...op }) => ({ ...op, op: "delete" })],
  ["put turned patch", (op) => ({ ...op, op: "patch" })],
];

describe("isPushRequest decides as pushRequestSchema does", () => {
  for (const [name, make] of variants) {
    test(name, () => {
      const body = make(good() as Body);
      expect(isPushRequest(body)).toBe(pushRequestSchema.safeParse(body).success);
    });
  }
  for (let at = 0; at < good().ops.length; at++) {
    for (const [name, change] of opVariants) {
      test(`op ${at}: ${name}`, () => {
        const body = good();
        (body.ops as unknown[])[at] = change({ ...body.ops[at] });
        expect(isPushRequest(body)).toBe(pushRequestSchema.safeParse(body).success);
      });
    }
  }

  test("what it accepts comes back from zod field for field", () => {
    const body = good();
    expect(isPushRequest(body)).toBe(true);
    const parsed = pushRequestSchema.parse(body);
    expect(parsed).toEqual(body as typeof parsed);
    // The values are the same objects (checkValue keys the JSON text it writes on them).
    expect((parsed.ops[0] as { value?: unknown }).value).toBe(body.ops[0].value);
  });

  test("a class instance as a value is not a JSON object", () => {
    const body = good();
    (body.ops[0] as Record<string, unknown>).value = new Date(0);
    expect(isPushRequest(body)).toBe(false);
    expect(pushRequestSchema.safeParse(body).success).toBe(false);
  });
});
