import { describe, expect, test } from "bun:test";
import { cursorFingerprint, cursorSeq, formatCursor, parseCursor, plainCursorSeq } from "../../src/protocol/cursor.ts";

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

describe("protocol cursor under sync rules (issue 34)", () => {
  test("origin and fingerprint round-trip, in that order after the horizon", () => {
    expect(formatCursor(42, undefined, { fingerprint: "abc9" })).toBe("v1.42.fabc9");
    expect(formatCursor(42, 7, { origin: 30, fingerprint: "z" })).toBe("v1.42.h7.o30.fz");
    expect(formatCursor(42, undefined, { origin: 0 })).toBe("v1.42.o0");
    expect(parseCursor("v1.42.h7.o30.fz")).toEqual({ seq: 42, horizon: 7, origin: 30, fingerprint: "z" });
    expect(parseCursor("v1.42.fabc9")).toEqual({ seq: 42, fingerprint: "abc9" });
    for (const bad of ["v1.42.fABC", "v1.42.f", "v1.42.fz.h7", "v1.42.o01", "v1.42.f" + "a".repeat(17)]) expect(parseCursor(bad)).toBe(null);
  });

  test("a fingerprint keeps a cursor plain; an origin (a catch-up under way) does not", () => {
    expect(plainCursorSeq("v1.42.fabc")).toBe(42);
    expect(plainCursorSeq("v1.42.o40.fabc")).toBe(null);
    expect(cursorSeq("v1.42.o40.fabc")).toBe(42);
  });

  test("the fingerprint is stable and short", () => {
    expect(cursorFingerprint("todos read: true")).toBe(cursorFingerprint("todos read: true"));
    expect(cursorFingerprint("todos read: true")).not.toBe(cursorFingerprint("todos read: false"));
    expect(cursorFingerprint("x")).toMatch(/^[0-9a-z]{1,11}$/);
  });
});
