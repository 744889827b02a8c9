import { expect, test } from "bun:test";
import { mergePatch } from "../../src/json.ts";

test("mergePatch follows RFC 7386's examples", () => {
  const cases: [unknown, unknown, unknown][] = [
    [{ a: "b" }, { a: "c" }, { a: "c" }],
    [{ a: "b" }, { b: "c" }, { a: "b", b: "c" }],
    [{ a: "b" }, { a: null }, {}],
    [{ a: "b", b: "c" }, { a: null }, { b: "c" }],
    [{ a: ["b"] }, { a: "c" }, { a: "c" }],
    [{ a: "c" }, { a: ["b"] }, { a: ["b"] }],
    [{ a: { b: "c" } }, { a: { b: "d", c: null } }, { a: { b: "d" } }],
    [{ a: [{ b: "c" }] }, { a: [1] }, { a: [1] }],
    [["a", "b"], ["c", "d"], ["c", "d"]],
    [{ a: "b" }, ["c"], ["c"]],
    [{ a: "foo" }, null, null],
    [{ a: "foo" }, "bar", "bar"],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: "b", c: null }, { a: "b" }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [target, patch, result] of cases) expect(mergePatch(target as any, patch as any)).toEqual(result as any);
});

test("a __proto__ key in a patch is stored as a field, never as the prototype", () => {
  const patch = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}');
  const result = mergePatch({}, patch) as Record<string, unknown>;
  expect(Object.getPrototypeOf(result)).toBe(Object.prototype);
  expect((result as any).polluted).toBeUndefined();
  expect(Object.hasOwn(result, "__proto__")).toBe(true);
  expect(({} as any).polluted).toBeUndefined();
});
