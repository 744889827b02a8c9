import { describe, expect, test } from "bun:test";
import { check, type ClientFinal, type Line, type ServerFinal } from "../../chaos/check.ts";

/**
 * The checker's rules on tiny hand-written histories: a writer (file 0, client A) commits a
 * group {x, y}; a reader (file 1, client B) pulls. Each case breaks one rule.
 */
const A = "client-a";
const B = "client-b";
const L = (p: string, f: number, t: string, rest: Record<string, unknown> = {}): Line => ({ p, f, at: 0, t, ...rest });

function writer(): Line[] {
  return [
    L("a.0", 0, "start", { clientId: A, mode: "run" }),
    L("a.0", 0, "invoke", { n: 1, kind: "group", g: "G1", members: [["x", "put", "a/1.0"], ["y", "put", "a/1.1"]] }),
    L("a.0", 0, "ok", { n: 1, opIds: [[1, "x", "put"], [2, "y", "put"]] }),
    L("a.0", 0, "pushreq", { clientId: A, ops: [[1, "put", "x", "a/1.0", 1, "G1"], [2, "put", "y", "a/1.1", 1, "G1"]] }),
    L("a.0", 0, "pushres", { clientId: A, results: [[1, "applied", 1, null], [2, "applied", 2, null]] }),
  ];
}

function reader(view: Record<string, [string, string | null]>): Line[] {
  return [
    L("b.0", 1, "start", { clientId: B, mode: "run" }),
    L("b.0", 1, "pull", { cursor: "v1.2", changes: [["x", 1, "a/1.0", false, "G1"], ["y", 2, "a/1.1", false, "G1"]] }),
    L("b.0", 1, "read", { kind: "snap", docs: view }),
  ];
}

const body = (id: string, w: string) => JSON.stringify({ id, w, g: "G1", by: "a.0" });
function server(seq = 2): ServerFinal {
  return { seq, docs: new Map([["x", { seq: 1, deleted: false, body: body("x", "a/1.0") }], ["y", { seq: 2, deleted: false, body: body("y", "a/1.1") }]]) };
}
function client(file: number, docs = [["x", 1, "a/1.0"], ["y", 2, "a/1.1"]] as [string, number, string][]): ClientFinal {
  return { file, outbox: 0, conflicts: [], docs: new Map(docs.map(([id, v, w]) => [id, { body: body(id, w), version: v }])) };
}
const rules = (h: Line[][], s = server(), c = [client(0), client(1)]) =>
  check(new Map(h.map((lines) => [lines[0].p, lines])), s, c).map((v) => v.rule);

describe("chaos checker", () => {
  test("a clean history passes", () => {
    expect(rules([writer(), reader({ x: ["a/1.0", "G1"], y: ["a/1.1", "G1"] })])).toEqual([]);
  });

  test("a snapshot with one member of a group and an older other member is partial", () => {
    const h = reader({ x: ["a/1.0", "G1"] });
    expect(rules([writer(), h])).toEqual(["atomic"]);
  });

  test("a later overwrite of a member is not partial; seeing the overwrite without the group is", () => {
    const later = [
      L("c.0", 2, "start", { clientId: "client-c", mode: "run" }),
      L("c.0", 2, "pushreq", { clientId: "client-c", ops: [[1, "put", "x", "c/1", null, null]] }),
      L("c.0", 2, "pushres", { clientId: "client-c", results: [[1, "applied", 3, null]] }),
    ];
    const s: ServerFinal = { seq: 3, docs: new Map([...server().docs, ["x", { seq: 3, deleted: false, body: JSON.stringify({ id: "x", w: "c/1" }) }]]) };
    const finals = (f: number): ClientFinal => ({ file: f, outbox: 0, conflicts: [], docs: new Map([["x", { body: JSON.stringify({ id: "x", w: "c/1" }), version: 3 }], ["y", { body: body("y", "a/1.1"), version: 2 }]]) });
    const whole = reader({ x: ["c/1", null], y: ["a/1.1", "G1"] });
    expect(rules([writer(), whole, later], s, [finals(0), finals(1), finals(2)])).toEqual([]);
    const part = reader({ x: ["c/1", null] }); // x at v3 > v1, y (written at v2) missing
    expect(rules([writer(), part, later], s, [finals(0), finals(1), finals(2)])).toEqual(["atomic"]);
  });

  test("an extra change number is an op applied twice; a missing one a lost write", () => {
    expect(rules([writer()], server(3), [client(0)])).toEqual(["count"]);
    expect(rules([writer()], server(1), [client(0)])).toEqual(["count"]);
  });

  test("one op answered applied at two versions", () => {
    const h = writer();
    h.push(L("a.0", 0, "pushres", { clientId: A, results: [[2, "applied", 3, null]] }));
    expect(rules([h], server(3), [client(0)])).toContain("once");
  });

  test("a client that differs from the server does not converge", () => {
    expect(rules([writer()], server(), [client(0, [["x", 1, "a/1.0"]])])).toEqual(["converge"]);
  });

  test("reading an older value after one's own acknowledged write breaks read-your-writes", () => {
    const h = writer();
    h.push(L("a.0", 0, "read", { n: 2, kind: "get", docs: { y: ["old", null] } }));
    h.push(L("a.0", 0, "getdoc", { id: "y", version: 0, w: "old" }));
    expect(rules([h], server(), [client(0)])).toEqual(["ryw"]);
  });

  test("a snapshot whose applied cursor passed a change it does not hold missed that change", () => {
    const h = reader({ x: ["a/1.0", "G1"] });
    h[2] = { ...h[2], docs: { x: ["a/1.0", "G1"] }, cursor: "v1.2" };
    expect(rules([writer(), h])).toEqual(["atomic", "missed"]);
    const ok = reader({ x: ["a/1.0", "G1"] });
    ok[2] = { ...ok[2], cursor: "v1.1" }; // cursor 1: y (v2) not due yet, but the group is still partial
    expect(rules([writer(), ok])).toEqual(["atomic"]);
  });

  test("a group the server split (one member applied, one refused) is caught", () => {
    const h = writer();
    h[4] = L("a.0", 0, "pushres", { clientId: A, results: [[1, "applied", 1, null], [2, "rejected", null, null]] });
    const s: ServerFinal = { seq: 1, docs: new Map([["x", server().docs.get("x")!]]) };
    const c: ClientFinal = { ...client(0, [["x", 1, "a/1.0"]]), conflicts: [{ opId: 2, kind: "rejected", id: "y", op: "put" }] };
    expect(rules([h], s, [c])).toEqual(["group"]);
  });

  test("a refused write still visible in a snapshot with nothing unresolved lingers; with something unresolved it may show", () => {
    const refusedWriter = (read: Record<string, unknown>) => [
      ...writer(),
      L("a.0", 0, "invoke", { n: 2, kind: "put", id: "z", tok: "a/2" }),
      L("a.0", 0, "ok", { n: 2 }),
      L("a.0", 0, "pushreq", { clientId: A, ops: [[3, "put", "z", "a/2", null, null]] }),
      L("a.0", 0, "pushres", { clientId: A, results: [[3, "rejected", null, null]] }),
      L("a.0", 0, "read", { kind: "snap", docs: { x: ["a/1.0", "G1"], y: ["a/1.1", "G1"], z: ["a/2", null] }, ...read }),
    ];
    const writerFinal: ClientFinal = { ...client(0), conflicts: [{ opId: 3, kind: "rejected", id: "z", op: "put" }] };
    const finals = [writerFinal, client(1)];
    expect(rules([refusedWriter({ refusedOps: [3] }), reader({ x: ["a/1.0", "G1"], y: ["a/1.1", "G1"] })], server(), finals)).toEqual(["lingering"]);
    expect(rules([refusedWriter({ unresolved: 1 }), reader({ x: ["a/1.0", "G1"], y: ["a/1.1", "G1"] })], server(), finals)).toEqual([]);
  });

  test("absence from a delete the reader's own file acknowledged (pending, refused later) is not a ryw violation", () => {
    const h = [
      ...writer(),
      L("a.0", 0, "invoke", { n: 2, kind: "get", id: "x", at: 30 }),
      L("a.0", 0, "read", { n: 2, kind: "get", docs: { x: null }, at: 30 }),
    ];
    const sibling = [
      L("a.1", 0, "invoke", { n: 1, kind: "delete", id: "x", at: 10 }),
      L("a.1", 0, "ok", { n: 1, opIds: [[3, "x", "delete"]], at: 20 }),
      L("a.1", 0, "pushreq", { clientId: A, ops: [[3, "delete", "x", null, null, null]], at: 40 }),
      L("a.1", 0, "pushres", { clientId: A, results: [[3, "rejected", null, null]], at: 50 }),
    ];
    const finals = [{ ...client(0), conflicts: [{ opId: 3, kind: "rejected", id: "x", op: "delete" }] }, client(1)];
    expect(rules([h, sibling, reader({ x: ["a/1.0", "G1"], y: ["a/1.1", "G1"] })], server(), finals)).toEqual([]);
    // Without the sibling's delete the same read is a violation.
    expect(rules([h, reader({ x: ["a/1.0", "G1"], y: ["a/1.1", "G1"] })])).toEqual(["ryw"]);
  });
});
