import { describe, expect, test } from "bun:test";
import { cursorSeq, formatCursor, parseCursor, plainCursorSeq } from "../../src/protocol/cursor.ts";

describe("protocol cursor", () => {
  test("formats and parses both forms", () => {
    expect(formatCursor(42)).toBe("v1.42");
    expect(formatCursor(42, 7)).toBe("v1.42.h7");
    expect(parseCursor("v1.42")).toEqual({ seq: 42 });
    expect(parseCursor("v1.42.h7")).toEqual({ seq: 42, horizon: 7 });
    expect(parseCursor(formatCursor(0))).toEqual({ seq: 0 });
  });

  test("anything else is null, never 0: callers choose their own fallback", () => {
    for (const bad of [null, undefined, "", "x", "v1.", "v1.-1", "v1.1.2", "v0.1", "V1.1", "v1.1e3", " v1.1", "v1.01", "v1.0x10", "v1." + "9".repeat(16), "v1.1.h"]) {
      expect(parseCursor(bad)).toBe(null);
      expect(cursorSeq(bad)).toBe(null);
    }
  });

  test("cursorSeq reads through a horizon; plainCursorSeq does not", () => {
    expect(cursorSeq("v1.42.h7")).toBe(42);
    expect(plainCursorSeq("v1.42")).toBe(42);
    expect(plainCursorSeq("v1.42.h7")).toBe(null);
  });
});
